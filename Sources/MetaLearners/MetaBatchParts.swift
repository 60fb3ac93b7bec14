import MetaTensor
import MetaData

/// How the meta-gradient of a meta-batch is cut into parts, computed
/// separately (on the worker pool, or on several processes) and combined in
/// part order. The cut depends on the meta-batch alone, never on threads or
/// processes, so neither does a single bit of the result.
///
/// - Per task (`weighted == false`): each task is a part; the combination
///   sums the losses and gradients in task order and scales by 1/T.
/// - Batched chunks (`weighted == true`): a model that runs tasks batched
///   takes chunks of at most `batchedChunk` tasks; each part is a chunk's
///   mean, weighted by its share of the tasks, and added in chunk order.
public struct MetaBatchPlan: Equatable, Sendable {
    /// Tasks in the meta-batch.
    public let taskCount: Int
    /// Part p covers tasks `bounds[p] ..< bounds[p + 1]`.
    public let bounds: [Int]
    public let weighted: Bool

    public var partCount: Int { bounds.count - 1 }

    /// The tasks of parts `parts`.
    public func tasks(of parts: Range<Int>) -> Range<Int> { bounds[parts.lowerBound]..<bounds[parts.upperBound] }

    /// One part per task.
    public static func perTask(_ count: Int) throws -> MetaBatchPlan {
        guard count > 0 else { throw MetaError.argument("tasks: need at least one task") }
        return MetaBatchPlan(taskCount: count, bounds: Array(0...count), weighted: false)
    }

    /// Chunks of at most `batchedChunk` tasks, as even as possible.
    public static func chunked(_ count: Int) throws -> MetaBatchPlan {
        guard count > 0 else { throw MetaError.argument("tasks: need at least one task") }
        let chunks = (count + batchedChunk - 1) / batchedChunk
        return MetaBatchPlan(taskCount: count, bounds: (0...chunks).map { $0 * count / chunks }, weighted: true)
    }

    /// The parts process `rank` of `ranks` computes: a contiguous block, the
    /// blocks as even as possible (empty for some ranks when there are more
    /// ranks than parts).
    public func parts(rank: Int, of ranks: Int) throws -> Range<Int> {
        guard ranks > 0, (0..<ranks).contains(rank) else {
            throw MetaError.argument("rank must be in 0..<\(ranks), got \(rank)")
        }
        return (rank * partCount / ranks)..<((rank + 1) * partCount / ranks)
    }

    /// The meta-loss and meta-gradient from every part's result, in part order.
    public func combine(_ parts: [MetaPart]) throws -> (loss: Float, grads: [Tensor]) {
        guard parts.count == partCount else {
            throw MetaError.argument("meta-batch parts: expected \(partCount), got \(parts.count)")
        }
        var loss: Float = 0
        if weighted {
            var grads: [Tensor] = []
            for (c, part) in parts.enumerated() {
                let w = Float(bounds[c + 1] - bounds[c]) / Float(taskCount)
                loss += part.loss * w
                let scaled = try part.grads.map { try $0.affine(scale: w, shift: 0) }
                grads = c == 0 ? scaled : try zip(grads, scaled).map { try $0.zip($1, .add) }
            }
            return (loss, grads)
        }
        let scale = 1 / Float(taskCount)
        var sums = parts[0].grads
        for (k, part) in parts.enumerated() {
            loss += part.loss
            if k > 0 { sums = try zip(sums, part.grads).map { try $0.zip($1, .add) } }
        }
        return (loss * scale, try sums.map { try $0.affine(scale: scale, shift: 0) })
    }
}

/// One part's result: its (mean) meta-loss and meta-gradient, or for
/// Reptile its update direction.
public struct MetaPart {
    public let loss: Float
    public let grads: [Tensor]

    public init(loss: Float, grads: [Tensor]) {
        self.loss = loss
        self.grads = grads
    }
}

/// The part of a meta-batch one process holds: the plan of the whole batch,
/// the parts it computes, and their tasks (`plan.tasks(of: parts)`, in order).
public struct MetaBatchShare {
    public let plan: MetaBatchPlan
    public let parts: Range<Int>
    public let tasks: [Task]
    /// The meta-updates made before this meta-batch (the trainer's optimizer
    /// count, which carries across resumed fits and checkpoints; 0 outside a
    /// trainer): learners whose objective changes over training (MAML++'s
    /// annealing) read their epoch from it.
    public let step: Int

    public init(plan: MetaBatchPlan, parts: Range<Int>, tasks: [Task], step: Int = 0) throws {
        guard parts.lowerBound >= 0, parts.upperBound <= plan.partCount else {
            throw MetaError.argument("parts \(parts) outside the plan's 0..<\(plan.partCount)")
        }
        guard tasks.count == plan.tasks(of: parts).count else {
            throw MetaError.argument("tasks: parts \(parts) hold \(plan.tasks(of: parts).count) tasks, got \(tasks.count)")
        }
        self.plan = plan
        self.parts = parts
        self.tasks = tasks
        self.step = step
    }

    /// The whole meta-batch, for one process.
    public init(whole tasks: [Task], plan: MetaBatchPlan) throws {
        try self.init(plan: plan, parts: 0..<plan.partCount, tasks: tasks)
    }

    /// Meta-batch index of `tasks[i]`.
    func taskIndex(_ i: Int) -> Int { plan.bounds[parts.lowerBound] + i }
}

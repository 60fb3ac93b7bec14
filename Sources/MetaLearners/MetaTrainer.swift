import MetaTensor
import MetaData
import MetaOptim

/// The outer loop: sample a meta-batch, take the learner's meta-gradient,
/// let an optimizer update the meta-parameters. Everything it needs (the
/// generator, the optimizer state) is held here by value, so the same seed
/// gives the same history bit for bit.
public struct MetaTrainer {
    public let learner: any MetaLearner
    public let metaBatchSize: Int
    public private(set) var metaParameters: [Tensor]
    public private(set) var optimizer: Optimizer
    public private(set) var rng: RNG
    public private(set) var steps = 0
    /// The state before the last update, whose meta-loss was finite: where a
    /// non-finite meta-loss at the next step falls back to.
    private var previous: (parameters: [Tensor], optimizer: Optimizer, steps: Int)?

    public init(learner: any MetaLearner, metaParameters: [Tensor], optimizer: GradientTransformation,
                metaBatchSize: Int, seed: UInt64) throws {
        try self.init(learner: learner, metaParameters: metaParameters,
                      continuing: try Optimizer(optimizer, params: metaParameters), metaBatchSize: metaBatchSize, seed: seed)
    }

    /// A trainer that carries on with `optimizer`, a rule together with its
    /// state (say a previous trainer's): Adam's moments, the update count and
    /// so the position in a learning-rate schedule. The state is checked
    /// against the meta-parameters at the first step.
    public init(learner: any MetaLearner, metaParameters: [Tensor], continuing optimizer: Optimizer,
                metaBatchSize: Int, seed: UInt64) throws {
        guard metaBatchSize > 0 else {
            throw MetaError.argument("meta_batch_size must be > 0, got \(metaBatchSize)")
        }
        self.learner = learner
        self.metaBatchSize = metaBatchSize
        self.metaParameters = metaParameters
        self.optimizer = optimizer
        self.rng = RNG(seed: seed)
    }

    /// A trainer restored where another one was (from a checkpoint): its
    /// meta-parameters, its optimizer (rule and state), its generator and its
    /// step count. Its steps then equal the original's, bit for bit.
    ///
    /// Checked now, not at the first step: the meta-parameters against the
    /// learner, and the optimizer's state against the meta-parameters and
    /// its rule, by a trial update with zero gradients whose result is
    /// dropped (so Adam's state handed to SGD, or a state for other shapes,
    /// is refused here).
    ///
    /// Trap: the one difference from the original is the fallback after a
    /// non-finite meta-loss, which needs the state before the last update. A
    /// restored trainer has none, so its first step can only refuse such a
    /// loss and keep the restored state.
    public init(learner: any MetaLearner, metaParameters: [Tensor], optimizer: Optimizer,
                metaBatchSize: Int, rng: RNG, steps: Int) throws {
        guard metaBatchSize > 0 else {
            throw MetaError.argument("meta_batch_size must be > 0, got \(metaBatchSize)")
        }
        guard steps >= 0 else { throw MetaError.argument("steps must be >= 0, got \(steps)") }
        try learner.checkMetaParameters(metaParameters)
        do {
            let zeros = try metaParameters.map { try Tensor.zeros($0.shape) }
            _ = try optimizer.transformation.update(zeros, state: optimizer.state, params: metaParameters)
        } catch let e as MetaError {
            throw MetaError(e.kind, "the optimizer state does not fit \(optimizer.transformation) and these meta-parameters: "
                            + e.message)
        }
        self.learner = learner
        self.metaBatchSize = metaBatchSize
        self.metaParameters = metaParameters
        self.optimizer = optimizer
        self.rng = rng
        self.steps = steps
    }

    /// Continues from `metaParameters` (changed by the caller between runs),
    /// keeping the optimizer state, the generator and the step count.
    public mutating func resume(from metaParameters: [Tensor]) throws {
        try learner.checkMetaParameters(metaParameters)
        self.metaParameters = metaParameters
        previous = nil
    }

    /// One meta-step on a fresh meta-batch; returns its meta-loss.
    @discardableResult
    public mutating func step(_ tasks: some TaskDistribution) throws -> Float {
        let share = try sampleShare(tasks, rank: 0, of: 1)
        return try finishStep(share.share.plan,
                              results: try learner.metaParts(metaParameters, share: share.share, seed: share.seed))
    }

    /// A meta-step shared by `ranks` processes, first half: draws the
    /// meta-batch's generator exactly as `step` does, makes only the tasks
    /// of the parts this process (`rank`) computes, and the seed of the
    /// tasks' forward contexts. Every process advances its generator alike,
    /// so no task crosses between processes.
    ///
    /// Trap: the plan is the chunked one whenever the learner batches tasks,
    /// which needs tasks of one shape (as every built-in distribution gives);
    /// one process alone falls back to one part per task, as `step(_:seed:)`
    /// does, but processes that share a meta-batch refuse such tasks.
    public mutating func sampleShare(_ tasks: some TaskDistribution, rank: Int, of ranks: Int) throws
        -> (share: MetaBatchShare, seed: UInt64) {
        var plan = try learner.metaBatchPlan(tasks: metaBatchSize, stack: true)
        var parts = try plan.parts(rank: rank, of: ranks)
        let mine = try tasks.sample(metaBatchSize, range: plan.tasks(of: parts), rng: &rng)
        // Only a stochastic model draws its dropout seed, so every other run
        // samples the same episodes as before dropout existed.
        let seed = learner.model.isStochastic ? rng.nextUInt64() : 0
        if plan.weighted && !mine.isEmpty && !StackedTasks.canStack(mine[...]) {
            guard ranks == 1 else {
                throw MetaError.shape("taskset: its tasks differ in shape, so they cannot be batched across processes")
            }
            plan = try .perTask(metaBatchSize)
            parts = 0..<metaBatchSize
        }
        // The meta-updates made so far: the optimizer's count, which goes on
        // across resumed fits and checkpoints (the trainer's own count
        // restarts with each fit).
        return (try MetaBatchShare(plan: plan, parts: parts, tasks: mine, step: optimizer.state.count), seed)
    }

    /// A meta-step shared by processes, second half: the results of every
    /// part of `plan` (gathered from all processes, in part order) combined,
    /// and the update, as `step(_:seed:)` makes it. Processes that finish
    /// with the same results hold the same meta-parameters, bit for bit.
    @discardableResult
    public mutating func finishStep(_ plan: MetaBatchPlan, results: [MetaPart]) throws -> Float {
        let (loss, grads) = try plan.combine(results)
        return try update(loss: loss, grads: grads)
    }

    /// One meta-step on the given tasks; returns their meta-loss.
    ///
    /// A step that fails changes nothing, except when its meta-loss is not
    /// finite: the parameters it was measured at came out of the previous
    /// update, so the trainer falls back to before that update (parameters,
    /// optimizer state, step count), the last point whose meta-loss was
    /// finite, and the error says which step that is.
    ///
    /// `seed` seeds the tasks' forward contexts (dropout masks).
    @discardableResult
    public mutating func step(_ batch: [Task], seed: UInt64 = 0) throws -> Float {
        let (loss, grads) = try learner.metaLossAndGrad(metaParameters, tasks: batch, seed: seed)
        return try update(loss: loss, grads: grads)
    }

    private mutating func update(loss: Float, grads: [Tensor]) throws -> Float {
        guard loss.isFinite else {
            let failed = steps + 1
            if let previous {
                (metaParameters, optimizer, steps) = (previous.parameters, previous.optimizer, previous.steps)
                self.previous = nil
            }
            throw MetaError.argument("meta-loss became \(loss) at step \(failed); lower the learning rates. The "
                                     + "meta-parameters are those after step \(steps), the last whose meta-loss was finite")
        }
        // A finite loss can still come with an overflowing gradient or step;
        // nothing non-finite is committed, so the parameters stay usable.
        guard grads.allSatisfy(\.isFinite) else {
            throw MetaError.argument("meta-gradient became NaN or infinite at step \(steps + 1); lower the learning rates. "
                                     + "The meta-parameters are those after step \(steps), unchanged")
        }
        var next = optimizer
        let updated = try next.step(params: metaParameters, grads: grads)
        guard updated.allSatisfy(\.isFinite) else {
            throw MetaError.argument("meta-parameters became NaN or infinite at step \(steps + 1); lower the learning rates. "
                                     + "The meta-parameters are those after step \(steps), unchanged")
        }
        previous = (metaParameters, optimizer, steps)
        metaParameters = updated
        optimizer = next
        steps += 1
        return loss
    }
}

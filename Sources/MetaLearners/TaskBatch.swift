import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData

/// The tasks of a meta-batch stacked along a leading task axis, for models
/// that can run them as one batched computation (`TaskBatchedModel`).
struct StackedTasks {
    let supportX: Tensor, supportY: Tensor, queryX: Tensor, queryY: Tensor
    let count: Int

    /// Whether the tasks can be stacked: all of one shape.
    static func canStack(_ tasks: ArraySlice<Task>) -> Bool {
        guard let first = tasks.first else { return false }
        return tasks.allSatisfy {
            $0.supportX.shape == first.supportX.shape && $0.supportY.shape == first.supportY.shape
                && $0.queryX.shape == first.queryX.shape && $0.queryY.shape == first.queryY.shape
        }
    }

    /// nil when the tasks' shapes differ (then they run one by one).
    init?(_ tasks: ArraySlice<Task>) throws {
        guard Self.canStack(tasks) else { return nil }
        // Equal shapes (checked above): each task's contiguous block is copied
        // after the previous one.
        func stack(_ part: (Task) -> Tensor) throws -> Tensor {
            let first = part(tasks[tasks.startIndex])
            let n = first.count
            return try Tensor.make(shape: [tasks.count] + first.shape) { out, _ in
                for (k, task) in tasks.enumerated() where n > 0 {
                    (out + k * n).update(from: part(task).storage.base, count: n)
                }
            }
        }
        supportX = try stack(\.supportX); supportY = try stack(\.supportY)
        queryX = try stack(\.queryX); queryY = try stack(\.queryY)
        count = tasks.count
    }
}

extension InnerLoop {
    /// Each parameter repeated along a new leading task axis. The repetition is
    /// a broadcast, so the outer gradient sums the per-task contributions.
    func tile(_ params: [Variable], tasks: Int) throws -> [Variable] {
        try params.map { try $0.reshaped([1] + $0.shape).broadcast(to: [tasks] + $0.shape) }
    }

    /// Mean over tasks of each task's mean loss. Every task has the same
    /// number of examples, so this is the loss over all of them at once.
    func batchedLoss(_ model: any TaskBatchedModel, _ params: [Variable], x: Tensor, y: Tensor) throws -> Variable {
        let pred = try model.forwardBatched(params[...], Variable(x))
        if loss.isClassification {
            let flat = try pred.reshaped([-1, pred.shape[pred.rank - 1]])
            return try loss(flat, try y.reshaped([-1]))
        }
        return try loss(pred, y)
    }

    /// Each task's mean loss, (T): the task loss of each slice of the
    /// batched prediction.
    func taskLosses(_ model: any TaskBatchedModel, _ params: [Variable], x: Tensor, y: Tensor) throws -> Variable {
        let pred = try model.forwardBatched(params[...], Variable(x))
        return try Variable.stack(try (0..<x.shape[0]).map { t in
            try loss(try pred.slice(axis: 0, range: t..<(t + 1)).reshaped(Array(pred.shape.dropFirst())),
                     try y.sliced(lower: [t] + y.shape.dropFirst().map { _ in 0 }, upper: [t + 1] + y.shape.dropFirst())
                        .reshaped(Array(y.shape.dropFirst())))
        }, axis: 0)
    }

    /// `adapt` for all tasks at once: `params` are tiled (T, ...). The inner
    /// objective is the sum of per-task losses, whose gradient with respect
    /// to task t's slice is task t's own gradient.
    ///
    /// The rule sees the tasks' summed loss, or with `perTaskLosses` each
    /// task's (T), the objective then being their sum as computed task by
    /// task (for a rule that reads the loss: the LSTM meta-learner).
    func adaptBatched(_ model: any TaskBatchedModel, _ params: [Variable], x: Tensor, y: Tensor, steps: Int,
                      rates: Rates, adapted: [Bool]? = nil, createGraph: Bool, perTaskLosses: Bool = false) throws -> [Variable] {
        var current = params
        let which = adapted.map { mask in (0..<params.count).filter { mask[$0] } } ?? Array(0..<params.count)
        let update = Updater(rates, which: which)
        let tasks = Float(x.shape[0])
        for s in 0..<steps {
            let frozen = current
            var losses: Variable?
            let (value, grads) = try Autodiff.valueAndGrad(at: which.map { current[$0] }, createGraph: createGraph) { vars in
                var all = frozen
                for (k, i) in which.enumerated() { all[i] = vars[k] }
                guard perTaskLosses else { return try batchedLoss(model, all, x: x, y: y) * tasks }
                losses = try taskLosses(model, all, x: x, y: y)
                return try losses!.sum()
            }
            current = try update.apply(s, current, grads: grads, loss: losses ?? value)
        }
        return current
    }
}

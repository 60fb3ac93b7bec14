import MetaSwift

// The learner methods that compute. Each checks every task (or support set)
// against the model and the loss first, so a bad shape or label is reported
// in the caller's terms (`tasks[3].y_query: ...`) before any engine work.

/// Tasks evaluated per engine call: bounds memory for many tasks; results
/// per task do not depend on it.
private let evaluationChunk = 250

extension LearnerObject {
    /// The episodes an evaluation draws: `tasks` of `taskset` with `seed`,
    /// each adapted for `steps` inner steps (0 for an episode classifier),
    /// checked against this learner.
    func episodes(_ args: Arguments, classifier: Bool = false)
        throws -> (taskset: TasksetObject, count: Int, steps: Int, seed: UInt64) {
        args.charge = "taskset"
        let ts = try args.object("taskset", as: TasksetObject.self)
        let n = try args.int("tasks", in: 1...Check.maxEpisodes)
        let k = try args.int("steps", in: 0...Check.maxInnerSteps)
        let seed = try args.seed("seed")
        try args.done()
        if classifier { try checkClassifier("evaluate_classification") }
        if classifiesEpisodes && k != 0 {
            throw BridgeError.argument("steps: must be 0 for a learner that classifies by its own rule (ProtoNet takes no inner steps), got \(k)")
        }
        try checkTaskset(ts, "taskset")
        return (ts, n, k, seed)
    }

    /// The tasks given as four parallel lists of arrays, checked for this learner.
    func tasks(_ args: Arguments) throws -> [Task] {
        let fields = ["x_support", "y_support", "x_query", "y_query"]
        let lists = try fields.map { f in try args.tensors(f, label: { "tasks[\($0)].\(f)" }) }
        guard !lists[0].isEmpty else { throw BridgeError.argument("x_support: need at least one task, got 0") }
        for (f, list) in zip(fields, lists) where list.count != lists[0].count {
            throw BridgeError.argument("\(f): \(list.count) arrays for \(lists[0].count) tasks; expected one per task")
        }
        return try (0..<lists[0].count).map { i in
            try checkedTask(lists.map { $0[i] }, "tasks[\(i)]")
        }
    }

    /// The meta-loss of a batch of tasks and its gradient with respect to every meta-parameter.
    func metaLossAndGrad(_ args: Arguments, _ out: Results) throws {
        args.charge = "tasks"
        let batch = try tasks(args)
        let seed = try args.seed("seed")
        try args.done()
        let (loss, grads) = try learner.metaLossAndGrad(metaParameters, tasks: batch, seed: seed)
        guard grads.count == specs.count else {
            throw BridgeError(status: .internal, description: "internal error: \(grads.count) gradients for \(specs.count) meta-parameters")
        }
        out.set("loss", loss)
        out.set("grads", grads)
    }

    /// The model adapted to the support set (x, y) in `steps` inner steps, as a new model.
    func adapt(_ args: Arguments, _ out: Results) throws {
        args.charge = "x"
        let x = try args.tensor("x"), y = try args.tensor("y")
        let steps = try args.int("steps", in: 0...Check.maxInnerSteps)
        try args.done()
        try checkSupport(x: x, y: y, "x", "y")
        let adapted: [Tensor]
        if let fineTune = learner as? FineTune {  // fine-tunes with batch norm at the model's running statistics
            adapted = try fineTune.adapt(metaParameters, x: x, y: y, buffers: model.buffers)
        } else {
            adapted = try learner.adapt(metaParameters, x: x, y: y, steps: steps)
        }
        out.set("model", try model.with(values: try adapted.map { try args.scope.owned($0) }))
    }

    /// The query loss (and accuracy, for a classifier) after 0...steps inner
    /// steps, averaged over `tasks` episodes drawn from `taskset` with `seed`,
    /// and each episode's final loss and accuracy.
    func evaluate(_ args: Arguments, _ out: Results) throws {
        let e = try episodes(args)
        let (n, k) = (e.count, e.steps)
        var streams = e.taskset.streams(n, seed: e.seed)
        let params = metaParameters, buffers = model.buffers
        var lossSums = [Float](repeating: 0, count: k + 1), accuracySums = lossSums
        var taskLosses = [Float](), taskAccuracies = [Float]()
        var start = 0
        while start < n {
            let end = min(start + evaluationChunk, n)
            let tasks = try (start..<end).map { try e.taskset.distribution.sample(rng: &streams[$0]) }
            let curve = try learner.evaluate(params, tasks: tasks, steps: k, buffers: buffers)
            let w = Float(end - start)
            for s in 0...k {
                lossSums[s] += curve.loss[s] * w
                accuracySums[s] += (curve.accuracy?[s] ?? 0) * w
            }
            taskLosses += curve.finalLosses
            taskAccuracies += curve.finalAccuracies ?? []
            start = end
        }
        out.set("loss_curve", try Tensor(shape: [k + 1], scalars: lossSums.map { $0 / Float(n) }))
        out.set("task_losses", try Tensor(shape: [n], scalars: taskLosses))
        if loss.isClassification {
            out.set("accuracy_curve", try Tensor(shape: [k + 1], scalars: accuracySums.map { $0 / Float(n) }))
            out.set("task_accuracies", try Tensor(shape: [n], scalars: taskAccuracies))
        }
    }
}

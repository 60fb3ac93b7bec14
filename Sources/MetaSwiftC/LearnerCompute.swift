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
    /// The episodes an evaluation runs: `tasks` drawn with `seed` from
    /// `taskset`, of which those in `first ..< first + count` (all by
    /// default; a process's share when several split an evaluation).
    func episodes(_ args: Arguments, classifier: Bool = false)
        throws -> (taskset: TasksetObject, count: Int, steps: Int, seed: UInt64, range: Range<Int>?) {
        args.charge = "taskset"
        let ts = try args.object("taskset", as: TasksetObject.self)
        let n = try args.int("tasks", in: 1...Check.maxEpisodes)
        let k = try args.int("steps", in: 0...Check.maxInnerSteps)
        let seed = try args.seed("seed")
        let first = try args.optionalInt("first").map { Int($0) }
        let count = try args.optionalInt("count").map { Int($0) }
        try args.done()
        var range: Range<Int>?
        if first != nil || count != nil {
            guard let first, let count else { throw BridgeError.argument("first, count: give both or neither") }
            guard first >= 0, count >= 0, first <= n, count <= n - first else {
                throw BridgeError.argument("first, count: episodes \(first)..<\(first + count) are not within the \(n) tasks")
            }
            range = first..<(first + count)
        }
        if classifier { try checkClassifier("evaluate_classification") }
        if classifiesEpisodes && k != 0 {
            throw BridgeError.argument("steps: must be 0 for a learner that classifies by its own rule (ProtoNet takes no inner steps), got \(k)")
        }
        try checkTaskset(ts, "taskset")
        return (ts, n, k, seed, range)
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
        let k = e.steps
        var streams = e.taskset.streams(e.count, seed: e.seed)
        let episodes = e.range ?? 0..<e.count
        let params = metaParameters, buffers = model.buffers
        var curves = EpisodeCurves(points: k + 1, classification: loss.isClassification, keep: e.range != nil)
        var start = episodes.lowerBound
        while start < episodes.upperBound {
            let end = min(start + evaluationChunk, episodes.upperBound)
            let tasks = try (start..<end).map { try e.taskset.distribution.sample(rng: &streams[$0]) }
            let curve = try learner.evaluate(params, tasks: tasks, steps: k, buffers: buffers)
            for t in tasks.indices {
                curves.add(loss: curve.taskLosses[t], accuracy: curve.taskAccuracies?[t])
            }
            start = end
        }
        try curves.write(out)
    }
}

/// Per-episode curves of an evaluation, summed in episode order in double
/// precision: the mean curve is each sum over N, rounded to Float (Python
/// reproduces it from the episodes' rows when processes split the episodes).
struct EpisodeCurves {
    let points: Int
    let classification: Bool
    /// Whether to return every episode's curve (a share of the episodes).
    let keep: Bool
    var lossSums: [Double], accuracySums: [Double]
    var finalLosses: [Float] = [], finalAccuracies: [Float] = [], macroF1s: [Float] = []
    var lossRows: [Float] = [], accuracyRows: [Float] = []

    init(points: Int, classification: Bool, keep: Bool) {
        (self.points, self.classification, self.keep) = (points, classification, keep)
        lossSums = Array(repeating: 0, count: points)
        accuracySums = lossSums
    }

    var episodes: Int { finalLosses.count }

    mutating func add(loss: [Float], accuracy: [Float]?, macroF1: Float? = nil) {
        for (s, v) in loss.prefix(points).enumerated() { lossSums[s] += Double(v) }
        for (s, v) in (accuracy ?? []).prefix(points).enumerated() { accuracySums[s] += Double(v) }
        finalLosses.append(loss[loss.count - 1])
        if let accuracy { finalAccuracies.append(accuracy[accuracy.count - 1]) }
        if let macroF1 { macroF1s.append(macroF1) }
        if keep {
            lossRows += loss
            accuracyRows += accuracy ?? []
        }
    }

    /// loss_curve and task_losses; for a classifier accuracy_curve and
    /// task_accuracies (and task_macro_f1s when measured); with `keep`,
    /// task_loss_curves and task_accuracy_curves (episodes, points).
    func write(_ out: Results) throws {
        let n = Double(max(episodes, 1))
        out.set("loss_curve", try Tensor(shape: [points], scalars: lossSums.map { Float($0 / n) }))
        out.set("task_losses", try Tensor(shape: [episodes], scalars: finalLosses))
        if keep { out.set("task_loss_curves", try Tensor(shape: [episodes, points], scalars: lossRows)) }
        guard classification else { return }
        out.set("accuracy_curve", try Tensor(shape: [points], scalars: accuracySums.map { Float($0 / n) }))
        out.set("task_accuracies", try Tensor(shape: [episodes], scalars: finalAccuracies))
        if !macroF1s.isEmpty || episodes == 0 { out.set("task_macro_f1s", try Tensor(shape: [episodes], scalars: macroF1s)) }
        if keep { out.set("task_accuracy_curves", try Tensor(shape: [episodes, points], scalars: accuracyRows)) }
    }
}

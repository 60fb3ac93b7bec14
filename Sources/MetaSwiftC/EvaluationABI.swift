import MetaSwift

/// Query loss, accuracy and macro-F1 of one episode from its query logits.
private func episodeMetrics(_ logits: Tensor, _ queryY: Tensor) throws -> (loss: Float, accuracy: Float, macroF1: Float) {
    guard logits.rank == 2, logits.shape[1] > 0 else {
        throw MetaError.shape("learner: the model must output logits (n, classes), got \(logits.shape)")
    }
    let classes = logits.shape[1]
    let labels = try episodeClassIndices(queryY, examples: logits.shape[0], bound: classes, "x_query", "y_query")
    let predicted = try argmax(logits: logits)
    return (try softmaxCrossEntropy(logits: Variable(logits), labels: labels).item(),
            try MetaEval.accuracy(predicted: predicted, labels: labels),
            try macroF1(predicted: predicted, labels: labels, classes: classes))
}

extension LearnerObject {
    /// One episode: the query loss and accuracy after 0, 1, ..., `steps`
    /// inner steps (one point for an episode classifier, which takes no
    /// steps), and the metrics after the last.
    ///
    /// The parameters are adapted one step at a time, as MetaLearners'
    /// `evaluate` does (k single steps of gradient descent are k steps).
    func evaluateEpisode(_ params: [Tensor], _ task: Task, steps: Int)
        throws -> (curve: [(Float, Float)], last: (loss: Float, accuracy: Float, macroF1: Float)) {
        if let classifier = learner as? any EpisodeClassifier {
            let m = try episodeMetrics(try classifier.episodeLogits(params, supportX: task.supportX,
                                                                    supportY: task.supportY, queryX: task.queryX),
                                       task.queryY)
            return ([(m.loss, m.accuracy)], m)
        }
        let n = model.specs.count
        var p = params
        var curve: [(Float, Float)] = []
        func measure() throws -> (loss: Float, accuracy: Float, macroF1: Float) {
            let logits = try model.model(p[0..<n].map { Variable($0) }, Variable(task.queryX)).value
            let m = try episodeMetrics(logits, task.queryY)
            curve.append((m.loss, m.accuracy))
            return m
        }
        for _ in 0..<steps {
            _ = try measure()
            p = try learner.adapt(p, x: task.supportX, y: task.supportY, steps: 1) + p[n...]
        }
        let last = try measure()
        return (curve, last)
    }
}

/// Tasks evaluated per pool map: bounds memory for many tasks; results per
/// task do not depend on it.
private let episodeChunk = 250

@_cdecl("ms_learner_evaluate_classification")
public func ms_learner_evaluate_classification(_ outLossCurve: UnsafeMutablePointer<Float>?,
                                              _ outAccuracyCurve: UnsafeMutablePointer<Float>?,
                                              _ outTaskLosses: UnsafeMutablePointer<Float>?,
                                              _ outTaskAccuracies: UnsafeMutablePointer<Float>?,
                                              _ outTaskMacroF1s: UnsafeMutablePointer<Float>?,
                                              _ learner: OpaquePointer?, _ taskset: OpaquePointer?,
                                              _ taskCount: Int64, _ steps: Int64, _ seed: UInt64) -> Int32 {
    guarded(memory: "taskset") {
        let outs = try [(outLossCurve, "out_loss_curve"), (outAccuracyCurve, "out_accuracy_curve"),
                        (outTaskLosses, "out_task_losses"), (outTaskAccuracies, "out_task_accuracies"),
                        (outTaskMacroF1s, "out_task_macro_f1s")].map { p, name in
            let out = try Check.out(p, name)
            guard Int(bitPattern: out) % MemoryLayout<Float>.alignment == 0 else {
                throw BridgeError.argument("\(name): not aligned to \(MemoryLayout<Float>.alignment) bytes")
            }
            return out
        }
        let l = try Handles.resolve(learner, as: LearnerObject.self, "learner")
        let ts = try Handles.resolve(taskset, as: TasksetObject.self, "taskset")
        try l.checkClassifier("evaluate_classification")
        _ = try Check.episodes(taskCount, "task_count")
        _ = try Check.innerSteps(steps, "steps")
        if l.classifiesEpisodes && steps != 0 {
            throw BridgeError.argument("steps: must be 0 for a learner that classifies by its own rule (ProtoNet takes no inner steps), got \(steps)")
        }
        try l.checkTaskset(ts, "taskset")
        let (n, k) = (Int(taskCount), Int(steps))
        var streams = ts.streams(n, seed: seed)
        let params = l.metaParameters
        var lossSums = [Double](repeating: 0, count: k + 1), accuracySums = lossSums
        var start = 0
        while start < n {
            let end = min(start + episodeChunk, n)
            let tasks = try (start..<end).map { try ts.distribution.sample(rng: &streams[$0]) }
            let results = try WorkerPool.shared.map(tasks.count) { try l.evaluateEpisode(params, tasks[$0], steps: k) }
            for (j, r) in results.enumerated() {
                for (s, point) in r.curve.enumerated() {
                    lossSums[s] += Double(point.0)
                    accuracySums[s] += Double(point.1)
                }
                outs[2][start + j] = r.last.loss
                outs[3][start + j] = r.last.accuracy
                outs[4][start + j] = r.last.macroF1
            }
            start = end
        }
        for s in 0...k {
            outs[0][s] = Float(lossSums[s] / Double(n))
            outs[1][s] = Float(accuracySums[s] / Double(n))
        }
    }
}

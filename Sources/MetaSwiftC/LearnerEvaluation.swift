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
    /// `buffers`: the model's running statistics, which transfer learners embed with.
    func evaluateEpisode(_ params: [Tensor], _ task: Task, steps: Int, buffers: [Tensor])
        throws -> (curve: [(Float, Float)], last: (loss: Float, accuracy: Float, macroF1: Float)) {
        if let classifier = learner as? any EpisodeClassifier {
            let m = try episodeMetrics(try classifier.episodeLogits(params, supportX: task.supportX,
                                                                    supportY: task.supportY, queryX: task.queryX,
                                                                    buffers: buffers),
                                       task.queryY)
            return ([(m.loss, m.accuracy)], m)
        }
        let n = model.specs.count
        var curve: [(Float, Float)] = []
        func measure(_ p: ArraySlice<Tensor>) throws -> (loss: Float, accuracy: Float, macroF1: Float) {
            let logits = try model.model(p.map { Variable($0) }, Variable(task.queryX)).value
            let m = try episodeMetrics(logits, task.queryY)
            curve.append((m.loss, m.accuracy))
            return m
        }
        var last = try measure(params[0..<n])
        for adapted in try learner.adaptSteps(params, x: task.supportX, y: task.supportY, steps: steps) {
            last = try measure(adapted[0..<n])
        }
        return (curve, last)
    }
}

/// Tasks evaluated per pool map: bounds memory for many tasks; results per
/// task do not depend on it.
private let episodeChunk = 250

extension LearnerObject {
    /// Accuracy and macro-F1 over `tasks` episodes of `taskset` drawn with
    /// `seed`: the mean query loss and accuracy after 0...steps inner steps,
    /// and each episode's final loss, accuracy and macro-F1.
    func evaluateClassification(_ args: Arguments, _ out: Results) throws {
        let e = try episodes(args, classifier: true)
        let k = e.steps
        var streams = e.taskset.streams(e.count, seed: e.seed)
        let episodes = e.range ?? 0..<e.count
        let params = metaParameters, buffers = model.buffers
        // An episode classifier measures one point; its curve has one entry.
        var curves = EpisodeCurves(points: classifiesEpisodes ? 1 : k + 1, classification: true, keep: e.range != nil)
        var start = episodes.lowerBound
        while start < episodes.upperBound {
            let end = min(start + episodeChunk, episodes.upperBound)
            let tasks = try (start..<end).map { try e.taskset.distribution.sample(rng: &streams[$0]) }
            let results = try WorkerPool.shared.map(tasks.count) { try self.evaluateEpisode(params, tasks[$0], steps: k, buffers: buffers) }
            for r in results {
                curves.add(loss: r.curve.map(\.0), accuracy: r.curve.map(\.1), macroF1: r.last.macroF1)
            }
            start = end
        }
        try curves.write(out)
    }
}

import MetaSwift

// What a task must look like depends on the learner, not only on its model:
// a gradient learner's labels index the model's outputs, while an episode
// classifier (ProtoNet, whose model is an encoder with embeddings as outputs)
// takes any N-way episode whose support set covers classes 0..<N. Every
// ABI function that receives tasks checks them through these, so the messages
// name the caller's argument either way.

extension LearnerObject {
    /// True for a learner that classifies an episode's queries by its own
    /// rule (ProtoNet: nearest prototype) instead of adapting the model.
    var classifiesEpisodes: Bool { learner is any EpisodeClassifier }

    /// A support set (x, y) this learner can learn from; returns the number
    /// of classes N of an episode classifier's support set (0 for the others).
    @discardableResult
    func checkSupport(x: Tensor, y: Tensor, _ xName: String, _ yName: String) throws -> Int {
        guard classifiesEpisodes else {
            try model.checkExamples(x: x, y: y, loss: loss, xName, yName)
            return 0
        }
        let n = try checkBatch(x, xName)
        // Every class 0..<N needs a support example, so N <= n bounds the labels.
        let labels = try episodeClassIndices(y, examples: n, bound: n, xName, yName,
                                             reason: " (every class needs a support example)")
        let ways = (labels.max() ?? -1) + 1
        var seen = [Bool](repeating: false, count: ways)
        for l in labels { seen[l] = true }
        if let missing = seen.firstIndex(of: false) {
            throw MetaError.argument("\(yName): no example of class \(missing); an episode's support labels must cover 0..<\(ways)")
        }
        return ways
    }

    /// A query set (x, y) of an episode whose support set has `ways` classes
    /// (episode classifiers), or of the model's classes (the others).
    func checkQuery(x: Tensor, y: Tensor, ways: Int, _ xName: String, _ yName: String) throws {
        guard classifiesEpisodes else {
            try model.checkExamples(x: x, y: y, loss: loss, xName, yName)
            return
        }
        let m = try checkBatch(x, xName)
        _ = try episodeClassIndices(y, examples: m, bound: ways, xName, yName, reason: " (the support set's classes)")
    }

    /// A non-empty batch the model accepts; returns its size.
    func checkBatch(_ x: Tensor, _ name: String) throws -> Int {
        _ = try model.checkInput(x.shape, name)
        guard x.rank >= 1, x.shape[0] > 0 else {
            throw MetaError.shape("\(name): needs at least one example, got shape \(x.shape)")
        }
        return x.shape[0]
    }

    /// The four tensors of a task checked for this learner, as a Task.
    func checkedTask(_ t: [Tensor], _ name: String) throws -> Task {
        guard classifiesEpisodes else { return try model.checkedTask(t, loss: loss, name) }
        let ways = try checkSupport(x: t[0], y: t[1], "\(name).x_support", "\(name).y_support")
        try checkQuery(x: t[2], y: t[3], ways: ways, "\(name).x_query", "\(name).y_query")
        return try Task(supportX: t[0], supportY: t[1], queryX: t[2], queryY: t[3])
    }

    /// Refuses a taskset whose tasks this learner cannot take, naming the
    /// argument `name`; checks one task (a taskset yields tasks of one shape).
    func checkTaskset(_ taskset: TasksetObject, _ name: String) throws {
        let t = try taskset.probe()
        do {
            _ = try checkedTask([t.supportX, t.supportY, t.queryX, t.queryY], "task")
        } catch let error as MetaError {
            throw MetaError(error.kind, "\(name): its tasks do not fit the learner (\(error.message))")
        }
    }
}

/// Class indices stored as floats: shape (n,) or (n, 1), each a whole number
/// in 0..<bound. Compared as floats before conversion, so NaN or a huge
/// value is an error, never a trapping Int conversion.
func episodeClassIndices(_ y: Tensor, examples n: Int, bound: Int, _ xName: String, _ yName: String,
                         reason: String = "") throws -> [Int] {
    guard y.shape == [n] || y.shape == [n, 1] else {
        throw MetaError.shape("\(yName): expected \(n) class labels, shape [\(n)] (one per row of \(xName)), got \(y.shape)")
    }
    return try y.scalars.enumerated().map { i, v in
        guard v >= 0, v < Float(bound), v == v.rounded() else {
            throw MetaError.index("\(yName): label \(v) at index \(i) is not a class index in 0..<\(bound)\(reason)")
        }
        return Int(v)
    }
}

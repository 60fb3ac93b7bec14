import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData
import MetaEval

/// A learner that classifies an episode's queries by its own rule rather
/// than by adapting `model` and running it on them (ProtoNet: nearest
/// prototype). `queryLogits`, `predict` and `evaluateEpisodes` look for this
/// conformance at run time, so they do the right thing through
/// `any MetaLearner` too.
///
/// `buffers` are the model's running statistics (its object's current
/// buffers, in `bufferSpecs` order), or nil for batch statistics. A transfer
/// learner (`Baseline`, `LogisticProbe`, `FineTune`) runs its frozen or
/// fine-tuned encoder in inference mode with them, as PyTorch's
/// `model.eval()` does; ProtoNet, an episodic learner, ignores them and keeps
/// batch statistics, as in meta-training.
public protocol EpisodeClassifier {
    /// Query logits (M, N) for an episode with support labels 0..<N.
    func episodeLogits(_ metaParams: [Tensor], supportX: Tensor, supportY: Tensor, queryX: Tensor,
                       buffers: [Tensor]?) throws -> Tensor
}

extension EpisodeClassifier {
    /// `episodeLogits` with batch statistics.
    public func episodeLogits(_ metaParams: [Tensor], supportX: Tensor, supportY: Tensor, queryX: Tensor) throws -> Tensor {
        try episodeLogits(metaParams, supportX: supportX, supportY: supportY, queryX: queryX, buffers: nil)
    }
}

/// Per-episode classification results over many episodes.
public struct EpisodeEvaluation: Sendable {
    /// Query accuracy of each episode, in task order.
    public let accuracies: [Float]
    /// Query macro-F1 of each episode over its N classes (see `macroF1`).
    public let macroF1s: [Float]
    /// Query cross-entropy of each episode.
    public let losses: [Float]
    /// Mean accuracy with its 95% interval (population std, see `MeanWithInterval`).
    public let accuracy: MeanWithInterval
    public let macroF1: MeanWithInterval
    public let meanLoss: Float
}

extension MetaLearner {
    /// Logits (M, N) of the query examples after learning from the support
    /// set: for an `EpisodeClassifier` its own rule; for a gradient learner the
    /// model's output on `queryX` with the parameters adapted on the support
    /// set for `steps` inner steps (the learner's own number when nil).
    /// `buffers`: the model's running statistics for an episode classifier
    /// that uses them (see `EpisodeClassifier`), nil for batch statistics.
    public func queryLogits(_ metaParams: [Tensor], supportX: Tensor, supportY: Tensor, queryX: Tensor,
                            steps: Int? = nil, buffers: [Tensor]? = nil) throws -> Tensor {
        if let classifier = self as? any EpisodeClassifier {
            return try classifier.episodeLogits(metaParams, supportX: supportX, supportY: supportY, queryX: queryX,
                                                buffers: buffers)
        }
        guard loss.isClassification else {
            throw MetaError.argument("predict: needs a classifier (loss cross_entropy), this learner's loss is \(loss.rawValue)")
        }
        let adapted = try adapt(metaParams, x: supportX, y: supportY, steps: steps)
        let out = try model(adapted.map { Variable($0) }, Variable(queryX)).value
        guard out.rank == 2, out.shape[1] > 0 else {
            throw MetaError.shape("predict: the model must output logits (n, classes), got \(out.shape)")
        }
        return out
    }

    /// The predicted class (0..<N) of each query example: the largest logit of
    /// `queryLogits` (ties go to the lower class). For ProtoNet with squared
    /// Euclidean distance, that is the nearest prototype.
    public func predict(_ metaParams: [Tensor], supportX: Tensor, supportY: Tensor, queryX: Tensor,
                        steps: Int? = nil, buffers: [Tensor]? = nil) throws -> [Int] {
        try argmax(logits: try queryLogits(metaParams, supportX: supportX, supportY: supportY, queryX: queryX, steps: steps,
                                           buffers: buffers))
    }

    /// Classifies each task's queries after learning from its support set and
    /// reports per-episode accuracy, macro-F1 and cross-entropy, with the mean
    /// accuracy's 95% interval (600 test episodes by the field's convention).
    /// Tasks run on `pool`; results are in task order whatever the scheduling.
    public func evaluateEpisodes(_ metaParams: [Tensor], tasks: [Task], steps: Int? = nil, buffers: [Tensor]? = nil,
                                 pool: WorkerPool = .shared) throws -> EpisodeEvaluation {
        guard !tasks.isEmpty else { throw MetaError.argument("tasks: need at least one task") }
        let results = try pool.map(tasks.count) { t -> (Float, Float, Float) in
            let task = tasks[t]
            let logits = try queryLogits(metaParams, supportX: task.supportX, supportY: task.supportY,
                                         queryX: task.queryX, steps: steps, buffers: buffers)
            let classes = logits.shape[1]
            let labels = try episodeLabels(task.queryY, name: "y_query", bound: classes, examples: logits.shape[0])
            let predicted = try argmax(logits: logits)
            return (try MetaEval.accuracy(predicted: predicted, labels: labels),
                    try macroF1(predicted: predicted, labels: labels, classes: classes),
                    try softmaxCrossEntropy(logits: Variable(logits), labels: labels).item())
        }
        let acc = results.map(\.0), f1 = results.map(\.1), losses = results.map(\.2)
        return EpisodeEvaluation(accuracies: acc, macroF1s: f1, losses: losses, accuracy: try summarize(acc),
                                 macroF1: try summarize(f1),
                                 meanLoss: losses.reduce(0, +) / Float(losses.count))
    }
}

/// Class indices stored as floats, shape (n,) or (n, 1), each a whole number
/// in 0..<bound. Compared as floats before conversion, so a huge or NaN value
/// is an error, never a trapping Int conversion.
func episodeLabels(_ y: Tensor, name: String, bound: Int, examples: Int) throws -> [Int] {
    guard y.rank == 1 || (y.rank == 2 && y.shape[1] == 1) else {
        throw MetaError.shape("\(name): expected class indices of shape (n,) or (n, 1), got \(y.shape)")
    }
    guard y.shape[0] == examples else {
        throw MetaError.shape("\(name): has \(y.shape[0]) labels for \(examples) examples")
    }
    return try y.scalars.enumerated().map { i, v in
        guard v.isFinite, v == v.rounded(), v >= 0, v < Float(bound) else {
            throw MetaError.index("\(name)[\(i)] = \(v) is not a class index in 0..<\(bound)")
        }
        return Int(v)
    }
}

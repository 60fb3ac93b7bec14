import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData

/// Post-adaptation performance over many held-out tasks.
public struct AdaptationCurve: Sendable {
    /// Mean query loss after 0, 1, ..., steps inner steps.
    public let loss: [Float]
    /// Mean query accuracy after each step (classification only).
    public let accuracy: [Float]?
    /// Query loss of every task after the final step.
    public let finalLosses: [Float]
    /// Query accuracy of every task after the final step (classification only).
    public let finalAccuracies: [Float]?
    /// Each task's query loss after 0...steps steps (one point for an episode classifier).
    public let taskLosses: [[Float]]
    /// Each task's query accuracy after each step (classification only).
    public let taskAccuracies: [[Float]]?
}

extension MetaLearner {
    /// Adapts to each task step by step and records the query loss (and
    /// accuracy) after every step, from 0 (no adaptation) to `steps`.
    /// `buffers`: the model's running statistics, for an episode classifier
    /// that uses them (`EpisodeClassifier`); nil for batch statistics.
    public func evaluate(_ metaParams: [Tensor], tasks: [Task], steps: Int? = nil, buffers: [Tensor]? = nil,
                         pool: WorkerPool = .shared) throws -> AdaptationCurve {
        guard !tasks.isEmpty else { throw MetaError.argument("tasks: need at least one task") }
        if self is any EpisodeClassifier {
            // Learners that classify by their own rule (ProtoNet) do not adapt
            // step by step: one point, from their episode evaluation.
            let e = try evaluateEpisodes(metaParams, tasks: tasks, steps: steps, buffers: buffers, pool: pool)
            return AdaptationCurve(loss: [e.meanLoss], accuracy: [e.accuracy.mean], finalLosses: e.losses,
                                   finalAccuracies: e.accuracies, taskLosses: e.losses.map { [$0] },
                                   taskAccuracies: e.accuracies.map { [$0] })
        }
        let k = steps ?? innerSteps
        try Check.steps(k, "inner_steps", allowZero: true)
        let inner = InnerLoop(model: model, loss: loss)
        let perTask = try pool.map(tasks.count) { t -> [(Float, Float?)] in
            let task = tasks[t]
            let params = metaParams
            var curve: [(Float, Float?)] = []
            let first = try inner.evaluate(Array(params[0..<model.parameterCount]).map { Variable($0) },
                                           x: task.queryX, y: task.queryY)
            curve.append(first)
            for adapted in try adaptSteps(params, x: task.supportX, y: task.supportY, steps: k) {
                curve.append(try inner.evaluate(adapted.map { Variable($0) }, x: task.queryX, y: task.queryY))
            }
            return curve
        }
        let n = Float(tasks.count)
        let loss = (0...k).map { s in perTask.reduce(0) { $0 + $1[s].0 } / n }
        let acc: [Float]? = self.loss.isClassification ? (0...k).map { s in perTask.reduce(0) { $0 + ($1[s].1 ?? 0) } / n } : nil
        return AdaptationCurve(loss: loss, accuracy: acc, finalLosses: perTask.map { $0[k].0 },
                               finalAccuracies: self.loss.isClassification ? perTask.map { $0[k].1 ?? 0 } : nil,
                               taskLosses: perTask.map { $0.map(\.0) },
                               taskAccuracies: self.loss.isClassification ? perTask.map { $0.map { $0.1 ?? 0 } } : nil)
    }
}

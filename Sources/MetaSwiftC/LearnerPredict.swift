import MetaSwift

// Few-shot classification through a learner: the logits and predicted classes
// of an episode's queries after learning from its support set, and the
// per-episode accuracy and macro-F1 over many episodes of a taskset.

extension LearnerObject {
    /// Refuses a learner that does not classify (a regression learner).
    func checkClassifier(_ what: String) throws {
        guard classifiesEpisodes || loss.isClassification else {
            throw BridgeError.argument("learner: \(what) needs a classifier (loss 'cross_entropy'); "
                                       + "this learner's loss is '\(loss.rawValue)'")
        }
    }

    /// Query logits (m, classes) after learning from (xs, ys), checked first:
    /// the support set as the learner needs it, and queries the model accepts
    /// shaped like the support examples.
    func queryLogits(xs: Tensor, ys: Tensor, xq: Tensor, steps: Int) throws -> Tensor {
        try checkSupport(x: xs, y: ys, "x_support", "y_support")
        _ = try checkBatch(xq, "x_query")
        guard xs.shape.dropFirst() == xq.shape.dropFirst() else {
            throw MetaError.shape("x_query: examples of shape \(Array(xq.shape.dropFirst())) differ from x_support's \(Array(xs.shape.dropFirst()))")
        }
        // The model's running statistics: transfer learners embed with them (model.eval()).
        return try learner.queryLogits(metaParameters, supportX: xs, supportY: ys, queryX: xq, steps: steps,
                                       buffers: model.buffers)
    }
}

extension LearnerObject {
    /// The episode's support set and queries, and the logits of the queries.
    private func episodeLogits(_ args: Arguments, _ what: String) throws -> Tensor {
        try checkClassifier(what)
        args.charge = "x_query"
        let xs = try args.tensor("x_support"), ys = try args.tensor("y_support"), xq = try args.tensor("x_query")
        let steps = try args.int("steps", default: 0, in: 0...Check.maxInnerSteps)
        try args.done()
        return try queryLogits(xs: xs, ys: ys, xq: xq, steps: steps)
    }

    func queryLogits(_ args: Arguments, _ out: Results) throws {
        out.set("logits", try episodeLogits(args, "query_logits"))
    }

    func predict(_ args: Arguments, _ out: Results) throws {
        out.set("classes", try argmax(logits: try episodeLogits(args, "predict")))
    }
}

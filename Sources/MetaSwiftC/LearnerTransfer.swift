import MetaSwift

// What a frozen-encoder transfer learner (Baseline, LogisticProbe) fits to a
// support set, to look at and to test against references.

extension LearnerObject {
    /// `fit_head` (`x_support`, `y_support`): the support embeddings
    /// (`features`, embedded alone with the model's running statistics when
    /// it has them), the head's `initial` parameters and the `fitted` ones.
    func fitHead(_ args: Arguments, _ out: Results) throws {
        args.charge = "x_support"
        let xs = try args.tensor("x_support"), ys = try args.tensor("y_support")
        try args.done()
        guard let learner = learner as? any FrozenEncoderClassifier else {
            throw BridgeError.argument("learner: fit_head needs a frozen-encoder transfer learner (Baseline, LogisticProbe), "
                                       + "this is a \(spec.kind.rawValue)")
        }
        try checkSupport(x: xs, y: ys, "x_support", "y_support")
        let r = try learner.supportHead(metaParameters, supportX: xs, supportY: ys, buffers: model.buffers)
        out.set("features", r.features)
        out.set("initial", r.initial)
        out.set("fitted", r.fitted)
    }
}

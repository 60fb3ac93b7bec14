#if canImport(Glibc)
import Glibc
#endif
import MetaSwift

/// What an `ms_learner` points to: a gradient-based meta-learner, the model
/// object whose parameters are the first meta-parameters, and the learner's
/// own meta-parameters after them (Meta-SGD's rates; none for the others).
///
/// The learner refers to the model object, it does not copy it: a trainer's
/// result written back through the learner is seen by the model's handle,
/// and parameters set on the model are the ones the learner starts from.
/// The model object stays alive as long as the learner, even if its handle
/// is freed.
final class LearnerObject: Bridged {
    static let kind = HandleKind.learner
    /// How it was made: what learner files and checkpoints store (its recipe).
    let spec: LearnerSpec

    let learner: any MetaLearner
    let model: ModelObject
    let specs: [ParameterSpec]

    private let lock = Lock()
    private var own: [Tensor]

    init(_ spec: LearnerSpec, model: ModelObject) throws {
        self.spec = spec
        self.learner = try spec.make(model: model.model)
        self.model = model
        self.specs = learner.metaParameterSpecs
        var rng = RNG(seed: 0)
        self.own = Array(try learner.initialMetaParameters(rng: &rng).dropFirst(model.specs.count))
    }

    var loss: TaskLoss { learner.loss }

    /// The model's current parameters, then the learner's own.
    var metaParameters: [Tensor] { model.parameters + lock.withLock { own } }

    func setMetaParameter(_ index: Int, _ value: Tensor) {
        let n = model.specs.count
        if index < n { model.setParameter(index, value) } else { lock.withLock { own[index - n] = value } }
    }

    /// Writes a full list back: the model's part to the model, the rest here.
    func setMetaParameters(_ values: [Tensor]) {
        let n = model.specs.count
        model.setParameters(Array(values[0..<n]))
        lock.withLock { own = Array(values[n...]) }
    }

}

extension Kinds {
    /// One constructor per learner MetaStore's `LearnerSpec` knows: the
    /// model, then the spec's arguments ("inner_lr", "inner_steps",
    /// "first_order", "loss"; ANIL's "head_parameters"; ProtoNet's only
    /// "distance"), whose defaults and ranges are the spec's.
    static let learners: [String: (Arguments) throws -> any Bridged] = Dictionary(uniqueKeysWithValues:
        LearnerSpec.Kind.allCases.map { kind in
            (kind.rawValue, { (args: Arguments) throws -> any Bridged in
                let model = try args.object("model", as: ModelObject.self)
                let spec = try LearnerSpec(kind, reading: args)
                try args.done()
                return try LearnerObject(spec, model: model)
            })
        })
}

extension LearnerObject {
    static let methods: [String: Method<LearnerObject>] = [
        "save": LearnerObject.save,
        "meta_parameter_count": LearnerObject.metaParameterCount,
        "meta_parameter": LearnerObject.metaParameter,
        "set_meta_parameter": LearnerObject.setMetaParameter,
        "meta_loss_and_grad": LearnerObject.metaLossAndGrad,
        "adapt": LearnerObject.adapt,
        "evaluate": LearnerObject.evaluate,
        "query_logits": LearnerObject.queryLogits,
        "predict": LearnerObject.predict,
        "evaluate_classification": LearnerObject.evaluateClassification,
        "fit_head": LearnerObject.fitHead,
    ]

    func metaParameterCount(_ args: Arguments, _ out: Results) throws {
        try ParameterTable.count(specs, args, out)
    }

    func metaParameter(_ args: Arguments, _ out: Results) throws {
        try ParameterTable.read(specs, args, out) { metaParameters[$0] }
    }

    func setMetaParameter(_ args: Arguments, _ out: Results) throws {
        try ParameterTable.write(specs, "meta-parameter", args) { setMetaParameter($0, $1) }
    }
}

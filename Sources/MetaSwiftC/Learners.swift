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
final class LearnerObject: Bridged, Recorded {
    static let kind = HandleKind.learner
    var recipe: Recipe?

    let learner: any MetaLearner
    let model: ModelObject
    let specs: [ParameterSpec]

    private let lock = Lock()
    private var own: [Tensor]

    init(_ learner: any MetaLearner, model: ModelObject) throws {
        self.learner = learner
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

/// The distance names the header offers. "euclidean" is the paper's squared
/// Euclidean distance (Snell et al. 2017, §2.4: a Bregman divergence, which
/// is what makes the prototype, a class mean, the right centre); the plain
/// (square-rooted) distance is not offered because the paper found it worse.
private let distances: [(String, ProtoNet.Distance)] = [
    ("euclidean", .squaredEuclidean), ("squared_euclidean", .squaredEuclidean), ("cosine", .cosine),
]

/// The settings every gradient-based learner takes, read in the caller's terms.
private struct InnerLoop {
    let model: ModelObject
    let innerLR: Float
    let innerSteps: Int
    let firstOrder: Bool
    let loss: TaskLoss

    init(_ args: Arguments, firstOrder defaultOrder: Bool = false, minimumSteps: Int64 = 0) throws {
        model = try args.object("model", as: ModelObject.self)
        innerLR = try args.float("inner_lr", default: 0.01, minimum: 0)
        innerSteps = try args.int("inner_steps", default: 1, in: minimumSteps...Check.maxInnerSteps)
        firstOrder = try args.bool("first_order", default: defaultOrder)
        loss = try args.choice("loss", default: TaskLoss.crossEntropy)
    }
}

private func learner(_ model: ModelObject, _ make: () throws -> any MetaLearner) throws -> LearnerObject {
    try LearnerObject(try make(), model: model)
}

extension Kinds {
    static let learners: [String: (Arguments) throws -> any Bridged] = [
        "learner.MAML": { args in
            let p = try InnerLoop(args)
            try args.done()
            return try learner(p.model) {
                try MAML(model: p.model.model, innerLR: p.innerLR, innerSteps: p.innerSteps, firstOrder: p.firstOrder,
                         loss: p.loss)
            }
        },
        "learner.MetaSGD": { args in
            let p = try InnerLoop(args)
            try args.done()
            return try learner(p.model) {
                try MetaSGD(model: p.model.model, initialLR: p.innerLR, innerSteps: p.innerSteps,
                            firstOrder: p.firstOrder, loss: p.loss)
            }
        },
        "learner.ANIL": { args in
            let p = try InnerLoop(args)
            let n = p.model.specs.count
            let head = try args.int("head_parameters", default: 2)
            try args.done()
            guard head >= 1, head <= n else {
                throw BridgeError.argument("head_parameters: must be in 1...\(n) (the model has \(n) parameter tensors), got \(head)")
            }
            return try learner(p.model) {
                try ANIL(model: p.model.model, innerLR: p.innerLR, innerSteps: p.innerSteps, firstOrder: p.firstOrder,
                         loss: p.loss, headParameters: head)
            }
        },
        "learner.Reptile": { args in
            let p = try InnerLoop(args, firstOrder: true, minimumSteps: 1)
            try args.done()
            guard p.firstOrder else { throw BridgeError.argument("first_order: Reptile is first-order by definition") }
            return try learner(p.model) {
                try Reptile(model: p.model.model, innerLR: p.innerLR, innerSteps: p.innerSteps, loss: p.loss)
            }
        },
        "learner.ProtoNet": { args in
            let model = try args.object("model", as: ModelObject.self)
            let name = try args.string("distance", default: "euclidean")
            try args.done()
            guard let d = distances.first(where: { $0.0 == name })?.1 else {
                let known = distances.map { "'\($0.0)'" }.joined(separator: ", ")
                throw BridgeError.argument("distance: unknown distance '\(name)'; expected one of \(known)")
            }
            return try LearnerObject(ProtoNet(encoder: model.model, distance: d), model: model)
        },
    ]
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

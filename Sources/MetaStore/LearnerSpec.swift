import MetaTensor
import MetaNN
import MetaLearners

/// A learner as data: the algorithm and its hyper-parameters, without the
/// model, so it can be stored and made again around a model. Its JSON is
/// the recipe the C ABI records for `ms_new("learner.MAML", ...)`, which
/// learner files and checkpoints store, so a learner written from Python
/// loads in Swift and the other way round:
///
///     let spec = try LearnerSpec(.maml, innerLR: 0.4, loss: .mse)
///     let maml = try spec.make(model: try MLP(sizes: [1, 40, 40, 1]))
///     try spec.json.serialized
///     // {"kind":"learner.MAML","arguments":{"model":{"model":null},"inner_lr":{"float":0.4},
///     //  "inner_steps":{"int":1},"first_order":{"int":0},"loss":{"string":"mse"}}}
///
/// The arguments, their defaults and ranges are the C ABI's (the bridge's
/// constructors read their arguments into a spec). Numbers are kept as
/// given, in double precision, as Python and JSON hold them, so a recipe
/// reads back to the same text; `make` rounds the rate to Float32.
public struct LearnerSpec: Equatable, Sendable {
    /// The learners, by the names `ms_new` knows them by.
    public enum Kind: String, CaseIterable, Sendable {
        case maml = "learner.MAML"
        case metaSGD = "learner.MetaSGD"
        case anil = "learner.ANIL"
        case reptile = "learner.Reptile"
        case protoNet = "learner.ProtoNet"
    }

    public let kind: Kind
    /// The inner-loop step size α ("inner_lr"; Meta-SGD: every learned
    /// rate's initial value): finite and >= 0, default 0.01. ProtoNet: 0.
    public let innerLR: Double
    /// Inner steps per task ("inner_steps"): 0...10000, default 1 (Reptile
    /// 1...10000). ProtoNet: 0.
    public let innerSteps: Int
    /// Whether the meta-gradient treats inner gradients as constants
    /// ("first_order"): default false; Reptile's is always true.
    public let firstOrder: Bool
    /// The task loss ("loss"): default cross-entropy. ProtoNet: cross-entropy.
    public let loss: TaskLoss
    /// ANIL only: how many parameter tensors, from the end, the inner loop
    /// adapts ("head_parameters"): default 2 (the last layer's weight and
    /// bias); `make` checks it against the model. Nil for the others.
    public let headParameters: Int?
    /// ProtoNet only ("distance"): default the paper's squared Euclidean. Nil for the others.
    public let distance: ProtoNet.Distance?

    /// Most inner steps a learner takes: papers adapt for 1 to 100 steps and
    /// fine-tuning protocols for a few hundred; more is a mistaken argument,
    /// and a native loop that long could not be interrupted.
    public static let maxInnerSteps = 10_000

    /// A spec of `kind`; nil stands for the default. Throws, naming the
    /// argument, for a value out of range or one `kind` does not take
    /// (ProtoNet takes only `distance`; only ANIL takes `headParameters`).
    public init(_ kind: Kind, innerLR: Double? = nil, innerSteps: Int? = nil, firstOrder: Bool? = nil, loss: TaskLoss? = nil,
                headParameters: Int? = nil, distance: ProtoNet.Distance? = nil) throws {
        let gradient = kind != .protoNet, name = kind.rawValue
        self.kind = kind
        self.innerLR = try SpecCheck.taken("inner_lr", innerLR, default: 0.01, if: gradient, by: name) ?? 0
        self.innerSteps = try SpecCheck.taken("inner_steps", innerSteps, default: 1, if: gradient, by: name) ?? 0
        self.firstOrder = try SpecCheck.taken("first_order", firstOrder, default: kind == .reptile, if: gradient, by: name) ?? false
        self.loss = try SpecCheck.taken("loss", loss, default: .crossEntropy, if: gradient, by: name) ?? .crossEntropy
        self.headParameters = try SpecCheck.taken("head_parameters", headParameters, default: 2, if: kind == .anil, by: name)
        self.distance = try SpecCheck.taken("distance", distance, default: .squaredEuclidean, if: !gradient, by: name)
        try SpecCheck.rate(self.innerLR, "inner_lr")
        try SpecCheck.range(self.innerSteps, "inner_steps", (kind == .reptile ? 1 : 0)...LearnerSpec.maxInnerSteps)
        if kind == .reptile && !self.firstOrder {
            throw MetaError.argument("first_order: Reptile is first-order by definition")
        }
    }

    /// A spec of `kind` from named arguments (all but "model", which is the
    /// caller's to read).
    public init(_ kind: Kind, reading args: some SpecArguments) throws {
        if kind == .protoNet {
            try self.init(kind, distance: try args.text("distance").map(LearnerSpec.distance(named:)))
            return
        }
        let innerLR = try args.real("inner_lr"), innerSteps = try args.integer("inner_steps")
        let firstOrder = try args.flag("first_order"), loss = try args.text("loss").map(LearnerSpec.loss(named:))
        try self.init(kind, innerLR: innerLR, innerSteps: innerSteps, firstOrder: firstOrder, loss: loss,
                      headParameters: kind == .anil ? try args.integer("head_parameters") : nil)
    }

    /// The learner around `model`. Throws when ANIL's head has more
    /// parameter tensors than the model.
    public func make(model: any Model) throws -> any MetaLearner {
        let lr = Float(innerLR)
        switch kind {
        case .maml:
            return try MAML(model: model, innerLR: lr, innerSteps: innerSteps, firstOrder: firstOrder, loss: loss)
        case .metaSGD:
            return try MetaSGD(model: model, initialLR: lr, innerSteps: innerSteps, firstOrder: firstOrder, loss: loss)
        case .anil:
            let n = model.parameterCount, head = headParameters ?? 2
            guard head >= 1, head <= n else {
                throw MetaError.argument("head_parameters: must be in 1...\(n) (the model has \(n) parameter tensors), got \(head)")
            }
            return try ANIL(model: model, innerLR: lr, innerSteps: innerSteps, firstOrder: firstOrder, loss: loss,
                            headParameters: head)
        case .reptile:
            return try Reptile(model: model, innerLR: lr, innerSteps: innerSteps, loss: loss)
        case .protoNet:
            return ProtoNet(encoder: model, distance: distance ?? .squaredEuclidean)
        }
    }

    // MARK: - Names

    /// The distance names of the recipe format. "euclidean" is the paper's
    /// squared Euclidean distance (Snell et al. 2017, §2.4: a Bregman
    /// divergence, which is what makes the prototype, a class mean, the
    /// right centre); the plain distance is not offered, the paper found it
    /// worse. A spec writes the first name of its distance.
    public static let distances: [(String, ProtoNet.Distance)] = [
        ("euclidean", .squaredEuclidean), ("squared_euclidean", .squaredEuclidean), ("cosine", .cosine),
    ]

    static func distance(named name: String) throws -> ProtoNet.Distance {
        guard let d = distances.first(where: { $0.0 == name })?.1 else {
            let known = distances.map { "'\($0.0)'" }.joined(separator: ", ")
            throw MetaError.argument("distance: unknown distance '\(name)'; expected one of \(known)")
        }
        return d
    }

    static func loss(named name: String) throws -> TaskLoss {
        guard let loss = TaskLoss(rawValue: name) else {
            let known = TaskLoss.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
            throw MetaError.argument("loss: expected one of \(known), got '\(name)'")
        }
        return loss
    }
}

// MARK: - The recipe

extension LearnerSpec {
    /// The recipe: `{"kind": "learner.MAML", "arguments": {"model": {"model": null}, "inner_lr": {"float": 0.4},
    /// "inner_steps": {"int": 1}, "first_order": {"int": 0}, "loss": {"string": "mse"}}}`, arguments in
    /// the order Python's classes pass them (ANIL adds "head_parameters"; ProtoNet has "model" and "distance").
    public var json: JSON {
        var arguments: [(String, JSON)] = [("model", RecipeValue.model)]
        if let distance {
            arguments.append(("distance", RecipeValue.string(LearnerSpec.distances.first { $0.1 == distance }!.0)))
        } else {
            arguments += [("inner_lr", RecipeValue.float(innerLR)), ("inner_steps", RecipeValue.int(innerSteps)),
                          ("first_order", RecipeValue.flag(firstOrder)), ("loss", RecipeValue.string(loss.rawValue))]
        }
        if let headParameters { arguments.append(("head_parameters", RecipeValue.int(headParameters))) }
        return RecipeArguments.json(kind: kind.rawValue, arguments)
    }

    /// The spec a recipe describes, read strictly: a known kind, the model's
    /// placeholder, typed values in range, no other names. Errors start
    /// with "learner: " and name the argument.
    public init(json: JSON) throws {
        self = try RecipeArguments.reading(json, "learner") { args in
            guard let kind = Kind(rawValue: args.kind) else {
                throw MetaError.argument("unknown kind '\(args.kind)'; expected one of "
                                         + Kind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            let spec = try LearnerSpec(kind, reading: args)
            try args.model("model")
            return spec
        }
    }
}

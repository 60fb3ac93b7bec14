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
        case baseline = "learner.Baseline"
        case logisticProbe = "learner.LogisticProbe"
        case fineTune = "learner.FineTune"
        case alfa = "learner.ALFA"
        case mamlPlusPlus = "learner.MAMLPlusPlus"
        case lstmMetaLearner = "learner.LSTMMetaLearner"

        /// The fine-tuning protocols over a pre-trained encoder, whose
        /// hyper-parameters are `transfer`'s.
        public var isTransfer: Bool { self == .baseline || self == .logisticProbe || self == .fineTune }
        /// The learners with an inner loop (MAML, Meta-SGD, ANIL, Reptile, ...).
        var isGradient: Bool { self != .protoNet && !isTransfer }
        /// The learners whose inner loop has a step size (all with an inner
        /// loop but the LSTM meta-learner, whose network makes its own).
        var takesRate: Bool { isGradient && self != .lstmMetaLearner }
        /// The learners whose inner loop takes 5 steps by default (1 step for the others), and at least one.
        var stepsByDefault: Int { self == .alfa || self == .mamlPlusPlus || self == .lstmMetaLearner ? 5 : 1 }
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
    /// ProtoNet only ("temperature"): Meta-Baseline's learned logit scale,
    /// its initial value (finite and > 0), or nil (the default) for none; a
    /// recipe lists it only when set.
    public let temperature: Double?
    /// MAML only ("inner_optimizer"): the inner loop's optimizer, one of
    /// `InnerOptimizer`'s names other than "sgd", or nil (the default, plain
    /// gradient descent); a recipe lists it only when set.
    public let innerOptimizer: String?
    /// ALFA only ("weight_decay"): the initial inner weight decay, β's
    /// starting values being `inner_lr · weight_decay`; default 5e-4 (the
    /// authors'). Nil for the others.
    public let weightDecay: Double?
    /// The transfer learners' hyper-parameters, MAML++'s switches and the
    /// LSTM meta-learner's network ("hidden", "cell"), by name (`transferArguments` lists them per kind, with types, defaults
    /// and ranges); empty for the others.
    public let transfer: [String: TransferValue]

    /// Most inner steps a learner takes: papers adapt for 1 to 100 steps and
    /// fine-tuning protocols for a few hundred; more is a mistaken argument,
    /// and a native loop that long could not be interrupted.
    public static let maxInnerSteps = 10_000

    /// A spec of `kind`; nil stands for the default. Throws, naming the
    /// argument, for a value out of range or one `kind` does not take
    /// (ProtoNet takes only `distance`; only ANIL takes `headParameters`).
    public init(_ kind: Kind, innerLR: Double? = nil, innerSteps: Int? = nil, firstOrder: Bool? = nil, loss: TaskLoss? = nil,
                headParameters: Int? = nil, distance: ProtoNet.Distance? = nil, temperature: Double? = nil,
                innerOptimizer: String? = nil, weightDecay: Double? = nil, options: [String: TransferValue] = [:]) throws {
        try self.init(kind, innerLR: innerLR, innerSteps: innerSteps, firstOrder: firstOrder, loss: loss,
                      headParameters: headParameters, distance: distance, temperature: temperature,
                      innerOptimizer: innerOptimizer, weightDecay: weightDecay, transfer: options)
    }

    /// A transfer learner's spec (`Baseline`, `LogisticProbe`, `FineTune`):
    /// the hyper-parameters given by name, the others their defaults. Throws,
    /// naming the argument, for an unknown name, a value of the wrong type or
    /// out of range.
    public init(_ kind: Kind, transfer: [String: TransferValue]) throws {
        guard kind.isTransfer else { throw MetaError.argument("\(kind.rawValue) is not a transfer learner") }
        try self.init(kind, innerLR: nil, innerSteps: nil, firstOrder: nil, loss: nil, headParameters: nil, distance: nil,
                      temperature: nil, innerOptimizer: nil, weightDecay: nil, transfer: transfer)
    }

    private init(_ kind: Kind, innerLR: Double?, innerSteps: Int?, firstOrder: Bool?, loss: TaskLoss?,
                 headParameters: Int?, distance: ProtoNet.Distance?, temperature: Double?, innerOptimizer: String?,
                 weightDecay: Double?, transfer: [String: TransferValue]) throws {
        let gradient = kind.isGradient, name = kind.rawValue
        self.kind = kind
        self.temperature = try SpecCheck.taken("temperature", temperature, default: nil, if: kind == .protoNet, by: name)
        if let t = self.temperature, !(Float(t).isFinite && t > 0) {
            throw MetaError.argument("temperature: must be finite and > 0, got \(t)")
        }
        self.transfer = try LearnerSpec.checkedTransfer(kind, transfer)
        self.innerLR = try SpecCheck.taken("inner_lr", innerLR, default: 0.01, if: kind.takesRate, by: name) ?? 0
        self.innerSteps = try SpecCheck.taken("inner_steps", innerSteps, default: kind.stepsByDefault, if: gradient, by: name) ?? 0
        // Reptile is first-order by definition, the LSTM meta-learner by the paper's default.
        self.firstOrder = try SpecCheck.taken("first_order", firstOrder, default: kind == .reptile || kind == .lstmMetaLearner,
                                              if: gradient, by: name) ?? false
        self.loss = try SpecCheck.taken("loss", loss, default: .crossEntropy, if: gradient, by: name) ?? .crossEntropy
        self.headParameters = try SpecCheck.taken("head_parameters", headParameters, default: 2, if: kind == .anil, by: name)
        self.distance = try SpecCheck.taken("distance", distance, default: .squaredEuclidean, if: kind == .protoNet, by: name)
        let optimizer = try SpecCheck.taken("inner_optimizer", innerOptimizer, default: nil, if: kind == .maml, by: name)
        self.innerOptimizer = try optimizer.map { try InnerOptimizer(named: $0) }.flatMap { $0 == .sgd ? nil : $0.name }
        self.weightDecay = try SpecCheck.taken("weight_decay", weightDecay, default: 5e-4, if: kind == .alfa, by: name)
        if let wd = self.weightDecay { try SpecCheck.rate(wd, "weight_decay") }
        try SpecCheck.rate(self.innerLR, "inner_lr")
        let minimumSteps = kind == .reptile || kind.stepsByDefault > 1 ? 1 : 0
        try SpecCheck.range(self.innerSteps, "inner_steps", minimumSteps...LearnerSpec.maxInnerSteps)
        if kind == .reptile && !self.firstOrder {
            throw MetaError.argument("first_order: Reptile is first-order by definition")
        }
    }

    /// A spec of `kind` from named arguments (all but "model", which is the
    /// caller's to read).
    public init(_ kind: Kind, reading args: some SpecArguments) throws {
        if kind == .protoNet {
            let distance = try args.text("distance").map(LearnerSpec.distance(named:))
            try self.init(kind, distance: distance, temperature: try args.real("temperature"))
            return
        }
        // The transfer learners' hyper-parameters, MAML++'s switches, the LSTM meta-learner's network.
        var options: [String: TransferValue] = [:]
        for rule in LearnerSpec.transferArguments(kind) {
            switch rule.fallback {
            case .real: if let v = try args.real(rule.name) { options[rule.name] = .real(v) }
            case .integer: if let v = try args.integer(rule.name) { options[rule.name] = .integer(v) }
            case .text: if let v = try args.text(rule.name) { options[rule.name] = .text(v) }
            }
        }
        if kind.isTransfer {
            try self.init(kind, transfer: options)
            return
        }
        let innerLR = kind.takesRate ? try args.real("inner_lr") : nil, innerSteps = try args.integer("inner_steps")
        let firstOrder = try args.flag("first_order"), loss = try args.text("loss").map(LearnerSpec.loss(named:))
        try self.init(kind, innerLR: innerLR, innerSteps: innerSteps, firstOrder: firstOrder, loss: loss,
                      headParameters: kind == .anil ? try args.integer("head_parameters") : nil,
                      innerOptimizer: kind == .maml ? try args.text("inner_optimizer") : nil,
                      weightDecay: kind == .alfa ? try args.real("weight_decay") : nil, options: options)
    }

    /// The learner around `model`. Throws when ANIL's head has more
    /// parameter tensors than the model.
    public func make(model: any Model) throws -> any MetaLearner {
        let lr = Float(innerLR)
        switch kind {
        case .maml:
            return try MAML(model: model, innerLR: lr, innerSteps: innerSteps, firstOrder: firstOrder, loss: loss,
                            innerOptimizer: try innerOptimizer.map { try InnerOptimizer(named: $0) } ?? .sgd)
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
        case .mamlPlusPlus:
            let on = { (name: String) in integer(name) != 0 }
            return try MAMLPlusPlus(model: model, innerLR: lr, innerSteps: innerSteps, loss: loss, learnRates: on("learn_rates"),
                                    multiStepLoss: on("multi_step_loss"), mslEpochs: integer("msl_epochs"),
                                    firstOrderEpochs: firstOrder ? Int.max : integer("first_order_epochs"),
                                    iterationsPerEpoch: integer("iterations_per_epoch"),
                                    perStepNormalization: on("per_step_norm"), adaptNormalization: on("adapt_norm"))
        case .lstmMetaLearner:
            let cell = MetaLSTMUpdate.Recurrence(rawValue: transfer["cell"]?.text ?? "lstm") ?? .lstm
            return try LSTMMetaLearner(model: model, innerSteps: innerSteps, firstOrder: firstOrder, loss: loss,
                                       update: try MetaLSTMUpdate(hiddenSize: integer("hidden"), recurrence: cell))
        case .alfa:
            return try ALFA(model: model, innerLR: lr, weightDecay: Float(weightDecay ?? 5e-4), innerSteps: innerSteps,
                            firstOrder: firstOrder, loss: loss)
        case .protoNet:
            return ProtoNet(encoder: model, distance: distance ?? .squaredEuclidean, temperature: temperature.map { Float($0) })
        case .baseline:
            return try Baseline(encoder: model, head: head, lr: real("lr"), momentum: real("momentum"),
                                dampening: real("dampening"), weightDecay: real("weight_decay"),
                                epochs: integer("epochs"), batchSize: integer("batch_size"), seed: UInt64(integer("seed")))
        case .logisticProbe:
            return try LogisticProbe(encoder: model, C: transfer["C"]?.real ?? 1, maxIter: integer("max_iter"))
        case .fineTune:
            return try FineTune(encoder: model, head: head, backboneLR: real("backbone_lr"), headLR: real("head_lr"),
                                momentum: real("momentum"), weightDecay: real("weight_decay"), epochs: integer("epochs"),
                                batchSize: integer("batch_size"), seed: UInt64(integer("seed")))
        }
    }

    // MARK: - Transfer learners

    /// A transfer learner's hyper-parameter value, typed as the recipe types it.
    public enum TransferValue: Equatable, Sendable {
        case real(Double)
        case integer(Int)
        case text(String)

        public var real: Double? { if case .real(let v) = self { return v }; return nil }
        public var integer: Int? { if case .integer(let v) = self { return v }; return nil }
        public var text: String? { if case .text(let v) = self { return v }; return nil }
    }

    /// One hyper-parameter of a transfer learner: its name, its default
    /// (whose case is its type) and its range check.
    public struct TransferArgument: Sendable {
        public let name: String
        public let fallback: TransferValue
        let check: @Sendable (TransferValue) throws -> Void
    }

    /// Most epochs and mini-batch size a fine-tuning protocol takes.
    public static let maxEpochs = 10_000
    public static let maxBatchSize = 1_000_000
    public static let maxIterations = 100_000

    /// The hyper-parameters of `kind`, in the order Python's classes pass them
    /// (that of the recipe), with the defaults of the papers' code.
    public static func transferArguments(_ kind: Kind) -> [TransferArgument] {
        func real(_ name: String, _ value: Double, _ check: @escaping @Sendable (Double, String) throws -> Void) -> TransferArgument {
            TransferArgument(name: name, fallback: .real(value)) { try check($0.real!, name) }
        }
        func integer(_ name: String, _ value: Int, _ range: ClosedRange<Int>) -> TransferArgument {
            TransferArgument(name: name, fallback: .integer(value)) { try SpecCheck.range($0.integer!, name, range) }
        }
        let head = TransferArgument(name: "head", fallback: .text("linear")) { v in
            guard TransferHead.names.contains(v.text!) else {
                throw MetaError.argument("head: expected one of 'linear', 'cosine', got '\(v.text!)'")
            }
        }
        let positive: @Sendable (Double, String) throws -> Void = { x, name in
            guard Float(x).isFinite, x > 0 else { throw MetaError.argument("\(name): must be finite and > 0, got \(x)") }
        }
        let unit: @Sendable (Double, String) throws -> Void = { x, name in
            guard x >= 0, x <= 1 else { throw MetaError.argument("\(name): must be in [0, 1], got \(x)") }
        }
        let rate: @Sendable (Double, String) throws -> Void = { try SpecCheck.rate($0, $1) }
        let decay: @Sendable (Double, String) throws -> Void = { try SpecCheck.decay($0, $1) }
        let loop = [integer("epochs", kind == .fineTune ? 50 : 100, 1...maxEpochs),
                    integer("batch_size", 4, 1...maxBatchSize), integer("seed", 0, 0...Int.max)]
        switch kind {
        case .baseline:
            return [head, real("scale", 2, positive), real("lr", 0.01, rate), real("momentum", 0.9, decay),
                    real("dampening", 0.9, unit), real("weight_decay", 1e-3, rate)] + loop
        case .logisticProbe:
            return [real("C", 1, positive), integer("max_iter", 1000, 1...maxIterations)]
        case .fineTune:
            return [head, real("scale", 2, positive), real("backbone_lr", 1e-3, rate), real("head_lr", 1e-2, rate),
                    real("momentum", 0.9, decay), real("weight_decay", 1e-3, rate)] + loop
        case .mamlPlusPlus:
            // MAML++'s switches (1 on, 0 off) and its annealing in epochs.
            return [integer("learn_rates", 1, 0...1), integer("multi_step_loss", 1, 0...1),
                    integer("msl_epochs", 10, 0...maxEpochs), integer("first_order_epochs", 0, 0...maxEpochs),
                    integer("iterations_per_epoch", 500, 1...maxIterations), integer("per_step_norm", 1, 0...1),
                    integer("adapt_norm", 0, 0...1)]
        case .lstmMetaLearner:
            // The update network's first layer: its units and its recurrence.
            let cells = MetaLSTMUpdate.Recurrence.allCases.map(\.rawValue)
            let cell = TransferArgument(name: "cell", fallback: .text("lstm")) { v in
                guard cells.contains(v.text!) else {
                    throw MetaError.argument("cell: expected one of \(cells.map { "'\($0)'" }.joined(separator: ", ")), got '\(v.text!)'")
                }
            }
            return [integer("hidden", 20, 1...4096), cell]
        default:
            return []
        }
    }

    /// `values` with the defaults filled in, checked against `kind`'s arguments.
    static func checkedTransfer(_ kind: Kind, _ values: [String: TransferValue]) throws -> [String: TransferValue] {
        let rules = transferArguments(kind)
        for name in values.keys.sorted() where !rules.contains(where: { $0.name == name }) {
            throw MetaError.argument("\(name): not an argument of \(kind.rawValue)")
        }
        var out: [String: TransferValue] = [:]
        for rule in rules {
            let value = values[rule.name] ?? rule.fallback
            switch (value, rule.fallback) {
            case (.real, .real), (.integer, .integer), (.text, .text): break
            case (.integer(let i), .real): out[rule.name] = .real(Double(i)); try rule.check(.real(Double(i))); continue
            default: throw MetaError.argument("\(rule.name): expected \(LearnerSpec.typeName(rule.fallback)), got \(value)")
            }
            try rule.check(value)
            out[rule.name] = value
        }
        return out
    }

    static func typeName(_ v: TransferValue) -> String {
        switch v {
        case .real: return "a real number"
        case .integer: return "an integer"
        case .text: return "a string"
        }
    }

    private func real(_ name: String) -> Float { Float(transfer[name]?.real ?? 0) }
    private func integer(_ name: String) -> Int { transfer[name]?.integer ?? 0 }

    /// The transfer learner's head (its "head" and "scale").
    private var head: TransferHead {
        transfer["head"]?.text == "cosine" ? .cosine(scale: real("scale")) : .linear
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
        // The transfer learners' hyper-parameters, MAML++'s switches, the LSTM meta-learner's network.
        let options = LearnerSpec.transferArguments(kind).map { rule -> (String, JSON) in
            switch transfer[rule.name] ?? rule.fallback {
            case .real(let v): return (rule.name, RecipeValue.float(v))
            case .integer(let v): return (rule.name, RecipeValue.int(v))
            case .text(let v): return (rule.name, RecipeValue.string(v))
            }
        }
        if kind.isTransfer {
            arguments += options
        } else if let distance {
            arguments.append(("distance", RecipeValue.string(LearnerSpec.distances.first { $0.1 == distance }!.0)))
            if let temperature { arguments.append(("temperature", RecipeValue.float(temperature))) }
        } else {
            if kind.takesRate { arguments.append(("inner_lr", RecipeValue.float(innerLR))) }
            arguments += [("inner_steps", RecipeValue.int(innerSteps)),
                          ("first_order", RecipeValue.flag(firstOrder)), ("loss", RecipeValue.string(loss.rawValue))]
            arguments += options
        }
        if let headParameters { arguments.append(("head_parameters", RecipeValue.int(headParameters))) }
        if let innerOptimizer { arguments.append(("inner_optimizer", RecipeValue.string(innerOptimizer))) }
        if let weightDecay { arguments.append(("weight_decay", RecipeValue.float(weightDecay))) }
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

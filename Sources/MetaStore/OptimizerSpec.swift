import MetaTensor
import MetaOptim

/// An outer-loop optimizer as data: the rule, its hyper-parameters and an
/// optional learning-rate schedule, so it can be stored and made again. Its
/// JSON is the recipe the C ABI records for `ms_new("optimizer.Adam", ...)`
/// (with a schedule, for `ms_new("schedule.Cosine", base: ..., ...)`),
/// which optimizer files and checkpoints store:
///
///     let spec = try OptimizerSpec(.adam, lr: 0.01, beta1: 0.8,
///                                  schedule: try ScheduleSpec(.cosine, lr: 0.01, steps: 50, final: 0.001))
///     var trainer = try MetaTrainer(learner: maml, metaParameters: start, optimizer: try spec.make(),
///                                   metaBatchSize: 4, seed: 0)
///
/// The arguments, defaults and ranges are the C ABI's (PyTorch's names and
/// defaults); numbers are kept as given, in double precision, and rounded
/// to Float32 by `make`. A hyper-parameter the rule does not take is nil.
public struct OptimizerSpec: Equatable, Sendable {
    /// The update rules, by the names `ms_new` knows them by.
    public enum Rule: String, CaseIterable, Sendable {
        case sgd = "optimizer.SGD"
        case adam = "optimizer.Adam"
        case adamW = "optimizer.AdamW"
        case adagrad = "optimizer.Adagrad"
        case rmsprop = "optimizer.RMSprop"

        /// The recipe's arguments, in the order Python's classes pass them.
        public var argumentNames: [String] {
            switch self {
            case .sgd: return ["lr", "momentum", "nesterov"]
            case .adam: return ["lr", "beta1", "beta2", "eps"]
            case .adamW: return ["lr", "beta1", "beta2", "eps", "weight_decay"]
            case .adagrad: return ["lr", "initial_accumulator_value", "eps"]
            case .rmsprop: return ["lr", "alpha", "eps", "momentum"]
            }
        }
    }

    public let rule: Rule
    /// The learning rate ("lr", required): finite and >= 0. With a schedule
    /// it is the rate the rule was made with, which the schedule replaces.
    public let lr: Double
    /// SGD and RMSprop: momentum, in [0, 1), default 0.
    public let momentum: Double?
    /// SGD: Nesterov momentum, default false; needs momentum > 0.
    public let nesterov: Bool?
    /// Adam and AdamW: decay rates of the moment estimates, in [0, 1), defaults 0.9 and 0.999.
    public let beta1: Double?
    public let beta2: Double?
    /// All but SGD: finite and >= 0, default 1e-8 (Adagrad 1e-10).
    public let eps: Double?
    /// AdamW ("weight_decay"): finite and >= 0, default 0.01.
    public let weightDecay: Double?
    /// Adagrad ("initial_accumulator_value"): finite and >= 0, default 0.
    public let initialAccumulator: Double?
    /// RMSprop: decay of the average of squared gradients, in [0, 1), default 0.99.
    public let alpha: Double?
    /// The learning-rate schedule, or nil for the constant `lr`.
    public private(set) var schedule: ScheduleSpec?

    /// A spec of `rule`; nil stands for the default. Throws, naming the
    /// argument, for a value out of range or one the rule does not take.
    public init(_ rule: Rule, lr: Double, momentum: Double? = nil, nesterov: Bool? = nil, beta1: Double? = nil,
                beta2: Double? = nil, eps: Double? = nil, weightDecay: Double? = nil, initialAccumulator: Double? = nil,
                alpha: Double? = nil, schedule: ScheduleSpec? = nil) throws {
        let takes = rule.argumentNames.contains, name = rule.rawValue
        self.rule = rule
        self.lr = lr
        self.momentum = try SpecCheck.taken("momentum", momentum, default: 0, if: takes("momentum"), by: name)
        self.nesterov = try SpecCheck.taken("nesterov", nesterov, default: false, if: takes("nesterov"), by: name)
        self.beta1 = try SpecCheck.taken("beta1", beta1, default: 0.9, if: takes("beta1"), by: name)
        self.beta2 = try SpecCheck.taken("beta2", beta2, default: 0.999, if: takes("beta2"), by: name)
        self.eps = try SpecCheck.taken("eps", eps, default: rule == .adagrad ? 1e-10 : 1e-8, if: takes("eps"), by: name)
        self.weightDecay = try SpecCheck.taken("weight_decay", weightDecay, default: 0.01, if: takes("weight_decay"), by: name)
        self.initialAccumulator = try SpecCheck.taken("initial_accumulator_value", initialAccumulator, default: 0,
                                                      if: takes("initial_accumulator_value"), by: name)
        self.alpha = try SpecCheck.taken("alpha", alpha, default: 0.99, if: takes("alpha"), by: name)
        self.schedule = schedule
        try SpecCheck.rate(lr, "lr")
        for (name, value) in [("momentum", self.momentum), ("beta1", self.beta1), ("beta2", self.beta2), ("alpha", self.alpha)] {
            if let value { try SpecCheck.decay(value, name) }
        }
        if self.nesterov == true && Float(self.momentum ?? 0) == 0 { throw MetaError.argument("nesterov: needs momentum > 0") }
        for (name, value) in [("eps", self.eps), ("weight_decay", self.weightDecay),
                              ("initial_accumulator_value", self.initialAccumulator)] {
            if let value { try SpecCheck.rate(value, name) }
        }
    }

    /// A spec of `rule` from named arguments (a schedule is added by `scheduled`).
    public init(_ rule: Rule, reading args: some SpecArguments) throws {
        let takes = rule.argumentNames.contains
        func real(_ name: String) throws -> Double? { takes(name) ? try args.real(name) : nil }
        try self.init(rule, lr: try args.required("lr", args.real), momentum: try real("momentum"),
                      nesterov: takes("nesterov") ? try args.flag("nesterov") : nil, beta1: try real("beta1"),
                      beta2: try real("beta2"), eps: try real("eps"), weightDecay: try real("weight_decay"),
                      initialAccumulator: try real("initial_accumulator_value"), alpha: try real("alpha"))
    }

    /// The same rule and hyper-parameters with `schedule` as the learning
    /// rate (nil: the constant `lr`).
    public func scheduled(_ schedule: ScheduleSpec?) -> OptimizerSpec {
        var spec = self
        spec.schedule = schedule
        return spec
    }

    /// The name `ms_new` makes it by, which files carry as their kind: the
    /// schedule's ("schedule.Cosine") when there is one, else the rule's.
    public var kind: String { schedule?.kind.rawValue ?? rule.rawValue }

    /// Every kind a recipe of an optimizer can have.
    public static var kinds: [String] { Rule.allCases.map(\.rawValue) + ScheduleSpec.Kind.allCases.map(\.rawValue) }

    /// The learning rate of every update: the schedule's, or the constant `lr`.
    public func makeSchedule() throws -> Schedule {
        try schedule?.make() ?? .constant(Float(lr))
    }

    /// The optimizer, as MetaOptim's pure (init, update) pair.
    public func make() throws -> GradientTransformation {
        let rate = try makeSchedule()
        func f(_ x: Double?) -> Float { Float(x!) }  // the rule's own hyper-parameters are never nil
        switch rule {
        case .sgd: return try .sgd(learningRate: rate, momentum: f(momentum), nesterov: nesterov!)
        case .adam: return try .adam(learningRate: rate, beta1: f(beta1), beta2: f(beta2), eps: f(eps))
        case .adamW:
            return try .adamW(learningRate: rate, beta1: f(beta1), beta2: f(beta2), eps: f(eps), weightDecay: f(weightDecay))
        case .adagrad: return try .adagrad(learningRate: rate, initialAccumulator: f(initialAccumulator), eps: f(eps))
        case .rmsprop: return try .rmsprop(learningRate: rate, decay: f(alpha), eps: f(eps), momentum: f(momentum))
        }
    }
}

/// A learning-rate schedule as data (MetaOptim's `Schedule` is a function).
///
///     try ScheduleSpec(.cosine, lr: 3e-3, steps: 10_000, final: 1e-4, warmup: 100)
///     try ScheduleSpec(.exponential, lr: 0.1, rate: 0.5, every: 3, staircase: true)
///     try ScheduleSpec(.piecewise, lr: 0.5, boundaries: [2, 4], values: [0.25, 0.125])
///
/// Arguments a kind does not take are nil.
public struct ScheduleSpec: Equatable, Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        /// Linear warm-up, then cosine annealing (`Schedule.cosineDecay`).
        case cosine = "schedule.Cosine"
        /// `lr · rate^(t / every)` (`Schedule.exponentialDecay`).
        case exponential = "schedule.Exponential"
        /// `lr`, then `values[k]` from update `boundaries[k]` on (`Schedule.piecewiseConstant`).
        case piecewise = "schedule.Piecewise"

        /// The recipe's arguments after "base", in the order Python's classes pass them.
        public var argumentNames: [String] {
            switch self {
            case .cosine: return ["lr", "steps", "final", "warmup"]
            case .exponential: return ["lr", "rate", "every", "staircase"]
            case .piecewise: return ["lr", "boundaries", "values"]
            }
        }
    }

    public let kind: Kind
    /// The peak (cosine) or initial rate ("lr", required): finite and >= 0.
    public let lr: Double
    /// Cosine: updates until the end of the decay, warm-up included (required, > warmup).
    public let steps: Int?
    /// Cosine: the rate from `steps` on, finite and >= 0, default 0.
    public let final: Double?
    /// Cosine: warm-up updates, >= 0, default 0.
    public let warmup: Int?
    /// Exponential: the factor per `every` updates (required), in (0, 1].
    public let rate: Double?
    /// Exponential: > 0, default 1.
    public let every: Int?
    /// Exponential: whether the exponent is rounded down (PyTorch's StepLR), default false.
    public let staircase: Bool?
    /// Piecewise: updates where the rate changes, > 0 and strictly increasing, default none.
    public let boundaries: [Int]?
    /// Piecewise: the rate from each boundary on, finite and >= 0, one per boundary.
    public let values: [Float]?

    public init(_ kind: Kind, lr: Double, steps: Int? = nil, final: Double? = nil, warmup: Int? = nil, rate: Double? = nil,
                every: Int? = nil, staircase: Bool? = nil, boundaries: [Int]? = nil, values: [Float]? = nil) throws {
        let takes = kind.argumentNames.contains, name = kind.rawValue
        self.kind = kind
        self.lr = lr
        self.steps = try SpecCheck.taken("steps", steps, default: nil, if: takes("steps"), by: name)
        self.final = try SpecCheck.taken("final", final, default: 0, if: takes("final"), by: name)
        self.warmup = try SpecCheck.taken("warmup", warmup, default: 0, if: takes("warmup"), by: name)
        self.rate = try SpecCheck.taken("rate", rate, default: nil, if: takes("rate"), by: name)
        self.every = try SpecCheck.taken("every", every, default: 1, if: takes("every"), by: name)
        self.staircase = try SpecCheck.taken("staircase", staircase, default: false, if: takes("staircase"), by: name)
        self.boundaries = try SpecCheck.taken("boundaries", boundaries, default: [], if: takes("boundaries"), by: name)
        self.values = try SpecCheck.taken("values", values, default: [], if: takes("values"), by: name)
        try SpecCheck.rate(lr, "lr")
        switch kind {
        case .cosine:
            guard let steps else { throw MetaError.argument("steps: required") }
            try SpecCheck.rate(self.final!, "final")
            try SpecCheck.count(self.warmup!, "warmup")
            try SpecCheck.count(steps, "steps")
            guard steps > self.warmup! else { throw MetaError.argument("steps: must be > warmup (\(self.warmup!)), got \(steps)") }
        case .exponential:
            guard let rate else { throw MetaError.argument("rate: required") }
            guard Float(rate) > 0, Float(rate) <= 1 else { throw MetaError.argument("rate: must be in (0, 1], got \(Float(rate))") }
            try SpecCheck.count(self.every!, "every", minimum: 1)
        case .piecewise:
            let (boundaries, values) = (self.boundaries!, self.values!)
            guard boundaries.count == values.count else {
                throw MetaError.argument("values: expected one value per boundary (\(boundaries.count)), got \(values.count)")
            }
            for (k, b) in boundaries.enumerated() where b <= (k == 0 ? 0 : boundaries[k - 1]) || b > Int(Int32.max) {
                throw MetaError.argument("boundaries: must be > 0 and strictly increasing, got \(boundaries)")
            }
            for v in values where !(v.isFinite && v >= 0) { throw MetaError.argument("values: must be finite and >= 0, got \(v)") }
        }
    }

    /// A schedule of `kind` from named arguments (all but the optimizer "base").
    public init(_ kind: Kind, reading args: some SpecArguments) throws {
        let lr = try args.required("lr", args.real)
        switch kind {
        case .cosine:
            try self.init(kind, lr: lr, steps: try args.required("steps", args.integer), final: try args.real("final"),
                          warmup: try args.integer("warmup"))
        case .exponential:
            try self.init(kind, lr: lr, rate: try args.required("rate", args.real), every: try args.integer("every"),
                          staircase: try args.flag("staircase"))
        case .piecewise:
            try self.init(kind, lr: lr, boundaries: try args.integers("boundaries"), values: try args.reals("values"))
        }
    }

    /// The schedule, as MetaOptim computes it.
    public func make() throws -> Schedule {
        switch kind {
        case .cosine: return try .cosineDecay(peak: Float(lr), steps: steps!, final: Float(final!), warmup: warmup!)
        case .exponential: return try .exponentialDecay(initial: Float(lr), rate: Float(rate!), every: every!, staircase: staircase!)
        case .piecewise: return try .piecewiseConstant(initial: Float(lr), boundaries: boundaries!, values: values!)
        }
    }
}

// MARK: - The recipe

extension OptimizerSpec {
    /// The recipe: `{"kind": "optimizer.Adam", "arguments": {"lr": {"float": 0.001}, "beta1": {"float": 0.9}, ...}}`;
    /// with a schedule, the schedule's recipe with the rule's as its base:
    /// `{"kind": "schedule.Cosine", "arguments": {"base": {"object": {"kind": "optimizer.Adam", ...}},
    /// "lr": {"float": 0.01}, "steps": {"int": 50}, "final": {"float": 0.001}, "warmup": {"int": 5}}}`.
    public var json: JSON {
        let arguments = rule.argumentNames.map { name -> (String, JSON) in
            switch name {
            case "lr": return (name, RecipeValue.float(lr))
            case "momentum": return (name, RecipeValue.float(momentum!))
            case "nesterov": return (name, RecipeValue.flag(nesterov!))
            case "beta1": return (name, RecipeValue.float(beta1!))
            case "beta2": return (name, RecipeValue.float(beta2!))
            case "eps": return (name, RecipeValue.float(eps!))
            case "weight_decay": return (name, RecipeValue.float(weightDecay!))
            case "initial_accumulator_value": return (name, RecipeValue.float(initialAccumulator!))
            default: return (name, RecipeValue.float(alpha!))
            }
        }
        let base = RecipeArguments.json(kind: rule.rawValue, arguments)
        guard let schedule else { return base }
        return RecipeArguments.json(kind: schedule.kind.rawValue, [("base", RecipeValue.object(base))] + schedule.arguments)
    }

    /// The spec a recipe describes, read strictly (known kinds, typed values
    /// in range, no other names); a schedule's base may itself carry a
    /// schedule, which the outer one replaces, as in `ms_new`. Errors start
    /// with "optimizer: " and name the argument.
    public init(json: JSON) throws {
        try self.init(json: json, label: "optimizer")
    }

    init(json: JSON, label: String) throws {
        self = try RecipeArguments.reading(json, label) { args in
            if let rule = Rule(rawValue: args.kind) { return try OptimizerSpec(rule, reading: args) }
            guard let kind = ScheduleSpec.Kind(rawValue: args.kind) else {
                throw MetaError.argument("unknown kind '\(args.kind)'; expected one of \(OptimizerSpec.kinds.joined(separator: ", "))")
            }
            let base = try OptimizerSpec(json: try args.object("base"), label: "base")
            return base.scheduled(try ScheduleSpec(kind, reading: args))
        }
    }
}

extension ScheduleSpec {
    var arguments: [(String, JSON)] {
        kind.argumentNames.map { name -> (String, JSON) in
            switch name {
            case "lr": return (name, RecipeValue.float(lr))
            case "steps": return (name, RecipeValue.int(steps!))
            case "final": return (name, RecipeValue.float(final!))
            case "warmup": return (name, RecipeValue.int(warmup!))
            case "rate": return (name, RecipeValue.float(rate!))
            case "every": return (name, RecipeValue.int(every!))
            case "staircase": return (name, RecipeValue.flag(staircase!))
            case "boundaries": return (name, RecipeValue.ints(boundaries!))
            default: return (name, RecipeValue.floats(values!))
            }
        }
    }
}

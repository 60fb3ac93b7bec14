import MetaSwift

/// What an `ms_optimizer` points to: an outer-loop optimizer as a pure
/// transformation (MetaOptim's `GradientTransformation`), with no state. A
/// trainer made from it starts its own state, so one optimizer handle can
/// serve several trainers. It also keeps how to rebuild itself with another
/// learning-rate schedule (the `schedule.*` kinds).
final class OptimizerObject: Bridged, Recorded {
    static let kind = HandleKind.optimizer
    var recipe: Recipe?
    typealias Rule = @Sendable (Schedule) throws -> GradientTransformation
    let transformation: GradientTransformation
    let schedule: Schedule
    private let rule: Rule

    init(schedule: Schedule, rule: @escaping Rule) throws {
        self.transformation = try rule(schedule)
        self.schedule = schedule
        self.rule = rule
    }

    /// The same rule and hyper-parameters with `schedule` as the learning rate.
    func rescheduled(_ schedule: Schedule) throws -> OptimizerObject {
        try OptimizerObject(schedule: schedule, rule: rule)
    }
}


/// Checks in the caller's terms (MetaOptim checks the same conditions but
/// names its own Swift arguments).
private extension Arguments {
    /// A learning rate, epsilon, decay or accumulator: finite and >= 0.
    func rate(_ name: String, default fallback: Float? = nil) throws -> Float {
        try float(name, default: fallback, minimum: 0)
    }

    /// A decay rate of a moving average or a momentum: in [0, 1).
    func decay(_ name: String, default fallback: Float) throws -> Float {
        let x = Float(try optionalDouble(name) ?? Double(fallback))
        guard x >= 0, x < 1 else { throw BridgeError.argument("\(name): must be in [0, 1), got \(x)") }
        return x
    }
}

/// An optimizer with a constant rate `lr`, once every argument is read.
private func constant(_ args: Arguments, _ rule: @escaping OptimizerObject.Rule) throws -> OptimizerObject {
    let lr = try args.rate("lr")
    try args.done()
    return try OptimizerObject(schedule: .constant(lr), rule: rule)
}

extension Kinds {
    static let optimizers: [String: (Arguments) throws -> any Bridged] = [
        "optimizer.SGD": { args in
            let momentum = try args.decay("momentum", default: 0)
            let nesterov = try args.bool("nesterov", default: false)
            if nesterov && momentum == 0 { throw BridgeError.argument("nesterov: needs momentum > 0") }
            return try constant(args) { try .sgd(learningRate: $0, momentum: momentum, nesterov: nesterov) }
        },
        "optimizer.Adam": { args in
            let (b1, b2) = (try args.decay("beta1", default: 0.9), try args.decay("beta2", default: 0.999))
            let eps = try args.rate("eps", default: 1e-8)
            return try constant(args) { try .adam(learningRate: $0, beta1: b1, beta2: b2, eps: eps) }
        },
        "optimizer.AdamW": { args in
            let (b1, b2) = (try args.decay("beta1", default: 0.9), try args.decay("beta2", default: 0.999))
            let eps = try args.rate("eps", default: 1e-8)
            let wd = try args.rate("weight_decay", default: 0.01)
            return try constant(args) { try .adamW(learningRate: $0, beta1: b1, beta2: b2, eps: eps, weightDecay: wd) }
        },
        "optimizer.Adagrad": { args in
            let acc = try args.rate("initial_accumulator_value", default: 0)
            let eps = try args.rate("eps", default: 1e-10)
            return try constant(args) { try .adagrad(learningRate: $0, initialAccumulator: acc, eps: eps) }
        },
        "optimizer.RMSprop": { args in
            let decay = try args.decay("alpha", default: 0.99)
            let eps = try args.rate("eps", default: 1e-8)
            let momentum = try args.decay("momentum", default: 0)
            return try constant(args) { try .rmsprop(learningRate: $0, decay: decay, eps: eps, momentum: momentum) }
        },
        // Learning-rate schedules: a new optimizer with the rule and
        // hyper-parameters of `base` and a schedule in place of its constant rate.
        "schedule.Cosine": { args in
            let base = try args.object("base", as: OptimizerObject.self)
            let peak = try args.rate("lr"), final = try args.rate("final", default: 0)
            let warmup = try args.count("warmup", default: 0)
            let steps = try args.count("steps")
            try args.done()
            guard steps > warmup else { throw BridgeError.argument("steps: must be > warmup (\(warmup)), got \(steps)") }
            return try base.rescheduled(try .cosineDecay(peak: peak, steps: steps, final: final, warmup: warmup))
        },
        "schedule.Exponential": { args in
            let base = try args.object("base", as: OptimizerObject.self)
            let initial = try args.rate("lr")
            let rate = Float(try args.optionalDouble("rate") ?? .nan)
            guard rate > 0, rate <= 1 else { throw BridgeError.argument("rate: must be in (0, 1], got \(rate)") }
            let every = try args.count("every", default: 1, minimum: 1)
            let staircase = try args.bool("staircase", default: false)
            try args.done()
            return try base.rescheduled(try .exponentialDecay(initial: initial, rate: rate, every: every,
                                                              staircase: staircase))
        },
        "schedule.Piecewise": { args in
            let base = try args.object("base", as: OptimizerObject.self)
            let initial = try args.rate("lr")
            let boundaries = try args.optionalInts("boundaries") ?? []
            let values = try args.optionalTensor("values")?.scalars ?? []
            try args.done()
            guard boundaries.count == values.count else {
                throw BridgeError.argument("values: expected one value per boundary (\(boundaries.count)), got \(values.count)")
            }
            for (k, b) in boundaries.enumerated() where b <= (k == 0 ? 0 : boundaries[k - 1]) || b > Int64(Int32.max) {
                throw BridgeError.argument("boundaries: must be > 0 and strictly increasing, got \(boundaries)")
            }
            for v in values where v < 0 { throw BridgeError.argument("values: must be finite and >= 0, got \(v)") }
            return try base.rescheduled(try .piecewiseConstant(initial: initial, boundaries: boundaries.map { Int($0) },
                                                               values: values))
        },
    ]
}

extension OptimizerObject {
    static let methods: [String: Method<OptimizerObject>] = [
        "learning_rates": OptimizerObject.learningRates,
        "save": OptimizerObject.save,
    ]

    /// The learning rate at updates 0..<n.
    func learningRates(_ args: Arguments, _ out: Results) throws {
        let n = try args.count("n")
        try args.done()
        try Check.fitsInMemory(elements: n, "n")
        out.set("rates", try Tensor.make(shape: [n]) { p, _ in for t in 0..<n { p[t] = schedule(t) } })
    }
}

import MetaSwift

/// What an `ms_optimizer` points to: an outer-loop optimizer as a pure
/// transformation (MetaOptim's `GradientTransformation`), with no state. A
/// trainer made from it starts its own state, so one optimizer handle can
/// serve several trainers. It is made from, and keeps, its spec (rule,
/// hyper-parameters, schedule), which optimizer files and checkpoints store.
final class OptimizerObject: Bridged {
    static let kind = HandleKind.optimizer
    let spec: OptimizerSpec
    let transformation: GradientTransformation
    let schedule: Schedule

    init(_ spec: OptimizerSpec) throws {
        self.spec = spec
        self.schedule = try spec.makeSchedule()
        self.transformation = try spec.make()
    }
}

extension Kinds {
    /// One constructor per rule MetaStore's `OptimizerSpec` knows
    /// ("optimizer.Adam": "lr", "beta1", ...), and one per learning-rate
    /// schedule ("schedule.Cosine": a new optimizer with the rule and
    /// hyper-parameters of `base` and the schedule in place of its rate).
    /// Defaults and ranges are the specs'.
    static let optimizers: [String: (Arguments) throws -> any Bridged] = {
        var kinds: [String: (Arguments) throws -> any Bridged] = [:]
        for rule in OptimizerSpec.Rule.allCases {
            kinds[rule.rawValue] = { args in
                let spec = try OptimizerSpec(rule, reading: args)
                try args.done()
                return try OptimizerObject(spec)
            }
        }
        for kind in ScheduleSpec.Kind.allCases {
            kinds[kind.rawValue] = { args in
                let base = try args.object("base", as: OptimizerObject.self)
                let schedule = try ScheduleSpec(kind, reading: args)
                try args.done()
                return try OptimizerObject(base.spec.scheduled(schedule))
            }
        }
        return kinds
    }()
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

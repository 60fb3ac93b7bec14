import MetaSwift

/// What an `ms_optimizer` points to: an outer-loop optimizer as a pure
/// transformation (MetaOptim's `GradientTransformation`), with no state. A
/// trainer made from it starts its own state, so one optimizer handle can
/// serve several trainers.
///
/// A rule optimizer is made from, and keeps, its spec (rule,
/// hyper-parameters, schedule), which optimizer files and checkpoints
/// store. A learned optimizer ("optimizer.Learned") is a network and its
/// weights instead (`learned`): no spec, no learning rate, and its weights
/// change when a meta-trainer writes them back. A trainer takes the
/// transformation of the weights at the time it is made.
final class OptimizerObject: Bridged {
    static let kind = HandleKind.optimizer
    /// The rule's recipe; nil for a learned optimizer.
    let spec: OptimizerSpec?
    let schedule: Schedule?
    /// The network of a learned optimizer.
    let learned: LearnedOptimizer?
    private let lock = Lock()
    private var current: (transformation: GradientTransformation, weights: [Tensor])
    /// Counts `setWeights` calls, so a trainer can tell whether someone
    /// replaced the weights it wrote.
    private var revision = 0

    init(_ spec: OptimizerSpec) throws {
        self.spec = spec
        self.schedule = try spec.makeSchedule()
        self.learned = nil
        self.current = (try spec.make(), [])
    }

    init(learned: LearnedOptimizer, weights: [Tensor]) throws {
        self.spec = nil
        self.schedule = nil
        self.learned = learned
        self.current = (try learned.transformation(parameters: weights), weights)
    }

    var transformation: GradientTransformation { lock.withLock { current.transformation } }
    /// A learned optimizer's weights (empty for a rule).
    var weights: [Tensor] { lock.withLock { current.weights } }

    /// A learned optimizer's weights and how many times they were set.
    var revisedWeights: (weights: [Tensor], revision: Int) { lock.withLock { (current.weights, revision) } }

    /// Replaces a learned optimizer's weights (checked by the caller);
    /// returns the new revision.
    @discardableResult
    func setWeights(_ weights: [Tensor]) throws -> Int {
        guard let learned else { throw BridgeError.argument("optimizer: only a learned optimizer has weights") }
        let t = try learned.transformation(parameters: weights)
        return lock.withLock {
            current = (t, weights)
            revision += 1
            return revision
        }
    }

    /// The rule's spec, for what stores recipes (checkpoints); a learned
    /// optimizer has none, and `argument` is named in the refusal.
    func recipe(_ argument: String, for purpose: String) throws -> OptimizerSpec {
        guard let spec else {
            throw BridgeError.argument("\(argument): a learned optimizer is a network, not a recipe: \(purpose) "
                                       + "needs a rule optimizer (SGD, Adam, ...)")
        }
        return spec
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
                guard let spec = base.spec else {
                    throw BridgeError.argument("base: a learned optimizer has no learning rate to schedule")
                }
                return try OptimizerObject(spec.scheduled(schedule))
            }
        }
        return kinds
    }()
}

extension OptimizerObject {
    static let methods: [String: Method<OptimizerObject>] = [
        "learning_rates": OptimizerObject.learningRates,
        "save": OptimizerObject.save,
        "weights": OptimizerObject.weightsMethod,
        "set_weights": OptimizerObject.setWeightsMethod,
    ]

    /// The learning rate at updates 0..<n.
    func learningRates(_ args: Arguments, _ out: Results) throws {
        let n = try args.count("n")
        try args.done()
        guard let schedule else {
            throw BridgeError.argument("method: a learned optimizer has no learning rate (its network makes the steps)")
        }
        try Check.fitsInMemory(elements: n, "n")
        out.set("rates", try Tensor.make(shape: [n]) { p, _ in for t in 0..<n { p[t] = schedule(t) } })
    }
}

import MetaSwift

extension HandleKind {
    static let optimizee = HandleKind(rawValue: "optimizee")
    static let optimizerTrainer = HandleKind(rawValue: "optimizer_trainer")
}

/// What an "optimizee.*" object points to: a family of problems a learned
/// optimizer trains on and is compared on (MetaLearners' `OptimizeeFamily`).
final class OptimizeeObject: Bridged {
    static let kind = HandleKind.optimizee
    let family: any OptimizeeFamily
    init(_ family: any OptimizeeFamily) { self.family = family }
}

/// What an "optimizer_trainer" points to: MetaLearners'
/// `LearnedOptimizerTrainer` for one learned optimizer object, which it
/// writes its trained weights back to after every run (so that object, used
/// as any optimizer, is the trained one: with validation, the best validated
/// weights so far). A run carries on from the trainer's own latest weights,
/// or from the object's if someone set them since. Runs are serialised.
final class OptimizerTrainerObject: Bridged {
    static let kind = HandleKind.optimizerTrainer
    let optimizer: OptimizerObject
    let problems: OptimizeeObject
    private let lock = Lock()
    private var trainer: LearnedOptimizerTrainer
    /// The optimizer object's revision after this trainer last wrote it.
    private var written: Int?

    init(optimizer: OptimizerObject, problems: OptimizeeObject, trainer: LearnedOptimizerTrainer) {
        self.optimizer = optimizer
        self.problems = problems
        self.trainer = trainer
    }
}

extension Kinds {
    static let learnedOptimizers: [String: (Arguments) throws -> any Bridged] = [
        /// The coordinate-wise LSTM optimizer (Andrychowicz et al. 2016): fresh
        /// weights from `seed`, or the given `weights` (in `weights`' order).
        "optimizer.Learned": { args in
            let hidden = try args.int("hidden", default: 20, in: 1...4096)
            let layers = try args.int("layers", default: 2, in: 1...16)
            let scale = try args.float("output_scale", default: 0.1, above: 0)
            let p = try args.float("preprocessing", default: 10, minimum: 0)
            let cell = try args.choice("cell", default: RecurrentCell.lstm)
            let seed = try args.seed("seed")
            let given = try args.tensors("weights")
            try args.done()
            let net = try LearnedOptimizer(hiddenSize: hidden, layers: layers, outputScale: scale,
                                           preprocessing: p == 0 ? nil : p, cell: cell)
            var weights: [Tensor]
            if given.isEmpty {
                var rng = RNG(seed: seed)
                weights = try net.initialParameters(rng: &rng)
            } else {
                weights = try checkedWeights(given, for: net)
            }
            return try OptimizerObject(learned: net, weights: weights)
        },
        /// ‖Wθ − y‖² with W, y standard normal (the paper's quadratics).
        "optimizee.Quadratic": { args in
            let dim = try args.int("dim", default: 10, in: 1...4096)
            let scale = try args.float("initial_scale", default: 0.01, minimum: 0)
            try args.done()
            return OptimizeeObject(try QuadraticFamily(dimension: dim, initialScale: scale))
        },
        /// A one-hidden-layer MLP with cross-entropy on minibatches of `inputs`, `labels`.
        "optimizee.MLP": { args in
            let inputs = try args.tensor("inputs")
            let labels = try args.ints("labels")
            let classesGiven = try args.optionalInt("classes", in: 2...Int64(Int32.max))
            let hidden = try args.int("hidden", default: 20, in: 1...65536)
            let activation = try args.choice("activation", default: MLPFamily.Activation.sigmoid)
            let batch = try args.int("batch_size", default: 128, in: 1...Int64(Int32.max))
            let scale = try args.float("initial_scale", default: 0.1, minimum: 0)
            try args.done()
            guard inputs.rank == 2, inputs.shape[0] > 0, inputs.shape[1] > 0 else {
                throw BridgeError.argument("inputs: must have shape (examples, features), got \(inputs.shape)")
            }
            guard labels.count == inputs.shape[0] else {
                throw BridgeError.argument("labels: \(labels.count) labels for \(inputs.shape[0]) examples")
            }
            if let bad = labels.first(where: { $0 < 0 }) { throw BridgeError.argument("labels: must be >= 0, got \(bad)") }
            let classes = classesGiven ?? Int(max(labels.max() ?? 0, 1) + 1)
            if let bad = labels.first(where: { $0 >= classes }) {
                throw BridgeError.argument("labels: \(bad) is not below classes (\(classes))")
            }
            try Check.fitsInMemory(inputs.shape[1], times: hidden, "hidden")
            return OptimizeeObject(try MLPFamily(inputs: try inputs.copy(), labels: labels.map { Int($0) }, classes: classes,
                                                 hidden: hidden, activation: activation, batchSize: batch, initialScale: scale))
        },
        /// Meta-training of a learned optimizer on a family of problems.
        "optimizer_trainer": { args in
            let optimizer = try args.object("optimizer", as: OptimizerObject.self)
            let problems = try args.object("problems", as: OptimizeeObject.self)
            let meta = try args.object("meta_optimizer", as: OptimizerObject.self)
            let unroll = try args.int("unroll", default: 100, in: 1...1_000_000)
            let truncation = try args.int("truncation", default: 20, in: 1...1_000_000)
            let batch = try args.int("meta_batch_size", default: 1, in: 1...100_000)
            let mode = try args.choice("mode", default: MetaGradientMode.firstOrder)
            let seed = try args.seed("seed")
            let validationProblems = try args.optionalInt("validation_problems", in: 1...1_000_000)
            let every = try args.int("validate_every", default: 100, in: 1...Int64(Int32.max))
            let validationSeed = try args.seed("validation_seed", default: seed &+ 1)
            try args.done()
            guard let net = optimizer.learned else {
                throw BridgeError.argument("optimizer: expected a learned optimizer (optimizer.Learned), got a rule optimizer")
            }
            guard meta.learned == nil else {
                throw BridgeError.argument("meta_optimizer: must be a rule optimizer (Adam in the paper), got a learned one")
            }
            guard truncation <= unroll else {
                throw BridgeError.argument("truncation: must be <= unroll (\(unroll)), got \(truncation)")
            }
            let trainer = try LearnedOptimizerTrainer(optimizer: net, weights: optimizer.weights, family: problems.family,
                                                      metaOptimizer: meta.transformation, unroll: unroll,
                                                      truncation: truncation, metaBatchSize: batch, mode: mode, seed: seed,
                                                      validation: validationProblems.map {
                                                          .init(problems: $0, every: every, seed: validationSeed)
                                                      })
            return OptimizerTrainerObject(optimizer: optimizer, problems: problems, trainer: trainer)
        },
    ]

    /// `given` checked against the network's weights, naming the one that does not fit.
    static func checkedWeights(_ given: [Tensor], for net: LearnedOptimizer) throws -> [Tensor] {
        let specs = net.parameterSpecs
        guard given.count == specs.count else {
            throw BridgeError.argument("weights: expected \(specs.count) arrays (\(specs.map(\.name).joined(separator: ", "))), got \(given.count)")
        }
        return try zip(given, specs).enumerated().map { i, pair in
            guard pair.0.shape == pair.1.shape else {
                throw BridgeError.argument("weights[\(i)] (\(pair.1.name)): must have shape \(pair.1.shape), got \(pair.0.shape)")
            }
            return try pair.0.copy()
        }
    }
}

extension OptimizerObject {
    /// A learned optimizer's weights: `weights` (arrays) and `names` (JSON array).
    func weightsMethod(_ args: Arguments, _ out: Results) throws {
        try args.done()
        guard let learned else { throw BridgeError.argument("method: a rule optimizer has no weights") }
        out.set("weights", weights)
        out.set("names", try JSON.array(learned.parameterSpecs.map { .string($0.name) }).serialized)
    }

    func setWeightsMethod(_ args: Arguments, _ out: Results) throws {
        let given = try args.tensors("weights")
        try args.done()
        guard let learned else { throw BridgeError.argument("method: a rule optimizer has no weights") }
        try setWeights(try Kinds.checkedWeights(given, for: learned))
    }
}

extension OptimizeeObject {
    static let methods: [String: Method<OptimizeeObject>] = [
        "loss_curves": OptimizeeObject.lossCurves,
    ]

    /// `problems` problems drawn from `seed` (the same ones for any
    /// optimizer), each optimised by `optimizer` for `steps` updates:
    /// `losses` (problems, steps + 1), f_t(θ_t) from t = 0.
    func lossCurves(_ args: Arguments, _ out: Results) throws {
        let optimizer = try args.object("optimizer", as: OptimizerObject.self)
        let count = try args.int("problems", default: 1, in: 1...1_000_000)
        let steps = try args.int("steps", in: 0...10_000_000)
        let seed = try args.seed("seed")
        try args.done()
        try Check.fitsInMemory(count, times: steps + 1, "steps")
        let curves = try MetaSwift.lossCurves(family, transformation: optimizer.transformation, problems: count,
                                              steps: steps, seed: seed)
        out.set("losses", try Tensor(shape: [count, steps + 1], scalars: curves.flatMap { $0 }))
    }
}

extension OptimizerTrainerObject {
    static let methods: [String: Method<OptimizerTrainerObject>] = [
        "run": OptimizerTrainerObject.run,
        "steps": OptimizerTrainerObject.stepCount,
        "validations": OptimizerTrainerObject.validationsMethod,
    ]

    /// `steps` truncations (each one meta-update, and the validations due);
    /// returns their meta-losses and writes the selected weights (the best
    /// validated, or the latest without validation) back to the optimizer
    /// object, also when a truncation fails.
    func run(_ args: Arguments, _ out: Results) throws {
        try runSteps(args, out) { n, losses in
            try lock.withLock {
                let (weights, revision) = optimizer.revisedWeights
                if revision != written { try trainer.setWeights(weights) }  // someone set them since
                defer { written = try? optimizer.setWeights(trainer.selectedWeights) }
                for _ in 0..<n { losses.append(try trainer.step()) }
            }
        }
    }

    /// Every validation so far: `steps` (truncations done then) and `losses`
    /// (mean final validation losses); `best_step` (-1 before any).
    func validationsMethod(_ args: Arguments, _ out: Results) throws {
        try args.done()
        let (all, best) = lock.withLock { (trainer.validations, trainer.best) }
        out.set("steps", all.map(\.step))
        out.set("losses", try Tensor(shape: [all.count], scalars: all.map(\.loss)))
        out.set("best_step", best?.step ?? -1)
    }

    func stepCount(_ args: Arguments, _ out: Results) throws {
        try args.done()
        out.set("steps", lock.withLock { trainer.steps })
    }
}

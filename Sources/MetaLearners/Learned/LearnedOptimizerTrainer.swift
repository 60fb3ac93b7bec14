import MetaTensor
import MetaAutodiff
import MetaOptim

/// Meta-training of a `LearnedOptimizer` (Andrychowicz et al. 2016, section 2):
/// problems drawn from a family are optimised by the network for `unroll`
/// steps (100 in the paper), cut into truncations of `truncation` steps (20);
/// after each truncation the network's weights φ take one step of
/// `metaOptimizer` (Adam in the paper) on the truncation's meta-loss, the sum
/// of the optimizee's losses over its steps. The optimizee's parameters and
/// the LSTM states carry over from one truncation of an unroll to the next,
/// detached; a new unroll draws new problems.
///
/// `metaBatchSize` problems run side by side in each unroll (their
/// coordinates joined, their losses averaged: `JointOptimizee`), which
/// averages the meta-gradient over problems as the paper's code does.
///
/// With `validation`, the trainer also does the paper's selection (section 3:
/// every so many meta-updates the weights are frozen and run on validation
/// problems, and the best by the final validation loss is the one reported):
/// every `validation.every` truncations it runs `validation.problems`
/// problems, drawn afresh from `validation.seed` each time (the same ones
/// every time), for `unroll` steps, and keeps the weights with the lowest mean
/// final loss (`best`). Training carries on from the latest weights either way.
///
/// Deterministic: one generator, seeded, draws every problem; the same seed
/// gives the same weights bit for bit.
public struct LearnedOptimizerTrainer: Sendable {
    /// When and on what the weights are validated.
    public struct Validation: Sendable, Equatable {
        public var problems: Int
        public var every: Int
        public var seed: UInt64
        public init(problems: Int, every: Int, seed: UInt64) {
            (self.problems, self.every, self.seed) = (problems, every, seed)
        }
    }

    /// Weights as they were at a validation, and their mean final loss there.
    public struct Validated: Sendable {
        /// Truncations done when they were validated.
        public let step: Int
        public let loss: Float
        public let weights: [Tensor]
    }

    public let optimizer: LearnedOptimizer
    public let family: any OptimizeeFamily
    public let mode: MetaGradientMode
    public let unroll: Int
    public let truncation: Int
    public let metaBatchSize: Int
    public private(set) var weights: [Tensor]
    /// Truncations done.
    public private(set) var steps = 0
    public let validation: Validation?
    /// Every validation so far: truncations done, mean final loss (a diverged
    /// problem makes it infinite or NaN, and never the best).
    public private(set) var validations: [(step: Int, loss: Float)] = []
    /// The validated weights with the lowest mean final loss (the first of equals).
    public private(set) var best: Validated?
    private var meta: Optimizer
    private var rng: RNG
    private var current: (problem: any Optimizee, state: UnrollState)?

    public init(optimizer: LearnedOptimizer, weights: [Tensor], family: any OptimizeeFamily,
                metaOptimizer: GradientTransformation, unroll: Int = 100, truncation: Int = 20, metaBatchSize: Int = 1,
                mode: MetaGradientMode = .firstOrder, seed: UInt64 = 0, validation: Validation? = nil) throws {
        try optimizer.check(weights)
        guard unroll > 0 else { throw MetaError.argument("LearnedOptimizerTrainer: unroll must be > 0, got \(unroll)") }
        guard truncation > 0, truncation <= unroll else {
            throw MetaError.argument("LearnedOptimizerTrainer: truncation must be in 1...unroll (\(unroll)), got \(truncation)")
        }
        guard metaBatchSize > 0 else {
            throw MetaError.argument("LearnedOptimizerTrainer: metaBatchSize must be > 0, got \(metaBatchSize)")
        }
        self.optimizer = optimizer
        self.family = family
        self.mode = mode
        self.unroll = unroll
        self.truncation = truncation
        self.metaBatchSize = metaBatchSize
        if let v = validation, v.problems <= 0 || v.every <= 0 {
            throw MetaError.argument("LearnedOptimizerTrainer: validation needs problems > 0 and every > 0, "
                                     + "got \(v.problems) and \(v.every)")
        }
        self.validation = validation
        self.weights = weights
        self.meta = try Optimizer(metaOptimizer, params: weights)
        self.rng = RNG(seed: seed)
    }

    /// Carries on from other weights (the caller changed them), keeping the
    /// meta-optimizer's state and the unroll in progress.
    public mutating func setWeights(_ w: [Tensor]) throws {
        try optimizer.check(w)
        weights = w
    }

    /// One truncation and one meta-update, then a validation when one is
    /// due; returns the truncation's meta-loss. On a throw from the
    /// truncation (a meta-loss or meta-gradient that is not finite, say)
    /// nothing changes except that the unroll in progress is dropped.
    public mutating func step() throws -> Float {
        if current == nil {
            var draw = rng.split()
            let problems = try (0..<metaBatchSize).map { _ in try family.sample(rng: &draw, steps: unroll) }
            let problem: any Optimizee = metaBatchSize == 1 ? problems[0] : try JointOptimizee(problems)
            current = (problem, try optimizer.start(problem))
        }
        let (problem, state) = current!
        let length = min(truncation, unroll - state.step)
        let loss: Float
        do {
            let r = try optimizer.metaGradient(weights: weights, problem: problem, from: state, steps: length, mode: mode)
            guard r.loss.isFinite, r.gradients.allSatisfy(\.isFinite) else {
                throw MetaError.argument("LearnedOptimizerTrainer: the meta-loss or its gradient is not finite at truncation \(steps) "
                                         + "(meta-loss \(r.loss)); lower the meta-optimizer's rate or the output scale")
            }
            var next = meta
            let w = try next.step(params: weights, grads: r.gradients)
            (meta, weights) = (next, w)
            current = r.end.step >= unroll ? nil : (problem, r.end)
            steps += 1
            loss = r.loss
        } catch {
            current = nil
            throw error
        }
        if let v = validation, steps % v.every == 0 { try validate() }
        return loss
    }

    /// The weights to use after training: the best validated ones when
    /// validating (the latest until the first validation), else the latest.
    public var selectedWeights: [Tensor] { best?.weights ?? weights }

    /// Runs the current weights on the validation problems (`validation`'s,
    /// for `unroll` steps) and records the mean final loss, keeping the
    /// weights if they are the best so far. Returns that loss.
    @discardableResult
    public mutating func validate() throws -> Float {
        guard let v = validation else {
            throw MetaError.argument("LearnedOptimizerTrainer: validate needs a validation (problems, every, seed)")
        }
        let curves = try lossCurves(family, transformation: try optimizer.transformation(parameters: weights),
                                    problems: v.problems, steps: unroll, seed: v.seed)
        let loss = curves.reduce(Float(0)) { $0 + $1[unroll] } / Float(v.problems)
        validations.append((steps, loss))
        if loss.isFinite, loss < best?.loss ?? .infinity { best = Validated(step: steps, loss: loss, weights: weights) }
        return loss
    }
}

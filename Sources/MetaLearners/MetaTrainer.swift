import MetaTensor
import MetaData
import MetaOptim

/// The outer loop: sample a meta-batch, take the learner's meta-gradient,
/// let an optimizer update the meta-parameters. Everything it needs (the
/// generator, the optimizer state) is held here by value, so the same seed
/// gives the same history bit for bit.
public struct MetaTrainer {
    public let learner: any MetaLearner
    public let metaBatchSize: Int
    public private(set) var metaParameters: [Tensor]
    public private(set) var optimizer: Optimizer
    public private(set) var rng: RNG
    public private(set) var steps = 0
    /// The state before the last update, whose meta-loss was finite: where a
    /// non-finite meta-loss at the next step falls back to.
    private var previous: (parameters: [Tensor], optimizer: Optimizer, steps: Int)?

    public init(learner: any MetaLearner, metaParameters: [Tensor], optimizer: GradientTransformation,
                metaBatchSize: Int, seed: UInt64) throws {
        try self.init(learner: learner, metaParameters: metaParameters,
                      continuing: try Optimizer(optimizer, params: metaParameters), metaBatchSize: metaBatchSize, seed: seed)
    }

    /// A trainer that carries on with `optimizer`, a rule together with its
    /// state (say a previous trainer's): Adam's moments, the update count and
    /// so the position in a learning-rate schedule. The state is checked
    /// against the meta-parameters at the first step.
    public init(learner: any MetaLearner, metaParameters: [Tensor], continuing optimizer: Optimizer,
                metaBatchSize: Int, seed: UInt64) throws {
        guard metaBatchSize > 0 else {
            throw MetaError.argument("meta_batch_size must be > 0, got \(metaBatchSize)")
        }
        self.learner = learner
        self.metaBatchSize = metaBatchSize
        self.metaParameters = metaParameters
        self.optimizer = optimizer
        self.rng = RNG(seed: seed)
    }

    /// A trainer restored where another one was (from a checkpoint): its
    /// meta-parameters, its optimizer (rule and state), its generator and its
    /// step count. Its steps then equal the original's, bit for bit.
    ///
    /// Checked now, not at the first step: the meta-parameters against the
    /// learner, and the optimizer's state against the meta-parameters and
    /// its rule, by a trial update with zero gradients whose result is
    /// dropped (so Adam's state handed to SGD, or a state for other shapes,
    /// is refused here).
    ///
    /// Trap: the one difference from the original is the fallback after a
    /// non-finite meta-loss, which needs the state before the last update. A
    /// restored trainer has none, so its first step can only refuse such a
    /// loss and keep the restored state.
    public init(learner: any MetaLearner, metaParameters: [Tensor], optimizer: Optimizer,
                metaBatchSize: Int, rng: RNG, steps: Int) throws {
        guard metaBatchSize > 0 else {
            throw MetaError.argument("meta_batch_size must be > 0, got \(metaBatchSize)")
        }
        guard steps >= 0 else { throw MetaError.argument("steps must be >= 0, got \(steps)") }
        try learner.checkMetaParameters(metaParameters)
        do {
            let zeros = try metaParameters.map { try Tensor.zeros($0.shape) }
            _ = try optimizer.transformation.update(zeros, state: optimizer.state, params: metaParameters)
        } catch let e as MetaError {
            throw MetaError(e.kind, "the optimizer state does not fit \(optimizer.transformation) and these meta-parameters: "
                            + e.message)
        }
        self.learner = learner
        self.metaBatchSize = metaBatchSize
        self.metaParameters = metaParameters
        self.optimizer = optimizer
        self.rng = rng
        self.steps = steps
    }

    /// Continues from `metaParameters` (changed by the caller between runs),
    /// keeping the optimizer state, the generator and the step count.
    public mutating func resume(from metaParameters: [Tensor]) throws {
        try learner.checkMetaParameters(metaParameters)
        self.metaParameters = metaParameters
        previous = nil
    }

    /// One meta-step on a fresh meta-batch; returns its meta-loss.
    @discardableResult
    public mutating func step(_ tasks: some TaskDistribution) throws -> Float {
        let batch = try tasks.sample(metaBatchSize, rng: &rng)
        // Only a stochastic model draws its dropout seed, so every other run
        // samples the same episodes as before dropout existed.
        let seed = learner.model.isStochastic ? rng.nextUInt64() : 0
        return try step(batch, seed: seed)
    }

    /// One meta-step on the given tasks; returns their meta-loss.
    ///
    /// A step that fails changes nothing, except when its meta-loss is not
    /// finite: the parameters it was measured at came out of the previous
    /// update, so the trainer falls back to before that update (parameters,
    /// optimizer state, step count), the last point whose meta-loss was
    /// finite, and the error says which step that is.
    @discardableResult
    ///
    /// `seed` seeds the tasks' forward contexts (dropout masks).
    public mutating func step(_ batch: [Task], seed: UInt64 = 0) throws -> Float {
        let (loss, grads) = try learner.metaLossAndGrad(metaParameters, tasks: batch, seed: seed)
        guard loss.isFinite else {
            let failed = steps + 1
            if let previous {
                (metaParameters, optimizer, steps) = (previous.parameters, previous.optimizer, previous.steps)
                self.previous = nil
            }
            throw MetaError.argument("meta-loss became \(loss) at step \(failed); lower the learning rates. The "
                                     + "meta-parameters are those after step \(steps), the last whose meta-loss was finite")
        }
        // A finite loss can still come with an overflowing gradient or step;
        // nothing non-finite is committed, so the parameters stay usable.
        guard grads.allSatisfy(\.isFinite) else {
            throw MetaError.argument("meta-gradient became NaN or infinite at step \(steps + 1); lower the learning rates. "
                                     + "The meta-parameters are those after step \(steps), unchanged")
        }
        var next = optimizer
        let updated = try next.step(params: metaParameters, grads: grads)
        guard updated.allSatisfy(\.isFinite) else {
            throw MetaError.argument("meta-parameters became NaN or infinite at step \(steps + 1); lower the learning rates. "
                                     + "The meta-parameters are those after step \(steps), unchanged")
        }
        previous = (metaParameters, optimizer, steps)
        metaParameters = updated
        optimizer = next
        steps += 1
        return loss
    }
}

import MetaTensor
import MetaAutodiff

/// Batch normalisation (Ioffe & Szegedy 2015).
///
///     y = γ · (x − μ) / √(σ² + ε) + β
///
/// with μ and the biased variance σ² taken per feature over every axis but
/// axis 1: over N for (N, C), over (N, H, W) for (N, C, H, W). Parameters:
/// "gamma" (C, initialised to 1) and "beta" (C, initialised to 0).
///
/// Two modes:
/// - batch statistics only (`trackRunningStats: false`, the default): every
///   call normalises with the statistics of the batch it is given, as MAML
///   and ProtoNets use it (transductive at test time, as in Finn et al. 2017
///   and learn2learn). No buffers.
/// - running statistics (`trackRunningStats: true`, for supervised
///   pre-training and transfer): buffers "running_mean" (C, zeros) and
///   "running_var" (C, ones), as PyTorch's. A training forward whose context
///   holds them normalises with the batch's statistics and updates them,
///   r ← (1 − momentum)·r + momentum·b, with the unbiased batch variance; an
///   inference forward normalises with them. Without buffers in the context
///   both modes use the batch's statistics, as PyTorch does with
///   `running_mean=None`.
///
/// Composed from primitives, so its derivatives of every order are exact,
/// including the coupling through μ and σ² that second-order MAML needs
/// (running statistics are constants). Trap: a bias just before it has no
/// effect (μ subtracts it). PyTorch's default is to track; this one's is not,
/// the convention of episodic meta-learning.
public struct BatchNorm: Model, Sendable {
    public let features: Int
    public let eps: Float
    /// Weight of the newest batch in the running averages.
    public let momentum: Float
    public let trackRunningStats: Bool

    public init(features: Int, eps: Float = 1e-5, momentum: Float = 0.1, trackRunningStats: Bool = false) throws {
        try requirePositive(features, "features", in: "BatchNorm")
        guard eps.isFinite, eps > 0 else { throw MetaError.argument("BatchNorm: eps must be finite and > 0, got \(eps)") }
        guard momentum.isFinite, momentum >= 0, momentum <= 1 else {
            throw MetaError.argument("BatchNorm: momentum must be in [0, 1], got \(momentum)")
        }
        self.features = features
        self.eps = eps
        self.momentum = momentum
        self.trackRunningStats = trackRunningStats
    }

    public var parameterSpecs: [ParameterSpec] { [ParameterSpec("gamma", [features]), ParameterSpec("beta", [features])] }

    public func initialParameters(rng: inout RNG) throws -> [Tensor] {
        [try Tensor.ones([features]), try Tensor.zeros([features])]
    }

    public var bufferSpecs: [ParameterSpec] {
        trackRunningStats ? [ParameterSpec("running_mean", [features]), ParameterSpec("running_var", [features])] : []
    }

    public func initialBuffers() throws -> [Tensor] {
        trackRunningStats ? [try Tensor.zeros([features]), try Tensor.ones([features])] : []
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        try forward(params, x, context: .inference)
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable, context: ForwardContext) throws -> Variable {
        let p = try unpack(params, [[features], [features]], layer: "BatchNorm(\(features))")
        guard x.rank >= 2, x.shape[1] == features else {
            throw MetaError.shape("BatchNorm(\(features)): input x must be (N, \(features), ...), got \(x.shape)")
        }
        var featureShape = [Int](repeating: 1, count: x.rank)
        featureShape[1] = features
        let running = trackRunningStats ? try context.buffer(0).map { ($0, try context.buffer(1)!) } : nil
        let normalised: Variable
        if let (mean, variance) = running, !context.isTraining {
            let std = try variance.affine(scale: 1, shift: eps).map(.sqrt).reshaped(featureShape)
            normalised = try (x - Variable(mean.reshaped(featureShape))) / Variable(std)
        } else {
            let axes = [0] + Array(2..<x.rank)
            let perFeature = axes.reduce(1) { $0 * x.shape[$1] }
            guard perFeature > 1 else {
                // As PyTorch: one value per feature normalises to exactly β, which
                // is never what was meant.
                throw MetaError.shape("BatchNorm(\(features)): input x of shape \(x.shape) has one value per feature; batch statistics need more")
            }
            let mean = try x.mean(axes: axes, keepDims: true)
            let centred = try x - mean
            let variance = try centred.square().mean(axes: axes, keepDims: true)
            normalised = try centred / (variance + eps).sqrt()
            if let (runningMean, runningVar) = running {
                let m = momentum, unbiased = Float(perFeature) / Float(perFeature - 1)
                try context.setBuffer(0, try runningMean.affine(scale: 1 - m, shift: 0)
                    .zip(try mean.value.reshaped([features]).affine(scale: m, shift: 0), .add))
                try context.setBuffer(1, try runningVar.affine(scale: 1 - m, shift: 0)
                    .zip(try variance.value.reshaped([features]).affine(scale: m * unbiased, shift: 0), .add))
            }
        }
        return try normalised * p[0].reshaped(featureShape) + p[1].reshaped(featureShape)
    }
}

import MetaTensor
import MetaAutodiff

/// Batch normalisation with batch statistics (Ioffe & Szegedy 2015), as MAML
/// uses it: every call normalises with the statistics of the batch it is
/// given, and no running averages are kept (transductive at test time, as in
/// Finn et al. 2017 and learn2learn).
///
///     y = γ · (x − μ) / √(σ² + ε) + β
///
/// with μ and the biased variance σ² taken per feature over every axis but
/// axis 1: over N for (N, C), over (N, H, W) for (N, C, H, W). Parameters:
/// "gamma" (C, initialised to 1) and "beta" (C, initialised to 0).
///
/// Composed from primitives, so its derivatives of every order are exact,
/// including the coupling through μ and σ² that second-order MAML needs.
/// Trap: a bias just before it has no effect (μ subtracts it).
public struct BatchNorm: Model, Sendable {
    public let features: Int
    public let eps: Float

    public init(features: Int, eps: Float = 1e-5) throws {
        try requirePositive(features, "features", in: "BatchNorm")
        guard eps.isFinite, eps > 0 else { throw MetaError.argument("BatchNorm: eps must be finite and > 0, got \(eps)") }
        self.features = features
        self.eps = eps
    }

    public var parameterSpecs: [ParameterSpec] { [ParameterSpec("gamma", [features]), ParameterSpec("beta", [features])] }

    public func initialParameters(rng: inout RNG) throws -> [Tensor] {
        [try Tensor.ones([features]), try Tensor.zeros([features])]
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        let p = try unpack(params, [[features], [features]], layer: "BatchNorm(\(features))")
        guard x.rank >= 2, x.shape[1] == features else {
            throw MetaError.shape("BatchNorm(\(features)): input x must be (N, \(features), ...), got \(x.shape)")
        }
        let axes = [0] + Array(2..<x.rank)
        let perFeature = axes.reduce(1) { $0 * x.shape[$1] }
        guard perFeature > 1 else {
            // As PyTorch: one value per feature normalises to exactly β, which
            // is never what was meant.
            throw MetaError.shape("BatchNorm(\(features)): input x of shape \(x.shape) has one value per feature; batch statistics need more")
        }
        var featureShape = [Int](repeating: 1, count: x.rank)
        featureShape[1] = features
        let centred = try x - x.mean(axes: axes, keepDims: true)
        let variance = try centred.square().mean(axes: axes, keepDims: true)
        let normalised = try centred / (variance + eps).sqrt()
        return try normalised * p[0].reshaped(featureShape) + p[1].reshaped(featureShape)
    }
}

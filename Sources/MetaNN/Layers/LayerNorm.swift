import MetaTensor
import MetaAutodiff

/// Layer normalisation (Ba et al. 2016), as PyTorch's `nn.LayerNorm`: each
/// sample is normalised over its last `normalizedShape.count` axes, which
/// must equal `normalizedShape`,
///
///     y = γ ⊙ (x − μ) / √(σ² + ε) + β
///
/// with μ and the biased variance σ² taken per sample over those axes, so
/// unlike `BatchNorm` the result for one sample does not depend on the others
/// (the same at training and test time). Parameters, when `elementwiseAffine`
/// (the default): "gamma" (initialised to 1) and "beta" (initialised to 0),
/// both of shape `normalizedShape`; without it there are none.
///
/// Composed from primitives, so derivatives of every order are exact,
/// including the coupling through μ and σ². Trap: a group of one element
/// normalises to exactly β (x − μ = 0), as in PyTorch.
public struct LayerNorm: Model, Sendable {
    public let normalizedShape: [Int]
    public let eps: Float
    public let elementwiseAffine: Bool

    public init(normalizedShape: [Int], eps: Float = 1e-5, elementwiseAffine: Bool = true) throws {
        guard !normalizedShape.isEmpty else {
            throw MetaError.argument("LayerNorm: normalizedShape must have at least one dimension, got []")
        }
        for d in normalizedShape { try requirePositive(d, "every dimension of normalizedShape \(normalizedShape)", in: "LayerNorm") }
        guard eps.isFinite, eps > 0 else { throw MetaError.argument("LayerNorm: eps must be finite and > 0, got \(eps)") }
        self.normalizedShape = normalizedShape
        self.eps = eps
        self.elementwiseAffine = elementwiseAffine
    }

    /// Normalises over the last axis, of size `features`.
    public init(_ features: Int, eps: Float = 1e-5, elementwiseAffine: Bool = true) throws {
        try self.init(normalizedShape: [features], eps: eps, elementwiseAffine: elementwiseAffine)
    }

    var name: String { "LayerNorm(\(normalizedShape))" }

    public var parameterSpecs: [ParameterSpec] {
        elementwiseAffine ? [ParameterSpec("gamma", normalizedShape), ParameterSpec("beta", normalizedShape)] : []
    }

    public func initialParameters(rng: inout RNG) throws -> [Tensor] {
        elementwiseAffine ? [try Tensor.ones(normalizedShape), try Tensor.zeros(normalizedShape)] : []
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        let p = try unpack(params, parameterSpecs.map(\.shape), layer: name)
        let k = normalizedShape.count
        guard x.rank >= k, Array(x.shape.suffix(k)) == normalizedShape else {
            throw MetaError.shape("\(name): input x must end in the dimensions \(normalizedShape), got \(x.shape)")
        }
        guard x.count > 0 else { throw MetaError.shape("\(name): input x of shape \(x.shape) is empty") }
        let axes = Array((x.rank - k)..<x.rank)
        let centred = try x - x.mean(axes: axes, keepDims: true)
        let variance = try centred.square().mean(axes: axes, keepDims: true)
        let normalised = try centred / (variance + eps).sqrt()
        // γ and β broadcast from the right over the leading axes.
        return elementwiseAffine ? try normalised * p[0] + p[1] : normalised
    }
}

import MetaTensor
import MetaAutodiff

/// An elementwise nonlinearity; a model with no parameters, so it can stand
/// in a `Sequential` between layers. The raw values are the names the C ABI
/// accepts.
///
/// - `gelu`: the exact Gaussian error linear unit (Hendrycks & Gimpel 2016),
///   x·Φ(x) = x/2 · (1 + erf(x/√2)), PyTorch's default (not the tanh
///   approximation). Smooth, so MAML sees its curvature.
/// - `softplus`: log(1 + eˣ) (Dugas et al. 2001), computed as
///   ½(x + |x|) + log(1 + e^(−|x|)) so e^x never overflows; ½(x + |x|) is
///   relu(x) in value, but its derivative at x = 0 is ½, which makes the
///   first derivative σ(x) everywhere. Trap: the second derivative at
///   exactly x = 0 comes out 0 instead of ¼ (|x| has no curvature there).
///
/// ReLU's derivative is a step whose own derivative is zero: second-order
/// methods (MAML) see no curvature from ReLU itself, only from what surrounds it.
public enum Activation: String, Model, Sendable, CaseIterable {
    case identity, relu, tanh, sigmoid, gelu, softplus

    public func apply(_ x: Variable) throws -> Variable {
        switch self {
        case .identity: return x
        case .relu: return try x.relu()
        case .tanh: return try x.tanh()
        case .sigmoid: return try x.sigmoid()
        case .gelu: return try x * ((x * Float(0.70710678118654752440)).erf() + 1) * 0.5
        case .softplus:
            let a = try x.abs()
            return try (x + a) * 0.5 + (a.affine(scale: -1).exp() + 1).log()
        }
    }

    public var parameterSpecs: [ParameterSpec] { [] }
    public func initialParameters(rng: inout RNG) throws -> [Tensor] { [] }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        _ = try unpack(params, [], layer: "Activation.\(rawValue)")
        return try apply(x)
    }
}

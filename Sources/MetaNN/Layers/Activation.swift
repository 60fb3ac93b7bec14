import MetaTensor
import MetaAutodiff

/// An elementwise nonlinearity; a model with no parameters, so it can stand
/// in a `Sequential` between layers.
///
/// ReLU's derivative is a step whose own derivative is zero: second-order
/// methods (MAML) see no curvature from ReLU itself, only from what surrounds it.
public enum Activation: String, Model, Sendable, CaseIterable {
    case identity, relu, tanh, sigmoid

    public func apply(_ x: Variable) throws -> Variable {
        switch self {
        case .identity: return x
        case .relu: return try x.relu()
        case .tanh: return try x.tanh()
        case .sigmoid: return try x.sigmoid()
        }
    }

    public var parameterSpecs: [ParameterSpec] { [] }
    public func initialParameters(rng: inout RNG) throws -> [Tensor] { [] }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        _ = try unpack(params, [], layer: "Activation.\(rawValue)")
        return try apply(x)
    }
}

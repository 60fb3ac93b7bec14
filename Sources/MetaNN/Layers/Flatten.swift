import MetaTensor
import MetaAutodiff

/// (N, d1, d2, ...) -> (N, d1·d2·...). Parameter-free.
public struct Flatten: Model, Sendable {
    public init() {}

    public var parameterSpecs: [ParameterSpec] { [] }
    public func initialParameters(rng: inout RNG) throws -> [Tensor] { [] }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        _ = try unpack(params, [], layer: "Flatten")
        guard x.rank >= 1 else { throw MetaError.shape("Flatten: input x needs a batch dimension, got shape \(x.shape)") }
        let rest = x.shape.dropFirst().reduce(1, &*)
        return try x.reshaped([x.shape[0], rest])
    }
}

import MetaTensor
import MetaAutodiff

/// The leaky rectifier (Maas et al. 2013): x for x > 0, slope · x otherwise.
/// A model with no parameters, as `Activation`.
///
/// Composed as max(slope · x, x) (min for a slope above 1), which gives
/// PyTorch's values bit for bit and its derivative at x = 0, the slope (the
/// tie goes to the first operand). Piecewise linear: the second derivative
/// is zero away from 0, and MAML sees no curvature from it.
public struct LeakyReLU: Model, Sendable {
    public let negativeSlope: Float

    public init(negativeSlope: Float = 0.01) throws {
        guard negativeSlope.isFinite else {
            throw MetaError.argument("LeakyReLU: negativeSlope must be finite, got \(negativeSlope)")
        }
        self.negativeSlope = negativeSlope
    }

    public var parameterSpecs: [ParameterSpec] { [] }
    public func initialParameters(rng: inout RNG) throws -> [Tensor] { [] }

    public func apply(_ x: Variable) throws -> Variable {
        let scaled = try x * negativeSlope
        return negativeSlope <= 1 ? try Variable.maximum(scaled, x) : try Variable.minimum(scaled, x)
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        _ = try unpack(params, [], layer: "LeakyReLU(\(negativeSlope))")
        return try apply(x)
    }
}

extension LeakyReLU: TaskBatchedModel {
    /// Elementwise, so the task axis changes nothing.
    public func forwardBatched(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        try forward(params, x)
    }
}

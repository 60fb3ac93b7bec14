import MetaTensor
import MetaAutodiff

/// Dropout (Srivastava et al. 2014), inverted as PyTorch's `nn.Dropout`: in
/// a training forward each element is zeroed with probability `p` and the
/// survivors are scaled by 1 / (1 − p), so an inference forward (the
/// identity) has the same expectation. Parameter-free.
///
/// Seeded: the mask is drawn from the forward context's generator
/// (`ForwardContext.rng`), one uniform number per element in row-major order,
/// kept when it is ≥ p. The same seed gives the same masks, bit for bit; a
/// meta-learner seeds each task's context from the step and the task's
/// position. `model(params, x)` without a context runs in inference and
/// drops nothing.
///
/// The mask is a constant of the forward, so derivatives of every order are
/// exact for that mask: ∂y/∂x = mask. With p = 1 every element is dropped.
public struct Dropout: Model, Sendable {
    public let p: Float

    public init(p: Float = 0.5) throws {
        guard p.isFinite, p >= 0, p <= 1 else {
            throw MetaError.argument("Dropout: p must be a probability in [0, 1], got \(p)")
        }
        self.p = p
    }

    public var parameterSpecs: [ParameterSpec] { [] }
    public func initialParameters(rng: inout RNG) throws -> [Tensor] { [] }
    public var isStochastic: Bool { p > 0 }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        _ = try unpack(params, [], layer: "Dropout")
        return x
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable, context: ForwardContext) throws -> Variable {
        _ = try unpack(params, [], layer: "Dropout")
        guard context.isTraining, p > 0 else { return x }
        let (drop, scale) = (p, p < 1 ? 1 / (1 - p) : 0)
        let mask = try Tensor.make(shape: x.shape) { out, n in
            for i in 0..<n { out[i] = context.rng.uniform() >= drop ? scale : 0 }
        }
        return try x * Variable(mask)
    }
}

import MetaTensor
import MetaAutodiff

/// y = x·W + b, with W of shape (inputs, outputs) and b of shape (outputs).
///
/// `x` is (..., inputs): a matrix (n, inputs) or a batch of them, e.g.
/// (tasks, n, inputs), which multiplies one shared W in a single GEMM.
/// Parameters: "W", then "b" when `bias`.
///
/// The defaults are PyTorch's `nn.Linear` initialisation, U(±1/√inputs) for
/// both W and b (Kaiming-uniform with gain 1/√3), which is what the MAML-family
/// reference implementations start from. With Kaiming's gain √2 instead, a
/// 1-40-40-1 ReLU network on sinusoids diverges in MAML's first inner step at
/// α = 0.01.
public struct Linear: Model, Sendable {
    public let inputs: Int
    public let outputs: Int
    public let bias: Bool
    public let weightInit: Initializer
    public let biasInit: Initializer

    /// PyTorch's default weight initialisation: U(±1/√fanIn).
    public static let defaultWeightInit = Initializer.kaimingUniform(gain: 1 / Float(3).squareRoot())

    /// `biasInit` nil draws the bias from U(±1/√inputs), as PyTorch does.
    public init(inputs: Int, outputs: Int, bias: Bool = true,
                weightInit: Initializer = Linear.defaultWeightInit, biasInit: Initializer? = nil) throws {
        try requirePositive(inputs, "inputs", in: "Linear")
        try requirePositive(outputs, "outputs", in: "Linear")
        self.inputs = inputs
        self.outputs = outputs
        self.bias = bias
        self.weightInit = weightInit
        let bound = 1 / Float(inputs).squareRoot()
        self.biasInit = biasInit ?? .uniform(low: -bound, high: bound)
    }

    public var parameterSpecs: [ParameterSpec] {
        bias ? [ParameterSpec("W", [inputs, outputs]), ParameterSpec("b", [outputs])]
             : [ParameterSpec("W", [inputs, outputs])]
    }

    var shapes: [[Int]] { bias ? [[inputs, outputs], [outputs]] : [[inputs, outputs]] }

    public func initialParameters(rng: inout RNG) throws -> [Tensor] {
        let w = try weightInit([inputs, outputs], rng: &rng)
        return bias ? [w, try biasInit([outputs], rng: &rng)] : [w]
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        let p = try unpack(params, shapes, layer: "Linear(\(inputs), \(outputs))")
        guard x.rank >= 2, x.shape[x.rank - 1] == inputs else {
            throw MetaError.shape("Linear(\(inputs), \(outputs)): input x must have shape (..., n, \(inputs)), got \(x.shape)")
        }
        let y = try Variable.matmul(x, p[0])
        return bias ? try y + p[1] : y
    }
}

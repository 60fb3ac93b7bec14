import MetaTensor
import MetaAutodiff

/// y = x·W + b, with W of shape (inputs, outputs) and b of shape (outputs).
///
/// `x` is (..., inputs): a matrix (n, inputs) or a batch of them, e.g.
/// (tasks, n, inputs), which multiplies one shared W in a single GEMM.
/// Parameters: "W", then "b" when `bias`.
///
/// The default weights are Kaiming-uniform with gain √2 (He et al. 2015, for
/// ReLU networks); biases start at zero.
public struct Linear: Model, Sendable {
    public let inputs: Int
    public let outputs: Int
    public let bias: Bool
    public let weightInit: Initializer
    public let biasInit: Initializer

    public init(inputs: Int, outputs: Int, bias: Bool = true,
                weightInit: Initializer = .kaimingUniform(), biasInit: Initializer = .zeros) throws {
        try requirePositive(inputs, "inputs", in: "Linear")
        try requirePositive(outputs, "outputs", in: "Linear")
        self.inputs = inputs
        self.outputs = outputs
        self.bias = bias
        self.weightInit = weightInit
        self.biasInit = biasInit
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

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

/// A multilayer perceptron: Linear layers of the given sizes with
/// `activation` between them and none after the last.
///
/// `MLP(sizes: [1, 40, 40, 1])` is the sinusoid regressor of MAML (Finn et al.
/// 2017). Parameters are "W1", "b1", "W2", "b2", ... with Wk of shape
/// (sizes[k-1], sizes[k]).
///
/// `weightInit` nil picks Kaiming-uniform (gain √2) after ReLU and
/// Glorot-uniform otherwise.
public struct MLP: Model, Sendable {
    public let sizes: [Int]
    public let activation: Activation
    public let layers: [Linear]

    public init(sizes: [Int], activation: Activation = .relu, bias: Bool = true,
                weightInit: Initializer? = nil, biasInit: Initializer = .zeros) throws {
        guard sizes.count >= 2 else {
            throw MetaError.argument("MLP: sizes needs at least an input and an output size, got \(sizes)")
        }
        for s in sizes where s <= 0 { throw MetaError.argument("MLP: sizes must all be > 0, got \(sizes)") }
        let w = weightInit ?? (activation == .relu ? .kaimingUniform() : .glorotUniform())
        self.sizes = sizes
        self.activation = activation
        self.layers = try (1..<sizes.count).map {
            try Linear(inputs: sizes[$0 - 1], outputs: sizes[$0], bias: bias, weightInit: w, biasInit: biasInit)
        }
    }

    public var parameterSpecs: [ParameterSpec] {
        layers.enumerated().flatMap { k, layer in
            layer.parameterSpecs.map { ParameterSpec("\($0.name)\(k + 1)", $0.shape) }
        }
    }

    public func initialParameters(rng: inout RNG) throws -> [Tensor] {
        try layers.flatMap { try $0.initialParameters(rng: &rng) }
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        let per = layers.first?.bias == false ? 1 : 2
        guard params.count == per * layers.count else {
            throw MetaError.argument("MLP\(sizes): expected \(per * layers.count) parameter tensors, got \(params.count)")
        }
        var h = x
        var start = params.startIndex
        for (k, layer) in layers.enumerated() {
            h = try layer.forward(params[start..<(start + per)], h)
            start += per
            if k < layers.count - 1 { h = activation.apply(h) }
        }
        return h
    }
}

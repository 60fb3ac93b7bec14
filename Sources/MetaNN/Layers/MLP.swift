import MetaTensor
import MetaAutodiff

/// A multilayer perceptron: Linear layers of the given sizes with
/// `activation` between them and none after the last.
///
/// `MLP(sizes: [1, 40, 40, 1])` is the sinusoid regressor of MAML (Finn et al.
/// 2017). Parameters are "W1", "b1", "W2", "b2", ... with Wk of shape
/// (sizes[k-1], sizes[k]).
///
/// Initialisation defaults to `Linear`'s (PyTorch's U(±1/√fanIn)).
public struct MLP: Model, Sendable {
    public let sizes: [Int]
    public let activation: Activation
    public let layers: [Linear]

    public init(sizes: [Int], activation: Activation = .relu, bias: Bool = true,
                weightInit: Initializer = Linear.defaultWeightInit, biasInit: Initializer? = nil) throws {
        guard sizes.count >= 2 else {
            throw MetaError.argument("MLP: sizes needs at least an input and an output size, got \(sizes)")
        }
        for s in sizes where s <= 0 { throw MetaError.argument("MLP: sizes must all be > 0, got \(sizes)") }
        let w = weightInit
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
            if k < layers.count - 1 { h = try activation.apply(h) }
        }
        return h
    }
}

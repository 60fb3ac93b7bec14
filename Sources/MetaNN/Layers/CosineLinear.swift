import MetaTensor
import MetaAutodiff

/// A cosine classifier (Baseline++, Chen et al., ICLR 2019): the scaled
/// cosine between the input and each class vector, with no bias.
///
///     x̂ = x / (‖x‖ + 1e-5)                    (L2-normalised features)
///     logit_c = scale · g_c · ⟨x̂, W_c⟩ / ‖W_c‖  (W_c the c-th column of W)
///
/// The class vectors are weight-normalised (Salimans & Kingma 2016) as in the
/// official Baseline++ code (`distLinear`): direction W_c and a learned norm
/// g_c, initialised to ‖W_c‖ (PyTorch's `weight_norm` initialisation), so
/// the classifier starts as scale · ⟨x̂, W_c⟩. With `learnedNorm: false`
/// there is no g: logit_c = scale · cos(x, W_c), at most `scale` in size.
/// The fixed `scale` makes cosines, which lie in [−1, 1], large enough for a
/// softmax: the official code takes 2 up to 200 classes and 10 beyond.
///
/// Parameters: "W" (in, out), drawn as `Linear`'s (PyTorch's U(±1/√in)); then,
/// with `learnedNorm`, "g" (out, 1), PyTorch weight_norm's `weight_g` shape.
/// Composed from primitives, so every derivative order is exact. The norms
/// are taken as √(Σ² + 1e-24): equal to the plain norm wherever it is above
/// 1e-12, and differentiable at a zero vector (a ReLU network can output one).
public struct CosineLinear: Model, Sendable {
    public let inputs: Int
    public let outputs: Int
    public let scale: Float
    public let learnedNorm: Bool

    public init(inputs: Int, outputs: Int, scale: Float, learnedNorm: Bool = true) throws {
        try requirePositive(inputs, "inputs", in: "CosineLinear")
        try requirePositive(outputs, "outputs", in: "CosineLinear")
        guard scale.isFinite, scale > 0 else {
            throw MetaError.argument("CosineLinear: scale must be finite and > 0, got \(scale)")
        }
        self.inputs = inputs
        self.outputs = outputs
        self.scale = scale
        self.learnedNorm = learnedNorm
    }

    /// The official Baseline++ scale: 2 for up to 200 classes, 10 beyond.
    public static func defaultScale(classes: Int) -> Float { classes <= 200 ? 2 : 10 }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec("W", [inputs, outputs])] + (learnedNorm ? [ParameterSpec("g", [outputs, 1])] : [])
    }

    var shapes: [[Int]] { parameterSpecs.map(\.shape) }

    public func initialParameters(rng: inout RNG) throws -> [Tensor] {
        let w = try Linear.defaultWeightInit([inputs, outputs], rng: &rng)
        guard learnedNorm else { return [w] }
        // g_c = ‖W_c‖, so the initial classifier is scale · ⟨x̂, W_c⟩.
        let norms = try CosineLinear.norms(Variable(w), axis: 0).value
        return [w, try norms.reshaped([outputs, 1])]
    }

    /// √(Σ v² + 1e-24) along `axis`, kept as a (1, out) or (n, 1) matrix.
    static func norms(_ v: Variable, axis: Int) throws -> Variable {
        try (v.square().sum(axes: [axis], keepDims: true) + 1e-24).sqrt()
    }

    /// x (n, inputs) → logits (n, outputs).
    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        let p = try unpack(params, shapes, layer: "CosineLinear(\(inputs), \(outputs))")
        guard x.rank == 2, x.shape[1] == inputs else {
            throw MetaError.shape("CosineLinear(\(inputs), \(outputs)): input x must have shape (n, \(inputs)), got \(x.shape)")
        }
        let unitX = try x / (CosineLinear.norms(x, axis: 1) + 1e-5)          // (n, in)
        let unitW = try p[0] / CosineLinear.norms(p[0], axis: 0)             // (in, out)
        let cosines = try Variable.matmul(unitX, unitW)                       // (n, out)
        guard learnedNorm else { return try cosines * scale }
        return try cosines * (p[1].reshaped([1, outputs]) * scale)
    }
}

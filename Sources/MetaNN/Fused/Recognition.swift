import MetaTensor
import MetaAutodiff

/// Finds the presets in models built from layers, so that a model a person
/// writes in PyTorch's vocabulary runs as fast as the preset it spells out.
///
///     // Conv2d(1, 64, 3, padding=1), BatchNorm2d(64), ReLU(), MaxPool2d(2)  (x4), Flatten(), Linear(64, 5)
///     let model = try ModelBuilder.build(json: text)          // a Sequential
///     let fast = Recognition.optimized(model, inputShape: [1, 28, 28])
///     fast is FastPath<Conv4>                                 // true
///
/// The result is a `FastPath`: the model's own parameter names, initial
/// values, description and shapes, with the preset's forward. Anything else
/// comes back unchanged. Recognised, in a `Sequential` (nested Sequentials are
/// read as their layers in order, which is their parameters' order too):
///
/// - **Conv4** (`Conv4`: NHWC convolutions that gather batch-norm statistics,
///   fused batch norm + pool + ReLU): k ≥ 1 blocks of
///   `Conv2d(c, h, kernel 3, stride 1, padding 1, bias)`, `BatchNorm2d(h, eps)`
///   (or `BatchNorm`), then `ReLU` and `MaxPool2d(2, stride 2)` in either
///   order, with the same h and eps in every block and c = h after the first;
///   then `Flatten`; then optionally `Linear(h·s², n, bias)`. The pool and
///   ReLU commute (ReLU is monotone, so max(relu a, relu b) = relu(max(a, b)),
///   with the same subgradient), so both orders are Conv4's function. Conv4
///   floors odd sizes and takes any height and width, as the layers do; its
///   head needs the last feature map square (s x s), as the head's size then
///   says (with `inputShape`, the input's own last map must be square).
/// - **MLP** (`MLP`, a `TaskBatchedModel`: MAML runs a meta-batch's tasks as
///   one batched computation): `Linear`, activation, `Linear`, …, `Linear`,
///   each Linear's inputs the previous one's outputs, all with a bias or all
///   without, and one `Activation` case throughout (ReLU, Tanh, Sigmoid, GELU,
///   Softplus or Identity; not LeakyReLU, which MLP does not take).
///
/// Near misses (padding 0, a 5x5 kernel, average pooling, a convolution
/// without bias, mixed activations or biases, anything between the blocks)
/// are not those presets. Any other image network whose parts all have a
/// channels-last form (convolutions, batch norm, activations, max-pools,
/// residual blocks, global pooling, flatten, a head) runs channels-last
/// (`ChannelsLastNetwork`); the rest is left to its layers.
///
/// Why the forwards agree: each preset is defined as these layers (Conv4's
/// `body` and `head` are this Sequential; MLP's forward is Linear and
/// `Activation.apply` in turn) on parameters of the same shapes in the same
/// order, and the presets' tests hold their fast forwards to the layers to
/// second order. The names differ ("block1.conv.W" against "0.W"), which is
/// why `FastPath` keeps the original's.
public enum Recognition {
    /// `model` with the forward of the preset it spells out, or `model`
    /// itself. `inputShape` is one example's shape (batch excluded, e.g.
    /// [1, 28, 28]); when given, a model that does not fit it is returned
    /// unchanged (its own forward then reports why). Without it, the structure
    /// alone decides, which is sound because the presets accept every input
    /// their layers accept.
    public static func optimized(_ model: any Layer, inputShape: [Int]? = nil) -> any Layer {
        // Of the fused forwards, only Conv4's knows a context (running statistics);
        // dropout, and running statistics elsewhere, run as layers.
        guard let sequential = model as? Sequential, !model.isStochastic else { return model }
        if let inputShape {
            guard (try? model.outputShape(for: [1] + inputShape)) != nil else { return model }
        }
        let layers = leaves(of: sequential)
        if let conv4 = conv4(layers, inputShape: inputShape), let fast = try? FastPath(original: model, fast: conv4) {
            return fast
        }
        guard !model.usesContext else { return model }
        if let mlp = mlp(layers), let fast = try? FastPath(original: model, fast: mlp) {
            return fast
        }
        if let network = ChannelsLastNetwork.compile(model), let fast = try? FastPath(original: model, fast: network) {
            return fast
        }
        return model
    }

    /// The layers of nested Sequentials, in order; their parameters come in
    /// that order too.
    static func leaves(of model: any Model) -> [any Model] {
        guard let sequential = model as? Sequential else { return [model] }
        return sequential.layers.flatMap { leaves(of: $0) }
    }

    // MARK: - Conv4

    /// The Conv4 whose `body` (and `head`) `layers` are, or nil.
    static func conv4(_ layers: [any Model], inputShape: [Int]?) -> Conv4? {
        let head = layers.last as? Linear
        let blockLayers = layers.count - 1 - (head == nil ? 0 : 1)
        guard blockLayers >= 4, blockLayers % 4 == 0, let first = layers.first as? Conv2d else { return nil }
        let (channels, hidden, blocks) = (first.inChannels, first.outChannels, blockLayers / 4)
        // Every pooling halves the side; more than 62 of them fit no image.
        guard blocks <= 62 else { return nil }
        var eps: Float?
        // Every block's batch norm alike: batch statistics, or running ones with one momentum.
        let tracking = batchNorm(layers[1]).map { ($0.trackRunningStats, $0.momentum) }
        for b in 0..<blocks {
            let i = 4 * b
            guard let conv = layers[i] as? Conv2d, conv.inChannels == (b == 0 ? channels : hidden),
                  conv.outChannels == hidden, conv.kernelSize == (3, 3), conv.stride == (1, 1),
                  conv.padding == (1, 1), conv.bias,
                  let norm = batchNorm(layers[i + 1]), norm.features == hidden, eps == nil || norm.eps == eps,
                  let tracking, norm.trackRunningStats == tracking.0, norm.momentum == tracking.1,
                  (isReLU(layers[i + 2]) && isHalvingMaxPool(layers[i + 3]))
                    || (isHalvingMaxPool(layers[i + 2]) && isReLU(layers[i + 3]))
            else { return nil }
            eps = norm.eps
        }
        guard layers[blockLayers] is Flatten, let eps else { return nil }
        guard let imageSize = conv4ImageSize(head: head, hidden: hidden, blocks: blocks, inputShape: inputShape) else {
            return nil
        }
        guard let model = try? Conv4(inChannels: channels, hidden: hidden, blocks: blocks, outputs: head?.outputs,
                                     imageSize: imageSize, eps: eps, momentum: tracking?.1 ?? 0.1,
                                     trackRunningStats: tracking?.0 ?? false),
              model.head?.inputs == head?.inputs
        else { return nil }
        return model
    }

    /// An `imageSize` for which Conv4's head (if any) is `head`'s size: the
    /// input's side when it is square, else a side whose last map is s x s.
    /// Conv4 uses `imageSize` for nothing else.
    static func conv4ImageSize(head: Linear?, hidden: Int, blocks: Int, inputShape: [Int]?) -> Int? {
        if let inputShape {
            guard inputShape.count == 3 else { return nil }
            let (h, w) = (inputShape[1], inputShape[2])
            if h == w { return h }
            guard head != nil else { return h }
            // Non-square input: the head fits a square last map only.
            let (lastH, lastW) = (h >> blocks, w >> blocks)
            return lastH == lastW ? lastH << blocks : nil
        }
        guard let head else { return 1 << blocks }
        guard head.inputs % hidden == 0, let side = exactSquareRoot(head.inputs / hidden),
              side <= Int.max >> blocks
        else { return nil }
        return side << blocks
    }

    /// √n when n is a perfect square.
    static func exactSquareRoot(_ n: Int) -> Int? {
        guard n >= 0 else { return nil }
        // The float root is within one of the integer root; check its neighbours exactly.
        let guess = Int(Double(n).squareRoot())
        for r in Swift.max(guess - 1, 0)...(guess + 1) {
            let (square, overflow) = r.multipliedReportingOverflow(by: r)
            if !overflow, square == n { return r }
        }
        return nil
    }

    static func batchNorm(_ layer: any Model) -> BatchNorm? {
        (layer as? BatchNorm2d)?.norm ?? (layer as? BatchNorm)
    }

    static func isReLU(_ layer: any Model) -> Bool { (layer as? Activation) == .relu }

    static func isHalvingMaxPool(_ layer: any Model) -> Bool {
        guard let pool = layer as? MaxPool2d else { return false }
        return pool.kernelSize == 2 && pool.stride == 2
    }

    // MARK: - MLP

    /// The MLP `layers` are (Linear, activation, …, Linear), or nil.
    static func mlp(_ layers: [any Model]) -> MLP? {
        guard layers.count % 2 == 1 else { return nil }
        var sizes: [Int] = []
        var activation: Activation?
        var bias: Bool?
        for (i, layer) in layers.enumerated() {
            if i % 2 == 0 {
                guard let linear = layer as? Linear, bias == nil || linear.bias == bias,
                      sizes.last == nil || sizes.last == linear.inputs
                else { return nil }
                if sizes.isEmpty { sizes.append(linear.inputs) }
                sizes.append(linear.outputs)
                bias = linear.bias
            } else {
                guard let a = layer as? Activation, activation == nil || a == activation else { return nil }
                activation = a
            }
        }
        // A single Linear has no activation; MLP's default is then unused.
        return try? MLP(sizes: sizes, activation: activation ?? .relu, bias: bias ?? true)
    }
}

extension ModelBuilder {
    /// `build(description)`, checked against one example's shape
    /// `inputShape` (batch excluded) when given, with errors that name the
    /// layer at fault, then given the forward of the preset it spells out
    /// (`Recognition.optimized`).
    public static func build(_ description: JSON, inputShape: [Int]?) throws -> any Layer {
        let model = try build(description)
        if let inputShape { _ = try model.outputShape(for: [1] + inputShape) }
        return Recognition.optimized(model, inputShape: inputShape)
    }

    /// `build(JSON.parse(text), inputShape:)`.
    public static func build(json text: String, inputShape: [Int]?) throws -> any Layer {
        try build(try JSON.parse(text), inputShape: inputShape)
    }
}

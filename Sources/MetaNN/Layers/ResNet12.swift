import MetaTensor
import MetaAutodiff

/// ResNet-12, the few-shot backbone of Lee et al. 2019 (MetaOptNet) and
/// Tian et al. 2020 (RFS): four residual blocks of widths 64-160-320-640
/// (about 12.4M parameters for RGB input), each
///
///     body:     conv3x3 → BN → LeakyReLU(0.1) → conv3x3 → BN → LeakyReLU(0.1) → conv3x3 → BN
///     shortcut: conv1x1 → BN
///     out:      MaxPool2d(2)(LeakyReLU(0.1)(body(x) + shortcut(x)))
///
/// then global average pooling to a (N, widths[3]) embedding and, with
/// `outputs`, a linear head (MAML's N-way classifier). Convolutions have no
/// bias (batch norm follows each); batch norm uses batch statistics, as
/// MAML and ProtoNets do. 84x84 images end as 5x5 maps before the pooling,
/// 28x28 as 1x1. `width` scales every block for small CPU runs (0.25 gives
/// 16-40-80-160).
///
/// Parameter names: "block1.body.conv1.W", "block1.body.bn1.gamma", ...,
/// "block1.shortcut.conv.W", "block1.shortcut.bn.gamma", ..., then "head.W",
/// "head.b".
///
/// References: Lee, Maji, Ravichandran, Soatto. Meta-Learning with
/// Differentiable Convex Optimization. CVPR 2019. Tian, Wang, Krishnan,
/// Tenenbaum, Isola. Rethinking Few-Shot Image Classification. ECCV 2020.
public struct ResNet12: Model {
    public static let standardWidths = [64, 160, 320, 640]

    public let inChannels: Int
    public let widths: [Int]
    public let outputs: Int?
    let network: Sequential

    /// The standard widths scaled by `width` (each rounded, at least 1).
    public init(inChannels: Int = 3, width: Float = 1, outputs: Int? = nil) throws {
        guard width.isFinite, width > 0 else { throw MetaError.argument("ResNet12: width must be finite and > 0, got \(width)") }
        try self.init(inChannels: inChannels,
                      widths: ResNet12.standardWidths.map { Swift.max(1, Int((Float($0) * width).rounded())) },
                      outputs: outputs)
    }

    /// Four blocks of the given widths.
    public init(inChannels: Int, widths: [Int], outputs: Int? = nil) throws {
        try requirePositive(inChannels, "inChannels", in: "ResNet12")
        guard widths.count == 4 else { throw MetaError.argument("ResNet12: widths must have 4 entries, got \(widths)") }
        for w in widths { try requirePositive(w, "every width of \(widths)", in: "ResNet12") }
        if let outputs { try requirePositive(outputs, "outputs", in: "ResNet12") }
        let leaky = try LeakyReLU(negativeSlope: 0.1)
        var parts: [(String, any Model)] = []
        var channels = inChannels
        for (b, w) in widths.enumerated() {
            func conv(_ from: Int, _ k: Int) throws -> Conv2d {
                try Conv2d(inChannels: from, outChannels: w, kernelSize: k, padding: k / 2, bias: false)
            }
            let body = try Sequential(named: [
                ("conv1", try conv(channels, 3)), ("bn1", try BatchNorm2d(features: w)), ("relu1", leaky),
                ("conv2", try conv(w, 3)), ("bn2", try BatchNorm2d(features: w)), ("relu2", leaky),
                ("conv3", try conv(w, 3)), ("bn3", try BatchNorm2d(features: w)),
            ])
            let shortcut = try Sequential(named: [("conv", try conv(channels, 1)), ("bn", try BatchNorm2d(features: w))])
            parts.append(("block\(b + 1)", ResNet12Block(residual: Residual(body: body, shortcut: shortcut),
                                                         activation: leaky, pool: try MaxPool2d(kernelSize: 2))))
            channels = w
        }
        parts.append(("pool", GlobalAvgPool2d()))
        if let outputs { parts.append(("head", try Linear(inputs: channels, outputs: outputs))) }
        self.inChannels = inChannels
        self.widths = widths
        self.outputs = outputs
        self.network = try Sequential(named: parts)
    }

    /// Its parameters' structure in standard layers: each stage as its
    /// residual block ("block1" ... "block4"; the stage's activation and
    /// pooling hold no parameters), then "pool" and "head". The same
    /// parameters, in the same order, under the same names: what a file
    /// format maps (MetaStore's `TorchLayout`).
    public func parameterLayout() throws -> Sequential {
        try Sequential(named: zip(network.names, network.layers).map { name, layer in
            (name, (layer as? ResNet12Block)?.residual ?? layer)
        })
    }

    public var parameterSpecs: [ParameterSpec] { network.parameterSpecs }
    public func initialParameters(rng: inout RNG) throws -> [Tensor] { try network.initialParameters(rng: &rng) }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        guard x.rank == 4, x.shape[1] == inChannels, x.shape[2] >= 16, x.shape[3] >= 16 else {
            throw MetaError.shape("ResNet12: input x must be NCHW with C = \(inChannels) and images of at least 16x16 "
                                  + "(four 2x2 poolings), got \(x.shape)")
        }
        try checkParameters(params.map(\.shape))
        return try channelsLast(params, x)
    }

    /// The forward pass channels-last, as Conv4's: the image is turned NHWC
    /// once; each convolution is one GEMM-based (or Winograd) NHWC
    /// convolution that also gathers its batch norm's statistics, and each
    /// max-pool runs on NHWC windows. It computes what `network` computes
    /// (the layers, NCHW, im2col per image), with the same parameters in the
    /// same order; the embedding is pooled over H and W before the head, so
    /// no layout goes back.
    func channelsLast(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        let n = x.shape[0]
        var h = inChannels == 1 ? try x.reshaped([n, x.shape[2], x.shape[3], 1]) : try x.permuted([0, 2, 3, 1])
        var i = params.startIndex
        let leaky = try LeakyReLU(negativeSlope: 0.1)
        let same = Conv2dOptions(stride: (1, 1), padding: (1, 1)), pointwise = Conv2dOptions()
        /// conv (no bias) → batch norm with the batch's statistics; consumes three parameters.
        func convNorm(_ input: Variable, _ options: Conv2dOptions) throws -> Variable {
            let w = try params[i].permuted([0, 2, 3, 1])    // (F, KH, KW, C)
            let (c, stats) = try Variable.conv2dNHWCWithStatistics(input, w, bias: nil, eps: 1e-5, options)
            defer { i += 3 }
            return try Variable.batchNormChannelsLast(c, gamma: params[i + 1], beta: params[i + 2], statistics: stats)
        }
        for _ in widths {
            guard h.shape[0] * h.shape[1] * h.shape[2] > 1 else {
                throw MetaError.shape("BatchNorm2d: input x of shape \(h.shape) (NHWC) has one value per channel; batch statistics need more")
            }
            let a1 = try leaky.apply(try convNorm(h, same))
            let a2 = try leaky.apply(try convNorm(a1, same))
            let body = try convNorm(a2, same)
            let shortcut = try convNorm(h, pointwise)
            h = try leaky.apply(try body + shortcut).maxPoolNHWC(kernelSize: 2)
        }
        let embedding = try h.mean(axes: [1, 2])
        guard let outputs else { return embedding }
        return try Linear(inputs: widths[3], outputs: outputs).forward(params[i...], embedding)
    }
}

/// One stage of ResNet-12: pool(activation(residual(x))). Its parameters are
/// the residual block's ("body.…", "shortcut.…").
struct ResNet12Block: Model {
    let residual: Residual
    let activation: LeakyReLU
    let pool: MaxPool2d

    var parameterSpecs: [ParameterSpec] { residual.parameterSpecs }
    func initialParameters(rng: inout RNG) throws -> [Tensor] { try residual.initialParameters(rng: &rng) }

    func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        let y = try activation.forward([][...], try residual.forward(params, x))
        return try pool.forward([][...], y)
    }
}

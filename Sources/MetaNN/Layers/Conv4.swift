import MetaTensor
import MetaAutodiff

/// The standard few-shot image encoder (Vinyals et al. 2016; Finn et al. 2017;
/// Snell et al. 2017): `blocks` blocks of
/// [3x3 conv with `hidden` filters and padding 1, BatchNorm, ReLU, 2x2 max-pool],
/// then flatten, then (when `outputs` is set) a Linear head, MAML's N-way
/// classifier.
///
/// Each pool halves the spatial size, flooring: 28 → 14 → 7 → 3 → 1 gives a
/// 64-dim embedding for Omniglot with 64 filters; 84 → 42 → 21 → 10 → 5 gives
/// 64·25 = 1600 for miniImageNet (800 with MAML's 32 filters). The head's
/// input size therefore depends on `imageSize`, which only the head uses.
///
/// Parameters: "block1.conv.W" (hidden, inChannels, 3, 3), "block1.conv.b",
/// "block1.bn.gamma", "block1.bn.beta", ..., then "head.W", "head.b".
/// `body` and `head` are models on their own: the body's parameters are the
/// first `body.parameterCount` of the list, the head's the rest (ANIL adapts
/// only those; ProtoNet uses the body alone).
///
/// Batch norm uses the batch's statistics (the episodic convention) unless
/// `trackRunningStats`: then each block's batch norm keeps buffers
/// "blockK.bn.running_mean" and "blockK.bn.running_var" (see `BatchNorm`),
/// which a training forward updates from the statistics the fused convolution
/// gathers and an inference forward normalises with (supervised pre-training
/// and transfer). A forward without buffers in its context uses the batch's
/// statistics in both modes, as the layer does.
///
/// The convolutions keep their biases, as the reference implementations do,
/// although batch-statistics BatchNorm subtracts them again: their gradient
/// is zero up to rounding.
///
/// `forward` computes what `body` and `head` compute, channels-last: the image
/// is turned NHWC once, and each block is one fused convolution (a single
/// GEMM over the whole batch, which also gathers batch norm's statistics) and
/// one fused batch norm + 2x2 max-pool + ReLU. Pooling before ReLU is the
/// same function (ReLU is monotone, so max(relu(a), relu(b)) = relu(max(a, b)))
/// with the same subgradient, on a quarter of the elements. The embedding is turned back to NCHW order before
/// flattening, so parameters and outputs are exactly those of the layers.
public struct Conv4: Model {
    public let inChannels: Int
    public let hidden: Int
    public let blocks: Int
    public let outputs: Int?
    public let imageSize: Int
    public let eps: Float
    /// Weight of the newest batch in the running averages (with `trackRunningStats`).
    public let momentum: Float
    public let trackRunningStats: Bool
    public let body: Sequential
    public let head: Linear?
    let whole: Sequential

    public init(inChannels: Int = 1, hidden: Int = 64, blocks: Int = 4, outputs: Int? = nil,
                imageSize: Int = 28, eps: Float = 1e-5, momentum: Float = 0.1, trackRunningStats: Bool = false) throws {
        try requirePositive(inChannels, "inChannels", in: "Conv4")
        try requirePositive(hidden, "hidden", in: "Conv4")
        try requirePositive(blocks, "blocks", in: "Conv4")
        var parts: [(String, any Model)] = []
        for b in 1...blocks {
            parts.append(("block\(b).conv", try Conv2d(inChannels: b == 1 ? inChannels : hidden, outChannels: hidden,
                                                       kernelSize: 3, padding: 1)))
            parts.append(("block\(b).bn", try BatchNorm2d(features: hidden, eps: eps, momentum: momentum,
                                                         trackRunningStats: trackRunningStats)))
            parts.append(("block\(b).relu", Activation.relu))
            parts.append(("block\(b).pool", try MaxPool2d(kernelSize: 2)))
        }
        parts.append(("flatten", Flatten()))
        self.inChannels = inChannels
        self.hidden = hidden
        self.blocks = blocks
        self.outputs = outputs
        self.imageSize = imageSize
        self.eps = eps
        self.momentum = momentum
        self.trackRunningStats = trackRunningStats
        self.body = try Sequential(named: parts)
        if let outputs {
            let head = try Linear(inputs: try Conv4.embeddingSize(hidden: hidden, blocks: blocks, imageSize: imageSize),
                                  outputs: outputs)
            self.head = head
            self.whole = try Sequential(named: parts + [("head", head)])
        } else {
            self.head = nil
            self.whole = body
        }
    }

    /// Length of the flattened embedding for square images of side `imageSize`.
    public static func embeddingSize(hidden: Int, blocks: Int, imageSize: Int) throws -> Int {
        var side = imageSize
        for _ in 0..<max(blocks, 0) { side /= 2 }
        guard side > 0 else {
            throw MetaError.argument("Conv4: imageSize \(imageSize) is too small for \(blocks) 2x2 poolings")
        }
        // Overflow-checked: a description can ask for any sizes.
        let (area, o1) = side.multipliedReportingOverflow(by: side)
        let (size, o2) = hidden.multipliedReportingOverflow(by: area)
        guard !o1, !o2 else {
            throw MetaError.argument("Conv4: the embedding of \(hidden) channels of \(side)x\(side) overflows")
        }
        return size
    }

    public var embeddingSize: Int {
        (try? Conv4.embeddingSize(hidden: hidden, blocks: blocks, imageSize: imageSize)) ?? 0
    }

    public var parameterSpecs: [ParameterSpec] { whole.parameterSpecs }

    public func initialParameters(rng: inout RNG) throws -> [Tensor] { try whole.initialParameters(rng: &rng) }

    public var bufferSpecs: [ParameterSpec] { whole.bufferSpecs }

    public func initialBuffers() throws -> [Tensor] { try whole.initialBuffers() }

    /// x of shape (N, inChannels, H, W) → (N, embedding) or (N, outputs), with batch statistics.
    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        try forward(params, x, context: nil)
    }

    /// The same under a context: with `trackRunningStats` and the buffers in
    /// the context, a training forward updates them and an inference forward
    /// normalises with them.
    public func forward(_ params: ArraySlice<Variable>, _ x: Variable, context: ForwardContext) throws -> Variable {
        try forward(params, x, context: Optional(context))
    }

    func forward(_ params: ArraySlice<Variable>, _ x: Variable, context: ForwardContext?) throws -> Variable {
        guard x.rank == 4, x.shape[1] == inChannels else {
            throw MetaError.shape("Conv4: input x must be NCHW with C = \(inChannels), got \(x.shape)")
        }
        try checkParameters(params.map(\.shape))
        let n = x.shape[0]
        var (side, width) = (x.shape[2], x.shape[3])
        var h = inChannels == 1 ? try x.reshaped([n, side, width, 1]) : try x.permuted([0, 2, 3, 1])
        var i = params.startIndex
        let options = Conv2dOptions(stride: (1, 1), padding: (1, 1))
        for b in 1...blocks {
            // The checks of the layers this replaces, with their messages.
            guard side >= 2, width >= 2 else {
                throw MetaError.shape("MaxPool2d: input x of spatial size \(side)x\(width) is smaller than the 2x2 window (block \(b))")
            }
            let w = try params[i].permuted([0, 2, 3, 1])    // (F, KH, KW, C)
            let running = try runningStatistics(context, block: b)
            if let (mean, variance) = running, context?.isTraining == false {
                // Normalised with the running statistics, constants: the layers' function, channels-last.
                let conv = try Variable.conv2dNHWC(h, w, bias: params[i + 1], options)
                let std = try variance.affine(scale: 1, shift: eps).map(.sqrt)
                let normalised = try (conv - Variable(mean)) / Variable(std) * params[i + 2] + params[i + 3]
                h = try normalised.maxPoolNHWC(kernelSize: 2, relu: true)
            } else {
                guard n * side * width > 1 else {
                    throw MetaError.shape("BatchNorm(\(hidden)): input x of shape \([n, hidden, side, width]) has one value per feature; batch statistics need more")
                }
                let (conv, stats) = try Variable.conv2dNHWCWithStatistics(h, w, bias: params[i + 1], eps: eps, options)
                if let (mean, variance) = running, let context {
                    try updateRunningStatistics(context, block: b, mean: mean, variance: variance, batch: stats,
                                                count: n * side * width)
                }
                h = try Variable.batchNormPoolReLU(conv, gamma: params[i + 2], beta: params[i + 3], statistics: stats)
            }
            (side, width) = (side / 2, width / 2)
            i += 4
        }
        // NCHW order for the flattened embedding (nothing to move at 1x1).
        let nchw = side * width == 1 ? h : try h.permuted([0, 3, 1, 2])
        let embedding = try nchw.reshaped([n, hidden * side * width])
        guard let head else { return embedding }
        return try head.forward(params[i...], embedding)
    }

    /// Block b's running mean and variance when it tracks them and the context holds them.
    func runningStatistics(_ context: ForwardContext?, block b: Int) throws -> (Tensor, Tensor)? {
        guard trackRunningStats, let context, let mean = try context.buffer(2 * (b - 1)),
              let variance = try context.buffer(2 * (b - 1) + 1) else { return nil }
        return (mean, variance)
    }

    /// BatchNorm's update, r ← (1 − m)·r + m·b with the unbiased variance, from
    /// the statistics the fused convolution gathered (mean and 1/√(σ² + ε)).
    func updateRunningStatistics(_ context: ForwardContext, block b: Int, mean: Tensor, variance: Tensor,
                                 batch: ChannelStats, count: Int) throws {
        let m = momentum, unbiased = Float(count) / Float(count - 1)
        let biased = try batch.invStd.map(.square).map(.reciprocal).affine(scale: 1, shift: -eps)
        try context.setBuffer(2 * (b - 1), try mean.affine(scale: 1 - m, shift: 0)
            .zip(try batch.mean.reshaped([hidden]).affine(scale: m, shift: 0), .add))
        try context.setBuffer(2 * (b - 1) + 1, try variance.affine(scale: 1 - m, shift: 0)
            .zip(try biased.reshaped([hidden]).affine(scale: m * unbiased, shift: 0), .add))
    }
}

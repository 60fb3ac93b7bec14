import MetaTensor
import MetaAutodiff

/// 2-D convolution (cross-correlation, as in every deep-learning library) of
/// NCHW images, as im2col followed by one matrix product:
///
///     y[n, f, oh, ow] = b[f] + Σ_{c, kh, kw} W[f, c, kh, kw] · x[n, c, oh·s − p + kh, ow·s − p + kw]
///
/// with x read as zero outside the image; OH = ⌊(H + 2p − KH) / s⌋ + 1 and
/// likewise OW. Parameters: "W" of shape (out, in, KH, KW), then "b" (out)
/// when `bias`. Its derivatives of every order come from im2col/col2im and
/// matmul.
public struct Conv2d: Model, Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: (Int, Int)
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let bias: Bool
    public let weightInit: Initializer
    public let biasInit: Initializer

    /// A square kernel, stride and padding.
    public init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool = true, weightInit: Initializer = .kaimingUniform(), biasInit: Initializer = .zeros) throws {
        try self.init(inChannels: inChannels, outChannels: outChannels, kernelSize: (kernelSize, kernelSize),
                      stride: (stride, stride), padding: (padding, padding), bias: bias,
                      weightInit: weightInit, biasInit: biasInit)
    }

    /// (height, width) kernel, stride and padding.
    public init(inChannels: Int, outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), bias: Bool = true,
                weightInit: Initializer = .kaimingUniform(), biasInit: Initializer = .zeros) throws {
        let name = "Conv2d"
        try requirePositive(inChannels, "inChannels", in: name)
        try requirePositive(outChannels, "outChannels", in: name)
        try requirePositive(kernelSize.0, "kernelSize", in: name)
        try requirePositive(kernelSize.1, "kernelSize", in: name)
        try requirePositive(stride.0, "stride", in: name)
        try requirePositive(stride.1, "stride", in: name)
        guard padding.0 >= 0, padding.1 >= 0 else {
            throw MetaError.argument("Conv2d: padding must be >= 0, got \(padding)")
        }
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.bias = bias
        self.weightInit = weightInit
        self.biasInit = biasInit
    }

    var weightShape: [Int] { [outChannels, inChannels, kernelSize.0, kernelSize.1] }
    var shapes: [[Int]] { bias ? [weightShape, [outChannels]] : [weightShape] }

    public var parameterSpecs: [ParameterSpec] {
        bias ? [ParameterSpec("W", weightShape), ParameterSpec("b", [outChannels])] : [ParameterSpec("W", weightShape)]
    }

    public func initialParameters(rng: inout RNG) throws -> [Tensor] {
        let w = try weightInit(weightShape, rng: &rng)
        return bias ? [w, try biasInit([outChannels], rng: &rng)] : [w]
    }

    /// (OH, OW) for an input of height h and width w, or an error when the
    /// padded image is smaller than the kernel.
    public func outputSize(height h: Int, width w: Int) throws -> (Int, Int) {
        func tooSmall() -> MetaError {
            MetaError.shape("Conv2d: input x of spatial size \(h)x\(w) with padding \(padding) is smaller than the kernel \(kernelSize)")
        }
        guard h > 0, w > 0 else { throw tooSmall() }
        // Shape inference asks about any sizes: h + 2p must not overflow.
        guard padding.0 <= (Int.max - h) / 2, padding.1 <= (Int.max - w) / 2 else {
            throw MetaError.argument("Conv2d: input x of spatial size \(h)x\(w) with padding \(padding) overflows")
        }
        let (hp, wp) = (h + 2 * padding.0, w + 2 * padding.1)
        guard hp >= kernelSize.0, wp >= kernelSize.1 else { throw tooSmall() }
        return ((hp - kernelSize.0) / stride.0 + 1, (wp - kernelSize.1) / stride.1 + 1)
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        let p = try unpack(params, shapes, layer: "Conv2d(\(inChannels), \(outChannels))")
        guard x.rank == 4, x.shape[1] == inChannels else {
            throw MetaError.shape("Conv2d(\(inChannels), \(outChannels)): input x must be NCHW with C = \(inChannels), got \(x.shape)")
        }
        let (oh, ow) = try outputSize(height: x.shape[2], width: x.shape[3])
        let cols = try x.im2col(kernelSize: kernelSize, stride: stride, padding: padding)  // (N, C·KH·KW, OH·OW)
        let w = try p[0].reshaped([outChannels, inChannels * kernelSize.0 * kernelSize.1])
        var y = try Variable.matmul(w, cols)  // one W shared by the batch: (N, out, OH·OW)
        if bias { y = try y + p[1].reshaped([outChannels, 1]) }
        return try y.reshaped([x.shape[0], outChannels, oh, ow])
    }
}

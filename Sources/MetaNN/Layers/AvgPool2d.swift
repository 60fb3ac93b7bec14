import MetaTensor
import MetaAutodiff

/// Average pooling over KxK windows of NCHW images with stride s (default K)
/// and zero padding p, as PyTorch's `nn.AvgPool2d` with its defaults
/// (`count_include_pad=True`, `ceil_mode=False`):
///
///     y[n, c, i, j] = (1 / K²) · Σ_{a, b < K} x[n, c, i·s − p + a, j·s − p + b]
///
/// with x read as zero outside the image, so a window that overlaps the
/// padding still divides by K². OH = ⌊(H + 2p − K) / s⌋ + 1, likewise OW.
///
/// Each channel is pooled as a one-channel image through im2col, whose
/// adjoint col2im is its VJP: derivatives of every order are exact.
public struct AvgPool2d: Model, Sendable {
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int

    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) throws {
        try requirePositive(kernelSize, "kernelSize", in: "AvgPool2d")
        try requirePositive(stride ?? kernelSize, "stride", in: "AvgPool2d")
        guard padding >= 0, 2 * padding <= kernelSize else {
            throw MetaError.argument("AvgPool2d: padding must be in 0...kernelSize / 2 (as PyTorch), got \(padding) "
                                     + "for kernelSize \(kernelSize)")
        }
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
    }

    public var parameterSpecs: [ParameterSpec] { [] }
    public func initialParameters(rng: inout RNG) throws -> [Tensor] { [] }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        _ = try unpack(params, [], layer: "AvgPool2d")
        guard x.rank == 4 else { throw MetaError.shape("AvgPool2d: input x must be NCHW (rank 4), got \(x.shape)") }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (k, s, p) = (kernelSize, stride, padding)
        guard h + 2 * p >= k, w + 2 * p >= k else {
            throw MetaError.shape("AvgPool2d: input x of spatial size \(h)x\(w) (padding \(p)) is smaller than the "
                                  + "\(k)x\(k) window")
        }
        let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1)
        // Every channel of every image as its own one-channel image: the
        // columns (N·C, K·K, OH·OW) hold each window's K² values.
        let planes = try x.reshaped([n * c, 1, h, w])
        let cols = try planes.im2col(kernelSize: (k, k), stride: (s, s), padding: (p, p))
        return try cols.mean(axes: [1]).reshaped([n, c, oh, ow])
    }
}

/// The mean over each channel's whole image: NCHW (N, C, H, W) → (N, C), as
/// `nn.AdaptiveAvgPool2d(1)` followed by a flatten. ResNet-12 and most
/// few-shot backbones end with it.
public struct GlobalAvgPool2d: Model, Sendable {
    public init() {}

    public var parameterSpecs: [ParameterSpec] { [] }
    public func initialParameters(rng: inout RNG) throws -> [Tensor] { [] }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        _ = try unpack(params, [], layer: "GlobalAvgPool2d")
        guard x.rank == 4, x.shape[2] > 0, x.shape[3] > 0 else {
            throw MetaError.shape("GlobalAvgPool2d: input x must be NCHW (rank 4) with a non-empty image, got \(x.shape)")
        }
        return try x.mean(axes: [2, 3])
    }
}

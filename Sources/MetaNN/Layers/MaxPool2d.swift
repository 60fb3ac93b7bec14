import MetaTensor
import MetaAutodiff

/// Max pooling over KxK windows of NCHW images with stride s (default K).
/// Sizes floor as in PyTorch: OH = ⌊(H − K) / s⌋ + 1, so trailing rows and
/// columns that do not fill a window are dropped.
///
/// Where a window's maximum is tied, its cotangent is shared equally among
/// the tied entries (PyTorch picks one); either is a valid subgradient.
public struct MaxPool2d: Model, Sendable {
    public let kernelSize: Int
    public let stride: Int

    public init(kernelSize: Int, stride: Int? = nil) throws {
        try requirePositive(kernelSize, "kernelSize", in: "MaxPool2d")
        try requirePositive(stride ?? kernelSize, "stride", in: "MaxPool2d")
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
    }

    public var parameterSpecs: [ParameterSpec] { [] }
    public func initialParameters(rng: inout RNG) throws -> [Tensor] { [] }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        _ = try unpack(params, [], layer: "MaxPool2d")
        guard x.rank == 4 else { throw MetaError.shape("MaxPool2d: input x must be NCHW (rank 4), got \(x.shape)") }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let k = kernelSize, s = stride
        guard h >= k, w >= k else {
            throw MetaError.shape("MaxPool2d: input x of spatial size \(h)x\(w) is smaller than the \(k)x\(k) window")
        }
        let (oh, ow) = ((h - k) / s + 1, (w - k) / s + 1)
        if s == k {
            // Non-overlapping windows: drop the rows and columns no window
            // covers, then a reshape exposes each window as two axes that one
            // max reduces.
            let tiled = (h == oh * k && w == ow * k) ? x : try x.sliced(lower: [0, 0, 0, 0], upper: [n, c, oh * k, ow * k])
            return try tiled.reshaped([n, c, oh, k, ow, k]).max(axes: [3, 5])
        }
        // General case: each channel as its own one-channel image, so im2col's
        // rows are the K·K entries of a window.
        let cols = try x.reshaped([n * c, 1, h, w]).im2col(kernelSize: (k, k), stride: (s, s), padding: (0, 0))
        return try cols.max(axes: [1]).reshaped([n, c, oh, ow])
    }
}

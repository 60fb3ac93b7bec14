import MetaTensor

/// How a parameter tensor gets its first value, drawn from the caller's `RNG`.
///
/// The variance-scaling schemes read the fans from the shape, with this
/// engine's layouts:
/// - rank 2, a dense weight `(in, out)`: fanIn = in, fanOut = out. This is the
///   transpose of PyTorch's `(out, in)`; the fans are the same.
/// - rank ≥ 3, a convolution weight `(out, in, k...)`: with r = ∏ k,
///   fanIn = in·r and fanOut = out·r (as PyTorch).
/// - rank 1: fanIn = fanOut = the length.
///
/// With gain g:
/// - Kaiming (He et al. 2015): std = g / √fanIn; uniform bound = √3·std.
///   The default g = √2 keeps the variance of ReLU activations constant.
/// - Glorot (Glorot & Bengio 2010): std = g·√(2 / (fanIn + fanOut));
///   uniform bound = √3·std = g·√(6 / (fanIn + fanOut)).
///
/// Normal variants are plain (not truncated) normals.
public enum Initializer: Sendable, Equatable, CustomStringConvertible {
    case zeros
    case constant(Float)
    case uniform(low: Float, high: Float)
    case normal(mean: Float, std: Float)
    case kaimingUniform(gain: Float = Float(2).squareRoot())
    case kaimingNormal(gain: Float = Float(2).squareRoot())
    case glorotUniform(gain: Float = 1)
    case glorotNormal(gain: Float = 1)

    /// (fanIn, fanOut) of a weight of `shape`, by the layouts above.
    public static func fans(_ shape: [Int]) throws -> (fanIn: Int, fanOut: Int) {
        switch shape.count {
        case 0:
            throw MetaError.shape("initializer: fans of a rank-0 shape are undefined")
        case 1:
            return (shape[0], shape[0])
        case 2:
            return (shape[0], shape[1])
        default:
            let receptive = try ShapeMath.count(Array(shape[2...]), name: "initializer shape")
            return (shape[1] &* receptive, shape[0] &* receptive)
        }
    }

    /// The standard deviation the scheme targets for `shape` (nil for
    /// `zeros`, `constant` and `uniform`, whose spread is not a formula of the fans).
    public func standardDeviation(for shape: [Int]) throws -> Float? {
        switch self {
        case .zeros, .constant, .uniform:
            return nil
        case .normal(_, let std):
            return std
        case .kaimingUniform(let gain), .kaimingNormal(let gain):
            let (fanIn, _) = try Self.fans(shape)
            guard fanIn > 0 else { throw MetaError.shape("\(self): fanIn of shape \(shape) is 0") }
            return gain / Float(fanIn).squareRoot()
        case .glorotUniform(let gain), .glorotNormal(let gain):
            let (fanIn, fanOut) = try Self.fans(shape)
            guard fanIn + fanOut > 0 else { throw MetaError.shape("\(self): fans of shape \(shape) are 0") }
            return gain * (2 / Float(fanIn + fanOut)).squareRoot()
        }
    }

    /// A fresh tensor of `shape`.
    public func callAsFunction(_ shape: [Int], rng: inout RNG) throws -> Tensor {
        switch self {
        case .zeros:
            return try Tensor.zeros(shape)
        case .constant(let c):
            guard c.isFinite else { throw MetaError.argument("initializer constant must be finite, got \(c)") }
            return try Tensor.full(shape, c)
        case .uniform(let low, let high):
            return try Tensor.uniform(shape, low: low, high: high, rng: &rng)
        case .normal(let mean, let std):
            return try Tensor.normal(shape, mean: mean, std: std, rng: &rng)
        case .kaimingUniform(let gain), .glorotUniform(let gain):
            try Self.checkGain(gain)
            let bound = Float(3).squareRoot() * (try standardDeviation(for: shape) ?? 0)
            return try Tensor.uniform(shape, low: -bound, high: bound, rng: &rng)
        case .kaimingNormal(let gain), .glorotNormal(let gain):
            try Self.checkGain(gain)
            return try Tensor.normal(shape, std: try standardDeviation(for: shape) ?? 0, rng: &rng)
        }
    }

    private static func checkGain(_ gain: Float) throws {
        guard gain.isFinite, gain >= 0 else { throw MetaError.argument("initializer gain must be finite and >= 0, got \(gain)") }
    }

    public var description: String {
        switch self {
        case .zeros: return "zeros"
        case .constant(let c): return "constant(\(c))"
        case .uniform(let l, let h): return "uniform(\(l), \(h))"
        case .normal(let m, let s): return "normal(mean: \(m), std: \(s))"
        case .kaimingUniform(let g): return "kaimingUniform(gain: \(g))"
        case .kaimingNormal(let g): return "kaimingNormal(gain: \(g))"
        case .glorotUniform(let g): return "glorotUniform(gain: \(g))"
        case .glorotNormal(let g): return "glorotNormal(gain: \(g))"
        }
    }
}

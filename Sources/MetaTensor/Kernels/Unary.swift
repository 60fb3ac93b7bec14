#if canImport(Glibc)
import Glibc
#endif

/// Elementwise functions of one tensor. The switch stands outside the loop so
/// each loop is a tight, vectorisable pass over the buffer.
public enum UnaryOp: String, Sendable, CaseIterable {
    case neg, exp, log, sqrt, tanh, sigmoid, relu, abs, square, reciprocal
    /// The Gauss error function, Glibc's erff (for the exact GELU).
    case erf
    /// 1 where x > 0, else 0 (the derivative of relu; a constant for autodiff).
    case step
    /// -1, 0 or 1.
    case sign
}

extension Tensor {
    public func map(_ op: UnaryOp) throws -> Tensor {
        let n = count
        let s = try Storage(uninitializedCount: n)
        let x = storage.base, y = s.base
        switch op {
        case .neg: for i in 0..<n { y[i] = -x[i] }
        case .exp: for i in 0..<n { y[i] = expf(x[i]) }
        case .log: for i in 0..<n { y[i] = logf(x[i]) }
        case .sqrt: for i in 0..<n { y[i] = x[i].squareRoot() }
        // Vectorised, and shared with the fused recurrent cells (bit-for-bit agreement).
        case .tanh: VectorMath.tanh(x, y, count: n)
        case .sigmoid: VectorMath.sigmoid(x, y, count: n)
        case .relu: for i in 0..<n { y[i] = x[i] > 0 ? x[i] : 0 }
        case .abs: for i in 0..<n { y[i] = Swift.abs(x[i]) }
        case .square: for i in 0..<n { y[i] = x[i] * x[i] }
        case .reciprocal: for i in 0..<n { y[i] = 1 / x[i] }
        case .erf: for i in 0..<n { y[i] = erff(x[i]) }
        case .step: for i in 0..<n { y[i] = x[i] > 0 ? 1 : 0 }
        case .sign: for i in 0..<n { y[i] = x[i] > 0 ? 1 : (x[i] < 0 ? -1 : 0) }
        }
        return Tensor(unchecked: s, shape: shape, count: n)
    }

    /// a * x + b elementwise, in one pass.
    public func affine(scale a: Float, shift b: Float) throws -> Tensor {
        let n = count
        let s = try Storage(uninitializedCount: n)
        let x = storage.base, y = s.base
        for i in 0..<n { y[i] = a * x[i] + b }
        return Tensor(unchecked: s, shape: shape, count: n)
    }
}

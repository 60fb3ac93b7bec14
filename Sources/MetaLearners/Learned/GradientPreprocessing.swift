#if canImport(Glibc)
import Glibc
#endif
import MetaTensor
import MetaAutodiff

/// The gradient preprocessing of Andrychowicz et al. (NeurIPS 2016,
/// "Learning to learn by gradient descent by gradient descent", appendix A):
/// each coordinate x becomes two inputs,
///
///     (log|x| / p, sign x)   if |x| ≥ e^−p
///     (−1, e^p · x)          otherwise,
///
/// so gradients spanning many orders of magnitude reach the LSTM on one
/// scale, while the sign (and, below e^−p, the value) is kept. p = 10 in
/// the paper.
///
/// Written in differentiable ops, so the exact meta-gradient differentiates
/// through it: the branch is a constant mask m = [|x| ≥ e^−p] read from the
/// value, and the first input is m · log(m·|x| + 1 − m) / p − (1 − m), whose
/// logarithm is never taken of a value below e^−p (nor of 0). Its derivative
/// is m / (p·x); the second input's is (1 − m)·e^p (sign x is piecewise
/// constant). The map is continuous at |x| = e^−p in its first input
/// (log(e^−p)/p = −1) and jumps in its second (±1 against ±1·e^p·e^−p = ±1:
/// continuous too), but its derivative jumps there: finite differences
/// across the threshold do not match, anywhere else they do.
///
/// `x` of any shape; the result has shape (x.count, 2).
public func preprocessGradient(_ x: Variable, p: Float = 10) throws -> Variable {
    guard p.isFinite, p > 0 else { throw MetaError.argument("preprocessGradient: p must be finite and > 0, got \(p)") }
    let flat = try x.reshaped([x.count, 1])
    let threshold = expf(-p)
    let mask = try flat.value.withUnsafeBufferPointer { v in
        try Tensor.make(shape: [v.count, 1]) { out, n in for i in 0..<n { out[i] = Swift.abs(v[i]) >= threshold ? 1 : 0 } }
    }
    let m = Variable(mask), notM = Variable(try mask.affine(scale: -1, shift: 1))
    let safeAbs = try flat.abs() * m + notM
    let first = try safeAbs.log() * m * (1 / p) - notM
    let second = try Variable(try flat.value.map(.sign)) * m + flat * notM * expf(p)
    return try Variable.concat([first, second], axis: 1)
}

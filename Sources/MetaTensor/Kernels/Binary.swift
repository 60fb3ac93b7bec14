/// Elementwise functions of two tensors under NumPy broadcasting.
public enum BinaryOp: String, Sendable, CaseIterable {
    case add, sub, mul, div
    /// Elementwise max / min; NaN in either operand gives NaN (as the `max`
    /// reduction does), so the result does not depend on the operand order.
    case maximum, minimum
    /// 1 where a > b, else 0.
    case greater
    /// 1 where a == b, else 0.
    case equal
}

@usableFromInline protocol BinaryKernel { static func apply(_ a: Float, _ b: Float) -> Float }
@usableFromInline enum AddK: BinaryKernel { @inline(__always) @usableFromInline static func apply(_ a: Float, _ b: Float) -> Float { a + b } }
@usableFromInline enum SubK: BinaryKernel { @inline(__always) @usableFromInline static func apply(_ a: Float, _ b: Float) -> Float { a - b } }
@usableFromInline enum MulK: BinaryKernel { @inline(__always) @usableFromInline static func apply(_ a: Float, _ b: Float) -> Float { a * b } }
@usableFromInline enum DivK: BinaryKernel { @inline(__always) @usableFromInline static func apply(_ a: Float, _ b: Float) -> Float { a / b } }
@usableFromInline enum MaxK: BinaryKernel { @inline(__always) @usableFromInline static func apply(_ a: Float, _ b: Float) -> Float { a >= b || a.isNaN ? a : b } }
@usableFromInline enum MinK: BinaryKernel { @inline(__always) @usableFromInline static func apply(_ a: Float, _ b: Float) -> Float { a <= b || a.isNaN ? a : b } }
@usableFromInline enum GtK: BinaryKernel { @inline(__always) @usableFromInline static func apply(_ a: Float, _ b: Float) -> Float { a > b ? 1 : 0 } }
@usableFromInline enum EqK: BinaryKernel { @inline(__always) @usableFromInline static func apply(_ a: Float, _ b: Float) -> Float { a == b ? 1 : 0 } }

extension Tensor {
    public func zip(_ other: Tensor, _ op: BinaryOp) throws -> Tensor {
        switch op {
        case .add: return try binary(self, other, AddK.self)
        case .sub: return try binary(self, other, SubK.self)
        case .mul: return try binary(self, other, MulK.self)
        case .div: return try binary(self, other, DivK.self)
        case .maximum: return try binary(self, other, MaxK.self)
        case .minimum: return try binary(self, other, MinK.self)
        case .greater: return try binary(self, other, GtK.self)
        case .equal: return try binary(self, other, EqK.self)
        }
    }
}

/// The broadcasting loop: contiguous fast paths for equal shapes and scalars;
/// otherwise an N-d counter over all but the last output dimension with a
/// strided inner loop.
@usableFromInline
func binary<K: BinaryKernel>(_ a: Tensor, _ b: Tensor, _: K.Type) throws -> Tensor {
    let pa = a.storage.base, pb = b.storage.base
    if a.shape == b.shape {
        let n = a.count
        let s = try Storage(uninitializedCount: n)
        let y = s.base
        for i in 0..<n { y[i] = K.apply(pa[i], pb[i]) }
        return Tensor(unchecked: s, shape: a.shape, count: n)
    }
    let shape = try ShapeMath.broadcast(a.shape, b.shape)
    let n = try ShapeMath.count(shape)
    let s = try Storage(uninitializedCount: n)
    let y = s.base
    if n == 0 { return Tensor(unchecked: s, shape: shape, count: 0) }
    if b.count == 1 {
        let v = pb[0]
        if a.count == n { for i in 0..<n { y[i] = K.apply(pa[i], v) }; return Tensor(unchecked: s, shape: shape, count: n) }
    }
    if a.count == 1 {
        let v = pa[0]
        if b.count == n { for i in 0..<n { y[i] = K.apply(v, pb[i]) }; return Tensor(unchecked: s, shape: shape, count: n) }
    }
    let sa = ShapeMath.broadcastStrides(a.shape, to: shape)
    let sb = ShapeMath.broadcastStrides(b.shape, to: shape)
    let r = shape.count
    let inner = shape[r - 1]
    let ia = sa[r - 1], ib = sb[r - 1]
    let outer = n / inner
    var idx = [Int](repeating: 0, count: r)
    var offA = 0, offB = 0
    var o = 0
    for _ in 0..<outer {
        if ia == 1 && ib == 1 {
            for j in 0..<inner { y[o &+ j] = K.apply(pa[offA &+ j], pb[offB &+ j]) }
        } else if ia == 1 {
            let v = pb[offB]
            for j in 0..<inner { y[o &+ j] = K.apply(pa[offA &+ j], v) }
        } else if ib == 1 {
            let v = pa[offA]
            for j in 0..<inner { y[o &+ j] = K.apply(v, pb[offB &+ j]) }
        } else {
            for j in 0..<inner { y[o &+ j] = K.apply(pa[offA &+ j &* ia], pb[offB &+ j &* ib]) }
        }
        o &+= inner
        // Advance the counter over dimensions r-2 ... 0.
        var d = r - 2
        while d >= 0 {
            idx[d] &+= 1
            offA &+= sa[d]; offB &+= sb[d]
            if idx[d] < shape[d] { break }
            offA &-= sa[d] &* shape[d]; offB &-= sb[d] &* shape[d]
            idx[d] = 0
            d -= 1
        }
    }
    return Tensor(unchecked: s, shape: shape, count: n)
}

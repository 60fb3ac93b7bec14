/// Index selection along one axis and its adjoint.
///
/// gather(indices, axis)[…, j, …] = x[…, indices[j], …] (numpy.take along an
/// axis). scatterAdd is its adjoint: y[…, j, …] is *added* into slot indices[j]
/// of a zero tensor with `size` slots, so ⟨gather(x), y⟩ = ⟨x, scatterAdd(y)⟩.
///
/// Trap: indices may repeat. gather then copies a slice several times and
/// scatterAdd sums the matching slices; that sum is what makes the pair adjoint.
/// Negative indices are rejected rather than counted from the end, so an
/// off-by-one in a caller fails loudly instead of reading the last row.
extension Tensor {
    /// Selects slices `indices` along `axis`; the result has `indices.count` there.
    public func gather(indices: [Int], axis: Int) throws -> Tensor {
        let ax = try ShapeMath.axis(axis, rank: rank, op: "gather")
        let size = shape[ax]
        try checkIndices(indices, size: size, op: "gather", axis: axis)
        var outShape = shape; outShape[ax] = indices.count
        let (outer, inner) = splitAround(ax)
        let out = try Tensor.make(shape: outShape) { _, _ in }
        if out.count == 0 { return out }
        let x = storage.base, y = out.storage.base
        let k = indices.count
        indices.withUnsafeBufferPointer { idx in
            var d = y
            for o in 0..<outer {
                let src = x + o &* size &* inner
                if inner == 1 {
                    for j in 0..<k { d[j] = src[idx[j]] }
                    d += k
                } else {
                    for j in 0..<k {
                        d.update(from: src + idx[j] &* inner, count: inner)
                        d += inner
                    }
                }
            }
        }
        return out
    }

    /// Adds slice j of this tensor (along `axis`) into slot `indices[j]` of a zero
    /// tensor that has `size` slots along `axis`. This tensor must have
    /// `indices.count` slices there.
    public func scatterAdd(indices: [Int], axis: Int, size: Int) throws -> Tensor {
        let ax = try ShapeMath.axis(axis, rank: rank, op: "scatterAdd")
        guard size >= 0 else { throw MetaError.argument("scatterAdd: size \(size) must be non-negative") }
        guard shape[ax] == indices.count else {
            throw MetaError.shape("scatterAdd: tensor of shape \(shape) has \(shape[ax]) slices on axis \(axis) but \(indices.count) indices were given")
        }
        try checkIndices(indices, size: size, op: "scatterAdd", axis: axis)
        var outShape = shape; outShape[ax] = size
        let (outer, inner) = splitAround(ax)
        let out = try Tensor.make(shape: outShape) { p, n in p.update(repeating: 0, count: n) }
        if count == 0 || out.count == 0 { return out }
        let x = storage.base, y = out.storage.base
        let k = indices.count
        indices.withUnsafeBufferPointer { idx in
            var s = x
            for o in 0..<outer {
                let dst = y + o &* size &* inner
                if inner == 1 {
                    for j in 0..<k { dst[idx[j]] += s[j] }
                    s += k
                } else {
                    for j in 0..<k {
                        let d = dst + idx[j] &* inner
                        var e = 0
                        while e < inner { d[e] += s[e]; e &+= 1 }
                        s += inner
                    }
                }
            }
        }
        return out
    }

    private func checkIndices(_ indices: [Int], size: Int, op: String, axis: Int) throws {
        for (j, i) in indices.enumerated() where i < 0 || i >= size {
            throw MetaError.index("\(op): index \(i) at position \(j) is out of range 0..<\(size) on axis \(axis)")
        }
    }

    /// Element counts before and after axis `ax` (shape already validated).
    private func splitAround(_ ax: Int) -> (outer: Int, inner: Int) {
        var outer = 1, inner = 1
        for d in 0..<ax { outer &*= shape[d] }
        for d in (ax + 1)..<rank { inner &*= shape[d] }
        return (outer, inner)
    }
}

/// Kernels that move elements without arithmetic: permute, slice, pad, concat.
/// Slice and pad are adjoints of each other, as are permutations and their inverses.
extension Tensor {
    /// Reorders the axes: result axis i is input axis `perm[i]`.
    public func permuted(_ perm: [Int]) throws -> Tensor {
        guard perm.count == rank, Set(perm) == Set(0..<rank) else {
            throw MetaError.argument("permute: \(perm) is not a permutation of the \(rank) axes of \(shape)")
        }
        let outShape = perm.map { shape[$0] }
        if perm == Array(0..<rank) { return self }
        let inStr = ShapeMath.strides(shape)
        let str = perm.map { inStr[$0] }
        return try strideCopy(shape: outShape, strides: str, offset: 0)
    }

    /// Swaps the last two axes.
    public func transposedLast2() throws -> Tensor {
        guard rank >= 2 else { throw MetaError.shape("transpose: need rank >= 2, got \(shape)") }
        var p = Array(0..<rank); p.swapAt(rank - 1, rank - 2)
        return try permuted(p)
    }

    /// Elements `lower[i] ..< upper[i]` along every axis.
    public func sliced(lower: [Int], upper: [Int]) throws -> Tensor {
        guard lower.count == rank, upper.count == rank else {
            throw MetaError.argument("slice: bounds \(lower)..<\(upper) do not match rank \(rank) of \(shape)")
        }
        for i in 0..<rank where !(0 <= lower[i] && lower[i] <= upper[i] && upper[i] <= shape[i]) {
            throw MetaError.index("slice: bounds \(lower)..<\(upper) fall outside shape \(shape) on axis \(i)")
        }
        let outShape = (0..<rank).map { upper[$0] - lower[$0] }
        let str = ShapeMath.strides(shape)
        var off = 0
        for i in 0..<rank { off += lower[i] * str[i] }
        return try strideCopy(shape: outShape, strides: str, offset: off)
    }

    /// Zero padding: `before[i]` zeros before and `after[i]` after along axis i.
    public func padded(before: [Int], after: [Int]) throws -> Tensor {
        guard before.count == rank, after.count == rank, !before.contains(where: { $0 < 0 }), !after.contains(where: { $0 < 0 }) else {
            throw MetaError.argument("pad: widths \(before), \(after) must be \(rank) non-negative sizes for \(shape)")
        }
        // Widths come from callers (the C ABI): add them without overflow traps.
        var outShape = shape
        for i in 0..<rank {
            let (p, o1) = shape[i].addingReportingOverflow(before[i])
            let (q, o2) = p.addingReportingOverflow(after[i])
            guard !o1, !o2 else { throw MetaError.argument("pad: widths \(before), \(after) are too large for \(shape)") }
            outShape[i] = q
        }
        let out = try Tensor.make(shape: outShape) { p, n in p.update(repeating: 0, count: n) }
        if count == 0 { return out }
        let ostr = ShapeMath.strides(outShape)
        var off = 0
        for i in 0..<rank { off += before[i] * ostr[i] }
        scatterCopy(into: out.storage.base + off, strides: ostr)
        return out
    }

    /// Joins tensors along `axis`; all other dimensions must agree.
    public static func concat(_ parts: [Tensor], axis: Int) throws -> Tensor {
        guard let first = parts.first else { throw MetaError.argument("concat: needs at least one tensor") }
        let ax = try ShapeMath.axis(axis, rank: first.rank, op: "concat")
        var total = 0
        for t in parts {
            guard t.rank == first.rank, (0..<t.rank).allSatisfy({ $0 == ax || t.shape[$0] == first.shape[$0] }) else {
                throw MetaError.shape("concat: shapes \(parts.map { $0.shape }) differ off axis \(axis)")
            }
            total += t.shape[ax]
        }
        var outShape = first.shape; outShape[ax] = total
        let out = try Tensor.make(shape: outShape) { _, _ in }
        let ostr = ShapeMath.strides(outShape)
        var at = 0
        for t in parts {
            if t.count > 0 { t.scatterCopy(into: out.storage.base + at * ostr[ax], strides: ostr) }
            at += t.shape[ax]
        }
        return out
    }

    /// Copies the strided view (shape, strides, offset) of this storage into a new tensor.
    func strideCopy(shape outShape: [Int], strides str: [Int], offset: Int) throws -> Tensor {
        let n = try ShapeMath.count(outShape)
        let s = try Storage(uninitializedCount: n)
        if n == 0 { return Tensor(unchecked: s, shape: outShape, count: 0) }
        let x = storage.base + offset, y = s.base
        let r = outShape.count
        if r == 0 { y[0] = x[0]; return Tensor(unchecked: s, shape: outShape, count: 1) }
        let inner = outShape[r - 1], istr = str[r - 1]
        var idx = [Int](repeating: 0, count: r)
        var off = 0, o = 0
        for _ in 0..<(n / inner) {
            if istr == 1 { (y + o).update(from: x + off, count: inner) }
            else { for j in 0..<inner { y[o &+ j] = x[off &+ j &* istr] } }
            o &+= inner
            var d = r - 2
            while d >= 0 {
                idx[d] &+= 1; off &+= str[d]
                if idx[d] < outShape[d] { break }
                off &-= str[d] &* outShape[d]; idx[d] = 0; d -= 1
            }
        }
        return Tensor(unchecked: s, shape: outShape, count: n)
    }

    /// Writes this tensor's elements, in order, to `dst` laid out with `strides`.
    func scatterCopy(into dst: UnsafeMutablePointer<Float>, strides str: [Int]) {
        let r = rank
        let x = storage.base
        if r == 0 { dst[0] = x[0]; return }
        let inner = shape[r - 1], istr = str[r - 1]
        var idx = [Int](repeating: 0, count: r)
        var off = 0, o = 0
        for _ in 0..<(count / Swift.max(inner, 1)) {
            if istr == 1 { (dst + off).update(from: x + o, count: inner) }
            else { for j in 0..<inner { dst[off &+ j &* istr] = x[o &+ j] } }
            o &+= inner
            var d = r - 2
            while d >= 0 {
                idx[d] &+= 1; off &+= str[d]
                if idx[d] < shape[d] { break }
                off &-= str[d] &* shape[d]; idx[d] = 0; d -= 1
            }
        }
    }
}

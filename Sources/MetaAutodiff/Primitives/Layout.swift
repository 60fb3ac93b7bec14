import MetaTensor

// Primitives that move elements without arithmetic. Each is linear, so each
// VJP is another layout op: a permutation's is the inverse permutation, slice
// and pad are each other's adjoints, and concat's is one slice per part.

extension Variable {
    /// Reorders the axes: result axis i is input axis `perm[i]`.
    /// VJP: the inverse permutation, which sends axis `perm[i]` back to i.
    public func permuted(_ perm: [Int]) throws -> Variable {
        let out = try value.permuted(perm)
        if perm == Array(0..<rank) { return self }
        var inverse = [Int](repeating: 0, count: perm.count)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        return record("permute", out, self) { g, _, _ in [try g.permuted(inverse)] }
    }

    /// Swaps the last two axes (a batched matrix transpose); its own adjoint.
    public func transposedLast2() throws -> Variable {
        guard rank >= 2 else { throw MetaError.shape("transpose: need rank >= 2, got \(shape)") }
        var p = Array(0..<rank); p.swapAt(rank - 1, rank - 2)
        return try permuted(p)
    }

    /// Elements `lower[i] ..< upper[i]` along every axis.
    /// VJP: zero padding back to the input shape.
    public func sliced(lower: [Int], upper: [Int]) throws -> Variable {
        let out = try value.sliced(lower: lower, upper: upper)
        if out.shape == shape { return self }
        let after = zip(shape, upper).map { $0 - $1 }
        return record("slice", out, self) { g, _, _ in [try g.padded(before: lower, after: after)] }
    }

    /// Zero padding: `before[i]` zeros before and `after[i]` after along axis i.
    /// VJP: the slice that drops the padding.
    public func padded(before: [Int], after: [Int]) throws -> Variable {
        let out = try value.padded(before: before, after: after)
        if out.shape == shape { return self }
        let upper = zip(before, shape).map { $0 + $1 }
        return record("pad", out, self) { g, _, _ in [try g.sliced(lower: before, upper: upper)] }
    }

    /// Elements `range` along `axis`, everything along the other axes.
    public func slice(axis: Int, range: Range<Int>) throws -> Variable {
        let ax = try ShapeMath.axis(axis, rank: rank, op: "slice")
        var lower = [Int](repeating: 0, count: rank), upper = shape
        lower[ax] = range.lowerBound; upper[ax] = range.upperBound
        return try sliced(lower: lower, upper: upper)
    }

    /// Joins variables along `axis`; all other dimensions must agree.
    /// VJP: each part receives the slice of the cotangent it filled.
    public static func concat(_ parts: [Variable], axis: Int) throws -> Variable {
        let out = try Tensor.concat(parts.map { $0.value }, axis: axis)
        if parts.count == 1 { return parts[0] }
        let ax = try ShapeMath.axis(axis, rank: out.rank, op: "concat")
        return record("concat", out, parts) { g, x, _ in
            var at = 0
            return try x.map { part in
                let size = part.shape[ax]
                defer { at += size }
                return try g.slice(axis: ax, range: at..<(at + size))
            }
        }
    }

    /// Stacks equally shaped variables along a new axis `axis` (0...rank; negative
    /// counts from the end, -1 appends a last axis). Composed: reshape + concat.
    public static func stack(_ parts: [Variable], axis: Int) throws -> Variable {
        guard let first = parts.first else { throw MetaError.argument("stack: needs at least one variable") }
        let ax = try ShapeMath.axis(axis, rank: first.rank + 1, op: "stack")
        for p in parts where p.shape != first.shape {
            throw MetaError.shape("stack: shapes \(parts.map { $0.shape }) differ")
        }
        var expanded = first.shape
        expanded.insert(1, at: ax)
        return try concat(parts.map { try $0.reshaped(expanded) }, axis: ax)
    }
}

import MetaTensor

// gather and scatterAdd: an adjoint pair of linear maps, each one's VJP the
// other. Repeated indices copy in gather and accumulate in scatterAdd, which is
// exactly what the chain rule asks for.

extension Variable {
    /// Selects slices `indices` along `axis` (numpy.take); indices may repeat and
    /// must lie in 0..<shape[axis]. VJP: `scatterAdd` into `shape[axis]` slots.
    public func gather(indices: [Int], axis: Int) throws -> Variable {
        let out = try value.gather(indices: indices, axis: axis)
        let ax = try ShapeMath.axis(axis, rank: rank, op: "gather")
        let size = shape[ax]
        return record("gather", out, self) { g, _, _ in
            [try g.scatterAdd(indices: indices, axis: ax, size: size)]
        }
    }

    /// Adds slice j along `axis` into slot `indices[j]` of a zero tensor with
    /// `size` slots there. VJP: `gather` with the same indices.
    public func scatterAdd(indices: [Int], axis: Int, size: Int) throws -> Variable {
        let out = try value.scatterAdd(indices: indices, axis: axis, size: size)
        let ax = try ShapeMath.axis(axis, rank: rank, op: "scatterAdd")
        return record("scatterAdd", out, self) { g, _, _ in
            [try g.gather(indices: indices, axis: ax)]
        }
    }
}

import MetaTensor

// Reductions and broadcasting. `broadcast(to:)` and `sum(to:)` are an adjoint
// pair: each one's VJP is the other.

extension Variable {
    public func sum(axes: [Int], keepDims: Bool = false) throws -> Variable {
        let out = try value.sum(axes: axes, keepDims: keepDims)
        let ax = try ShapeMath.axes(axes, rank: rank, op: "sum")
        return record("sum", out, self) { g, x, _ in
            var kept = x[0].shape
            for a in ax { kept[a] = 1 }
            return [try g.reshaped(kept).broadcast(to: x[0].shape)]
        }
    }

    /// Sum of all elements, rank 0.
    public func sum() throws -> Variable { try sum(axes: Array(0..<rank)) }

    /// Maximum over `axes`. Where several elements tie for the maximum, the
    /// cotangent is shared equally among them (the mask is a constant).
    public func max(axes: [Int], keepDims: Bool = false) throws -> Variable {
        let ax = try ShapeMath.axes(axes, rank: rank, op: "max")
        let keep = try value.max(axes: ax, keepDims: true)
        let out = keepDims ? keep : try keep.reshaped(try value.max(axes: ax, keepDims: false).shape)
        return record("max", out, self) { g, x, _ in
            let xv = x[0].value
            let hits = try xv.zip(keep, .equal)
            let mask = try hits.zip(try hits.sum(axes: ax, keepDims: true), .div)
            var kept = xv.shape
            for a in ax { kept[a] = 1 }
            return [try g.reshaped(kept) * Variable(mask)]
        }
    }

    /// Repeats along size-1 (and new leading) dimensions.
    public func broadcast(to shape: [Int]) throws -> Variable {
        if shape == self.shape { return self }
        return record("broadcast", try value.broadcast(to: shape), self) { g, x, _ in
            [try g.sum(to: x[0].shape)]
        }
    }

    /// Sums over the dimensions that broadcasting to this shape added.
    public func sum(to shape: [Int]) throws -> Variable {
        if shape == self.shape { return self }
        return record("sumTo", try value.sum(to: shape), self) { g, x, _ in
            [try g.broadcast(to: x[0].shape)]
        }
    }

    /// Same elements, new shape (one dimension may be -1).
    public func reshaped(_ shape: [Int]) throws -> Variable {
        let out = try value.reshaped(shape)
        if out.shape == self.shape { return self }
        return record("reshape", out, self) { g, x, _ in [try g.reshaped(x[0].shape)] }
    }
}

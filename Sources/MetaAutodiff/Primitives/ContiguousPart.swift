import MetaTensor

// Taking apart a primitive's packed results. The tape records one output per
// node, so a fused kernel with several results (the recurrent cells' (h', c'),
// a backward pass's cotangents for several inputs) returns them packed in one
// buffer, and each result is a part of it: a view, without a copy. The part's
// VJP is zero padding back to the whole (the adjoint of taking a part); the
// cotangents of several parts meet in the tape's sum.

extension Variable {
    /// `shape`'s worth of elements from `offset` of the row-major elements,
    /// viewed without a copy. VJP: the cotangent, zero-padded to the whole.
    public func contiguousPart(offset: Int, shape: [Int]) throws -> Variable {
        let out = try value.contiguousPart(offset: offset, shape: shape)
        let whole = self.shape, total = count, n = out.count
        if n == total { return try reshaped(shape) }
        return record("part", out, self) { g, _, _ in
            [try g.reshaped([n]).padded(before: [offset], after: [total - offset - n]).reshaped(whole)]
        }
    }
}

extension Variable {
    /// The VJP of a backward primitive, B(g, x…) = J_F(x)ᵀ g, from the
    /// composite formulation F of its forward: the tape differentiates F once
    /// with `g` as the seed (building a graph), then once more with seed `v`.
    /// This is the slow path for orders above the first through a fused op.
    ///
    /// The inputs are first wrapped in fresh nodes (identities of tracked
    /// inputs, leaves of constants), so the result holds *partial* derivatives
    /// even when g itself depends on x (it usually does: g comes from the loss
    /// downstream of F), while tracked inputs stay connected to the enclosing
    /// graph for the next order.
    static func backwardPrimitiveVJP(_ v: Variable, _ inputs: [Variable],
                                     forward: ([Variable]) throws -> Variable,
                                     pack: ([Variable]) throws -> Variable) throws -> [Variable?] {
        let fresh = inputs.map { x -> Variable in
            x.isTracked ? record("partial", x.value, x) { g, _, _ in [g] } : Variable(x.value, node: .leaf(x.value))
        }
        let primal = Array(fresh.dropFirst())
        let y = try forward(primal)
        let grads = try Autodiff.gradients(of: y, withRespectTo: primal, seed: fresh[0], createGraph: true)
        let b = try pack(grads)
        let out = try Autodiff.gradients(of: b, withRespectTo: fresh, seed: v,
                                         createGraph: inputs.contains { $0.isTracked })
        return zip(out, inputs).map { $1.needsGradient ? $0 : nil }
    }
}

import MetaTensor

// The LSTM and GRU cells' pointwise arithmetic as fused primitives, each with
// its backward pass as a second primitive (one kernel pass each way; the
// forward keeps its activations in the VJP's closure for the backward to read,
// as `ChannelStats` serves batch norm, so no transcendental is computed twice). The
// forward's VJP is the backward primitive, so first-order gradients run on
// kernels; the backward primitive's own VJP differentiates the composite
// formulation (`lstmCellComposite`, `gruCellComposite`) twice on the tape,
// so gradients of gradients are exact at every order, on the slow path.
//
// Several results travel packed in one buffer and are taken apart as views
// (`contiguousPart`): the tape records one output per node.

extension Variable {
    /// The LSTM cell's gate arithmetic, gates i, f, g, o (PyTorch's order),
    /// given the pre-activations z = x·Wx + h·Wh + b, (N, 4H), and c, (N, H):
    ///
    ///     c' = σ(z_f) ⊙ c + σ(z_i) ⊙ tanh(z_g),   h' = σ(z_o) ⊙ tanh(c')
    ///
    /// The same values as `lstmCellComposite`, bit for bit, in one pass; its
    /// VJP is one pass too (`lstmCellBackward`).
    public static func lstmCell(gates z: Variable, cell c: Variable) throws -> (h: Variable, c: Variable) {
        let (packed, activations) = try Tensor.lstmCellForward(gates: z.value, cell: c.value)
        let n = c.shape[0], h = c.shape[1]
        let both = record("lstmCell", packed, z, c) { g, ins, _ in
            let d = try lstmCellBackward(g, gates: ins[0], cell: ins[1], activations: activations)
            return [ins[0].needsGradient ? try d.contiguousPart(offset: 0, shape: [n, 4 * h]) : nil,
                    ins[1].needsGradient ? try d.contiguousPart(offset: 4 * n * h, shape: [n, h]) : nil]
        }
        return (try both.contiguousPart(offset: 0, shape: [n, h]), try both.contiguousPart(offset: n * h, shape: [n, h]))
    }

    /// The cotangents of z and c (packed flat: (N, 4H) then (N, H)) given the
    /// cotangent `g` (2, N, H) of (h', c'). Linear in g. VJP: the composite
    /// cell differentiated twice.
    public static func lstmCellBackward(_ g: Variable, gates z: Variable, cell c: Variable) throws -> Variable {
        try lstmCellBackward(g, gates: z, cell: c, activations: Tensor.lstmCellForward(gates: z.value, cell: c.value).activations)
    }

    /// The same with the activations of z and c already known.
    static func lstmCellBackward(_ g: Variable, gates z: Variable, cell c: Variable, activations: Tensor) throws -> Variable {
        let d = try Tensor.lstmCellBackward(g.value, activations: activations, cell: c.value)
        return record("lstmCellBackward", d, [g, z, c]) { v, ins, _ in
            try backwardPrimitiveVJP(v, ins, forward: { x in
                let s = try lstmCellComposite(gates: x[0], cell: x[1])
                return try concat([s.h, s.c], axis: 0).reshaped([2] + s.h.shape)
            }, pack: { try concat($0.map { try $0.reshaped([-1]) }, axis: 0) })
        }
    }

    /// The GRU cell's gate arithmetic, gates r, z, n (PyTorch's order), given
    /// a = x·Wx + bx and b = h·Wh + bh, (N, 3H) each, and h, (N, H):
    ///
    ///     r = σ(a_r + b_r)   z = σ(a_z + b_z)   n = tanh(a_n + r ⊙ b_n)
    ///     h' = n + z ⊙ (h − n)
    ///
    /// The same values as `gruCellComposite`, bit for bit, in one pass; its
    /// VJP is one pass too (`gruCellBackward`).
    public static func gruCell(input a: Variable, hidden b: Variable, state h: Variable) throws -> Variable {
        let (out, activations) = try Tensor.gruCellForward(input: a.value, hidden: b.value, state: h.value)
        let n = h.shape[0], hs = h.shape[1]
        return record("gruCell", out, [a, b, h]) { g, ins, _ in
            let d = try gruCellBackward(g, input: ins[0], hidden: ins[1], state: ins[2], activations: activations)
            return [ins[0].needsGradient ? try d.contiguousPart(offset: 0, shape: [n, 3 * hs]) : nil,
                    ins[1].needsGradient ? try d.contiguousPart(offset: 3 * n * hs, shape: [n, 3 * hs]) : nil,
                    ins[2].needsGradient ? try d.contiguousPart(offset: 6 * n * hs, shape: [n, hs]) : nil]
        }
    }

    /// The cotangents of a, b and h (packed flat: (N, 3H), (N, 3H), (N, H))
    /// given the cotangent `g` (N, H) of h'. Linear in g. VJP: the composite
    /// cell differentiated twice.
    public static func gruCellBackward(_ g: Variable, input a: Variable, hidden b: Variable,
                                       state h: Variable) throws -> Variable {
        let activations = try Tensor.gruCellForward(input: a.value, hidden: b.value, state: h.value).activations
        return try gruCellBackward(g, input: a, hidden: b, state: h, activations: activations)
    }

    /// The same with the activations of a, b and h already known.
    static func gruCellBackward(_ g: Variable, input a: Variable, hidden b: Variable, state h: Variable,
                                activations: Tensor) throws -> Variable {
        let d = try Tensor.gruCellBackward(g.value, activations: activations, hidden: b.value, state: h.value)
        return record("gruCellBackward", d, [g, a, b, h]) { v, ins, _ in
            try backwardPrimitiveVJP(v, ins, forward: { x in
                try gruCellComposite(input: x[0], hidden: x[1], state: x[2])
            }, pack: { try concat($0.map { try $0.reshaped([-1]) }, axis: 0) })
        }
    }
}

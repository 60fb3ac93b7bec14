// The pointwise arithmetic of the LSTM and GRU cells, forward and backward,
// each in one pass over contiguous rows. The learned optimizer and the LSTM
// meta-learner run these cells coordinate-wise, with a batch of N = the
// model's parameter count (10⁵ and more) and H = 20: there the composite
// formulation (slices, sigmoid, tanh, products and sums as separate passes,
// forward and backward) spent its time in memory traffic and fresh buffers,
// not in the GEMMs.
//
// The forward formulas are the composite ones operation for operation
// (`VectorMath.sigmoid` and `VectorMath.tanh`, which `map` calls too and
// whose results do not depend on where a value sits in a buffer; the same
// order of products and sums), so the values agree bit for bit. The forward
// pass also returns its activations (the gates, and tanh(c') for the LSTM)
// for the backward pass to read: recomputing them made the fused step up to
// 2x slower than the composite one (measured when the cells called Glibc's
// tanhf and expf, which took ~70% of a fused LSTM step's cycles under perf).
//
// Several results come back packed in one buffer (see `contiguousPart` for
// taking them apart without copies): one allocation, one pass.

extension Tensor {
    static func checkCell(_ op: String, _ t: Tensor, _ name: String, _ shape: [Int]) throws {
        guard t.shape == shape else {
            throw MetaError.shape("\(op): \(name) must have shape \(shape), got \(t.shape)")
        }
    }

    /// The LSTM cell's gate arithmetic (gates i, f, g, o, as PyTorch), given
    /// the pre-activations z = x·Wx + h·Wh + b, (N, 4H), and the cell c, (N, H):
    ///
    ///     c' = σ(z_f) ⊙ c + σ(z_i) ⊙ tanh(z_g),   h' = σ(z_o) ⊙ tanh(c')
    ///
    /// Returns (2, N, H), h' then c', and the activations (N, 5H), each row
    /// i, f, g, o, tanh(c'), for `lstmCellBackward`.
    public static func lstmCellForward(gates z: Tensor, cell c: Tensor) throws -> (out: Tensor, activations: Tensor) {
        guard z.rank == 2, z.shape[1] % 4 == 0, z.shape[1] > 0 else {
            throw MetaError.shape("lstmCell: gates must have shape (N, 4H), got \(z.shape)")
        }
        let n = z.shape[0], h = z.shape[1] / 4
        try checkCell("lstmCell", c, "the cell state", [n, h])
        let acts = try Storage(uninitializedCount: n &* 5 &* h)
        let out = try make(shape: [2, n, h]) { out, _ in
            let zp = z.storage.base, cp = c.storage.base, ap = acts.base
            let hp = out, cn = out + n &* h
            for r in 0..<n {
                let zr = zp + r &* 4 &* h, ar = ap + r &* 5 &* h, o = r &* h
                // Each function in its own pass over the row: vectorised, and
                // with no chain per element (gates → c' → tanh c') to wait on.
                VectorMath.sigmoid(zr, ar, count: 2 &* h)
                VectorMath.tanh(zr + 2 &* h, ar + 2 &* h, count: h)
                VectorMath.sigmoid(zr + 3 &* h, ar + 3 &* h, count: h)
                for j in 0..<h {
                    let kept = ar[h &+ j] * cp[o &+ j], written = ar[j] * ar[2 &* h &+ j]
                    cn[o &+ j] = kept + written
                }
                VectorMath.tanh(cn + o, ar + 4 &* h, count: h)
                for j in 0..<h { hp[o &+ j] = ar[3 &* h &+ j] * ar[4 &* h &+ j] }
            }
        }
        return (out, Tensor(unchecked: acts, shape: [n, 5 &* h], count: n &* 5 &* h))
    }

    /// The LSTM cell's VJP: given the cotangent (2, N, H) of (h', c'), the
    /// activations of `lstmCellForward` and the cell c, returns ∂z (N, 4H)
    /// then ∂c (N, H), packed flat (5·N·H). With t = tanh(c') and
    /// ĝc = gc + gh ⊙ o ⊙ (1 − t²):
    ///
    ///     ∂z_i = ĝc ⊙ g ⊙ i(1 − i)   ∂z_f = ĝc ⊙ c ⊙ f(1 − f)
    ///     ∂z_g = ĝc ⊙ i ⊙ (1 − g²)   ∂z_o = gh ⊙ t ⊙ o(1 − o)     ∂c = ĝc ⊙ f
    public static func lstmCellBackward(_ cotangent: Tensor, activations: Tensor, cell c: Tensor) throws -> Tensor {
        guard c.rank == 2, c.shape[1] > 0 else {
            throw MetaError.shape("lstmCellBackward: the cell state must have shape (N, H), got \(c.shape)")
        }
        let n = c.shape[0], h = c.shape[1], nh = n &* h
        try checkCell("lstmCellBackward", activations, "the activations", [n, 5 &* h])
        try checkCell("lstmCellBackward", cotangent, "the cotangent", [2, n, h])
        return try make(shape: [5 &* nh]) { out, _ in
            let ap = activations.storage.base, cp = c.storage.base
            let gh = cotangent.storage.base, gc = gh + nh
            let dc = out + 4 &* nh
            for r in 0..<n {
                let ar = ap + r &* 5 &* h, dz = out + r &* 4 &* h, o = r &* h
                for j in 0..<h {
                    let i = ar[j], f = ar[h &+ j], g = ar[2 &* h &+ j], og = ar[3 &* h &+ j], t = ar[4 &* h &+ j]
                    let cOld = cp[o &+ j]
                    let ghj = gh[o &+ j]
                    let gcell = gc[o &+ j] + ghj * og * (1 - t * t)
                    dz[j] = gcell * g * (i * (1 - i))
                    dz[h &+ j] = gcell * cOld * (f * (1 - f))
                    dz[2 &* h &+ j] = gcell * i * (1 - g * g)
                    dz[3 &* h &+ j] = ghj * t * (og * (1 - og))
                    dc[o &+ j] = gcell * f
                }
            }
        }
    }

    /// The GRU cell's gate arithmetic (gates r, z, n, as PyTorch), given
    /// a = x·Wx + bx and b = h·Wh + bh, (N, 3H) each, and h, (N, H):
    ///
    ///     r = σ(a_r + b_r)   z = σ(a_z + b_z)   n = tanh(a_n + r ⊙ b_n)
    ///     h' = n + z ⊙ (h − n)                                   (N, H)
    ///
    /// Returns h' and the activations (N, 3H), each row r, z, n, for
    /// `gruCellBackward`.
    public static func gruCellForward(input a: Tensor, hidden b: Tensor, state hs: Tensor) throws
        -> (out: Tensor, activations: Tensor) {
        guard a.rank == 2, a.shape[1] % 3 == 0, a.shape[1] > 0 else {
            throw MetaError.shape("gruCell: the input projection must have shape (N, 3H), got \(a.shape)")
        }
        let n = a.shape[0], h = a.shape[1] / 3
        try checkCell("gruCell", b, "the hidden projection", a.shape)
        try checkCell("gruCell", hs, "the state", [n, h])
        let acts = try Storage(uninitializedCount: n &* 3 &* h)
        let out = try make(shape: [n, h]) { out, _ in
            let ap = a.storage.base, bp = b.storage.base, hp = hs.storage.base, sp = acts.base
            for r in 0..<n {
                let ar = ap + r &* 3 &* h, br = bp + r &* 3 &* h, sr = sp + r &* 3 &* h, o = r &* h
                // The pre-activations first, then each function in one pass over
                // them in place, as in the LSTM's forward.
                for j in 0..<(2 &* h) { sr[j] = ar[j] + br[j] }
                VectorMath.sigmoid(sr, sr, count: 2 &* h)
                for j in 0..<h {
                    let gated = sr[j] * br[2 &* h &+ j]
                    sr[2 &* h &+ j] = ar[2 &* h &+ j] + gated
                }
                VectorMath.tanh(sr + 2 &* h, sr + 2 &* h, count: h)
                for j in 0..<h {
                    let cand = sr[2 &* h &+ j]
                    let step = sr[h &+ j] * (hp[o &+ j] - cand)
                    out[o &+ j] = cand + step
                }
            }
        }
        return (out, Tensor(unchecked: acts, shape: [n, 3 &* h], count: n &* 3 &* h))
    }

    /// The GRU cell's VJP: given the cotangent (N, H) of h', the
    /// activations of `gruCellForward`, b and h, returns ∂a (N, 3H), ∂b
    /// (N, 3H), then ∂h (N, H), packed flat (7·N·H). With
    /// ĝn = g ⊙ (1 − z) ⊙ (1 − n²):
    ///
    ///     ∂a_r = ∂b_r = g_r ⊙ r(1 − r),  g_r = ĝn ⊙ b_n
    ///     ∂a_z = ∂b_z = g ⊙ (h − n) ⊙ z(1 − z)
    ///     ∂a_n = ĝn   ∂b_n = ĝn ⊙ r   ∂h = g ⊙ z
    public static func gruCellBackward(_ cotangent: Tensor, activations: Tensor, hidden b: Tensor,
                                       state hs: Tensor) throws -> Tensor {
        guard hs.rank == 2, hs.shape[1] > 0 else {
            throw MetaError.shape("gruCellBackward: the state must have shape (N, H), got \(hs.shape)")
        }
        let n = hs.shape[0], h = hs.shape[1], nh = n &* h
        try checkCell("gruCellBackward", b, "the hidden projection", [n, 3 &* h])
        try checkCell("gruCellBackward", activations, "the activations", [n, 3 &* h])
        try checkCell("gruCellBackward", cotangent, "the cotangent", [n, h])
        return try make(shape: [7 &* nh]) { out, _ in
            let sp = activations.storage.base, bp = b.storage.base, hp = hs.storage.base, gp = cotangent.storage.base
            let dh = out + 6 &* nh
            for r in 0..<n {
                let sr = sp + r &* 3 &* h, br = bp + r &* 3 &* h, o = r &* h
                let da = out + r &* 3 &* h, db = out + (3 &* nh &+ r &* 3 &* h)
                for j in 0..<h {
                    let reset = sr[j], update = sr[h &+ j], cand = sr[2 &* h &+ j]
                    let bn = br[2 &* h &+ j]
                    let g = gp[o &+ j]
                    let gn = g * (1 - update) * (1 - cand * cand)
                    let gr = gn * bn * (reset * (1 - reset))
                    let gz = g * (hp[o &+ j] - cand) * (update * (1 - update))
                    da[j] = gr; db[j] = gr
                    da[h &+ j] = gz; db[h &+ j] = gz
                    da[2 &* h &+ j] = gn; db[2 &* h &+ j] = gn * reset
                    dh[o &+ j] = g * update
                }
            }
        }
    }

    /// `shape`'s worth of elements from `offset` of this tensor's row-major
    /// elements, sharing its storage (no copy): how packed results are taken
    /// apart. The view keeps the whole buffer alive. Safe because tensors are
    /// never written after the kernel that made them returns.
    public func contiguousPart(offset: Int, shape: [Int]) throws -> Tensor {
        let n = try ShapeMath.count(shape, name: "contiguousPart shape")
        guard offset >= 0, offset <= count, n <= count - offset else {
            throw MetaError.index("contiguousPart: \(n) elements from \(offset) fall outside \(count) (shape \(self.shape))")
        }
        if offset == 0 && n == count { return try reshaped(shape) }
        let whole = storage
        let view = Storage(borrowing: whole.base + offset, count: n) { withExtendedLifetime(whole) {} }
        return Tensor(unchecked: view, shape: shape, count: n)
    }
}

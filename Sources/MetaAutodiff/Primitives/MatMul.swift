import MetaTensor

extension Variable {
    /// Matrix product with transposes as flags; batched as `Tensor.matmul`.
    ///
    /// With C = op(A)·op(B) and cotangent G, each adjoint is again one matmul
    /// with flags: e.g. for C = A·B, dA = G·Bᵀ and dB = Aᵀ·G. When one side is
    /// shared across a batch its cotangent is summed over the batch.
    public static func matmul(_ a: Variable, _ b: Variable, transposeA: Bool = false, transposeB: Bool = false) throws -> Variable {
        let out = try Tensor.matmul(a.value, b.value, transposeA: transposeA, transposeB: transposeB)
        return record("matmul", out, a, b) { g, x, _ in
            let (a, b) = (x[0], x[1])
            let da: Variable, db: Variable
            switch (transposeA, transposeB) {
            case (false, false):
                da = try matmul(g, b, transposeB: true); db = try matmul(a, g, transposeA: true)
            case (true, false):
                da = try matmul(b, g, transposeB: true); db = try matmul(a, g)
            case (false, true):
                da = try matmul(g, b); db = try matmul(g, a, transposeA: true)
            case (true, true):
                da = try matmul(b, g, transposeA: true, transposeB: true)
                db = try matmul(g, a, transposeA: true, transposeB: true)
            }
            return [try da.sum(to: a.shape), try db.sum(to: b.shape)]
        }
    }
}

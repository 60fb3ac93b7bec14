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
            // Only the cotangents the differentiation asks for are computed.
            var da: Variable? = nil, db: Variable? = nil
            switch (transposeA, transposeB) {
            case (false, false):
                if a.needsGradient { da = try matmul(g, b, transposeB: true) }
                if b.needsGradient { db = try matmul(a, g, transposeA: true) }
            case (true, false):
                if a.needsGradient { da = try matmul(b, g, transposeB: true) }
                if b.needsGradient { db = try matmul(a, g) }
            case (false, true):
                if a.needsGradient { da = try matmul(g, b) }
                if b.needsGradient { db = try matmul(g, a, transposeA: true) }
            case (true, true):
                if a.needsGradient { da = try matmul(b, g, transposeA: true, transposeB: true) }
                if b.needsGradient { db = try matmul(g, a, transposeA: true, transposeB: true) }
            }
            return [try da?.sum(to: a.shape), try db?.sum(to: b.shape)]
        }
    }
}

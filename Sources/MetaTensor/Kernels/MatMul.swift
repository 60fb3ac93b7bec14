import COpenBLAS

extension Tensor {
    /// Matrix product through `cblas_sgemm`, with transposes as flags (no copies).
    ///
    /// `a` is (..., m, k), or (..., k, m) when `transposeA`; `b` is (..., k, n), or
    /// (..., n, k) when `transposeB`. Leading batch dimensions must be equal, or
    /// one side may be a plain matrix that every batch shares. The result is
    /// (batch..., m, n).
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) throws -> Tensor {
        guard a.rank >= 2, b.rank >= 2 else {
            throw MetaError.shape("matmul: operands need rank >= 2, got \(a.shape) and \(b.shape)")
        }
        let m = transposeA ? a.shape[a.rank - 1] : a.shape[a.rank - 2]
        let ka = transposeA ? a.shape[a.rank - 2] : a.shape[a.rank - 1]
        let kb = transposeB ? b.shape[b.rank - 1] : b.shape[b.rank - 2]
        let n = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
        guard ka == kb else {
            throw MetaError.shape("matmul: inner sizes differ: \(a.shape)\(transposeA ? "ᵀ" : "") × \(b.shape)\(transposeB ? "ᵀ" : "")")
        }
        let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
        let batch: [Int]
        if batchA == batchB || batchB.isEmpty { batch = batchA } else if batchA.isEmpty { batch = batchB } else {
            throw MetaError.shape("matmul: batch dimensions differ: \(a.shape) and \(b.shape)")
        }
        let limit = Int(Int32.max)
        guard m <= limit, n <= limit, ka <= limit else { throw MetaError.argument("matmul: dimension too large for BLAS") }
        let nb = try ShapeMath.count(batch)
        // Both kernels below overwrite every element (BLAS with beta = 0 does
        // not read C); only an empty inner dimension leaves zeros to write.
        let out = try Tensor.make(shape: batch + [m, n]) { p, c in if ka == 0 && c > 0 { p.update(repeating: 0, count: c) } }
        if m == 0 || n == 0 || nb == 0 { return out }
        if ka == 0 { return out }
        let strideA = batchA.isEmpty ? 0 : m * ka, strideB = batchB.isEmpty ? 0 : ka * n
        let lda = Int32(transposeA ? m : ka), ldb = Int32(transposeB ? ka : n)
        let ta = transposeA ? CblasTrans : CblasNoTrans, tb = transposeB ? CblasTrans : CblasNoTrans
        if m &* n &* ka <= smallGEMMLimit {
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: transposeB ? ka * n : 1)
            defer { scratch.deallocate() }
            for i in 0..<nb {
                smallGEMM(a.storage.base + i * strideA, b.storage.base + i * strideB, out.storage.base + i * m * n,
                          m: m, n: n, k: ka, transposeA: transposeA, transposeB: transposeB, scratch: scratch)
            }
            return out
        }
        // A batch against one shared right matrix is a single tall GEMM.
        if !transposeA, !batchA.isEmpty, batchB.isEmpty, nb * m <= limit {
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(nb * m), Int32(n), Int32(ka), 1,
                        a.storage.base, lda, b.storage.base, ldb, 0, out.storage.base, Int32(n))
            return out
        }
        for i in 0..<nb {
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(ka), 1,
                        a.storage.base + i * strideA, lda, b.storage.base + i * strideB, ldb,
                        0, out.storage.base + i * m * n, Int32(n))
        }
        return out
    }
}

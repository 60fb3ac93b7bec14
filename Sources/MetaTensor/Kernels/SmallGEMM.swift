/// C = op(A)·op(B) for small matrices, without BLAS.
///
/// Meta-learning on small networks multiplies thousands of tiny matrices
/// (10×40 by 40×40) per meta-step. For those, a BLAS call costs more in
/// dispatch than in arithmetic, and OpenBLAS's pthread build takes a global
/// lock around its work buffers, so two threads calling it at once queue up.
/// This kernel runs in the caller's thread with no shared state. Every case
/// is brought to the row-axpy form C[i, :] += A(i, p)·B'[p, :] with B' row-major
/// (k × n), so the innermost loop is a contiguous, vectorisable pass over n.
@usableFromInline
func smallGEMM(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
               m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, scratch: UnsafeMutablePointer<Float>) {
    // B' = B, or Bᵀ copied into scratch (k × n).
    let bp: UnsafePointer<Float>
    if transposeB {
        for p in 0..<k { for j in 0..<n { scratch[p &* n &+ j] = b[j &* k &+ p] } }
        bp = UnsafePointer(scratch)
    } else {
        bp = b
    }
    // A(i, p) for either layout: row-major (m × k), or its transpose stored (k × m).
    let (ars, acs) = transposeA ? (1, m) : (k, 1)
    // Four rows of C and an 8-wide block of columns are accumulated in SIMD
    // registers across all of k, so each load of B' serves four rows; then
    // stored once. Leftover rows and columns take the narrower paths below.
    let blocks = n / 8
    var i = 0
    while i &+ 4 <= m {
        let a0 = a + i &* ars, a1 = a0 + ars, a2 = a1 + ars, a3 = a2 + ars
        for blk in 0..<blocks {
            let j = blk &* 8
            var c0 = SIMD8<Float>(repeating: 0), c1 = c0, c2 = c0, c3 = c0
            for p in 0..<k {
                let bv = UnsafeRawPointer(bp + (p &* n &+ j)).loadUnaligned(as: SIMD8<Float>.self)
                let o = p &* acs
                c0 = multiplyAdd(c0, SIMD8(repeating: a0[o]), bv)
                c1 = multiplyAdd(c1, SIMD8(repeating: a1[o]), bv)
                c2 = multiplyAdd(c2, SIMD8(repeating: a2[o]), bv)
                c3 = multiplyAdd(c3, SIMD8(repeating: a3[o]), bv)
            }
            UnsafeMutableRawPointer(c + (i &* n &+ j)).storeBytes(of: c0, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(c + ((i &+ 1) &* n &+ j)).storeBytes(of: c1, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(c + ((i &+ 2) &* n &+ j)).storeBytes(of: c2, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(c + ((i &+ 3) &* n &+ j)).storeBytes(of: c3, as: SIMD8<Float>.self)
        }
        i &+= 4
    }
    // Remaining rows, 8-wide blocks.
    for r in i..<m {
        let ar = a + r &* ars
        for blk in 0..<blocks {
            let j = blk &* 8
            var acc = SIMD8<Float>(repeating: 0)
            for p in 0..<k {
                acc = multiplyAdd(acc, SIMD8(repeating: ar[p &* acs]), UnsafeRawPointer(bp + (p &* n &+ j)).loadUnaligned(as: SIMD8<Float>.self))
            }
            UnsafeMutableRawPointer(c + (r &* n &+ j)).storeBytes(of: acc, as: SIMD8<Float>.self)
        }
    }
    // Remaining columns (all of them when n < 8), one at a time.
    if blocks &* 8 < n {
        for r in 0..<m {
            let ar = a + r &* ars
            for j in (blocks &* 8)..<n {
                var acc: Float = 0
                for p in 0..<k { acc += ar[p &* acs] * bp[p &* n &+ j] }
                c[r &* n &+ j] = acc
            }
        }
    }
}

/// acc + a·b, fused into one FMA instruction when the build targets a CPU that
/// has it; otherwise a multiply and an add (a software fma would be far slower).
@inline(__always)
func multiplyAdd(_ acc: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    #if METASWIFT_FMA
    return acc.addingProduct(a, b)
    #else
    return acc + a * b
    #endif
}

/// Below this many multiply-adds a product is done by `smallGEMM`.
@usableFromInline let smallGEMMLimit = 48 * 48 * 48

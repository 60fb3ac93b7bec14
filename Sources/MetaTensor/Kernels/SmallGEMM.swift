/// C = op(A)·op(B) for small matrices, without BLAS.
///
/// Meta-learning on small networks multiplies thousands of tiny matrices
/// (10×40 by 40×40) per meta-step. For those, a BLAS call costs more in
/// dispatch than in arithmetic, and OpenBLAS's pthread build takes a global
/// lock around its work buffers, so two threads calling it at once queue up.
/// This kernel runs in the caller's thread with no shared state.
///
/// Two forms, both with 8-wide SIMD accumulators kept in registers across k:
/// - row-axpy, C[i, j..j+8] += A(i, p)·B'[p, j..j+8] with B' row-major (k × n),
///   for op(B) = B, and for Bᵀ when A is transposed too (Bᵀ copied to scratch);
/// - dot products, C[i, j] = Σ_p A[i, p]·B[j, p], for op(B) = Bᵀ with A plain:
///   both rows are contiguous in p, so nothing is transposed.
@usableFromInline
func smallGEMM(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
               m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, scratch: UnsafeMutablePointer<Float>) {
    if transposeB && !transposeA && k >= 8 {
        dotGEMM(a, b, c, m: m, n: n, k: k)
        return
    }
    let bp: UnsafePointer<Float>
    if transposeB {
        for p in 0..<k { for j in 0..<n { scratch[p &* n &+ j] = b[j &* k &+ p] } }
        bp = UnsafePointer(scratch)
    } else {
        bp = b
    }
    // A(i, p) for either layout: row-major (m × k), or its transpose stored (k × m).
    let (ars, acs) = transposeA ? (1, m) : (k, 1)
    if n == 1 {
        if transposeA {
            // c = Aᵀ·b with A stored (k × m): c += b[p]·(row p of A), contiguous in m.
            columnAxpy(a, bp, c, m: m, k: k)
        } else {
            // A column vector B: each output is a contiguous dot product.
            dotRows(a, bp, c, m: m, k: k)
        }
        return
    }
    axpyGEMM(a, ars: ars, acs: acs, bp, c, m: m, n: n, k: k)
}

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Row-axpy form. Rows of C in blocks of 4, then 2, then 1; columns in
/// 8-wide blocks, then one at a time.
@inline(__always)
func axpyGEMM(_ a: UnsafePointer<Float>, ars: Int, acs: Int, _ bp: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
              m: Int, n: Int, k: Int) {
    let blocks = n / 8
    var i = 0
    while i &+ 4 <= m {
        let a0 = a + i &* ars, a1 = a0 + ars, a2 = a1 + ars, a3 = a2 + ars
        for blk in 0..<blocks {
            let j = blk &* 8
            var c0 = SIMD8<Float>(repeating: 0), c1 = c0, c2 = c0, c3 = c0
            for p in 0..<k {
                let bv = load8(bp + (p &* n &+ j))
                let o = p &* acs
                c0 = multiplyAdd(c0, SIMD8(repeating: a0[o]), bv)
                c1 = multiplyAdd(c1, SIMD8(repeating: a1[o]), bv)
                c2 = multiplyAdd(c2, SIMD8(repeating: a2[o]), bv)
                c3 = multiplyAdd(c3, SIMD8(repeating: a3[o]), bv)
            }
            store8(c0, c + (i &* n &+ j)); store8(c1, c + ((i &+ 1) &* n &+ j))
            store8(c2, c + ((i &+ 2) &* n &+ j)); store8(c3, c + ((i &+ 3) &* n &+ j))
        }
        i &+= 4
    }
    if i &+ 2 <= m {
        let a0 = a + i &* ars, a1 = a0 + ars
        for blk in 0..<blocks {
            let j = blk &* 8
            var c0 = SIMD8<Float>(repeating: 0), c1 = c0
            for p in 0..<k {
                let bv = load8(bp + (p &* n &+ j))
                let o = p &* acs
                c0 = multiplyAdd(c0, SIMD8(repeating: a0[o]), bv)
                c1 = multiplyAdd(c1, SIMD8(repeating: a1[o]), bv)
            }
            store8(c0, c + (i &* n &+ j)); store8(c1, c + ((i &+ 1) &* n &+ j))
        }
        i &+= 2
    }
    if i < m {
        let a0 = a + i &* ars
        for blk in 0..<blocks {
            let j = blk &* 8
            var c0 = SIMD8<Float>(repeating: 0)
            for p in 0..<k { c0 = multiplyAdd(c0, SIMD8(repeating: a0[p &* acs]), load8(bp + (p &* n &+ j))) }
            store8(c0, c + (i &* n &+ j))
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

/// c[i] = Σ_p a[i, p]·b[p] for row-major a (m × k): one contiguous dot per row.
@inline(__always)
func dotRows(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, m: Int, k: Int) {
    for i in 0..<m { c[i] = dot(a + i &* k, b, k) }
}

/// c = Σ_p b[p]·a[p, :] for a stored (k × m).
@inline(__always)
func columnAxpy(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, m: Int, k: Int) {
    for i in 0..<m { c[i] = 0 }
    let m8 = m & ~7
    for p in 0..<k {
        let row = a + p &* m, bv = b[p]
        var i = 0
        while i < m8 { store8(multiplyAdd(load8(c + i), SIMD8(repeating: bv), load8(row + i)), c + i); i &+= 8 }
        while i < m { c[i] += bv * row[i]; i &+= 1 }
    }
}

/// Σ_p x[p]·y[p] with an 8-wide accumulator, then the tail.
@inline(__always)
func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ k: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var p = 0
    while p &+ 8 <= k { acc = multiplyAdd(acc, load8(x + p), load8(y + p)); p &+= 8 }
    var s = acc.sum()
    while p < k { s += x[p] * y[p]; p &+= 1 }
    return s
}

/// C = A·Bᵀ with A (m × k) and B (n × k) row-major: C[i, j] is the dot product
/// of row i of A with row j of B. Two rows of each at a time share their loads.
@inline(__always)
func dotGEMM(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int) {
    let k8 = k & ~7
    var i = 0
    while i &+ 2 <= m {
        let a0 = a + i &* k, a1 = a0 + k
        var j = 0
        while j &+ 2 <= n {
            let b0 = b + j &* k, b1 = b0 + k
            var s00 = SIMD8<Float>(repeating: 0), s01 = s00, s10 = s00, s11 = s00
            var p = 0
            while p < k8 {
                let x0 = load8(a0 + p), x1 = load8(a1 + p), y0 = load8(b0 + p), y1 = load8(b1 + p)
                s00 = multiplyAdd(s00, x0, y0); s01 = multiplyAdd(s01, x0, y1)
                s10 = multiplyAdd(s10, x1, y0); s11 = multiplyAdd(s11, x1, y1)
                p &+= 8
            }
            var t00 = s00.sum(), t01 = s01.sum(), t10 = s10.sum(), t11 = s11.sum()
            while p < k {
                t00 += a0[p] * b0[p]; t01 += a0[p] * b1[p]; t10 += a1[p] * b0[p]; t11 += a1[p] * b1[p]
                p &+= 1
            }
            c[i &* n &+ j] = t00; c[i &* n &+ j &+ 1] = t01
            c[(i &+ 1) &* n &+ j] = t10; c[(i &+ 1) &* n &+ j &+ 1] = t11
            j &+= 2
        }
        if j < n {
            c[i &* n &+ j] = dot(a0, b + j &* k, k)
            c[(i &+ 1) &* n &+ j] = dot(a1, b + j &* k, k)
        }
        i &+= 2
    }
    if i < m {
        for j in 0..<n { c[i &* n &+ j] = dot(a + i &* k, b + j &* k, k) }
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

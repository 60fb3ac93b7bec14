/// Convolutions of single-channel images (Conv4's first layer on Omniglot),
/// computed directly instead of as im2col + GEMM: with C = 1 the product's
/// inner dimension is only KH·KW (9), where BLAS runs at a quarter of its
/// speed and the unfolded columns cost as much to write as to multiply.
/// Each output row is accumulated in registers, eight filters to a SIMD
/// lane group, over the taps that fall inside the image.
///
/// `wT` is the filter bank transposed to (KH·KW, F): the F weights of one tap
/// are contiguous, so one broadcast input value scales them all.
extension ConvNHWCGeometry {
    /// y rows (image, oh, ow) of images `images` += Σ_taps x · wT[tap]; `out`
    /// holds the bias (or zeros) on entry.
    func singleChannelForward(_ x: UnsafePointer<Float>, images: Range<Int>, wT: UnsafePointer<Float>, filters f: Int,
                              into out: UnsafeMutablePointer<Float>) {
        let plane = h &* w, taps = kh &* kw
        withUnsafeTemporaryAllocation(of: Float.self, capacity: taps) { values in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: taps) { index in
                var row = out
                for img in images {
                    let src = x + img &* plane
                    for r in 0..<oh {
                        for o in 0..<ow {
                            var n = 0
                            for i in 0..<kh {
                                let ih = r &* sh &- ph &+ i
                                if ih < 0 || ih >= h { continue }
                                for j in 0..<kw {
                                    let iw = o &* sw &- pw &+ j
                                    if iw < 0 || iw >= w { continue }
                                    values[n] = src[ih &* w &+ iw]
                                    index[n] = (i &* kw &+ j) &* f
                                    n &+= 1
                                }
                            }
                            accumulateTaps(row, f, values.baseAddress!, index.baseAddress!, n, wT)
                            row += f
                        }
                    }
                }
            }
        }
    }

    /// dwT (KH·KW, F) += Σ over the output rows of images `images` of
    /// x(tap) · g(row): one output row of one image at a time, its cotangent
    /// rows (OW·F floats) staying in cache across the taps.
    func singleChannelWeightGradient(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, images: Range<Int>,
                                     filters f: Int, into dwT: UnsafeMutablePointer<Float>) {
        let plane = h &* w
        for img in images {
            let src = x + img &* plane
            for r in 0..<oh {
                let gRow = g + (img &* oh &+ r) &* ow &* f
                for i in 0..<kh {
                    let ih = r &* sh &- ph &+ i
                    if ih < 0 || ih >= h { continue }
                    let line = src + ih &* w
                    for j in 0..<kw {
                        // Output columns o whose input column o·sw − pw + j is inside [0, w).
                        let first = j >= pw ? 0 : (pw &- j &+ sw &- 1) / sw
                        let limit = w &+ pw &- j  // o·sw < limit
                        let end = limit <= 0 ? 0 : Swift.min(ow, (limit &+ sw &- 1) / sw)
                        if first >= end { continue }
                        let base = line + (j &- pw)
                        tapGradient(dwT + (i &* kw &+ j) &* f, f, gRow, { base[$0 &* sw] }, first..<end)
                    }
                }
            }
        }
    }
}

/// row[0..<f] += Σ_t values[t] · wT[index[t] ..< index[t] + f].
@inline(__always)
private func accumulateTaps(_ row: UnsafeMutablePointer<Float>, _ f: Int, _ values: UnsafePointer<Float>,
                            _ index: UnsafePointer<Int>, _ n: Int, _ wT: UnsafePointer<Float>) {
    var b = 0
    while b &+ 64 <= f {
        let p = row + b
        var a0 = load8(p), a1 = load8(p + 8), a2 = load8(p + 16), a3 = load8(p + 24)
        var a4 = load8(p + 32), a5 = load8(p + 40), a6 = load8(p + 48), a7 = load8(p + 56)
        for t in 0..<n {
            let v = SIMD8<Float>(repeating: values[t]), q = wT + (index[t] &+ b)
            a0 = multiplyAdd(a0, v, load8(q)); a1 = multiplyAdd(a1, v, load8(q + 8))
            a2 = multiplyAdd(a2, v, load8(q + 16)); a3 = multiplyAdd(a3, v, load8(q + 24))
            a4 = multiplyAdd(a4, v, load8(q + 32)); a5 = multiplyAdd(a5, v, load8(q + 40))
            a6 = multiplyAdd(a6, v, load8(q + 48)); a7 = multiplyAdd(a7, v, load8(q + 56))
        }
        store8(a0, p); store8(a1, p + 8); store8(a2, p + 16); store8(a3, p + 24)
        store8(a4, p + 32); store8(a5, p + 40); store8(a6, p + 48); store8(a7, p + 56)
        b &+= 64
    }
    while b &+ 8 <= f {
        var a = load8(row + b)
        for t in 0..<n { a = multiplyAdd(a, SIMD8<Float>(repeating: values[t]), load8(wT + (index[t] &+ b))) }
        store8(a, row + b)
        b &+= 8
    }
    while b < f {
        var a = row[b]
        for t in 0..<n { a += values[t] * wT[index[t] &+ b] }
        row[b] = a
        b &+= 1
    }
}

/// d[0..<f] += Σ_{o in range} input(o) · g[o·f ..< o·f + f].
@inline(__always)
private func tapGradient(_ d: UnsafeMutablePointer<Float>, _ f: Int, _ g: UnsafePointer<Float>,
                         _ input: (Int) -> Float, _ range: Range<Int>) {
    var b = 0
    while b &+ 64 <= f {
        var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
        for o in range {
            let v = SIMD8<Float>(repeating: input(o)), q = g + (o &* f &+ b)
            a0 = multiplyAdd(a0, v, load8(q)); a1 = multiplyAdd(a1, v, load8(q + 8))
            a2 = multiplyAdd(a2, v, load8(q + 16)); a3 = multiplyAdd(a3, v, load8(q + 24))
            a4 = multiplyAdd(a4, v, load8(q + 32)); a5 = multiplyAdd(a5, v, load8(q + 40))
            a6 = multiplyAdd(a6, v, load8(q + 48)); a7 = multiplyAdd(a7, v, load8(q + 56))
        }
        let p = d + b
        store8(load8(p) + a0, p); store8(load8(p + 8) + a1, p + 8); store8(load8(p + 16) + a2, p + 16)
        store8(load8(p + 24) + a3, p + 24); store8(load8(p + 32) + a4, p + 32); store8(load8(p + 40) + a5, p + 40)
        store8(load8(p + 48) + a6, p + 48); store8(load8(p + 56) + a7, p + 56)
        b &+= 64
    }
    while b &+ 8 <= f {
        var a = SIMD8<Float>()
        for o in range { a = multiplyAdd(a, SIMD8<Float>(repeating: input(o)), load8(g + (o &* f &+ b))) }
        store8(load8(d + b) + a, d + b)
        b &+= 8
    }
    while b < f {
        var a: Float = 0
        for o in range { a += input(o) * g[o &* f &+ b] }
        d[b] += a
        b &+= 1
    }
}

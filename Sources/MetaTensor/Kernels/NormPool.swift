/// Batch norm, 2x2 max-pool and ReLU of a conv block in one pass forward and
/// two backward, channels-last, without the normalised activations ever being
/// stored: each kernel recomputes y = (x − μ)·a + β (a = γ·s) for the four
/// entries of a window from x, exactly as `channelNormalized` computes it, so
/// every kernel selects the same maxima.
///
///     forward:   z = relu(max over the window of y)
///     G = the cotangent g of z spread to the window maxima of y (ties share,
///         windows whose maximum is not positive pass nothing), 0 elsewhere
///     sums:      [Σ G·x̂ ; Σ G] per channel                    (dγ, dβ)
///     backward:  dx = γ·s·(G − mean(G) − x̂·mean(G·x̂))          (every position)
///
/// Against batch norm, pool and unpool apart this saves writing and reading y
/// (forward) and G (backward): 4.75 instead of 10.5 passes over a tensor of
/// the block's input size. Only for C a multiple of 8 (`supported`).
public enum NormPool {
    public static func supported(_ shape: [Int]) -> Bool {
        shape.count == 4 && shape[3] % 8 == 0 && shape[3] > 0 && shape[1] >= 2 && shape[2] >= 2
    }

    static func check(_ x: Tensor, _ tensors: [(String, Tensor)], _ op: String) throws {
        guard supported(x.shape) else {
            throw MetaError.shape("\(op): x must be NHWC with C a multiple of 8 and H, W >= 2, got \(x.shape)")
        }
        for (name, t) in tensors where t.shape != [x.shape[3]] {
            throw MetaError.shape("\(op): \(name) must have shape [\(x.shape[3])], got \(t.shape)")
        }
    }

    /// relu(maxpool2x2(γ·x̂ + β)): (N, H/2, W/2, C).
    public static func forward(_ x: Tensor, mean: Tensor, invStd: Tensor, gamma: Tensor, beta: Tensor) throws -> Tensor {
        try check(x, [("mean", mean), ("invStd", invStd), ("gamma", gamma), ("beta", beta)], "NormPool.forward")
        let geo = PoolGeometry(x.shape, 2)
        let z = try Tensor.make(shape: [geo.n, geo.oh, geo.ow, geo.c]) { _, _ in }
        let a = scales(gamma, invStd)
        let xp = x.storage.base, zp = z.storage.base, mp = mean.storage.base, bp = beta.storage.base
        try a.withUnsafeBufferPointer { ap in
            let ap = ap.baseAddress!
            try geo.pairs { ins, out in
                for j in stride(from: 0, to: geo.c, by: 8) {
                    let (m, b, s) = (load8(mp + j), load8(bp + j), load8(ap + j))
                    let y = max4(multiplyAdd(b, load8(xp + (ins.0 &+ j)) - m, s), multiplyAdd(b, load8(xp + (ins.1 &+ j)) - m, s),
                                 multiplyAdd(b, load8(xp + (ins.2 &+ j)) - m, s), multiplyAdd(b, load8(xp + (ins.3 &+ j)) - m, s))
                    store8(positivePart(y), zp + (out &+ j))
                }
            }
        }
        return z
    }

    /// [Σ G·x̂ ; Σ G] per channel, (2, C).
    public static func sums(_ g: Tensor, _ x: Tensor, mean: Tensor, invStd: Tensor, gamma: Tensor, beta: Tensor) throws -> Tensor {
        try check(x, [("mean", mean), ("invStd", invStd), ("gamma", gamma), ("beta", beta)], "NormPool.sums")
        let geo = PoolGeometry(x.shape, 2)
        guard g.shape == [geo.n, geo.oh, geo.ow, geo.c] else {
            throw MetaError.shape("NormPool.sums: g has shape \(g.shape), expected \([geo.n, geo.oh, geo.ow, geo.c])")
        }
        let c = geo.c
        let a = scales(gamma, invStd)
        let xp = x.storage.base, gp = g.storage.base, mp = mean.storage.base, bp = beta.storage.base, sp = invStd.storage.base
        let parts = Parts.count(units: geo.n, costPerUnit: geo.h &* geo.w &* c)
        let partials = try a.withUnsafeBufferPointer { ab -> [[Double]] in
            let ap = ab.baseAddress!
            return try Parts.run(parts) { p in
                var total = [Double](repeating: 0, count: 2 &* c)
                let acc = UnsafeMutablePointer<Float>.allocate(capacity: 2 &* c)
                defer { acc.deallocate() }
                for img in Parts.range(p, of: parts, units: geo.n) {
                    for i in 0..<geo.oh {
                        // One output row's windows in Float, then into Double.
                        zeroFloats(acc, 2 &* c)
                        geo.rowWindows(img, i) { ins, out in
                            for j in stride(from: 0, to: c, by: 8) {
                                let (m, b, s, sc) = (load8(mp + j), load8(bp + j), load8(ap + j), load8(sp + j))
                                let d0 = load8(xp + (ins.0 &+ j)) - m, d1 = load8(xp + (ins.1 &+ j)) - m
                                let d2 = load8(xp + (ins.2 &+ j)) - m, d3 = load8(xp + (ins.3 &+ j)) - m
                                let (h0, h1, h2, h3, share) = selection(multiplyAdd(b, d0, s), multiplyAdd(b, d1, s),
                                                                        multiplyAdd(b, d2, s), multiplyAdd(b, d3, s),
                                                                        load8(gp + (out &+ j)))
                                // Σ G·x̂ = share·s·Σ hits·(x − μ); Σ G = share·Σ hits.
                                var dsum = h0 * d0
                                dsum = multiplyAdd(dsum, h1, d1); dsum = multiplyAdd(dsum, h2, d2); dsum = multiplyAdd(dsum, h3, d3)
                                store8(multiplyAdd(load8(acc + j), share * sc, dsum), acc + j)
                                store8(multiplyAdd(load8(acc + (c &+ j)), share, h0 + h1 + h2 + h3), acc + (c &+ j))
                            }
                        }
                        for j in 0..<(2 &* c) { total[j] += Double(acc[j]) }
                    }
                }
                return total
            }
        }
        var total = partials[0]
        for q in partials.dropFirst() { for j in 0..<(2 &* c) { total[j] += q[j] } }
        return try Tensor.make(shape: [2, c]) { p, _ in for j in 0..<(2 &* c) { p[j] = Float(total[j]) } }
    }

    /// dx = γ·s·(G − mean(G) − x̂·mean(G·x̂)) at every position of x, given `sums`.
    public static func backward(_ g: Tensor, _ x: Tensor, mean: Tensor, invStd: Tensor, gamma: Tensor, beta: Tensor,
                                sums: Tensor) throws -> Tensor {
        try check(x, [("mean", mean), ("invStd", invStd), ("gamma", gamma), ("beta", beta)], "NormPool.backward")
        let geo = PoolGeometry(x.shape, 2)
        let c = geo.c
        guard g.shape == [geo.n, geo.oh, geo.ow, c], sums.shape == [2, c] else {
            throw MetaError.shape("NormPool.backward: g \(g.shape) or sums \(sums.shape) do not match x \(x.shape)")
        }
        let r = Float(geo.n &* geo.h &* geo.w)
        // dx = A·G + B·(x − μ) + D with k = γ·s: A = k, B = −k·s·mean(G·x̂), D = −k·mean(G).
        var a = scales(gamma, invStd), bb = a, d = a
        for j in 0..<c {
            let s = invStd.storage.base[j], k = a[j]
            bb[j] = -k * s * (sums.storage.base[j] / r)
            d[j] = -k * (sums.storage.base[c &+ j] / r)
        }
        let dx = try Tensor.make(shape: x.shape) { _, _ in }
        let xp = x.storage.base, gp = g.storage.base, mp = mean.storage.base, bp = beta.storage.base, dp = dx.storage.base
        try a.withUnsafeBufferPointer { ab in try bb.withUnsafeBufferPointer { bbb in try d.withUnsafeBufferPointer { db in
            let (ap, Bp, Dp) = (ab.baseAddress!, bbb.baseAddress!, db.baseAddress!)
            let parts = Parts.count(units: geo.n, costPerUnit: geo.h &* geo.w &* c)
            _ = try Parts.run(parts) { p in
                for img in Parts.range(p, of: parts, units: geo.n) {
                    // Positions no window covers (odd H or W) get G = 0.
                    for row in 0..<geo.h {
                        let first = row < 2 &* geo.oh ? 2 &* geo.ow : 0
                        for col in first..<geo.w {
                            let o = ((img &* geo.h &+ row) &* geo.w &+ col) &* c
                            for j in stride(from: 0, to: c, by: 8) {
                                store8(multiplyAdd(load8(Dp + j), load8(xp + (o &+ j)) - load8(mp + j), load8(Bp + j)), dp + (o &+ j))
                            }
                        }
                    }
                    for i in 0..<geo.oh {
                        geo.rowWindows(img, i) { ins, out in
                            for j in stride(from: 0, to: c, by: 8) {
                                let (m, b, s) = (load8(mp + j), load8(bp + j), load8(ap + j))
                                let (B, D) = (load8(Bp + j), load8(Dp + j))
                                let d0 = load8(xp + (ins.0 &+ j)) - m, d1 = load8(xp + (ins.1 &+ j)) - m
                                let d2 = load8(xp + (ins.2 &+ j)) - m, d3 = load8(xp + (ins.3 &+ j)) - m
                                let (h0, h1, h2, h3, share) = selection(multiplyAdd(b, d0, s), multiplyAdd(b, d1, s),
                                                                        multiplyAdd(b, d2, s), multiplyAdd(b, d3, s),
                                                                        load8(gp + (out &+ j)))
                                let t = s * share   // A·G = k·share on the maxima
                                store8(multiplyAdd(multiplyAdd(D, d0, B), h0, t), dp + (ins.0 &+ j))
                                store8(multiplyAdd(multiplyAdd(D, d1, B), h1, t), dp + (ins.1 &+ j))
                                store8(multiplyAdd(multiplyAdd(D, d2, B), h2, t), dp + (ins.2 &+ j))
                                store8(multiplyAdd(multiplyAdd(D, d3, B), h3, t), dp + (ins.3 &+ j))
                            }
                        }
                    }
                }
                return 0
            }
        } } }
        return dx
    }

    /// γ·s per channel.
    static func scales(_ gamma: Tensor, _ invStd: Tensor) -> [Float] {
        (0..<gamma.count).map { gamma.storage.base[$0] * invStd.storage.base[$0] }
    }

    /// For window values y0...y3 and the cotangent g of relu(max): the 0/1
    /// hits of the maxima and each hit's share of g (0 where the max is not positive).
    @inline(__always)
    static func selection(_ y0: SIMD8<Float>, _ y1: SIMD8<Float>, _ y2: SIMD8<Float>, _ y3: SIMD8<Float>, _ g: SIMD8<Float>)
        -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let m = max4(y0, y1, y2, y3)
        let zero = SIMD8<Float>(repeating: 0)
        let h0 = zero.replacing(with: 1, where: y0 .== m), h1 = zero.replacing(with: 1, where: y1 .== m)
        let h2 = zero.replacing(with: 1, where: y2 .== m), h3 = zero.replacing(with: 1, where: y3 .== m)
        return (h0, h1, h2, h3, positiveMask(m, g / (h0 + h1 + h2 + h3)))
    }
}

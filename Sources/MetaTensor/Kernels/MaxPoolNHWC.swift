/// Max pooling of channels-last (NHWC) images over non-overlapping K×K
/// windows (stride K), sizes floored as in PyTorch: OH = ⌊H / K⌋, OW = ⌊W / K⌋.
///
/// Three kernels, all reading the window maxima from x:
/// - `maxPoolNHWC(x)`: the window maxima; NaN wins, as in `max(axes:)`;
/// - `maxUnpoolNHWC(g, x)`: g (N, OH, OW, C) spread back over x's shape, each
///   output's value shared equally among the window entries equal to its
///   maximum (0 elsewhere, and on rows and columns no window covers);
/// - `maxGatherNHWC(h, x)`: the adjoint of unpool: for each window, the mean of
///   h over the entries where x is the window's maximum.
/// The last two are linear in their first argument and adjoints of each
/// other; x only selects, so no cotangent flows into it.
///
/// With `relu`, each kernel also applies ReLU after pooling: the maxima are
/// clamped at 0, and windows whose maximum is not positive pass no cotangent
/// (ReLU's step derivative). relu(max(·)) is max(relu(·)), so this is the
/// "ReLU, then pool" of a conv block, computed on a quarter of the elements.
extension Tensor {
    func poolShape(_ k: Int, _ op: String) throws -> [Int] {
        guard rank == 4 else { throw MetaError.shape("\(op): input must be NHWC (rank 4), got \(shape)") }
        guard k > 0 else { throw MetaError.argument("\(op): kernel size must be positive, got \(k)") }
        guard shape[1] >= k, shape[2] >= k else {
            throw MetaError.shape("\(op): input of spatial size \(shape[1])x\(shape[2]) is smaller than the \(k)x\(k) window")
        }
        return [shape[0], shape[1] / k, shape[2] / k, shape[3]]
    }

    public func maxPoolNHWC(kernelSize k: Int, relu: Bool = false) throws -> Tensor {
        let outShape = try poolShape(k, "maxPoolNHWC")
        let y = try Tensor.make(shape: outShape) { _, _ in }
        let g = PoolGeometry(shape, k)
        let x = storage.base, yp = y.storage.base
        if k == 2 && g.c % 8 == 0 {
            try g.pairs { ins, out in
                for j in stride(from: 0, to: g.c, by: 8) {
                    let m = max4(load8(x + (ins.0 &+ j)), load8(x + (ins.1 &+ j)), load8(x + (ins.2 &+ j)),
                                 load8(x + (ins.3 &+ j)))
                    store8(relu ? positivePart(m) : m, yp + (out &+ j))
                }
            }
            return y
        }
        g.forEachWindow { window, out in
            let c = g.c
            var j = 0
            while j &+ 8 <= c {
                var m = load8(x + (window[0] &+ j))
                for e in 1..<window.count {
                    let v = load8(x + (window[e] &+ j))
                    m = m.replacing(with: v, where: (v .> m) .| (v .!= v))
                }
                store8(relu ? positivePart(m) : m, yp + (out &+ j))
                j &+= 8
            }
            while j < c {
                var m = x[window[0] &+ j]
                for e in 1..<window.count { let v = x[window[e] &+ j]; if v > m || v.isNaN { m = v } }
                yp[out &+ j] = relu ? (m > 0 ? m : 0) : m
                j &+= 1
            }
        }
        return y
    }

    /// g (N, OH, OW, C) spread to the maxima of x's windows; x's shape.
    public static func maxUnpoolNHWC(_ g: Tensor, _ x: Tensor, kernelSize k: Int, relu: Bool = false) throws -> Tensor {
        let outShape = try x.poolShape(k, "maxUnpoolNHWC")
        guard g.shape == outShape else {
            throw MetaError.shape("maxUnpoolNHWC: g has shape \(g.shape), expected \(outShape) for x \(x.shape)")
        }
        let dx = try Tensor.make(shape: x.shape) { p, n in
            // Rows and columns no window covers receive nothing.
            if x.shape[1] % k != 0 || x.shape[2] % k != 0 { p.update(repeating: 0, count: n) }
        }
        let geo = PoolGeometry(x.shape, k)
        let xp = x.storage.base, gp = g.storage.base, dp = dx.storage.base
        if k == 2 && geo.c % 8 == 0 {
            try geo.pairs { ins, out in
                for j in stride(from: 0, to: geo.c, by: 8) {
                    let (h0, h1, h2, h3, count, m) = hits4(xp, ins, j)
                    var share = load8(gp + (out &+ j)) / count
                    if relu { share = positiveMask(m, share) }
                    store8(h0 * share, dp + (ins.0 &+ j)); store8(h1 * share, dp + (ins.1 &+ j))
                    store8(h2 * share, dp + (ins.2 &+ j)); store8(h3 * share, dp + (ins.3 &+ j))
                }
            }
            return dx
        }
        geo.forEachWindow { window, out in
            geo.selectMaxima(xp, window) { j, hits, count, m in
                var share = load8(gp + (out &+ j)) / count
                if relu { share = positiveMask(m, share) }
                for e in 0..<window.count { store8(hits[e] * share, dp + (window[e] &+ j)) }
            } scalar: { j, hits, count, m in
                let share = relu && !(m > 0) ? 0 : gp[out &+ j] / count
                for e in 0..<window.count { dp[window[e] &+ j] = hits[e] * share }
            }
        }
        return dx
    }

    /// For each window of x, the mean of h over the entries where x is maximal; (N, OH, OW, C).
    public static func maxGatherNHWC(_ h: Tensor, _ x: Tensor, kernelSize k: Int, relu: Bool = false) throws -> Tensor {
        let outShape = try x.poolShape(k, "maxGatherNHWC")
        guard h.shape == x.shape else {
            throw MetaError.shape("maxGatherNHWC: h has shape \(h.shape), expected x's \(x.shape)")
        }
        let y = try Tensor.make(shape: outShape) { _, _ in }
        let geo = PoolGeometry(x.shape, k)
        let xp = x.storage.base, hp = h.storage.base, yp = y.storage.base
        if k == 2 && geo.c % 8 == 0 {
            try geo.pairs { ins, out in
                for j in stride(from: 0, to: geo.c, by: 8) {
                    let (h0, h1, h2, h3, count, m) = hits4(xp, ins, j)
                    var s = h0 * load8(hp + (ins.0 &+ j))
                    s = multiplyAdd(s, h1, load8(hp + (ins.1 &+ j)))
                    s = multiplyAdd(s, h2, load8(hp + (ins.2 &+ j)))
                    s = multiplyAdd(s, h3, load8(hp + (ins.3 &+ j)))
                    store8(relu ? positiveMask(m, s / count) : s / count, yp + (out &+ j))
                }
            }
            return y
        }
        geo.forEachWindow { window, out in
            geo.selectMaxima(xp, window) { j, hits, count, m in
                var s = SIMD8<Float>(repeating: 0)
                for e in 0..<window.count { s = multiplyAdd(s, hits[e], load8(hp + (window[e] &+ j))) }
                store8(relu ? positiveMask(m, s / count) : s / count, yp + (out &+ j))
            } scalar: { j, hits, count, m in
                var s: Float = 0
                for e in 0..<window.count { s += hits[e] * hp[window[e] &+ j] }
                yp[out &+ j] = relu && !(m > 0) ? 0 : s / count
            }
        }
        return y
    }
}

/// NaN-propagating maximum of four vectors (as `max(axes:)`: NaN wins).
@inline(__always)
func max4(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>, _ d: SIMD8<Float>) -> SIMD8<Float> {
    var m = a
    m = m.replacing(with: b, where: (b .> m) .| (b .!= b))
    m = m.replacing(with: c, where: (c .> m) .| (c .!= c))
    m = m.replacing(with: d, where: (d .> m) .| (d .!= d))
    return m
}

/// max(v, 0), with NaN → 0 as `relu` does.
@inline(__always)
func positivePart(_ v: SIMD8<Float>) -> SIMD8<Float> {
    SIMD8<Float>(repeating: 0).replacing(with: v, where: v .> 0)
}

/// v where m > 0, else 0: ReLU's derivative at m applied to v.
@inline(__always)
func positiveMask(_ m: SIMD8<Float>, _ v: SIMD8<Float>) -> SIMD8<Float> {
    SIMD8<Float>(repeating: 0).replacing(with: v, where: m .> 0)
}

/// For channels j..<j+8 of a 2x2 window: 1 where an entry equals the maximum,
/// how many do, and the maximum.
@inline(__always)
func hits4(_ x: UnsafePointer<Float>, _ ins: (Int, Int, Int, Int), _ j: Int)
    -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    let a = load8(x + (ins.0 &+ j)), b = load8(x + (ins.1 &+ j)), c = load8(x + (ins.2 &+ j)), d = load8(x + (ins.3 &+ j))
    let m = max4(a, b, c, d)
    let zero = SIMD8<Float>(repeating: 0)
    let ha = zero.replacing(with: 1, where: a .== m), hb = zero.replacing(with: 1, where: b .== m)
    let hc = zero.replacing(with: 1, where: c .== m), hd = zero.replacing(with: 1, where: d .== m)
    return (ha, hb, hc, hd, ha + hb + hc + hd, m)
}

/// Offsets of the windows of an NHWC pooling.
struct PoolGeometry {
    let n, h, w, c, k, oh, ow: Int

    init(_ shape: [Int], _ k: Int) {
        (n, h, w, c, self.k) = (shape[0], shape[1], shape[2], shape[3], k)
        (oh, ow) = (h / k, w / k)
    }

    /// The 2x2 windows of output row `i` of image `img`: `body(input offsets, output offset)`.
    @inline(__always)
    func rowWindows(_ img: Int, _ i: Int, _ body: ((Int, Int, Int, Int), Int) -> Void) {
        var top = ((img &* h &+ 2 &* i) &* w) &* c
        var out = ((img &* oh &+ i) &* ow) &* c
        for _ in 0..<ow {
            let bottom = top &+ w &* c
            body((top, top &+ c, bottom, bottom &+ c), out)
            top &+= 2 &* c
            out &+= c
        }
    }

    /// 2x2 windows: `body((top-left, top-right, bottom-left, bottom-right), out)`
    /// with the input offsets of channel 0; images are split into parts for the pool.
    @inline(__always)
    func pairs(_ body: ((Int, Int, Int, Int), Int) -> Void) throws {
        let parts = Parts.count(units: n, costPerUnit: h &* w &* c)
        _ = try Parts.run(parts) { p in
            for img in Parts.range(p, of: parts, units: n) {
                for i in 0..<oh { rowWindows(img, i, body) }
            }
            return 0
        }
    }

    /// Calls `body(window, out)` for every output pixel: `window` holds the
    /// offsets of the K·K input pixels (channel 0), `out` the output offset.
    @inline(__always)
    func forEachWindow(_ body: (UnsafeBufferPointer<Int>, Int) -> Void) {
        let window = UnsafeMutablePointer<Int>.allocate(capacity: k &* k)
        defer { window.deallocate() }
        let buffer = UnsafeBufferPointer(start: window, count: k &* k)
        var out = 0
        for img in 0..<n {
            for i in 0..<oh {
                for j in 0..<ow {
                    var e = 0
                    for a in 0..<k {
                        for b in 0..<k {
                            window[e] = ((img &* h &+ i &* k &+ a) &* w &+ j &* k &+ b) &* c
                            e &+= 1
                        }
                    }
                    body(buffer, out)
                    out &+= c
                }
            }
        }
    }

    /// For channel blocks of 8 (then single channels): which window entries
    /// equal the window maximum (1 or 0 per entry), how many do, and the maximum.
    @inline(__always)
    func selectMaxima(_ x: UnsafePointer<Float>, _ window: UnsafeBufferPointer<Int>,
                      simd: (Int, UnsafePointer<SIMD8<Float>>, SIMD8<Float>, SIMD8<Float>) -> Void,
                      scalar: (Int, UnsafePointer<Float>, Float, Float) -> Void) {
        let kk = window.count
        withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: kk) { hits in
            var j = 0
            while j &+ 8 <= c {
                var m = load8(x + (window[0] &+ j))
                for e in 1..<kk {
                    let v = load8(x + (window[e] &+ j))
                    m = m.replacing(with: v, where: (v .> m) .| (v .!= v))
                }
                var count = SIMD8<Float>(repeating: 0)
                for e in 0..<kk {
                    let hit = SIMD8<Float>(repeating: 0).replacing(with: 1, where: load8(x + (window[e] &+ j)) .== m)
                    hits[e] = hit
                    count += hit
                }
                simd(j, UnsafePointer(hits.baseAddress!), count, m)
                j &+= 8
            }
            hits.withMemoryRebound(to: Float.self) { hs in
                while j < c {
                    var m = x[window[0] &+ j]
                    for e in 1..<kk { let v = x[window[e] &+ j]; if v > m || v.isNaN { m = v } }
                    var count: Float = 0
                    for e in 0..<kk { let hit: Float = x[window[e] &+ j] == m ? 1 : 0; hs[e] = hit; count += hit }
                    scalar(j, UnsafePointer(hs.baseAddress!), count, m)
                    j &+= 1
                }
            }
        }
    }
}

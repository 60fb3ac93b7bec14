import COpenBLAS

/// 3x3 stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3)
/// (Lavin & Gray 2016): each 2x2 block of outputs ("tile") is
///
///     Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
///
/// with d the 4x4 input window under the tile and g the 3x3 filter. Over C
/// input channels and F filters the elementwise product becomes 16 matrix
/// products, one per point p of the 4x4 transformed tile:
///
///     M[p] (tiles × F) = V[p] (tiles × C) · U[p] (C × F)
///
/// with V = Bᵀ d B (the input transform) and U = G g Gᵀ (the filter
/// transform). That is 16 multiply-adds per tile and channel pair where
/// im2col + GEMM does 4 · 9 = 36: 2.25x fewer on Conv4's 14x14 layer.
///
/// The result is the convolution itself (exact in exact arithmetic, and the
/// transforms' coefficients are 0, ±1 and ±½, so rounding stays at the level
/// of a reordered sum), and the backward passes are the exact adjoints of
/// the same linear maps:
/// - input cotangent: dM = A dY Aᵀ, dV[p] = dM[p] · U[p]ᵀ, dx += B dV Bᵀ;
/// - weight cotangent: dU[p] = Σ V[p]ᵀ · dM[p], dg = Gᵀ dU G.
/// So the three primitives stay each other's adjoints, as second-order MAML
/// needs (see Primitives/ConvNHWC.swift).
///
/// Channels last makes every transform a loop over contiguous channel
/// vectors; the path is taken when C and F are multiples of 8 (at least 16),
/// eight lanes at a time. Images are processed in chunks of a few, each
/// part of the batch with one-thread BLAS, like the im2col path
/// (`ConvNHWC.swift`).
extension ConvNHWCGeometry {
    /// Whether `convolve` and its adjoints take the Winograd path for `f`
    /// filters: 3x3 stride 1, channels and filters in whole SIMD groups, and
    /// output tiles that waste little. Tiles cover whole 2x2 blocks, so an odd
    /// side computes one row or column for nothing; the path is taken when the
    /// tiles' multiplies are at most 0.6 of im2col's (16 per tile against 9
    /// per output). Measured on Conv4 (`metaswift-bench 3 conv kernels`): 14x14
    /// outputs (0.44) run each pass in about half the time, 7x7 (0.58) about
    /// 10% faster, 3x3 (0.79) slower.
    public func usesWinograd(filters f: Int) -> Bool {
        kh == 3 && kw == 3 && sh == 1 && sw == 1 && oh > 0 && ow > 0
            && c >= 16 && f >= 16 && c % 8 == 0 && f % 8 == 0
            && 16 &* tilesPerImage &* 10 <= 9 &* oh &* ow &* 6
    }

    var tileRows: Int { (oh &+ 1) / 2 }
    var tileColumns: Int { (ow &+ 1) / 2 }
    var tilesPerImage: Int { tileRows &* tileColumns }

    /// Floats in each transformed buffer of a chunk (V, M, dM or dV: 16 ×
    /// tiles × channels): 256 tiles of 64 channels, 5 images of 14x14.
    /// Chunks of 2^16 to 2^19 floats ran within noise of each other
    /// (`metaswift-bench 3 conv kernels`); the 16 products are K = C deep, so
    /// more rows per product does not make them faster.
    static let winogradChunkFloats = 1 << 18

    func winogradImagesPerChunk(filters f: Int) -> Int {
        Swift.max(1, ConvNHWCGeometry.winogradChunkFloats / Swift.max(1, tilesPerImage &* 16 &* Swift.max(c, f)))
    }

    /// U[p][c][f] = (G g Gᵀ)[p] for each filter f and channel c of w (F, 3, 3, C).
    func winogradFilters(_ w: UnsafePointer<Float>, filters f: Int) throws -> Storage {
        let u = try Storage(uninitializedCount: 16 &* c &* f)
        let up = u.base, cf = c &* f
        for fi in 0..<f {
            for ci in 0..<c {
                @inline(__always) func g(_ t: Int) -> Float { w[(fi &* 9 &+ t) &* c &+ ci] }
                // Columns of g first (G g), then its rows (· Gᵀ).
                let c0 = filterTransform(g(0), g(3), g(6))
                let c1 = filterTransform(g(1), g(4), g(7))
                let c2 = filterTransform(g(2), g(5), g(8))
                let at = up + (ci &* f &+ fi)
                @inline(__always) func put(_ k: Int, _ r: (Float, Float, Float, Float)) {
                    at[(k &* 4) &* cf] = r.0
                    at[(k &* 4 &+ 1) &* cf] = r.1
                    at[(k &* 4 &+ 2) &* cf] = r.2
                    at[(k &* 4 &+ 3) &* cf] = r.3
                }
                put(0, filterTransform(c0.0, c1.0, c2.0))
                put(1, filterTransform(c0.1, c1.1, c2.1))
                put(2, filterTransform(c0.2, c1.2, c2.2))
                put(3, filterTransform(c0.3, c1.3, c2.3))
            }
        }
        return u
    }

    /// dw (F, 3, 3, C) = Gᵀ dU[·][c][f] G, the adjoint of `winogradFilters`.
    func winogradFilterGradient(_ du: UnsafePointer<Float>, filters f: Int, into dw: UnsafeMutablePointer<Float>) {
        let cf = c &* f
        for fi in 0..<f {
            for ci in 0..<c {
                let at = ci &* f &+ fi
                @inline(__always) func e(_ k: Int, _ l: Int) -> Float { du[(k &* 4 &+ l) &* cf &+ at] }
                // Rows of dU first (· G), then its columns (Gᵀ ·).
                let r0 = filterTransformAdjoint(e(0, 0), e(0, 1), e(0, 2), e(0, 3))
                let r1 = filterTransformAdjoint(e(1, 0), e(1, 1), e(1, 2), e(1, 3))
                let r2 = filterTransformAdjoint(e(2, 0), e(2, 1), e(2, 2), e(2, 3))
                let r3 = filterTransformAdjoint(e(3, 0), e(3, 1), e(3, 2), e(3, 3))
                let out = dw + (fi &* 9 &* c &+ ci)
                @inline(__always) func put(_ j: Int, _ col: (Float, Float, Float)) {
                    out[j &* c] = col.0
                    out[(3 &+ j) &* c] = col.1
                    out[(6 &+ j) &* c] = col.2
                }
                put(0, filterTransformAdjoint(r0.0, r1.0, r2.0, r3.0))
                put(1, filterTransformAdjoint(r0.1, r1.1, r2.1, r3.1))
                put(2, filterTransformAdjoint(r0.2, r1.2, r2.2, r3.2))
            }
        }
    }

    /// The 16 input rows (C floats each) of the 4x4 window under tile (ty, tx)
    /// of image `src`, `zeros` where the window leaves the image.
    @inline(__always)
    private func window(_ src: UnsafePointer<Float>, _ ty: Int, _ tx: Int, _ zeros: UnsafePointer<Float>,
                        _ rows: UnsafeMutablePointer<UnsafePointer<Float>>) {
        for i in 0..<4 {
            let ih = 2 &* ty &- ph &+ i
            for j in 0..<4 {
                let iw = 2 &* tx &- pw &+ j
                rows[i &* 4 &+ j] = ih >= 0 && ih < h && iw >= 0 && iw < w ? UnsafePointer(src + (ih &* w &+ iw) &* c) : zeros
            }
        }
    }

    /// Calls `body(image, ty, tx, t)` for each tile of images `images`, in
    /// order, t numbering the tiles from the first of the chunk.
    @inline(__always)
    private func forEachTile(_ images: Range<Int>, _ body: (Int, Int, Int, Int) -> Void) {
        var t = 0
        for img in images {
            for ty in 0..<tileRows {
                for tx in 0..<tileColumns {
                    body(img, ty, tx, t)
                    t &+= 1
                }
            }
        }
    }

    /// How many of tile (ty, tx)'s 2x2 outputs lie inside the output: rows and columns, 1 or 2 each.
    @inline(__always)
    private func outputsOfTile(_ ty: Int, _ tx: Int) -> (rows: Int, cols: Int) {
        (Swift.min(2, oh &- 2 &* ty), Swift.min(2, ow &- 2 &* tx))
    }

    /// V[p][t][·] = (Bᵀ d B)[p] for the tiles t of images `images`, numbered
    /// from the chunk's first tile (`v` holds 16 × tiles × C floats).
    func winogradInput(_ x: UnsafePointer<Float>, images: Range<Int>, into v: UnsafeMutablePointer<Float>) throws {
        let plane = h &* w &* c, point = images.count &* tilesPerImage &* c
        let zeros = try Storage(uninitializedCount: c)
        zeroFloats(zeros.base, c)
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: 16) { buf in
            let d = buf.baseAddress!
            forEachTile(images) { img, ty, tx, t in
                window(x + img &* plane, ty, tx, UnsafePointer(zeros.base), d)
                let out = v + t &* c
                var cb = 0
                while cb < c {
                    @inline(__always) func at(_ i: Int) -> SIMD8<Float> { load8(d[i] + cb) }
                    // Columns of the window first (Bᵀ d), then its rows (· B).
                    let c0 = inputTransform(at(0), at(4), at(8), at(12))
                    let c1 = inputTransform(at(1), at(5), at(9), at(13))
                    let c2 = inputTransform(at(2), at(6), at(10), at(14))
                    let c3 = inputTransform(at(3), at(7), at(11), at(15))
                    let o = out + cb
                    store4(inputTransform(c0.0, c1.0, c2.0, c3.0), o, point, first: 0)
                    store4(inputTransform(c0.1, c1.1, c2.1, c3.1), o, point, first: 4)
                    store4(inputTransform(c0.2, c1.2, c2.2, c3.2), o, point, first: 8)
                    store4(inputTransform(c0.3, c1.3, c2.3, c3.3), o, point, first: 12)
                    cb &+= 8
                }
            }
        }
    }

    /// y rows of images `images` = Aᵀ M A (+ bias) for M[p][t][·] of the
    /// chunk's tiles; outputs past the last row or column are dropped.
    func winogradOutput(_ m: UnsafePointer<Float>, images: Range<Int>, filters f: Int, bias: UnsafePointer<Float>?,
                        into y: UnsafeMutablePointer<Float>) {
        let point = images.count &* tilesPerImage &* f, plane = oh &* ow &* f
        forEachTile(images) { img, ty, tx, t in
            let (rows, cols) = outputsOfTile(ty, tx)
            let tile = m + t &* f
            let o00 = y + (img &* plane &+ ((2 &* ty) &* ow &+ 2 &* tx) &* f)
            var fb = 0
            while fb < f {
                @inline(__always) func at(_ p: Int) -> SIMD8<Float> { load8(tile + (p &* point &+ fb)) }
                // Columns first (Aᵀ M), then rows (· A).
                let c0 = outputTransform(at(0), at(4), at(8), at(12))
                let c1 = outputTransform(at(1), at(5), at(9), at(13))
                let c2 = outputTransform(at(2), at(6), at(10), at(14))
                let c3 = outputTransform(at(3), at(7), at(11), at(15))
                let b = bias.map { load8($0 + fb) } ?? .zero
                let r0 = outputTransform(c0.0, c1.0, c2.0, c3.0), r1 = outputTransform(c0.1, c1.1, c2.1, c3.1)
                store8(r0.0 + b, o00 + fb)
                if cols > 1 { store8(r0.1 + b, o00 + (f &+ fb)) }
                if rows > 1 {
                    store8(r1.0 + b, o00 + (ow &* f &+ fb))
                    if cols > 1 { store8(r1.1 + b, o00 + ((ow &+ 1) &* f &+ fb)) }
                }
                fb &+= 8
            }
        }
    }

    /// dM[p][t][·] = (A g Aᵀ)[p] for the cotangent g of each tile's 2x2
    /// outputs (zero past the last row or column): the adjoint of `winogradOutput`.
    func winogradOutputAdjoint(_ dy: UnsafePointer<Float>, images: Range<Int>, filters f: Int,
                               into dm: UnsafeMutablePointer<Float>) {
        let point = images.count &* tilesPerImage &* f, plane = oh &* ow &* f
        forEachTile(images) { img, ty, tx, t in
            let (rows, cols) = outputsOfTile(ty, tx)
            let g00 = dy + (img &* plane &+ ((2 &* ty) &* ow &+ 2 &* tx) &* f)
            let out = dm + t &* f
            var fb = 0
            while fb < f {
                let z = SIMD8<Float>.zero
                let a = load8(g00 + fb)
                let b = cols > 1 ? load8(g00 + (f &+ fb)) : z
                let cc = rows > 1 ? load8(g00 + (ow &* f &+ fb)) : z
                let dd = rows > 1 && cols > 1 ? load8(g00 + ((ow &+ 1) &* f &+ fb)) : z
                // Columns (A g), then rows (· Aᵀ).
                let c0 = outputTransformAdjoint(a, cc), c1 = outputTransformAdjoint(b, dd)
                let o = out + fb
                store4(outputTransformAdjoint(c0.0, c1.0), o, point, first: 0)
                store4(outputTransformAdjoint(c0.1, c1.1), o, point, first: 4)
                store4(outputTransformAdjoint(c0.2, c1.2), o, point, first: 8)
                store4(outputTransformAdjoint(c0.3, c1.3), o, point, first: 12)
                fb &+= 8
            }
        }
    }

    /// dx of images `images` += B dV Bᵀ of each tile's window (the parts
    /// inside the image): the adjoint of `winogradInput`. Windows overlap,
    /// so tiles are added one after the other, in order.
    func winogradInputAdjoint(_ dv: UnsafePointer<Float>, images: Range<Int>, into dx: UnsafeMutablePointer<Float>) {
        let plane = h &* w &* c, point = images.count &* tilesPerImage &* c
        forEachTile(images) { img, ty, tx, t in
            let dst = dx + img &* plane, tile = dv + t &* c
            var cb = 0
            while cb < c {
                @inline(__always) func at(_ p: Int) -> SIMD8<Float> { load8(tile + (p &* point &+ cb)) }
                // Rows first (· Bᵀ), then columns (B ·).
                let r0 = inputTransformAdjoint(at(0), at(1), at(2), at(3))
                let r1 = inputTransformAdjoint(at(4), at(5), at(6), at(7))
                let r2 = inputTransformAdjoint(at(8), at(9), at(10), at(11))
                let r3 = inputTransformAdjoint(at(12), at(13), at(14), at(15))
                let cols = (inputTransformAdjoint(r0.0, r1.0, r2.0, r3.0), inputTransformAdjoint(r0.1, r1.1, r2.1, r3.1),
                            inputTransformAdjoint(r0.2, r1.2, r2.2, r3.2), inputTransformAdjoint(r0.3, r1.3, r2.3, r3.3))
                for j in 0..<4 {
                    let iw = 2 &* tx &- pw &+ j
                    if iw < 0 || iw >= w { continue }
                    let col = j == 0 ? cols.0 : j == 1 ? cols.1 : j == 2 ? cols.2 : cols.3
                    for i in 0..<4 {
                        let ih = 2 &* ty &- ph &+ i
                        if ih < 0 || ih >= h { continue }
                        let v = i == 0 ? col.0 : i == 1 ? col.1 : i == 2 ? col.2 : col.3
                        let q = dst + ((ih &* w &+ iw) &* c &+ cb)
                        store8(load8(q) + v, q)
                    }
                }
                cb &+= 8
            }
        }
    }
}

extension Tensor {
    /// Winograd forward of `convolve` (`g.usesWinograd`): y rows written, moments gathered per chunk.
    static func winogradConvolve(_ g: ConvNHWCGeometry, _ xp: UnsafePointer<Float>, _ wp: UnsafePointer<Float>,
                                 bias bp: UnsafePointer<Float>?, filters f: Int, into yp: UnsafeMutablePointer<Float>,
                                 moments: Bool) throws -> Moments? {
        let u = try g.winogradFilters(wp, filters: f)
        let c = g.c, tpi = g.tilesPerImage, rpi = g.rowsPerImage
        let parts = Parts.count(units: g.n, costPerUnit: tpi &* 16 &* c &* f)
        let partMoments = try Parts.run(parts) { p -> Moments? in
            let mine = Parts.range(p, of: parts, units: g.n)
            let per = g.winogradImagesPerChunk(filters: f)
            let most = Swift.min(per, mine.count) &* tpi &* 16
            let v = try Storage(uninitializedCount: most &* c), m = try Storage(uninitializedCount: most &* f)
            var acc = moments ? Moments(width: f) : nil
            var i0 = mine.lowerBound
            while i0 < mine.upperBound {
                let i1 = Swift.min(i0 &+ per, mine.upperBound)
                let tiles = (i1 &- i0) &* tpi
                try g.winogradInput(xp, images: i0..<i1, into: v.base)
                for q in 0..<16 {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(tiles), Int32(f), Int32(c), 1,
                                v.base + q &* tiles &* c, Int32(c), u.base + q &* c &* f, Int32(f), 0,
                                m.base + q &* tiles &* f, Int32(f))
                }
                g.winogradOutput(m.base, images: i0..<i1, filters: f, bias: bp, into: yp)
                acc?.merge(try Moments(yp + i0 &* rpi &* f, rows: (i1 &- i0) &* rpi, width: f))
                i0 = i1
            }
            return acc
        }
        guard moments else { return nil }
        var total = Moments(width: f)
        for m in partMoments { if let m { total.merge(m) } }
        return total
    }

    /// Winograd input cotangent: dx (zeroed here) of images from dy and w.
    static func winogradBackwardInput(_ g: ConvNHWCGeometry, _ gp: UnsafePointer<Float>, _ wp: UnsafePointer<Float>,
                                      filters f: Int, into xp: UnsafeMutablePointer<Float>) throws {
        let u = try g.winogradFilters(wp, filters: f)
        let c = g.c, tpi = g.tilesPerImage, plane = g.h &* g.w &* c
        let parts = Parts.count(units: g.n, costPerUnit: tpi &* 16 &* c &* f)
        _ = try Parts.run(parts) { p in
            let mine = Parts.range(p, of: parts, units: g.n)
            zeroFloats(xp + mine.lowerBound &* plane, mine.count &* plane)
            let per = g.winogradImagesPerChunk(filters: f)
            let most = Swift.min(per, mine.count) &* tpi &* 16
            let dm = try Storage(uninitializedCount: most &* f), dv = try Storage(uninitializedCount: most &* c)
            var i0 = mine.lowerBound
            while i0 < mine.upperBound {
                let i1 = Swift.min(i0 &+ per, mine.upperBound)
                let tiles = (i1 &- i0) &* tpi
                g.winogradOutputAdjoint(gp, images: i0..<i1, filters: f, into: dm.base)
                for q in 0..<16 {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(tiles), Int32(c), Int32(f), 1,
                                dm.base + q &* tiles &* f, Int32(f), u.base + q &* c &* f, Int32(f), 0,
                                dv.base + q &* tiles &* c, Int32(c))
                }
                g.winogradInputAdjoint(dv.base, images: i0..<i1, into: xp)
                i0 = i1
            }
            return 0
        }
    }

    /// Winograd weight cotangent: dw (F, 3, 3, C) from dy and x.
    static func winogradBackwardWeight(_ g: ConvNHWCGeometry, _ gp: UnsafePointer<Float>, _ xp: UnsafePointer<Float>,
                                       filters f: Int, into dw: UnsafeMutablePointer<Float>) throws {
        let c = g.c, tpi = g.tilesPerImage, size = 16 &* c &* f
        let parts = Parts.count(units: g.n, costPerUnit: tpi &* 16 &* c &* f)
        // Each part sums its dU; the parts' sums are added in part order.
        let partials = try Parts.run(parts) { p -> Storage in
            let mine = Parts.range(p, of: parts, units: g.n)
            let du = try Storage(uninitializedCount: size)
            zeroFloats(du.base, size)
            let per = g.winogradImagesPerChunk(filters: f)
            let most = Swift.min(per, mine.count) &* tpi &* 16
            let v = try Storage(uninitializedCount: most &* c), dm = try Storage(uninitializedCount: most &* f)
            var i0 = mine.lowerBound
            while i0 < mine.upperBound {
                let i1 = Swift.min(i0 &+ per, mine.upperBound)
                let tiles = (i1 &- i0) &* tpi
                try g.winogradInput(xp, images: i0..<i1, into: v.base)
                g.winogradOutputAdjoint(gp, images: i0..<i1, filters: f, into: dm.base)
                for q in 0..<16 {
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(c), Int32(f), Int32(tiles), 1,
                                v.base + q &* tiles &* c, Int32(c), dm.base + q &* tiles &* f, Int32(f), 1,
                                du.base + q &* c &* f, Int32(f))
                }
                i0 = i1
            }
            return du
        }
        let total = partials[0]
        for part in partials.dropFirst() { addFloats(total.base, part.base, size) }
        g.winogradFilterGradient(total.base, filters: f, into: dw)
    }
}

/// Bᵀ e for a column e of a 4x4 window: Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
@inline(__always)
private func inputTransform(_ e0: SIMD8<Float>, _ e1: SIMD8<Float>, _ e2: SIMD8<Float>, _ e3: SIMD8<Float>)
    -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    (e0 - e2, e1 + e2, e2 - e1, e1 - e3)
}

/// B e, the adjoint of `inputTransform`.
@inline(__always)
private func inputTransformAdjoint(_ e0: SIMD8<Float>, _ e1: SIMD8<Float>, _ e2: SIMD8<Float>, _ e3: SIMD8<Float>)
    -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    (e0, e1 - e2 + e3, e1 + e2 - e0, -e3)
}

/// Aᵀ e: Aᵀ = [1 1 1 0; 0 1 −1 −1].
@inline(__always)
private func outputTransform(_ e0: SIMD8<Float>, _ e1: SIMD8<Float>, _ e2: SIMD8<Float>, _ e3: SIMD8<Float>)
    -> (SIMD8<Float>, SIMD8<Float>) {
    (e0 + e1 + e2, e1 - e2 - e3)
}

/// A e, the adjoint of `outputTransform`.
@inline(__always)
private func outputTransformAdjoint(_ e0: SIMD8<Float>, _ e1: SIMD8<Float>)
    -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    (e0, e0 + e1, e0 - e1, -e1)
}

/// G e for a column e of a 3x3 filter: G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1].
@inline(__always)
private func filterTransform(_ e0: Float, _ e1: Float, _ e2: Float) -> (Float, Float, Float, Float) {
    (e0, 0.5 * (e0 + e1 + e2), 0.5 * (e0 - e1 + e2), e2)
}

/// Gᵀ e, the adjoint of `filterTransform`.
@inline(__always)
private func filterTransformAdjoint(_ e0: Float, _ e1: Float, _ e2: Float, _ e3: Float) -> (Float, Float, Float) {
    (e0 + 0.5 * (e1 + e2), 0.5 * (e1 - e2), 0.5 * (e1 + e2) + e3)
}

/// Four transformed rows to points `first` ..< `first` + 4, `point` floats apart.
@inline(__always)
private func store4(_ r: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>), _ o: UnsafeMutablePointer<Float>,
                    _ point: Int, first: Int) {
    store8(r.0, o + first &* point)
    store8(r.1, o + (first &+ 1) &* point)
    store8(r.2, o + (first &+ 2) &* point)
    store8(r.3, o + (first &+ 3) &* point)
}

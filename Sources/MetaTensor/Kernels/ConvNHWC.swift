import COpenBLAS

/// 2-D convolution of channels-last (NHWC) images as im2col + GEMM, computed
/// in chunks of whole images so the unfolded columns never exist in full.
///
/// With x (N, H, W, C), weights w (F, KH, KW, C) and padding / stride as in
/// `Tensor.im2col`:
///
///     y[n, oh, ow, f] = b[f] + Σ_{kh, kw, c} w[f, kh, kw, c] · x[n, oh·SH − PH + kh, ow·SW − PW + kw, c]
///
/// Channels last makes the whole batch one matrix product, rows (n, oh, ow)
/// times columns (kh, kw, c): cols (N·OH·OW, KH·KW·C) · wᵀ is y as
/// (N·OH·OW, F), already NHWC. Each chunk of images is unfolded into a
/// scratch buffer that stays in cache and multiplied at once, so the columns
/// (45 MB for the second Conv4 layer on 100 images) are never written to
/// memory, and nothing but y is kept for the backward pass.
///
/// The two other products of the chain rule are the same loops:
/// - `conv2dNHWCBackwardInput` (dx): chunk rows of g · w, folded (col2im) into dx;
/// - `conv2dNHWCBackwardWeight` (dw): Σ over chunks of g_chunkᵀ · im2col(x_chunk).
/// The three are bilinear and each one's adjoints are the other two
/// (see Primitives/ConvNHWC.swift).
///
/// Parts of the batch (whole images) run on the worker pool, each with
/// one-thread BLAS; their number depends only on the sizes (`Parts`).
///
/// Two shapes take other algorithms behind the same three functions:
/// single-channel images are convolved directly (`ConvSingleChannel.swift`),
/// and 3x3 stride-1 convolutions over many channels by Winograd's F(2×2, 3×3)
/// (`ConvWinograd.swift`, `usesWinograd(filters:)` says when).
public struct ConvNHWCGeometry: Sendable {
    public let n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow: Int

    /// Rows of the unfolded matrix per image, and its width.
    public var rowsPerImage: Int { oh &* ow }
    public var depth: Int { kh &* kw &* c }
    public var imageShape: [Int] { [n, h, w, c] }
    public func outputShape(filters f: Int) -> [Int] { [n, oh, ow, f] }

    public init(image: [Int], kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int), op: String) throws {
        guard image.count == 4 else { throw MetaError.shape("\(op): image must be NHWC (rank 4), got \(image)") }
        _ = try ShapeMath.count(image, name: "\(op) image")
        // ConvGeometry validates the sizes; it reads (N, C, H, W), so hand it
        // the NHWC dimensions in that order.
        let g = try ConvGeometry(image: [image[0], image[3], image[1], image[2]], kernelSize: kernelSize,
                                 stride: stride, padding: padding, op: op)
        (n, h, w, c) = (image[0], image[1], image[2], image[3])
        (kh, kw, sh, sw, ph, pw, oh, ow) = (g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.oh, g.ow)
        let limit = Int(Int32.max)
        let (rows, o1) = n.multipliedReportingOverflow(by: oh &* ow)
        guard !o1, rows <= limit, depth <= limit else {
            throw MetaError.argument("\(op): \(image) with kernel \(kernelSize) is too large for BLAS")
        }
    }

    /// Images per chunk: about `chunkFloats` floats of unfolded columns (a
    /// few hundred rows of a 576-wide matrix), at least one image.
    /// Single-thread sgemm on these shapes runs at ~105-110 GFLOP/s for any
    /// M from 98 to 3136 rows (measured), so the chunk is sized for the cache:
    /// 512 KiB of columns.
    static let chunkFloats = 1 << 17

    /// Images per chunk: the unfolded columns (depth wide) and the chunk of
    /// output or cotangent rows (f wide) both stay within `chunkFloats`.
    func imagesPerChunk(filters f: Int) -> Int {
        Swift.max(1, ConvNHWCGeometry.chunkFloats / Swift.max(1, rowsPerImage &* Swift.max(depth, f)))
    }

    /// im2col of images [i0, i1) into `dst`, rows (image, oh, ow), columns (kh, kw, c).
    func unfold(_ x: UnsafePointer<Float>, images: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        let rowLen = kw &* c, depth = self.depth, plane = h &* w &* c
        var row = dst
        for img in images {
            let src = x + img &* plane
            for r in 0..<oh {
                for o in 0..<ow {
                    // Kernel columns j whose input column o·sw − pw + j is inside [0, w).
                    let start = o &* sw &- pw
                    let jlo = Swift.max(0, -start), jhi = Swift.min(kw, w &- start)
                    for i in 0..<kh {
                        let d = row + i &* rowLen
                        let ih = r &* sh &- ph &+ i
                        if ih < 0 || ih >= h || jlo >= jhi { zeroFloats(d, rowLen); continue }
                        if jlo > 0 { zeroFloats(d, jlo &* c) }
                        copyFloats(d + jlo &* c, src + (ih &* w &+ start &+ jlo) &* c, (jhi &- jlo) &* c)
                        if jhi < kw { zeroFloats(d + jhi &* c, (kw &- jhi) &* c) }
                    }
                    row += depth
                }
            }
        }
    }

    /// col2im of rows for images [i0, i1) from `src`, added into `dx` (which the caller zeroed).
    func fold(_ src: UnsafePointer<Float>, images: Range<Int>, into dx: UnsafeMutablePointer<Float>) {
        let rowLen = kw &* c, depth = self.depth, plane = h &* w &* c
        var row = src
        for img in images {
            let dst = dx + img &* plane
            for r in 0..<oh {
                for o in 0..<ow {
                    let start = o &* sw &- pw
                    let jlo = Swift.max(0, -start), jhi = Swift.min(kw, w &- start)
                    if jlo < jhi {
                        for i in 0..<kh {
                            let ih = r &* sh &- ph &+ i
                            if ih < 0 || ih >= h { continue }
                            addFloats(dst + (ih &* w &+ start &+ jlo) &* c, row + (i &* rowLen &+ jlo &* c), (jhi &- jlo) &* c)
                        }
                    }
                    row += depth
                }
            }
        }
    }
}

extension Tensor {
    /// NHWC convolution: x (N, H, W, C), w (F, KH, KW, C), optional bias (F) → (N, OH, OW, F).
    public static func conv2dNHWC(_ x: Tensor, _ w: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int)) throws -> Tensor {
        try convolve(x, w, bias: bias, stride: stride, padding: padding, moments: false).0
    }

    /// `conv2dNHWC` and the per-channel mean and 1/√(biased variance + eps) of
    /// its output, as `channelStatistics` gives them, gathered from each chunk
    /// while it is still in cache instead of in two more passes over y.
    public static func conv2dNHWCWithStatistics(_ x: Tensor, _ w: Tensor, bias: Tensor?, stride: (Int, Int),
                                                padding: (Int, Int), eps: Float) throws -> (y: Tensor, mean: Tensor, invStd: Tensor) {
        let (y, m) = try convolve(x, w, bias: bias, stride: stride, padding: padding, moments: true)
        let f = y.shape[3]
        guard let m, m.count > 0 else { throw MetaError.shape("conv2dNHWCWithStatistics: output \(y.shape) has no rows") }
        let mean = try Tensor.make(shape: [f]) { p, _ in for j in 0..<f { p[j] = Float(m.mean[j]) } }
        let invStd = try Tensor.make(shape: [f]) { p, _ in
            for j in 0..<f { p[j] = Float(1 / (m.m2[j] / m.count + Double(eps)).squareRoot()) }
        }
        return (y, mean, invStd)
    }

    static func convolve(_ x: Tensor, _ w: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int),
                         moments: Bool) throws -> (Tensor, Moments?) {
        guard w.rank == 4, x.rank == 4, w.shape[3] == x.shape[3] else {
            throw MetaError.shape("conv2dNHWC: x must be (N, H, W, C) and w (F, KH, KW, C) with the same C, got \(x.shape) and \(w.shape)")
        }
        let f = w.shape[0]
        if let bias, bias.shape != [f] {
            throw MetaError.shape("conv2dNHWC: bias must have shape [\(f)], got \(bias.shape)")
        }
        let g = try ConvNHWCGeometry(image: x.shape, kernelSize: (w.shape[1], w.shape[2]), stride: stride,
                                     padding: padding, op: "conv2dNHWC")
        let y = try Tensor.make(shape: g.outputShape(filters: f)) { _, _ in }
        if y.count == 0 { return (y, moments ? Moments(width: f) : nil) }
        let rpi = g.rowsPerImage, depth = g.depth
        let xp = x.storage.base, wp = w.storage.base, yp = y.storage.base, bp = bias?.storage.base
        if g.usesWinograd(filters: f) {
            return (y, try winogradConvolve(g, xp, wp, bias: bp, filters: f, into: yp, moments: moments))
        }
        let parts = Parts.count(units: g.n, costPerUnit: rpi &* depth &* f)
        // Single-channel images are convolved directly (ConvSingleChannel.swift),
        // with the filters as (KH·KW, F).
        let direct = g.c == 1 && depth > 0
        let wT = direct ? try transposedFilters(wp, filters: f, taps: depth) : nil
        let partMoments = try Parts.run(parts) { p -> Moments? in
            let mine = Parts.range(p, of: parts, units: g.n)
            let per = g.imagesPerChunk(filters: f)
            let scratch = try Storage(uninitializedCount: direct ? 0 : Swift.min(per, mine.count) &* rpi &* depth)
            var acc = moments ? Moments(width: f) : nil
            var i0 = mine.lowerBound
            while i0 < mine.upperBound {
                let i1 = Swift.min(i0 &+ per, mine.upperBound)
                let rows = (i1 &- i0) &* rpi
                let out = yp + i0 &* rpi &* f
                // Rows start as the bias and the product is added to them
                // (beta = 1): one pass fewer than BLAS zeroing them first.
                if let bp { for r in 0..<rows { copyFloats(out + r &* f, bp, f) } }
                if depth == 0 || direct {
                    if bp == nil { zeroFloats(out, rows &* f) }
                    if let wT { g.singleChannelForward(xp, images: i0..<i1, wT: wT.base, filters: f, into: out) }
                } else {
                    g.unfold(xp, images: i0..<i1, into: scratch.base)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(f), Int32(depth), 1,
                                scratch.base, Int32(depth), wp, Int32(depth), bp == nil ? 0 : 1, out, Int32(f))
                }
                acc?.merge(try Moments(out, rows: rows, width: f))
                i0 = i1
            }
            return acc
        }
        guard moments else { return (y, nil) }
        var total = Moments(width: f)
        for m in partMoments { if let m { total.merge(m) } }
        return (y, total)
    }

    /// The adjoint of `conv2dNHWC` in x: dy (N, OH, OW, F) and w (F, KH, KW, C) → dx of `imageShape` (N, H, W, C).
    public static func conv2dNHWCBackwardInput(_ dy: Tensor, _ w: Tensor, imageShape: [Int], stride: (Int, Int),
                                               padding: (Int, Int)) throws -> Tensor {
        guard w.rank == 4, imageShape.count == 4, w.shape[3] == imageShape[3] else {
            throw MetaError.shape("conv2dNHWCBackwardInput: w (F, KH, KW, C) \(w.shape) does not match image \(imageShape)")
        }
        let f = w.shape[0]
        let g = try ConvNHWCGeometry(image: imageShape, kernelSize: (w.shape[1], w.shape[2]), stride: stride,
                                     padding: padding, op: "conv2dNHWCBackwardInput")
        guard dy.shape == g.outputShape(filters: f) else {
            throw MetaError.shape("conv2dNHWCBackwardInput: dy has shape \(dy.shape), expected \(g.outputShape(filters: f))")
        }
        let dx = try Tensor.make(shape: imageShape) { _, _ in }
        if dx.count == 0 { return dx }
        let rpi = g.rowsPerImage, depth = g.depth, plane = g.h &* g.w &* g.c
        let gp = dy.storage.base, wp = w.storage.base, xp = dx.storage.base
        if g.usesWinograd(filters: f) {
            try winogradBackwardInput(g, gp, wp, filters: f, into: xp)
            return dx
        }
        let parts = Parts.count(units: g.n, costPerUnit: rpi &* depth &* f)
        _ = try Parts.run(parts) { p in
            let mine = Parts.range(p, of: parts, units: g.n)
            zeroFloats(xp + mine.lowerBound &* plane, mine.count &* plane)
            if rpi == 0 || f == 0 { return 0 }
            let per = g.imagesPerChunk(filters: f)
            let scratch = try Storage(uninitializedCount: Swift.min(per, mine.count) &* rpi &* depth)
            var i0 = mine.lowerBound
            while i0 < mine.upperBound {
                let i1 = Swift.min(i0 &+ per, mine.upperBound)
                let rows = (i1 &- i0) &* rpi
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(depth), Int32(f), 1,
                            gp + i0 &* rpi &* f, Int32(f), wp, Int32(depth), 0, scratch.base, Int32(depth))
                g.fold(scratch.base, images: i0..<i1, into: xp)
                i0 = i1
            }
            return 0
        }
        return dx
    }

    /// The adjoint of `conv2dNHWC` in w: dy (N, OH, OW, F) and x (N, H, W, C) → dw (F, KH, KW, C).
    public static func conv2dNHWCBackwardWeight(_ dy: Tensor, _ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int),
                                                padding: (Int, Int)) throws -> Tensor {
        let g = try ConvNHWCGeometry(image: x.shape, kernelSize: kernelSize, stride: stride, padding: padding,
                                     op: "conv2dNHWCBackwardWeight")
        guard dy.rank == 4, Array(dy.shape.prefix(3)) == [g.n, g.oh, g.ow] else {
            throw MetaError.shape("conv2dNHWCBackwardWeight: dy has shape \(dy.shape), expected (\(g.n), \(g.oh), \(g.ow), F)")
        }
        let f = dy.shape[3]
        let dw = try Tensor.make(shape: [f, g.kh, g.kw, g.c]) { _, _ in }
        let rpi = g.rowsPerImage, depth = g.depth, size = f &* depth
        if size == 0 { return dw }
        let gp = dy.storage.base, xp = x.storage.base
        if g.usesWinograd(filters: f) {
            try winogradBackwardWeight(g, gp, xp, filters: f, into: dw.storage.base)
            return dw
        }
        let parts = Parts.count(units: g.n, costPerUnit: rpi &* depth &* f)
        // Part 0 accumulates into dw itself, the others into their own buffers,
        // which are then added in part order.
        let partials = try Parts.run(parts) { p -> Storage? in
            let mine = Parts.range(p, of: parts, units: g.n)
            let acc = p == 0 ? dw.storage : try Storage(uninitializedCount: size)
            zeroFloats(acc.base, size)
            if rpi == 0 { return p == 0 ? nil : acc }
            if g.c == 1 {
                // Directly (ConvSingleChannel.swift) into (KH·KW, F), then transposed.
                let dwT = try Storage(uninitializedCount: size)
                zeroFloats(dwT.base, size)
                g.singleChannelWeightGradient(gp, xp, images: mine, filters: f, into: dwT.base)
                for fi in 0..<f { for t in 0..<depth { acc.base[fi &* depth &+ t] += dwT.base[t &* f &+ fi] } }
                return p == 0 ? nil : acc
            }
            let per = g.imagesPerChunk(filters: f)
            let scratch = try Storage(uninitializedCount: Swift.min(per, mine.count) &* rpi &* depth)
            var i0 = mine.lowerBound
            while i0 < mine.upperBound {
                let i1 = Swift.min(i0 &+ per, mine.upperBound)
                let rows = (i1 &- i0) &* rpi
                g.unfold(xp, images: i0..<i1, into: scratch.base)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(f), Int32(depth), Int32(rows), 1,
                            gp + i0 &* rpi &* f, Int32(f), scratch.base, Int32(depth), 1, acc.base, Int32(depth))
                i0 = i1
            }
            return p == 0 ? nil : acc
        }
        for part in partials { if let part { addFloats(dw.storage.base, part.base, size) } }
        return dw
    }
}

/// The filter bank w (F, taps) as (taps, F).
private func transposedFilters(_ w: UnsafePointer<Float>, filters f: Int, taps: Int) throws -> Storage {
    let t = try Storage(uninitializedCount: f &* taps)
    for fi in 0..<f { for k in 0..<taps { t.base[k &* f &+ fi] = w[fi &* taps &+ k] } }
    return t
}

/// Count, mean and sum of squared deviations per column, merged across
/// chunks with Chan et al.'s pairwise update (stable, in Double):
/// δ = mean_b − mean_a, mean = mean_a + δ·n_b/n, M2 = M2_a + M2_b + δ²·n_a·n_b/n.
struct Moments {
    var count: Double
    var mean: [Double]
    var m2: [Double]

    init(width: Int) {
        count = 0
        mean = [Double](repeating: 0, count: width)
        m2 = mean
    }

    /// The moments of `rows` rows of width `width` at `p` (two passes over data in cache).
    init(_ p: UnsafePointer<Float>, rows: Int, width: Int) throws {
        count = Double(rows)
        let sums = try columnSums(rows: rows, channels: width) { acc, range in
            for r in range { addFloats(acc, p + r &* width, width) }
        }
        mean = sums.map { $0 / Double(Swift.max(rows, 1)) }
        let m = mean.map { Float($0) }
        m2 = try m.withUnsafeBufferPointer { mp in
            try columnSums(rows: rows, channels: width) { acc, range in
                for r in range { squaredDeviations(acc, p + r &* width, mp.baseAddress!, width) }
            }
        }
        // Deviations were taken from the rounded mean; correct M2 to the exact one.
        for j in 0..<width {
            let d = Double(m[j]) - mean[j]
            m2[j] -= count * d * d
        }
    }

    mutating func merge(_ b: Moments) {
        guard b.count > 0 else { return }
        guard count > 0 else { self = b; return }
        let n = count + b.count
        for j in 0..<mean.count {
            let delta = b.mean[j] - mean[j]
            mean[j] += delta * b.count / n
            m2[j] += b.m2[j] + delta * delta * count * b.count / n
        }
        count = n
    }
}

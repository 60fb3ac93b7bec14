/// im2col and col2im: the two linear maps that turn a 2-D convolution into one
/// matrix product, and its gradient into two more. They are adjoints of each
/// other: ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩ for all x, y.
///
/// For an NCHW image x with kernel (KH, KW), stride (SH, SW) and zero padding
/// (PH, PW), the output sizes are OH = ⌊(H + 2·PH − KH) / SH⌋ + 1 and likewise OW,
/// and
///
///     im2col(x)[n, c·KH·KW + kh·KW + kw, oh·OW + ow] = x[n, c, oh·SH − PH + kh, ow·SW − PW + kw]
///
/// with x read as zero outside the image. A convolution with weights W of shape
/// (F, C, KH, KW) is then W.reshaped([F, C·KH·KW]) · im2col(x), of shape (N, F, OH·OW).
///
/// Trap: col2im *sums* every column entry that reads the same pixel (overlapping
/// windows when the stride is smaller than the kernel) and drops entries that
/// read padding, so it is not an inverse of im2col, only its adjoint.
extension Tensor {
    /// Unfolds the sliding windows of an NCHW image: (N, C, H, W) -> (N, C·KH·KW, OH·OW).
    public func im2col(kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)) throws -> Tensor {
        guard rank == 4 else {
            throw MetaError.shape("im2col: input must be NCHW (rank 4), got shape \(shape)")
        }
        let g = try ConvGeometry(image: shape, kernelSize: kernelSize, stride: stride, padding: padding, op: "im2col")
        let out = try Tensor.make(shape: g.columnShape) { _, _ in }
        if out.count == 0 { return out }
        g.unfold(storage.base, into: out.storage.base)
        return out
    }

    /// Folds columns back into an image, summing overlaps: (N, C·KH·KW, OH·OW) -> `imageShape`.
    /// The adjoint of `im2col` with the same kernel, stride and padding.
    public func col2im(imageShape: [Int], kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)) throws -> Tensor {
        guard imageShape.count == 4 else {
            throw MetaError.shape("col2im: imageShape must be NCHW (rank 4), got \(imageShape)")
        }
        _ = try ShapeMath.count(imageShape, name: "col2im imageShape")
        let g = try ConvGeometry(image: imageShape, kernelSize: kernelSize, stride: stride, padding: padding, op: "col2im")
        guard shape == g.columnShape else {
            throw MetaError.shape("col2im: columns of shape \(shape) do not match image \(imageShape) with kernel \(kernelSize), stride \(stride), padding \(padding); expected \(g.columnShape)")
        }
        let out = try Tensor.make(shape: imageShape) { p, n in p.update(repeating: 0, count: n) }
        if count == 0 || out.count == 0 { return out }
        g.fold(storage.base, into: out.storage.base)
        return out
    }
}

/// The validated sizes of one im2col / col2im, and the two loops.
///
/// For each kernel offset the output positions whose input pixel lies inside
/// the image form one contiguous range [lo, hi) per axis, computed once, so the
/// hot loops do no bounds arithmetic: rows outside [lo, hi) are zero-filled
/// (im2col) or skipped (col2im), and the span inside is a plain strided copy,
/// a `memcpy` when the stride is 1.
struct ConvGeometry {
    let n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow: Int
    /// Valid output ranges, indexed by kernel row / kernel column.
    let ohLo: [Int], ohHi: [Int], owLo: [Int], owHi: [Int]

    var columnShape: [Int] { [n, c &* kh &* kw, oh &* ow] }

    init(image: [Int], kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int), op: String) throws {
        (n, c, h, w) = (image[0], image[1], image[2], image[3])
        (kh, kw) = kernelSize
        (sh, sw) = stride
        (ph, pw) = padding
        guard kh > 0, kw > 0 else { throw MetaError.argument("\(op): kernelSize \(kernelSize) must be positive") }
        guard sh > 0, sw > 0 else { throw MetaError.argument("\(op): stride \(stride) must be positive") }
        guard ph >= 0, pw >= 0 else { throw MetaError.argument("\(op): padding \(padding) must be non-negative") }
        // Padded sizes, without trapping on absurd paddings.
        func padded(_ size: Int, _ pad: Int) -> Int? {
            let (twice, o1) = pad.multipliedReportingOverflow(by: 2)
            let (sum, o2) = size.addingReportingOverflow(twice)
            return o1 || o2 || sum > Int(Int32.max) ? nil : sum
        }
        guard let hp = padded(h, ph), let wp = padded(w, pw) else {
            throw MetaError.argument("\(op): padding \(padding) is too large for image \(image)")
        }
        guard kh <= hp, kw <= wp else {
            throw MetaError.shape("\(op): kernelSize \(kernelSize) is larger than the padded image \(hp)x\(wp) of \(image)")
        }
        oh = (hp - kh) / sh + 1
        ow = (wp - kw) / sw + 1
        _ = try ShapeMath.count([n, c, kh, kw, oh, ow], name: "\(op) columns")
        let (h, w, sh, sw, ph, pw, oh, ow) = (h, w, sh, sw, ph, pw, oh, ow)
        let rows = (0..<kh).map { ConvGeometry.validRange($0, h, sh, ph, oh) }
        let cols = (0..<kw).map { ConvGeometry.validRange($0, w, sw, pw, ow) }
        (ohLo, ohHi) = (rows.map { $0.0 }, rows.map { $0.1 })
        (owLo, owHi) = (cols.map { $0.0 }, cols.map { $0.1 })
    }

    /// The output positions o whose input o·s − p + k lies in [0, size), as [lo, hi).
    static func validRange(_ k: Int, _ size: Int, _ s: Int, _ p: Int, _ outSize: Int) -> (Int, Int) {
        let lo = Swift.min(p > k ? (p - k + s - 1) / s : 0, outSize)
        let end = size + p - k
        let hi = Swift.min(end > 0 ? (end + s - 1) / s : 0, outSize)
        return (lo, Swift.max(lo, hi))
    }

    /// im2col: `x` holds the image, `y` receives every column element.
    func unfold(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let plane = h &* w, l = oh &* ow
        var row = y
        for img in 0..<(n &* c) {
            let src = x + img &* plane
            for i in 0..<kh {
                let (rlo, rhi) = (ohLo[i], ohHi[i])
                for j in 0..<kw {
                    let (lo, hi) = (owLo[j], owHi[j])
                    if rlo > 0 { row.update(repeating: 0, count: rlo &* ow) }
                    var r = rlo
                    while r < rhi {
                        let d = row + r &* ow
                        // Input offset of output column 0; base + o·sw >= 0 for o in [lo, hi).
                        let base = (r &* sh &+ i &- ph) &* w &+ j &- pw
                        // Rows are short (OW is 7 to 28 in conv4), so inline loops beat
                        // memcpy / memset calls here.
                        var o = 0
                        while o < lo { d[o] = 0; o &+= 1 }
                        if sw == 1, lo < hi {
                            // Offsetting by base + lo (>= 0 when lo < hi) keeps the
                            // pointer inside the image even where base < 0.
                            let s = src + (base &+ lo), dl = d + lo, m = hi &- lo
                            var k = 0
                            while k < m { dl[k] = s[k]; k &+= 1 }
                            o = hi
                        } else {
                            while o < hi { d[o] = src[base &+ o &* sw]; o &+= 1 }
                        }
                        while o < ow { d[o] = 0; o &+= 1 }
                        r &+= 1
                    }
                    if rhi < oh { (row + rhi &* ow).update(repeating: 0, count: (oh &- rhi) &* ow) }
                    row += l
                }
            }
        }
    }

    /// col2im: `y` holds the columns, `x` (already zeroed) accumulates the image.
    func fold(_ y: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>) {
        let plane = h &* w, l = oh &* ow
        var row = y
        for img in 0..<(n &* c) {
            let dst = x + img &* plane
            for i in 0..<kh {
                let (rlo, rhi) = (ohLo[i], ohHi[i])
                for j in 0..<kw {
                    let (lo, hi) = (owLo[j], owHi[j])
                    var r = rlo
                    while r < rhi {
                        let s = row + r &* ow
                        let base = (r &* sh &+ i &- ph) &* w &+ j &- pw
                        if sw == 1, lo < hi {
                            let d = dst + (base &+ lo), sl = s + lo
                            var o = 0
                            let m = hi &- lo
                            while o < m { d[o] += sl[o]; o &+= 1 }
                        } else {
                            var o = lo
                            while o < hi { dst[base &+ o &* sw] += s[o]; o &+= 1 }
                        }
                        r &+= 1
                    }
                    row += l
                }
            }
        }
    }
}

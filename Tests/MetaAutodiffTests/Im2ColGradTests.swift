import XCTest
import MetaTensor
import MetaAutodiff
import _TestSupport

/// A convolution geometry under test: image shape, kernel, stride, padding.
private struct Geometry {
    let image: [Int], k: (Int, Int), s: (Int, Int), p: (Int, Int)
    var oh: Int { (image[2] + 2 * p.0 - k.0) / s.0 + 1 }
    var ow: Int { (image[3] + 2 * p.1 - k.1) / s.1 + 1 }
    var columns: [Int] { [image[0], image[1] * k.0 * k.1, oh * ow] }
}

/// Square kernels and rectangular ones, strides 1 to 3, paddings 0 to 2,
/// windows that overlap and windows that skip pixels, padding wider than the
/// kernel reach (whole rows of padding).
private let geometries: [Geometry] = [
    Geometry(image: [2, 3, 5, 5], k: (3, 3), s: (1, 1), p: (1, 1)),
    Geometry(image: [1, 2, 6, 7], k: (3, 2), s: (2, 1), p: (0, 1)),
    Geometry(image: [2, 1, 7, 6], k: (2, 3), s: (2, 3), p: (1, 0)),
    Geometry(image: [1, 2, 4, 4], k: (1, 1), s: (1, 1), p: (0, 0)),
    Geometry(image: [1, 1, 3, 4], k: (2, 2), s: (3, 2), p: (2, 2)),
    Geometry(image: [1, 2, 4, 5], k: (4, 5), s: (1, 1), p: (0, 0)),
]

/// im2col by its definition, reading zero outside the image.
private func naiveIm2Col(_ x: Tensor, _ g: Geometry) -> [Float] {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let xs = x.scalars
    var out = [Float](repeating: .nan, count: g.columns.reduce(1, *))
    for b in 0..<n { for ch in 0..<c { for i in 0..<g.k.0 { for j in 0..<g.k.1 {
        let row = ch * g.k.0 * g.k.1 + i * g.k.1 + j
        for oy in 0..<g.oh { for ox in 0..<g.ow {
            let (y, xx) = (oy * g.s.0 - g.p.0 + i, ox * g.s.1 - g.p.1 + j)
            let v: Float = (y >= 0 && y < h && xx >= 0 && xx < w) ? xs[((b * c + ch) * h + y) * w + xx] : 0
            out[(b * g.columns[1] + row) * g.columns[2] + oy * g.ow + ox] = v
        }}
    }}}}
    return out
}

/// A direct cross-correlation (what deep-learning libraries call convolution).
private func naiveConv(_ x: Tensor, _ wt: Tensor, _ g: Geometry) -> [Float] {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let f = wt.shape[0]
    let xs = x.scalars, ws = wt.scalars
    var out = [Float](repeating: 0, count: n * f * g.oh * g.ow)
    for b in 0..<n { for o in 0..<f { for oy in 0..<g.oh { for ox in 0..<g.ow {
        var acc: Double = 0
        for ch in 0..<c { for i in 0..<g.k.0 { for j in 0..<g.k.1 {
            let (y, xx) = (oy * g.s.0 - g.p.0 + i, ox * g.s.1 - g.p.1 + j)
            guard y >= 0, y < h, xx >= 0, xx < w else { continue }
            acc += Double(xs[((b * c + ch) * h + y) * w + xx]) * Double(ws[((o * c + ch) * g.k.0 + i) * g.k.1 + j])
        }}}
        out[((b * f + o) * g.oh + oy) * g.ow + ox] = Float(acc)
    }}}}
    return out
}

private func inner(_ a: Tensor, _ b: Tensor) -> Double {
    zip(a.scalars, b.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
}

final class Im2ColGradTests: XCTestCase {
    var rng = TestRandom(seed: 11)

    func testIm2ColMatchesDefinition() throws {
        for g in geometries {
            let x = rng.tensor(g.image)
            let cols = try x.im2col(kernelSize: g.k, stride: g.s, padding: g.p)
            XCTAssertEqual(cols.shape, g.columns, "\(g)")
            XCTAssertEqual(cols.scalars, naiveIm2Col(x, g), "\(g)")
        }
    }

    func testConvolutionAsIm2ColTimesMatMul() throws {
        for g in geometries {
            let x = rng.tensor(g.image)
            let wt = rng.tensor([4, g.image[1], g.k.0, g.k.1])
            let cols = try x.im2col(kernelSize: g.k, stride: g.s, padding: g.p)
            let y = try Tensor.matmul(try wt.reshaped([4, -1]), cols)
            XCTAssertEqual(y.shape, [g.image[0], 4, g.oh * g.ow])
            assertClose(y, try Tensor(shape: y.shape, scalars: naiveConv(x, wt, g)), rtol: 1e-5, "\(g)")
        }
    }

    /// ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩: col2im is the exact adjoint, overlaps
    /// summed and padding dropped.
    func testCol2ImIsTheAdjoint() throws {
        for g in geometries {
            let x = rng.tensor(g.image), y = rng.tensor(g.columns)
            let lhs = inner(try x.im2col(kernelSize: g.k, stride: g.s, padding: g.p), y)
            let rhs = inner(x, try y.col2im(imageShape: g.image, kernelSize: g.k, stride: g.s, padding: g.p))
            assertClose(lhs, rhs, rtol: 1e-5, atol: 1e-5, "\(g)")
        }
    }

    /// col2im of all ones counts, per pixel, the windows that read it.
    func testCol2ImCountsOverlaps() throws {
        let g = Geometry(image: [1, 1, 4, 4], k: (3, 3), s: (1, 1), p: (1, 1))
        let counts = try Tensor.ones(g.columns).col2im(imageShape: g.image, kernelSize: g.k, stride: g.s, padding: g.p)
        let edge: [Float] = [4, 6, 6, 4]
        let middle: [Float] = [6, 9, 9, 6]
        XCTAssertEqual(counts.scalars, edge + middle + middle + edge)
    }

    func testGradientsToSecondOrder() {
        for g in geometries {
            checkGradients(at: [rng.tensor(g.image)]) { v in
                try v[0].im2col(kernelSize: g.k, stride: g.s, padding: g.p).square()
            }
            checkGradients(at: [rng.tensor(g.columns)]) { v in
                try v[0].col2im(imageShape: g.image, kernelSize: g.k, stride: g.s, padding: g.p).square()
            }
        }
    }

    /// A convolution layer with a nonlinearity, differentiated in the image and
    /// the weights together: the mixed second derivatives go through both VJPs.
    func testConvolutionGradientsToSecondOrder() {
        for g in geometries.prefix(3) {
            let x = rng.tensor(g.image), wt = rng.tensor([3, g.image[1] * g.k.0 * g.k.1])
            checkGradients(at: [x, wt]) { v in
                let cols = try v[0].im2col(kernelSize: g.k, stride: g.s, padding: g.p)
                return try Variable.matmul(v[1], cols).tanh()
            }
        }
    }

    func testErrors() throws {
        let x = rng.tensor([1, 2, 4, 4])
        let ok = (k: (3, 3), s: (1, 1), p: (1, 1))
        XCTAssertThrowsError(try rng.tensor([2, 4, 4]).im2col(kernelSize: ok.k, stride: ok.s, padding: ok.p))
        XCTAssertThrowsError(try x.im2col(kernelSize: (0, 3), stride: ok.s, padding: ok.p))
        XCTAssertThrowsError(try x.im2col(kernelSize: (3, -1), stride: ok.s, padding: ok.p))
        XCTAssertThrowsError(try x.im2col(kernelSize: ok.k, stride: (1, 0), padding: ok.p))
        XCTAssertThrowsError(try x.im2col(kernelSize: ok.k, stride: ok.s, padding: (-1, 0)))
        XCTAssertThrowsError(try x.im2col(kernelSize: (7, 3), stride: ok.s, padding: ok.p))
        XCTAssertThrowsError(try x.im2col(kernelSize: ok.k, stride: ok.s, padding: (Int.max, 0)))
        XCTAssertThrowsError(try x.im2col(kernelSize: (Int.max, Int.max), stride: ok.s, padding: ok.p))

        let cols = try x.im2col(kernelSize: ok.k, stride: ok.s, padding: ok.p)
        XCTAssertNoThrow(try cols.col2im(imageShape: [1, 2, 4, 4], kernelSize: ok.k, stride: ok.s, padding: ok.p))
        XCTAssertThrowsError(try cols.col2im(imageShape: [1, 2, 5, 4], kernelSize: ok.k, stride: ok.s, padding: ok.p))
        XCTAssertThrowsError(try cols.col2im(imageShape: [2, 4, 4], kernelSize: ok.k, stride: ok.s, padding: ok.p))
        XCTAssertThrowsError(try cols.col2im(imageShape: [1, -2, 4, 4], kernelSize: ok.k, stride: ok.s, padding: ok.p))
        XCTAssertThrowsError(try cols.col2im(imageShape: [1, 2, 4, 4], kernelSize: ok.k, stride: (2, 2), padding: ok.p))
        XCTAssertThrowsError(try cols.reshaped([2, 9, 16]).col2im(imageShape: [1, 2, 4, 4], kernelSize: ok.k, stride: ok.s, padding: ok.p))
        XCTAssertThrowsError(try Variable(x).im2col(kernelSize: (5, 5), stride: ok.s, padding: (0, 0)))
    }

    /// Empty batches and channels give empty results rather than traps.
    func testEmptyImages() throws {
        let cols = try Tensor.zeros([0, 3, 4, 4]).im2col(kernelSize: (3, 3), stride: (1, 1), padding: (1, 1))
        XCTAssertEqual(cols.shape, [0, 27, 16])
        let img = try Tensor.zeros([2, 0, 16]).col2im(imageShape: [2, 0, 4, 4], kernelSize: (3, 3), stride: (1, 1), padding: (1, 1))
        XCTAssertEqual(img.shape, [2, 0, 4, 4])
    }
}

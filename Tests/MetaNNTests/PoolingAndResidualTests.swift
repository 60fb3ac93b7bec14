import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import _TestSupport

final class PoolingAndResidualTests: XCTestCase {
    var rng = TestRandom(seed: 31)

    /// PyTorch's AvgPool2d (count_include_pad) written out in Double.
    func avgPoolReference(_ x: Tensor, k: Int, s: Int, p: Int) throws -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1)
        let v = x.scalars
        var out = [Float]()
        for img in 0..<n { for ch in 0..<c { for i in 0..<oh { for j in 0..<ow {
            var total = 0.0
            for a in 0..<k { for b in 0..<k {
                let (r, q) = (i * s - p + a, j * s - p + b)
                if r >= 0, r < h, q >= 0, q < w { total += Double(v[((img * c + ch) * h + r) * w + q]) }
            } }
            out.append(Float(total / Double(k * k)))
        } } } }
        return try Tensor(shape: [n, c, oh, ow], scalars: out)
    }

    func testAvgPoolMatchesDouble() throws {
        // Non-overlapping, overlapping, padded, and trailing rows no window covers.
        for (shape, k, s, p) in [([2, 3, 4, 6], 2, 2, 0), ([1, 2, 5, 5], 3, 1, 1), ([2, 1, 7, 6], 3, 2, 1),
                                 ([1, 2, 5, 7], 2, 2, 0)] as [([Int], Int, Int, Int)] {
            let pool = try AvgPool2d(kernelSize: k, stride: s, padding: p)
            let x = rng.tensor(shape, -2, 2)
            assertClose(try pool([], Variable(x)).value, try avgPoolReference(x, k: k, s: s, p: p),
                        rtol: 1e-5, atol: 1e-6, "\(shape) k\(k) s\(s) p\(p)")
        }
    }

    func testGlobalAvgPoolIsTheMeanOfEachChannel() throws {
        let x = rng.tensor([2, 3, 4, 5])
        let y = try GlobalAvgPool2d()([], Variable(x)).value
        XCTAssertEqual(y.shape, [2, 3])
        let v = x.scalars
        for plane in 0..<6 {
            let mean = v[(plane * 20)..<((plane + 1) * 20)].map(Double.init).reduce(0, +) / 20
            XCTAssertEqual(Double(y.scalars[plane]), mean, accuracy: 1e-6)
        }
    }

    func testPoolingGradientsToSecondOrder() throws {
        let pool = try AvgPool2d(kernelSize: 3, stride: 2, padding: 1)
        checkGradients(at: [rng.tensor([2, 2, 5, 4])]) { v in try pool([], v[0]).square() }
        checkGradients(at: [rng.tensor([2, 3, 3, 2])]) { v in try GlobalAvgPool2d()([], v[0]).tanh() }
    }

    func testResidualAddsTheBodyToTheShortcut() throws {
        let body = Sequential([try Linear(inputs: 3, outputs: 3), Activation.tanh, try Linear(inputs: 3, outputs: 3)])
        let identity = Residual(body: body)
        XCTAssertEqual(identity.parameterSpecs.map(\.name), ["body.0.W", "body.0.b", "body.2.W", "body.2.b"])
        var r = RNG(seed: 3)
        let p = try identity.initialize(rng: &r)
        let x = Variable(rng.tensor([4, 3]))
        assertClose(try identity(p, x).value, try (try body(p.values, x) + x).value, rtol: 0, atol: 0)

        let widening = Residual(body: try Linear(inputs: 3, outputs: 5), shortcut: try Linear(inputs: 3, outputs: 5, bias: false))
        XCTAssertEqual(widening.parameterSpecs.map(\.description), ["body.W[3, 5]", "body.b[5]", "shortcut.W[3, 5]"])
        let q = try widening.initialize(rng: &r).values
        let want = try Variable.matmul(x, q[0]) + q[1] + Variable.matmul(x, q[2])
        assertClose(try widening(q, x).value, want.value, rtol: 1e-6, atol: 1e-6)
        checkGradients(at: [rng.tensor([4, 3])] + q.map(\.value)) { v in try widening(Array(v[1...]), v[0]).tanh() }
    }

    func testBadInputThrows() throws {
        XCTAssertThrowsError(try AvgPool2d(kernelSize: 0))
        XCTAssertThrowsError(try AvgPool2d(kernelSize: 2, stride: 0))
        XCTAssertThrowsError(try AvgPool2d(kernelSize: 2, padding: 2))
        let pool = try AvgPool2d(kernelSize: 3)
        XCTAssertThrowsError(try pool([], Variable(rng.tensor([1, 1, 2, 5])))) { error in
            XCTAssertTrue("\(error)".contains("AvgPool2d"), "\(error)")
        }
        XCTAssertThrowsError(try pool([], Variable(rng.tensor([4, 4]))))
        XCTAssertThrowsError(try GlobalAvgPool2d()([], Variable(rng.tensor([2, 3]))))
        // A body that changes the shape, with no shortcut to match it.
        let mismatched = Residual(body: try Linear(inputs: 3, outputs: 4))
        var r = RNG(seed: 1)
        let p = try mismatched.initialize(rng: &r)
        XCTAssertThrowsError(try mismatched(p, Variable(rng.tensor([2, 3])))) { error in
            XCTAssertTrue("\(error)".contains("needs a shortcut"), "\(error)")
        }
        XCTAssertThrowsError(try mismatched.forward(p.values.dropLast()[...], Variable(rng.tensor([2, 3]))))
    }
}

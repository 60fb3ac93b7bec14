import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import _TestSupport

final class LossTests: XCTestCase {
    var rng = TestRandom(seed: 5)

    /// log softmax of each row in Double, stably.
    func referenceLogSoftmax(_ x: Tensor) -> [Float] {
        let c = x.shape[x.rank - 1], xs = x.scalars.map(Double.init)
        var out = [Float]()
        for r in 0..<(xs.count / c) {
            let row = xs[(r * c)..<((r + 1) * c)]
            let m = row.max()!
            let lse = m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) })
            out += row.map { Float($0 - lse) }
        }
        return out
    }

    func testLogSoftmaxMatchesReferenceAndRowsSumToOne() throws {
        let x = rng.tensor([3, 5], -4, 4)
        let l = try Variable(x).logSoftmax(axis: -1)
        assertClose(l.value, try Tensor(shape: [3, 5], scalars: referenceLogSoftmax(x)), rtol: 1e-5)
        let s = try Variable(x).softmax(axis: 1)
        for r in 0..<3 { assertClose(Double(s.scalars[(r * 5)..<(r * 5 + 5)].reduce(0, +)), 1, rtol: 1e-6) }
        assertClose(s.value, try l.value.map(.exp), rtol: 1e-5)
        // Along axis 0 it is the same as along axis 1 of the transpose.
        let l0 = try Variable(x).logSoftmax(axis: 0)
        let t = try x.permuted([1, 0])
        assertClose(try l0.value.permuted([1, 0]), try Tensor(shape: [5, 3], scalars: referenceLogSoftmax(t)), rtol: 1e-5)
    }

    func testLogSoftmaxIsStableForHugeLogits() throws {
        let x = try Variable(shape: [1, 3], scalars: [1000, 0, -1000])
        let l = try x.logSoftmax()
        XCTAssertTrue(l.value.isFinite)
        assertClose(l.value, try Tensor(shape: [1, 3], scalars: [0, -1000, -2000]))
        XCTAssertTrue(try x.softmax().value.isFinite)
        assertClose(Double(try x.logSumExp(axis: 1).item()), 1000, rtol: 1e-7)
        let g = try Autodiff.grad(at: [x]) { v in try softmaxCrossEntropy(logits: v[0], labels: [2]) }[0]
        XCTAssertTrue(g.value.isFinite)
        assertClose(g.value, try Tensor(shape: [1, 3], scalars: [1, 0, -1]))
    }

    func testSoftmaxFamilyGradientsToSecondOrder() {
        checkGradients(at: [rng.tensor([3, 4], -2, 2)]) { v in try v[0].logSoftmax(axis: 1) }
        checkGradients(at: [rng.tensor([3, 4], -2, 2)]) { v in try v[0].softmax(axis: 0) }
        checkGradients(at: [rng.tensor([2, 3, 4], -2, 2)]) { v in try v[0].logSumExp(axis: 1) }
    }

    func testCrossEntropyAgainstHandValues() throws {
        // Uniform logits: −log(1/3) per row.
        let flat = try Variable(Tensor.zeros([2, 3]))
        assertClose(Double(try softmaxCrossEntropy(logits: flat, labels: [0, 2]).item()), Foundation.log(3.0), rtol: 1e-6)
        // Logits (0, ln 3) give probabilities (1/4, 3/4).
        let l = try Variable(shape: [2, 2], scalars: [0, Float(Foundation.log(3.0)), 0, Float(Foundation.log(3.0))])
        let want = (Foundation.log(4.0) + Foundation.log(4.0 / 3)) / 2
        assertClose(Double(try softmaxCrossEntropy(logits: l, labels: [0, 1]).item()), want, rtol: 1e-6)
        // Batched leading dimensions count as rows.
        let x = rng.tensor([2, 3, 4])
        let a = try softmaxCrossEntropy(logits: Variable(x), labels: [0, 1, 2, 3, 0, 1])
        let b = try softmaxCrossEntropy(logits: Variable(try x.reshaped([6, 4])), labels: [0, 1, 2, 3, 0, 1])
        XCTAssertEqual(try a.item(), try b.item())
    }

    func testCrossEntropyGradientIsSoftmaxMinusOneHot() throws {
        let x = rng.tensor([3, 4])
        let labels = [3, 0, 1]
        let g = try Autodiff.grad(at: [Variable(x)]) { v in try softmaxCrossEntropy(logits: v[0], labels: labels) }[0]
        let p = try Variable(x).softmax().scalars
        var want = p.map { $0 / 3 }
        for (r, l) in labels.enumerated() { want[r * 4 + l] -= 1 / 3 }
        assertClose(g.value, try Tensor(shape: [3, 4], scalars: want), rtol: 1e-5)
    }

    func testLossGradientsToSecondOrder() {
        checkGradients(at: [rng.tensor([3, 4], -2, 2)]) { v in try softmaxCrossEntropy(logits: v[0], labels: [1, 3, 0]) }
        checkGradients(at: [rng.tensor([3, 2]), rng.tensor([3, 2])]) { v in try mseLoss(v[0].tanh(), v[1]) }
        // Logits away from 0, where |x| and max(x, 0) have their kinks.
        checkGradients(at: [rng.tensorAwayFromZero([3, 2], gap: 0.2, 2), rng.tensor([3, 2], 0, 1)]) { v in
            try binaryCrossEntropyWithLogits(logits: v[0], targets: v[1])
        }
    }

    func testMSEAndBinaryCrossEntropyValues() throws {
        let p = try Variable(shape: [2, 2], scalars: [1, 2, 3, 4])
        let t = try Variable(shape: [2, 2], scalars: [1, 0, 3, 1])
        XCTAssertEqual(try mseLoss(p, t).item(), (0 + 4 + 0 + 9) / 4)
        let xs: [Float] = [-30, -1, 0.5, 40], ts: [Float] = [0, 1, 0.3, 1]
        let bce = try binaryCrossEntropyWithLogits(logits: Variable(shape: [4], scalars: xs), targets: Variable(shape: [4], scalars: ts))
        var want = 0.0
        for (x, t) in zip(xs.map(Double.init), ts.map(Double.init)) {
            // log(1 + e^x) − x·t, with log1p for the extreme values.
            let softplus = x > 0 ? x + Foundation.log1p(Foundation.exp(-x)) : Foundation.log1p(Foundation.exp(x))
            want += softplus - x * t
        }
        assertClose(Double(try bce.item()), want / 4, rtol: 1e-5)
    }

    func testBinaryCrossEntropyGradientIsExactAtZeroLogits() throws {
        // d/dx = (σ(x) − t) / n, including at x = 0 where the textbook stable
        // form's kinks would give −t / n.
        let x = try Variable(shape: [4], scalars: [0, 0, 2, -3])
        let t = try Variable(shape: [4], scalars: [1, 0.25, 0, 1])
        let g = try Autodiff.grad(at: [x]) { v in try binaryCrossEntropyWithLogits(logits: v[0], targets: t) }[0]
        let want = zip(x.scalars, t.scalars).map { (1 / (1 + expf(-$0)) - $1) / 4 }
        assertClose(g.value, try Tensor(shape: [4], scalars: want), rtol: 1e-5)
        checkGradients(at: [try Tensor.zeros([3]), rng.tensor([3], 0, 1)]) { v in
            try binaryCrossEntropyWithLogits(logits: v[0], targets: v[1])
        }
    }

    func testAccuracy() throws {
        let l = try Variable(shape: [4, 3], scalars: [1, 2, 3, 5, 0, 0, 0, 1, 1, 2, 2, 0])
        // Argmax per row: 2, 0, 1 (tie, first), 0 (tie, first).
        XCTAssertEqual(try argmax(logits: l.value), [2, 0, 1, 0])
        XCTAssertEqual(try accuracy(logits: l, labels: [2, 0, 2, 0]), 0.75)
        XCTAssertEqual(try accuracy(logits: l, labels: [0, 1, 0, 1]), 0)
    }

    func testBadLabelsAndShapesThrow() throws {
        let l = Variable(rng.tensor([2, 3]))
        for bad in [[0, 3], [-1, 0], [0], [0, 1, 2]] {
            XCTAssertThrowsError(try softmaxCrossEntropy(logits: l, labels: bad)) { e in
                XCTAssertTrue("\(e)".contains("labels"), "\(e)")
            }
            XCTAssertThrowsError(try accuracy(logits: l, labels: bad))
        }
        XCTAssertThrowsError(try softmaxCrossEntropy(logits: Variable(Float(1)), labels: [0]))
        XCTAssertThrowsError(try softmaxCrossEntropy(logits: Variable(try Tensor.zeros([0, 3])), labels: []))
        XCTAssertThrowsError(try mseLoss(Variable(rng.tensor([3, 1])), Variable(rng.tensor([3]))))
        XCTAssertThrowsError(try binaryCrossEntropyWithLogits(logits: l, targets: Variable(rng.tensor([3, 2]))))
        XCTAssertThrowsError(try l.logSoftmax(axis: 2))
        XCTAssertThrowsError(try Variable(try Tensor.zeros([2, 0])).softmax())
    }
}

import XCTest
import Foundation
import MetaTensor
import MetaAutodiff
import MetaNN
import _TestSupport

/// LSTM, GRU and LastStep over batch-first sequences, and BatchNorm1d/2d.
final class SequenceLayerTests: XCTestCase {
    var rng = TestRandom(seed: 71)

    func sig(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }

    /// Row r of x·W + h·U + b for a (k, G) weight W, in Double.
    func affine(_ x: ArraySlice<Float>, _ w: [Float], _ h: [Double], _ u: [Float], _ b: [Float]?, width: Int) -> [Double] {
        (0..<width).map { j in
            var s = b.map { Double($0[j]) } ?? 0
            for (k, v) in x.enumerated() { s += Double(v) * Double(w[k * width + j]) }
            for (k, v) in h.enumerated() { s += v * Double(u[k * width + j]) }
            return s
        }
    }

    /// An LSTM over x (N, T, I) by loops: returns (N, T, H) outputs and the final (h, c).
    func lstmReference(_ x: Tensor, _ p: [Tensor], hidden: Int) -> (out: [Float], h: [Float], c: [Float]) {
        let (n, t, inputs) = (x.shape[0], x.shape[1], x.shape[2])
        let xs = x.scalars
        var out = [Float](repeating: 0, count: n * t * hidden), hs = [Float](), cs = [Float]()
        for r in 0..<n {
            var h = [Double](repeating: 0, count: hidden), c = h
            for s in 0..<t {
                let start = (r * t + s) * inputs
                let z = affine(xs[start..<(start + inputs)], p[0].scalars, h, p[1].scalars, p[2].scalars, width: 4 * hidden)
                for j in 0..<hidden {
                    c[j] = sig(z[hidden + j]) * c[j] + sig(z[j]) * Foundation.tanh(z[2 * hidden + j])
                    h[j] = sig(z[3 * hidden + j]) * Foundation.tanh(c[j])
                    out[(r * t + s) * hidden + j] = Float(h[j])
                }
            }
            hs += h.map(Float.init); cs += c.map(Float.init)
        }
        return (out, hs, cs)
    }

    /// A GRU over x (N, T, I) by loops (r, z, n; two biases): (N, T, H) outputs and the final h.
    func gruReference(_ x: Tensor, _ p: [Tensor], hidden: Int) -> (out: [Float], h: [Float]) {
        let (n, t, inputs) = (x.shape[0], x.shape[1], x.shape[2])
        let xs = x.scalars
        var out = [Float](repeating: 0, count: n * t * hidden), hs = [Float]()
        for r in 0..<n {
            var h = [Double](repeating: 0, count: hidden)
            for s in 0..<t {
                let start = (r * t + s) * inputs
                let a = affine(xs[start..<(start + inputs)], p[0].scalars, [], p[1].scalars, p[2].scalars, width: 3 * hidden)
                let b = affine([][...], p[0].scalars, h, p[1].scalars, p[3].scalars, width: 3 * hidden)
                for j in 0..<hidden {
                    let rg = sig(a[j] + b[j]), zg = sig(a[hidden + j] + b[hidden + j])
                    let ng = Foundation.tanh(a[2 * hidden + j] + rg * b[2 * hidden + j])
                    h[j] = (1 - zg) * ng + zg * h[j]
                    out[(r * t + s) * hidden + j] = Float(h[j])
                }
            }
            hs += h.map(Float.init)
        }
        return (out, hs)
    }

    func testLSTMMatchesLoopsAndReturnsTheFinalState() throws {
        let lstm = try LSTM(inputSize: 3, hiddenSize: 2)
        XCTAssertEqual(lstm.parameterSpecs.map(\.description), ["Wx[3, 8]", "Wh[2, 8]", "b[8]"])
        let p = lstm.parameterSpecs.map { rng.tensor($0.shape) }
        let x = rng.tensor([2, 4, 3])
        let (out, final) = try lstm.run(p.map { Variable($0) }, Variable(x))
        let want = lstmReference(x, p, hidden: 2)
        assertClose(out.value, try Tensor(shape: [2, 4, 2], scalars: want.out), rtol: 1e-5)
        assertClose(final.h.value, try Tensor(shape: [2, 2], scalars: want.h), rtol: 1e-5)
        assertClose(final.c.value, try Tensor(shape: [2, 2], scalars: want.c), rtol: 1e-5)
        assertClose(try lstm(p.map { Variable($0) }, Variable(x)).value, out.value, rtol: 0, atol: 0)
        // Two halves chained through the returned state are the whole sequence.
        let first = try lstm.run(p.map { Variable($0) }, Variable(try x.sliced(lower: [0, 0, 0], upper: [2, 2, 3])))
        let second = try lstm.run(p.map { Variable($0) }, Variable(try x.sliced(lower: [0, 2, 0], upper: [2, 4, 3])),
                                  from: first.final)
        assertClose(second.final.h.value, final.h.value, rtol: 1e-6, atol: 1e-7)
        assertClose(second.outputs.value, try out.value.sliced(lower: [0, 2, 0], upper: [2, 4, 2]), rtol: 1e-6, atol: 1e-7)
    }

    func testGRUMatchesLoopsAndReturnsTheFinalState() throws {
        let gru = try GRU(inputSize: 2, hiddenSize: 3)
        XCTAssertEqual(gru.parameterSpecs.map(\.description), ["Wx[2, 9]", "Wh[3, 9]", "bx[9]", "bh[9]"])
        let p = gru.parameterSpecs.map { rng.tensor($0.shape) }
        let x = rng.tensor([3, 5, 2])
        let (out, final) = try gru.run(p.map { Variable($0) }, Variable(x))
        let want = gruReference(x, p, hidden: 3)
        assertClose(out.value, try Tensor(shape: [3, 5, 3], scalars: want.out), rtol: 1e-5)
        assertClose(final.value, try Tensor(shape: [3, 3], scalars: want.h), rtol: 1e-5)
        let h0 = Variable(rng.tensor([3, 3]))
        let fromH0 = try gru.run(p.map { Variable($0) }, Variable(x), from: h0)
        // One step from h0 is the cell's step.
        let step = try gru.cell.step(p.map { Variable($0) }, x: Variable(try x.sliced(lower: [0, 0, 0], upper: [3, 1, 2])
                                                                              .reshaped([3, 2])), state: h0)
        assertClose(try fromH0.outputs.value.sliced(lower: [0, 0, 0], upper: [3, 1, 3]).reshaped([3, 3]), step.value, rtol: 1e-6)
    }

    func testLastStepTakesTheLastStep() throws {
        let x = rng.tensor([2, 3, 4])
        let y = try LastStep()([], Variable(x)).value
        XCTAssertEqual(y.shape, [2, 4])
        XCTAssertEqual(y.scalars, Array(x.scalars[8..<12]) + Array(x.scalars[20..<24]))
        XCTAssertThrowsError(try LastStep()([], Variable(rng.tensor([2, 0, 4]))))
        XCTAssertThrowsError(try LastStep()([], Variable(rng.tensor([4]))))
    }

    func testBatchNorm1dNormalisesPerFeature() throws {
        let bn = try BatchNorm1d(features: 2)
        let gamma = rng.tensor([2]), beta = rng.tensor([2])
        for shape in [[4, 2], [3, 2, 5]] {
            let x = rng.tensor(shape)
            let y = try bn([Variable(gamma), Variable(beta)], Variable(x)).value.scalars
            let len = shape.count == 3 ? shape[2] : 1
            let v = x.scalars
            for f in 0..<2 {
                let idx = (0..<shape[0]).flatMap { n in (0..<len).map { (n * 2 + f) * len + $0 } }
                let mean = idx.map { Double(v[$0]) }.reduce(0, +) / Double(idx.count)
                let variance = idx.map { (Double(v[$0]) - mean) * (Double(v[$0]) - mean) }.reduce(0, +) / Double(idx.count)
                for i in idx {
                    let want = Double(gamma.scalars[f]) * (Double(v[i]) - mean) / (variance + 1e-5).squareRoot() + Double(beta.scalars[f])
                    XCTAssertEqual(Double(y[i]), want, accuracy: 1e-5, "\(shape) feature \(f)")
                }
            }
        }
        XCTAssertThrowsError(try bn([Variable(gamma), Variable(beta)], Variable(rng.tensor([2, 2, 2, 2]))))
        XCTAssertThrowsError(try BatchNorm2d(features: 2)([Variable(gamma), Variable(beta)], Variable(rng.tensor([4, 2]))))
        XCTAssertThrowsError(try BatchNorm1d(features: 0)) { XCTAssertTrue("\($0)".hasPrefix("BatchNorm1d"), "\($0)") }
    }

    func testGradientsToSecondOrder() throws {
        let lstm = try LSTM(inputSize: 2, hiddenSize: 2)
        checkGradients(at: [rng.tensor([2, 3, 2])] + lstm.parameterSpecs.map { rng.tensor($0.shape) }) { v in
            let r = try lstm.run(Array(v[1...]), v[0])
            return try Variable.concat([r.outputs.reshaped([2, 6]), r.final.c], axis: 1)
        }
        let gru = try GRU(inputSize: 2, hiddenSize: 2)
        checkGradients(at: [rng.tensor([2, 3, 2]), rng.tensor([2, 2])] + gru.parameterSpecs.map { rng.tensor($0.shape) }) { v in
            try gru.run(Array(v[2...]), v[0], from: v[1]).outputs
        }
        checkGradients(at: [rng.tensor([2, 3, 4])]) { v in try LastStep()([], v[0]).tanh() }
        let bn = try BatchNorm1d(features: 2)
        checkGradients(at: [rng.tensor([3, 2, 2]), rng.tensor([2]), rng.tensor([2])]) { v in
            try bn(Array(v[1...]), v[0]).tanh()
        }
    }

    /// LSTM → LastStep → Linear as one Sequential: a cross-entropy loss's
    /// gradient and Hessian-vector products with respect to every parameter
    /// agree with finite differences (what second-order MAML differentiates).
    func testLSTMClassifierSecondOrder() throws {
        let model = Sequential([try LSTM(inputSize: 2, hiddenSize: 3), LastStep(), try Linear(inputs: 3, outputs: 2)])
        XCTAssertEqual(model.parameterSpecs.map(\.description), ["0.Wx[2, 12]", "0.Wh[3, 12]", "0.b[12]", "2.W[3, 2]", "2.b[2]"])
        var r = RNG(seed: 5)
        let p = try model.initialParameters(rng: &r)
        let x = Variable(rng.tensor([4, 5, 2]))
        checkGradients(at: p, rtol: 3e-2) { v in
            try softmaxCrossEntropy(logits: model(v, x), labels: [0, 1, 1, 0])
        }
    }
}

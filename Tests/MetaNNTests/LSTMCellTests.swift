import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import _TestSupport

final class LSTMCellTests: XCTestCase {
    var rng = TestRandom(seed: 13)

    /// One step by loops in Double, gates i, f, g, o.
    func naiveStep(x: [Float], h: [Float], c: [Float], wx: [Float], wh: [Float], b: [Float],
                   n: Int, inputs: Int, hidden: Int) -> (h: [Float], c: [Float]) {
        func sig(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }
        var hOut = [Float](), cOut = [Float]()
        for r in 0..<n {
            var z = [Double](repeating: 0, count: 4 * hidden)
            for j in 0..<(4 * hidden) {
                var s = Double(b[j])
                for k in 0..<inputs { s += Double(x[r * inputs + k]) * Double(wx[k * 4 * hidden + j]) }
                for k in 0..<hidden { s += Double(h[r * hidden + k]) * Double(wh[k * 4 * hidden + j]) }
                z[j] = s
            }
            for j in 0..<hidden {
                let i = sig(z[j]), f = sig(z[hidden + j]), g = Foundation.tanh(z[2 * hidden + j]), o = sig(z[3 * hidden + j])
                let cn = f * Double(c[r * hidden + j]) + i * g
                cOut.append(Float(cn)); hOut.append(Float(o * Foundation.tanh(cn)))
            }
        }
        return (hOut, cOut)
    }

    func testStepMatchesLoopsAndSequenceChainsSteps() throws {
        let cell = try LSTMCell(inputSize: 3, hiddenSize: 2)
        XCTAssertEqual(cell.parameterSpecs.map(\.description), ["Wx[3, 8]", "Wh[2, 8]", "b[8]"])
        let params = cell.parameterSpecs.map { Variable(rng.tensor($0.shape)) }
        let x = rng.tensor([4, 3]), h = rng.tensor([4, 2]), c = rng.tensor([4, 2])
        let next = try cell.step(params, x: Variable(x), state: (Variable(h), Variable(c)))
        let want = naiveStep(x: x.scalars, h: h.scalars, c: c.scalars, wx: params[0].scalars, wh: params[1].scalars,
                             b: params[2].scalars, n: 4, inputs: 3, hidden: 2)
        assertClose(next.h.value, try Tensor(shape: [4, 2], scalars: want.h), rtol: 1e-5)
        assertClose(next.c.value, try Tensor(shape: [4, 2], scalars: want.c), rtol: 1e-5)

        // forward over (T, N, in) is T steps from the zero state.
        let seq = rng.tensor([3, 4, 3])
        let hs = try cell(params, Variable(seq))
        XCTAssertEqual(hs.shape, [3, 4, 2])
        var state = (h: [Float](repeating: 0, count: 8), c: [Float](repeating: 0, count: 8))
        for t in 0..<3 {
            state = naiveStep(x: Array(seq.scalars[(t * 12)..<(t * 12 + 12)]), h: state.h, c: state.c,
                              wx: params[0].scalars, wh: params[1].scalars, b: params[2].scalars, n: 4, inputs: 3, hidden: 2)
            assertClose(try hs.value.sliced(lower: [t, 0, 0], upper: [t + 1, 4, 2]),
                        try Tensor(shape: [1, 4, 2], scalars: state.h), rtol: 1e-5, "step \(t)")
        }
        // A matrix is one step from the zero state.
        let one = try cell(params, Variable(x))
        let z = naiveStep(x: x.scalars, h: [Float](repeating: 0, count: 8), c: [Float](repeating: 0, count: 8),
                          wx: params[0].scalars, wh: params[1].scalars, b: params[2].scalars, n: 4, inputs: 3, hidden: 2)
        assertClose(one.value, try Tensor(shape: [4, 2], scalars: z.h), rtol: 1e-5)
    }

    func testInitialParametersSetTheForgetBias() throws {
        let cell = try LSTMCell(inputSize: 2, hiddenSize: 3)
        var r = RNG(seed: 3)
        let p = try cell.initialParameters(rng: &r)
        XCTAssertEqual(p[2].scalars, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
        let bound = 1 / Float(3).squareRoot()
        XCTAssertTrue((p[0].scalars + p[1].scalars).allSatisfy { abs($0) <= bound })
    }

    func testGradientsToSecondOrder() throws {
        let cell = try LSTMCell(inputSize: 2, hiddenSize: 2)
        let shapes = cell.parameterSpecs.map(\.shape)
        // One step, differentiating through the input, the state and the weights.
        checkGradients(at: [rng.tensor([3, 2]), rng.tensor([3, 2]), rng.tensor([3, 2])] + shapes.map { rng.tensor($0) }) { v in
            let s = try cell.step(Array(v[3...]), x: v[0], state: (v[1], v[2]))
            return try Variable.concat([s.h, s.c], axis: 1)
        }
        // Three steps of a sequence.
        checkGradients(at: [rng.tensor([3, 2, 2])] + shapes.map { rng.tensor($0) }) { v in
            try cell(Array(v[1...]), v[0])
        }
    }

    func testBadInputsThrow() throws {
        let cell = try LSTMCell(inputSize: 3, hiddenSize: 2)
        let params = cell.parameterSpecs.map { Variable(rng.tensor($0.shape)) }
        let state = try cell.zeroState(batch: 4)
        XCTAssertThrowsError(try cell.step(params, x: Variable(rng.tensor([4, 2])), state: state))
        XCTAssertThrowsError(try cell.step(params, x: Variable(rng.tensor([5, 3])), state: state))
        XCTAssertThrowsError(try cell.step(Array(params.prefix(2)), x: Variable(rng.tensor([4, 3])), state: state))
        XCTAssertThrowsError(try cell.step([params[1], params[0], params[2]], x: Variable(rng.tensor([4, 3])), state: state))
        XCTAssertThrowsError(try cell(params, Variable(rng.tensor([2, 4, 2]))))
        XCTAssertThrowsError(try cell(params, Variable(rng.tensor([0, 4, 3]))))
        XCTAssertThrowsError(try cell(params, Variable(rng.tensor([3]))))
        XCTAssertThrowsError(try LSTMCell(inputSize: 0, hiddenSize: 2))
        XCTAssertThrowsError(try LSTMCell(inputSize: 2, hiddenSize: 2, forgetBias: .infinity))
    }
}

import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import _TestSupport

final class GRUCellTests: XCTestCase {
    var rng = TestRandom(seed: 19)

    /// One step by loops in Double, PyTorch's formulation, gates r, z, n.
    func naiveStep(x: [Float], h: [Float], p: [Tensor], n: Int, inputs: Int, hidden: Int) -> [Float] {
        func sig(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }
        let (wx, wh, bx, bh) = (p[0].scalars, p[1].scalars, p[2].scalars, p[3].scalars)
        let g = 3 * hidden
        var out = [Float]()
        for row in 0..<n {
            var a = [Double](repeating: 0, count: g), b = [Double](repeating: 0, count: g)
            for j in 0..<g {
                a[j] = Double(bx[j]); b[j] = Double(bh[j])
                for k in 0..<inputs { a[j] += Double(x[row * inputs + k]) * Double(wx[k * g + j]) }
                for k in 0..<hidden { b[j] += Double(h[row * hidden + k]) * Double(wh[k * g + j]) }
            }
            for j in 0..<hidden {
                let r = sig(a[j] + b[j]), z = sig(a[hidden + j] + b[hidden + j])
                let nn = Foundation.tanh(a[2 * hidden + j] + r * b[2 * hidden + j])
                out.append(Float((1 - z) * nn + z * Double(h[row * hidden + j])))
            }
        }
        return out
    }

    func testStepMatchesLoopsAndSequenceChainsSteps() throws {
        let cell = try GRUCell(inputSize: 3, hiddenSize: 2)
        XCTAssertEqual(cell.parameterSpecs.map(\.description), ["Wx[3, 6]", "Wh[2, 6]", "bx[6]", "bh[6]"])
        let params = cell.parameterSpecs.map { Variable(rng.tensor($0.shape)) }
        let p = params.map(\.value)
        let x = rng.tensor([4, 3]), h = rng.tensor([4, 2])
        let next = try cell.step(params, x: Variable(x), state: Variable(h))
        let want = naiveStep(x: x.scalars, h: h.scalars, p: p, n: 4, inputs: 3, hidden: 2)
        assertClose(next.value, try Tensor(shape: [4, 2], scalars: want), rtol: 1e-5)

        // forward over (T, N, in) is T steps from the zero state.
        let seq = rng.tensor([3, 4, 3])
        let hs = try cell(params, Variable(seq))
        XCTAssertEqual(hs.shape, [3, 4, 2])
        var state = [Float](repeating: 0, count: 8)
        for t in 0..<3 {
            state = naiveStep(x: Array(seq.scalars[(t * 12)..<(t * 12 + 12)]), h: state, p: p, n: 4, inputs: 3, hidden: 2)
            assertClose(try hs.value.sliced(lower: [t, 0, 0], upper: [t + 1, 4, 2]),
                        try Tensor(shape: [1, 4, 2], scalars: state), rtol: 1e-5, "step \(t)")
        }
        // A matrix is one step from the zero state.
        let one = try cell(params, Variable(x))
        let z = naiveStep(x: x.scalars, h: [Float](repeating: 0, count: 8), p: p, n: 4, inputs: 3, hidden: 2)
        assertClose(one.value, try Tensor(shape: [4, 2], scalars: z), rtol: 1e-5)
    }

    func testInitialParametersAreUniformInTheBound() throws {
        let cell = try GRUCell(inputSize: 2, hiddenSize: 4)
        var r = RNG(seed: 3)
        let p = try cell.initialParameters(rng: &r)
        XCTAssertEqual(p.map(\.shape), cell.parameterSpecs.map(\.shape))
        let all = p.flatMap(\.scalars)
        XCTAssertTrue(all.allSatisfy { abs($0) <= 0.5 })
        // The biases are drawn too (PyTorch), not zero.
        XCTAssertTrue(p[2].scalars.contains { $0 != 0 } && p[3].scalars.contains { $0 != 0 })
    }

    func testGradientsToSecondOrder() throws {
        let cell = try GRUCell(inputSize: 2, hiddenSize: 2)
        let shapes = cell.parameterSpecs.map(\.shape)
        // One step, differentiating through the input, the state and the weights.
        checkGradients(at: [rng.tensor([3, 2]), rng.tensor([3, 2])] + shapes.map { rng.tensor($0) }) { v in
            try cell.step(Array(v[2...]), x: v[0], state: v[1])
        }
        // Four steps of a sequence.
        checkGradients(at: [rng.tensor([4, 2, 2])] + shapes.map { rng.tensor($0) }) { v in
            try cell(Array(v[1...]), v[0])
        }
    }

    func testBadInputsThrowNamingTheLayer() throws {
        let cell = try GRUCell(inputSize: 3, hiddenSize: 2)
        let params = cell.parameterSpecs.map { Variable(rng.tensor($0.shape)) }
        let state = try cell.zeroState(batch: 4)
        func assertThrowsNamingGRU(_ body: @autoclosure () throws -> Variable, line: UInt = #line) {
            XCTAssertThrowsError(try body(), line: line) { error in
                XCTAssertTrue(error is MetaError, "\(error)", line: line)
                XCTAssertTrue("\(error)".contains("GRUCell"), "\(error)", line: line)
            }
        }
        assertThrowsNamingGRU(try cell.step(params, x: Variable(rng.tensor([4, 2])), state: state))
        assertThrowsNamingGRU(try cell.step(params, x: Variable(rng.tensor([5, 3])), state: state))
        assertThrowsNamingGRU(try cell.step(Array(params.prefix(3)), x: Variable(rng.tensor([4, 3])), state: state))
        assertThrowsNamingGRU(try cell.step([params[1], params[0], params[2], params[3]], x: Variable(rng.tensor([4, 3])), state: state))
        assertThrowsNamingGRU(try cell(params, Variable(rng.tensor([2, 4, 2]))))
        assertThrowsNamingGRU(try cell(params, Variable(rng.tensor([0, 4, 3]))))
        assertThrowsNamingGRU(try cell(params, Variable(rng.tensor([3]))))
        XCTAssertThrowsError(try GRUCell(inputSize: 0, hiddenSize: 2))
        XCTAssertThrowsError(try GRUCell(inputSize: 2, hiddenSize: -1))
    }
}

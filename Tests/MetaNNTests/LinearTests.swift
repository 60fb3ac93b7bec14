import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import _TestSupport

final class LinearTests: XCTestCase {
    var rng = TestRandom(seed: 21)

    /// y[r, j] = Σ_i x[r, i]·W[i, j] + b[j], by loops.
    func naiveLinear(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> [Float] {
        let (inputs, outputs) = (w.shape[0], w.shape[1])
        let rows = x.count / inputs
        let xs = x.scalars, ws = w.scalars, bs = b?.scalars
        var y = [Float](repeating: 0, count: rows * outputs)
        for r in 0..<rows {
            for j in 0..<outputs {
                var s = bs?[j] ?? 0
                for i in 0..<inputs { s += xs[r * inputs + i] * ws[i * outputs + j] }
                y[r * outputs + j] = s
            }
        }
        return y
    }

    func testLinearMatchesLoopsForMatrixAndBatchedInput() throws {
        let layer = try Linear(inputs: 3, outputs: 4)
        XCTAssertEqual(layer.parameterSpecs, [ParameterSpec("W", [3, 4]), ParameterSpec("b", [4])])
        let w = rng.tensor([3, 4]), b = rng.tensor([4])
        for shape in [[5, 3], [2, 5, 3]] {
            let x = rng.tensor(shape)
            let y = try layer([Variable(w), Variable(b)], Variable(x))
            XCTAssertEqual(y.shape, Array(shape.dropLast()) + [4])
            assertClose(y.value, try Tensor(shape: y.shape, scalars: naiveLinear(x, w, b)))
        }
        let noBias = try Linear(inputs: 3, outputs: 4, bias: false)
        XCTAssertEqual(noBias.parameterSpecs.map(\.name), ["W"])
        let x = rng.tensor([2, 3])
        assertClose(try noBias([Variable(w)], Variable(x)).value, try Tensor(shape: [2, 4], scalars: naiveLinear(x, w, nil)))
    }

    func testLinearGradientsToSecondOrder() throws {
        let layer = try Linear(inputs: 3, outputs: 2)
        // tanh makes the map nonlinear in W, x and b so the Hessian is not trivial.
        checkGradients(at: [rng.tensor([4, 3]), rng.tensor([3, 2]), rng.tensor([2])]) { v in
            try layer([v[1], v[2]], v[0]).tanh()
        }
        checkGradients(at: [rng.tensor([2, 4, 3]), rng.tensor([3, 2]), rng.tensor([2])]) { v in
            try layer([v[1], v[2]], v[0]).tanh()
        }
    }

    func testMLPForwardIsLinearActivationLinear() throws {
        let mlp = try MLP(sizes: [2, 5, 3], activation: .tanh)
        var r = RNG(seed: 1)
        let p = try mlp.initialize(rng: &r)
        XCTAssertEqual(p.names, ["W1", "b1", "W2", "b2"])
        let x = rng.tensor([4, 2])
        let h = try Tensor(shape: [4, 5], scalars: naiveLinear(x, p.values[0].value, p.values[1].value).map { tanhf($0) })
        let want = naiveLinear(h, p.values[2].value, p.values[3].value)
        assertClose(try mlp(p, Variable(x)).value, try Tensor(shape: [4, 3], scalars: want))
    }

    func testMLPGradientsToSecondOrder() throws {
        for act in [Activation.tanh, .sigmoid] {
            let mlp = try MLP(sizes: [2, 3, 1], activation: act)
            let shapes = mlp.parameterSpecs.map(\.shape)
            checkGradients(at: [rng.tensor([4, 2])] + shapes.map { rng.tensor($0) }) { v in
                try mlp(Array(v[1...]), v[0])
            }
        }
        // ReLU: inputs and weights chosen so no pre-activation sits near the kink.
        let mlp = try MLP(sizes: [2, 3, 1], activation: .relu)
        let w1 = try Tensor(shape: [2, 3], scalars: [1, -1, 0.5, 0.5, 1, -1])
        let b1 = try Tensor(shape: [3], scalars: [0.1, 0.2, -0.3])
        let x = try Tensor(shape: [2, 2], scalars: [1, 0.5, -0.7, 0.9])
        checkGradients(at: [x, w1, b1, rng.tensor([3, 1]), rng.tensor([1])], eps: 1e-3) { v in
            try mlp(Array(v[1...]), v[0]).square()
        }
    }

    func testSequentialSlicesAndNamesParameters() throws {
        let seq = Sequential([try Linear(inputs: 2, outputs: 3), Activation.relu, try Linear(inputs: 3, outputs: 1, bias: false)])
        XCTAssertEqual(seq.parameterSpecs.map(\.description), ["0.W[2, 3]", "0.b[3]", "2.W[3, 1]"])
        XCTAssertEqual(try seq.parameterRange(ofLayer: 2), 2..<3)
        XCTAssertEqual(try seq.parameterRange(ofLayer: 1), 2..<2)
        // Same function as the MLP with the same numbers (names differ).
        let mlp = try MLP(sizes: [2, 3, 1], activation: .relu, bias: false)
        let w1 = rng.tensor([2, 3]), w2 = rng.tensor([3, 1]), x = rng.tensor([5, 2])
        let zero = Variable(try Tensor.zeros([3]))
        let a = try seq([Variable(w1), zero, Variable(w2)], Variable(x))
        let b = try mlp([Variable(w1), Variable(w2)], Variable(x))
        assertClose(a.value, b.value)
        // The body alone, from the whole list.
        let body = try seq.forward([Variable(w1), zero, Variable(w2)][...], Variable(x), layers: 0..<2)
        XCTAssertEqual(body.shape, [5, 3])
        XCTAssertTrue(body.scalars.allSatisfy { $0 >= 0 })

        let named = try Sequential(named: [("enc", try Linear(inputs: 2, outputs: 2)), ("act", Activation.tanh)])
        XCTAssertEqual(named.parameterSpecs.map(\.name), ["enc.W", "enc.b"])
        XCTAssertThrowsError(try Sequential(named: [("a", Flatten()), ("a", Flatten())]))
    }

    func testSequentialGradientsToSecondOrder() throws {
        let seq = Sequential([try Linear(inputs: 3, outputs: 2), Activation.sigmoid, Flatten(), try Linear(inputs: 2, outputs: 2)])
        let shapes = seq.parameterSpecs.map(\.shape)
        checkGradients(at: [rng.tensor([3, 3])] + shapes.map { rng.tensor($0) }) { v in
            try seq(Array(v[1...]), v[0]).tanh()
        }
    }

    func testFlattenAndActivations() throws {
        let x = rng.tensor([2, 3, 2, 2])
        let y = try Flatten()([], Variable(x))
        XCTAssertEqual(y.shape, [2, 12])
        XCTAssertEqual(y.scalars, x.scalars)
        XCTAssertThrowsError(try Flatten()([], Variable(Float(1))))
        let v = try Variable(shape: [3], scalars: [-1, 0.5, 2])
        XCTAssertEqual(try Activation.relu([], v).scalars, [0, 0.5, 2])
        XCTAssertEqual(try Activation.identity([], v).scalars, [-1, 0.5, 2])
        assertClose(try Activation.tanh([], v).value, try Tensor(shape: [3], scalars: [-1, 0.5, 2].map { tanhf($0) }))
        assertClose(try Activation.sigmoid([], v).value, try Tensor(shape: [3], scalars: [-1, 0.5, 2].map { 1 / (1 + expf(-$0)) }))
    }

    func testWrongParametersAndInputsThrow() throws {
        let layer = try Linear(inputs: 3, outputs: 2)
        let w = Variable(rng.tensor([3, 2])), b = Variable(rng.tensor([2])), x = Variable(rng.tensor([4, 3]))
        XCTAssertThrowsError(try layer([w], x))
        XCTAssertThrowsError(try layer([w, b, b], x))
        XCTAssertThrowsError(try layer([Variable(rng.tensor([2, 3])), b], x))
        XCTAssertThrowsError(try layer([w, Variable(rng.tensor([3]))], x))
        XCTAssertThrowsError(try layer([w, b], Variable(rng.tensor([4, 2]))))
        XCTAssertThrowsError(try layer([w, b], Variable(rng.tensor([3]))))
        // forward, called directly, checks its slice too.
        XCTAssertThrowsError(try layer.forward([w][...], x))
        XCTAssertThrowsError(try MLP(sizes: [2, 3, 1]).forward([w][...], x))
        let seq = Sequential([layer, Activation.relu])
        XCTAssertThrowsError(try seq.forward([w][...], x))
        XCTAssertThrowsError(try seq.forward([w, b][...], x, layers: 0..<3))
        XCTAssertThrowsError(try Activation.relu.forward([w][...], x))
        XCTAssertThrowsError(try Linear(inputs: 0, outputs: 2))
        XCTAssertThrowsError(try MLP(sizes: [3]))
        XCTAssertThrowsError(try MLP(sizes: [3, -1]))
        do {
            _ = try layer([w], x)
            XCTFail("expected an error")
        } catch let e as MetaError {
            XCTAssertEqual(e.kind, .invalidArgument)
            XCTAssertTrue(e.message.contains("expected 2"), e.message)
        }
    }
}

import XCTest
import MetaTensor
import MetaAutodiff
import _TestSupport

/// The fused recurrent-cell primitives against their composite formulation
/// (values, first, second and third order) and against finite differences.
final class RecurrentCellGradTests: XCTestCase {
    var rng = TestRandom(seed: 23)

    typealias Cell = ([Variable]) throws -> Variable

    /// (h', c') side by side, so one check covers both outputs.
    static let lstm: Cell = { v in
        let s = try Variable.lstmCell(gates: v[0], cell: v[1])
        return try Variable.concat([s.h, s.c], axis: 1)
    }
    static let lstmComposite: Cell = { v in
        let s = try Variable.lstmCellComposite(gates: v[0], cell: v[1])
        return try Variable.concat([s.h, s.c], axis: 1)
    }
    static let gru: Cell = { v in try Variable.gruCell(input: v[0], hidden: v[1], state: v[2]) }
    static let gruComposite: Cell = { v in try Variable.gruCellComposite(input: v[0], hidden: v[1], state: v[2]) }

    /// Pre-activations over the range where the gates saturate and where they do not.
    func lstmInputs(n: Int, h: Int) -> [Tensor] { [rng.tensor([n, 4 * h], -4, 4), rng.tensor([n, h], -2, 2)] }
    func gruInputs(n: Int, h: Int) -> [Tensor] {
        [rng.tensor([n, 3 * h], -3, 3), rng.tensor([n, 3 * h], -3, 3), rng.tensor([n, h], -2, 2)]
    }

    func testForwardEqualsTheCompositeBitForBit() throws {
        for (n, h) in [(1, 1), (5, 3), (64, 20)] {
            let l = lstmInputs(n: n, h: h).map { Variable($0) }
            XCTAssertEqual(try Self.lstm(l).scalars, try Self.lstmComposite(l).scalars, "LSTM \(n)x\(h)")
            let g = gruInputs(n: n, h: h).map { Variable($0) }
            XCTAssertEqual(try Self.gru(g).scalars, try Self.gruComposite(g).scalars, "GRU \(n)x\(h)")
        }
    }

    func testForwardMatchesLoopsInDouble() throws {
        func sig(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }
        let (n, h) = (3, 2)
        let l = lstmInputs(n: n, h: h), z = l[0].scalars.map(Double.init), c = l[1].scalars.map(Double.init)
        let s = try Variable.lstmCell(gates: Variable(l[0]), cell: Variable(l[1]))
        let g = gruInputs(n: n, h: h)
        let (a, b, hs) = (g[0].scalars.map(Double.init), g[1].scalars.map(Double.init), g[2].scalars.map(Double.init))
        let out = try Variable.gruCell(input: Variable(g[0]), hidden: Variable(g[1]), state: Variable(g[2])).scalars
        for r in 0..<n {
            for j in 0..<h {
                let zr = Array(z[(r * 4 * h)..<((r + 1) * 4 * h)])
                let cn = sig(zr[h + j]) * c[r * h + j] + sig(zr[j]) * Foundation.tanh(zr[2 * h + j])
                assertClose(Double(s.c.scalars[r * h + j]), cn, rtol: 1e-6)
                assertClose(Double(s.h.scalars[r * h + j]), sig(zr[3 * h + j]) * Foundation.tanh(cn), rtol: 1e-6)
                let ar = Array(a[(r * 3 * h)..<((r + 1) * 3 * h)]), br = Array(b[(r * 3 * h)..<((r + 1) * 3 * h)])
                let rg = sig(ar[j] + br[j]), zg = sig(ar[h + j] + br[h + j])
                let cand = Foundation.tanh(ar[2 * h + j] + rg * br[2 * h + j])
                assertClose(Double(out[r * h + j]), (1 - zg) * cand + zg * hs[r * h + j], rtol: 1e-6, atol: 1e-6)
            }
        }
    }

    /// Σ w ⊙ f(x) and its gradient, Hessian-vector product and a third-order
    /// product, for the fused cell and its composite formulation.
    func derivatives(_ f: Cell, at xs: [Tensor], w: Tensor, u: [Tensor], v: [Tensor]) throws -> [[Tensor]] {
        // tanh after the cell makes the cotangent reaching it depend on x.
        func s(_ x: [Variable]) throws -> Variable { try (f(x).tanh() * Variable(w)).sum() }
        func dot(_ a: [Variable], _ b: [Tensor]) throws -> Variable {
            try zip(a, b).map { try ($0 * Variable($1)).sum() }.reduce(try Variable(Float(0))) { try $0 + $1 }
        }
        let g1 = try Autodiff.grad(at: xs.map { Variable($0) }) { try s($0) }
        let g2 = try Autodiff.grad(at: xs.map { Variable($0) }) { x in
            try dot(try Autodiff.grad(at: x, createGraph: true) { try s($0) }, u)
        }
        let g3 = try Autodiff.grad(at: xs.map { Variable($0) }) { x in
            try dot(try Autodiff.grad(at: x, createGraph: true) { y in
                try dot(try Autodiff.grad(at: y, createGraph: true) { try s($0) }, u)
            }, v)
        }
        return [g1, g2, g3].map { $0.map(\.value) }
    }

    func checkAgainstComposite(_ fused: Cell, _ composite: Cell, at xs: [Tensor], _ name: String) throws {
        let w = rng.tensor(try fused(xs.map { Variable($0) }).shape)
        let u = xs.map { rng.tensor($0.shape) }, v = xs.map { rng.tensor($0.shape) }
        let a = try derivatives(fused, at: xs, w: w, u: u, v: v)
        let b = try derivatives(composite, at: xs, w: w, u: u, v: v)
        for order in 0..<3 {
            for k in xs.indices {
                assertClose(a[order][k], b[order][k], rtol: 1e-4, atol: 1e-5, "\(name): order \(order + 1), input \(k)")
            }
        }
    }

    func testDerivativesToThirdOrderEqualTheComposite() throws {
        try checkAgainstComposite(Self.lstm, Self.lstmComposite, at: lstmInputs(n: 4, h: 3), "LSTM")
        try checkAgainstComposite(Self.gru, Self.gruComposite, at: gruInputs(n: 4, h: 3), "GRU")
    }

    func testLSTMGradientsToSecondOrder() {
        let xs = lstmInputs(n: 3, h: 2)
        checkGradients(at: xs, Self.lstm)
        // A nonlinear function of the outputs: the cotangent reaching the cell depends on its inputs.
        checkGradients(at: xs) { v in
            let s = try Variable.lstmCell(gates: v[0], cell: v[1])
            return try s.h * s.c.tanh() + s.c.square()
        }
        // Only the gates tracked (the zero initial state is a constant).
        let c = Variable(xs[1])
        checkGradients(at: [xs[0]]) { v in try Variable.lstmCell(gates: v[0], cell: c).h.square() }
    }

    func testGRUGradientsToSecondOrder() {
        let xs = gruInputs(n: 3, h: 2)
        checkGradients(at: xs, Self.gru)
        checkGradients(at: xs) { v in try Self.gru(v).square() * v[2] }
        let (b, h) = (Variable(xs[1]), Variable(xs[2]))
        checkGradients(at: [xs[0]]) { v in try Variable.gruCell(input: v[0], hidden: b, state: h).tanh() }
    }

    /// The backward primitives alone: linear in g, differentiable in everything.
    func testBackwardPrimitivesToSecondOrder() {
        let l = lstmInputs(n: 3, h: 2)
        checkGradients(at: [rng.tensor([2, 3, 2])] + l) { v in
            try Variable.lstmCellBackward(v[0], gates: v[1], cell: v[2])
        }
        let g = gruInputs(n: 3, h: 2)
        checkGradients(at: [rng.tensor([3, 2])] + g) { v in
            try Variable.gruCellBackward(v[0], input: v[1], hidden: v[2], state: v[3])
        }
    }

    func testContiguousPartIsAViewAndDifferentiates() throws {
        let x = rng.tensor([4, 6])
        let p = try x.contiguousPart(offset: 5, shape: [3, 2])
        XCTAssertEqual(p.scalars, Array(x.scalars[5..<11]))
        XCTAssertEqual(p.storage.base, x.storage.base + 5)
        XCTAssertThrowsError(try x.contiguousPart(offset: 20, shape: [5]))
        XCTAssertThrowsError(try x.contiguousPart(offset: -1, shape: [2]))
        checkGradients(at: [x]) { v in
            try v[0].contiguousPart(offset: 5, shape: [3, 2]).square() + v[0].contiguousPart(offset: 0, shape: [3, 2])
        }
        // The view outlives every other reference to its buffer.
        let view = try Tensor.lstmCellForward(gates: rng.tensor([2, 8]), cell: rng.tensor([2, 2])).out
            .contiguousPart(offset: 4, shape: [2, 2])
        XCTAssertEqual(view.scalars.count, 4)
        XCTAssertTrue(view.isFinite)
    }

    func testBadShapesThrow() {
        XCTAssertThrowsError(try Variable.lstmCell(gates: Variable(rng.tensor([3, 7])), cell: Variable(rng.tensor([3, 2]))))
        XCTAssertThrowsError(try Variable.lstmCell(gates: Variable(rng.tensor([3, 8])), cell: Variable(rng.tensor([2, 2]))))
        XCTAssertThrowsError(try Variable.lstmCell(gates: Variable(rng.tensor([8])), cell: Variable(rng.tensor([2]))))
        XCTAssertThrowsError(try Variable.lstmCellBackward(Variable(rng.tensor([3, 2])), gates: Variable(rng.tensor([3, 8])),
                                                           cell: Variable(rng.tensor([3, 2]))))
        let (a, h) = (Variable(rng.tensor([3, 6])), Variable(rng.tensor([3, 2])))
        XCTAssertThrowsError(try Variable.gruCell(input: a, hidden: Variable(rng.tensor([3, 3])), state: h))
        XCTAssertThrowsError(try Variable.gruCell(input: a, hidden: a, state: Variable(rng.tensor([3, 3]))))
        XCTAssertThrowsError(try Variable.gruCell(input: Variable(rng.tensor([3, 5])), hidden: Variable(rng.tensor([3, 5])), state: h))
        XCTAssertThrowsError(try Variable.gruCellBackward(Variable(rng.tensor([2, 2])), input: a, hidden: a, state: h))
    }
}

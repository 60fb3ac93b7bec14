import XCTest
import MetaTensor
import MetaAutodiff
import _TestSupport

final class UnaryGradTests: XCTestCase {
    var rng = TestRandom(seed: 11)

    func testSmoothFunctions() {
        let x = rng.tensor([3, 5])
        checkGradients(at: [x]) { v in try v[0].exp() }
        checkGradients(at: [x]) { v in try v[0].tanh() }
        checkGradients(at: [x]) { v in try v[0].sigmoid() }
        checkGradients(at: [x]) { v in try v[0].square() }
        let pos = rng.tensor([3, 5], 0.5, 2)
        checkGradients(at: [pos]) { v in try v[0].log() }
        checkGradients(at: [pos]) { v in try v[0].sqrt() }
        checkGradients(at: [pos]) { v in try v[0].reciprocal() }
    }

    func testKinkedFunctionsAwayFromKink() throws {
        let x = rng.tensorAwayFromZero([4, 4])
        // Compose with a smooth outer function so the second order is not trivially zero.
        checkGradients(at: [x]) { v in try v[0].relu() * v[0] }
        checkGradients(at: [x]) { v in try v[0].abs() * v[0] }
    }

    func testThirdDerivativeOfExpIsExp() throws {
        let x0 = try Variable(Float(0.7))
        let g3 = try Autodiff.grad(at: [x0]) { a in
            try Autodiff.grad(at: a, createGraph: true) { b in
                try Autodiff.grad(at: b, createGraph: true) { c in try c[0].exp() }[0]
            }[0]
        }[0]
        XCTAssertEqual(try g3.item(), expf(0.7), accuracy: 1e-5)
    }

    /// erf against Double, its gradient to second order, and the closed forms
    /// erf'(x) = 2/√π e^(−x²) and erf''(x) = −2x erf'(x).
    func testErf() throws {
        let x = rng.tensor([3, 5], -3, 3)
        let y = try Variable(x).erf()
        assertClose(y.value, try Tensor(shape: x.shape, scalars: x.scalars.map { Float(Foundation.erf(Double($0))) }),
                    rtol: 2e-6, atol: 1e-7)
        checkGradients(at: [rng.tensor([3, 5], -2, 2)]) { v in try v[0].erf() }
        checkGradients(at: [x]) { v in try v[0].erf() * v[0] }
        for x0 in [-1.3, 0, 0.4, 2.1] {
            let d1 = 2 / Double.pi.squareRoot() * Foundation.exp(-x0 * x0)
            let (g1, g2) = try derivatives(at: Float(x0)) { try $0.erf() }
            assertClose(Double(g1), d1, rtol: 1e-5, atol: 1e-7, "erf' at \(x0)")
            assertClose(Double(g2), -2 * x0 * d1, rtol: 1e-5, atol: 1e-6, "erf'' at \(x0)")
        }
    }

    /// The first and second derivative of a scalar function, by the tape.
    func derivatives(at x: Float, _ f: (Variable) throws -> Variable) throws -> (Float, Float) {
        let x0 = try Variable(x)
        let g1 = try Autodiff.grad(at: [x0]) { try f($0[0]) }[0]
        let g2 = try Autodiff.grad(at: [x0]) { a in
            try Autodiff.grad(at: a, createGraph: true) { try f($0[0]) }[0]
        }[0]
        return (try g1.item(), try g2.item())
    }
}

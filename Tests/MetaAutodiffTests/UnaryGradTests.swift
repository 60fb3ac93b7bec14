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
}

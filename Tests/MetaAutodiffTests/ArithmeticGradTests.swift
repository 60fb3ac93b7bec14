import XCTest
import MetaTensor
import MetaAutodiff
import _TestSupport

final class ArithmeticGradTests: XCTestCase {
    var rng = TestRandom(seed: 7)

    func testAddBroadcast() {
        checkGradients(at: [rng.tensor([3, 4]), rng.tensor([4])]) { x in try (x[0] + x[1]).square() }
    }
    func testSubBroadcast() {
        checkGradients(at: [rng.tensor([2, 1, 3]), rng.tensor([4, 1])]) { x in try (x[0] - x[1]).square() }
    }
    func testMul() {
        checkGradients(at: [rng.tensor([3, 4]), rng.tensor([3, 1])]) { x in try x[0] * x[1] * x[0] }
    }
    func testDiv() {
        checkGradients(at: [rng.tensor([3, 4]), rng.tensor([4], 0.5, 2)]) { x in try x[0] / x[1] }
    }
    func testMaximumMinimum() {
        let a = rng.tensor([5, 3]), b = rng.tensor([5, 3])
        checkGradients(at: [a, b]) { x in try Variable.maximum(x[0], x[1]).square() }
        checkGradients(at: [a, b]) { x in try Variable.minimum(x[0], x[1]).square() }
    }
    func testAffineAndScalars() {
        checkGradients(at: [rng.tensor([4])]) { x in try (3 - x[0] * 2 + 1).square() / 4 }
    }
    func testScalarOverVariable() {
        checkGradients(at: [rng.tensor([4], 0.5, 2)]) { x in try 2 / x[0] }
    }
}

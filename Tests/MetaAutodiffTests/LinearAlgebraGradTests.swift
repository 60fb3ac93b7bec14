import XCTest
import MetaTensor
import MetaAutodiff
import _TestSupport

final class LinearAlgebraGradTests: XCTestCase {
    var rng = TestRandom(seed: 3)

    func testMatMulAllTransposes() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = rng.tensor(ta ? [4, 3] : [3, 4]), b = rng.tensor(tb ? [5, 4] : [4, 5])
            checkGradients(at: [a, b]) { x in
                try Variable.matmul(x[0], x[1], transposeA: ta, transposeB: tb).square()
            }
        }
    }

    func testBatchedMatMulWithSharedRight() {
        checkGradients(at: [rng.tensor([2, 3, 4]), rng.tensor([4, 5])]) { x in
            try Variable.matmul(x[0], x[1]).square()
        }
        checkGradients(at: [rng.tensor([4, 3]), rng.tensor([2, 4, 5])]) { x in
            try Variable.matmul(x[0], x[1], transposeA: true).square()
        }
    }

    func testHessianOfQuadraticFormIsItsMatrix() throws {
        // f(x) = ½ xᵀAx with symmetric A: the Hessian is A.
        let m = rng.tensor([4, 4])
        let a = try m.zip(try m.transposedLast2(), .add)
        let x0 = Variable(rng.tensor([4, 1]))
        for i in 0..<4 {
            var e = [Float](repeating: 0, count: 4); e[i] = 1
            let ei = try Variable(shape: [4, 1], scalars: e)
            let hei = try Autodiff.grad(at: [x0]) { x in
                let g = try Autodiff.grad(at: x, createGraph: true) { v in
                    try Variable.matmul(v[0], try Variable.matmul(Variable(a), v[0]), transposeA: true) * 0.5
                }[0]
                return try (g * ei).sum()
            }[0]
            let column = try a.sliced(lower: [0, i], upper: [4, i + 1])
            assertClose(hei.value, column, rtol: 1e-5)
        }
    }

    func testReductionsAndBroadcast() {
        checkGradients(at: [rng.tensor([3, 4, 2])]) { x in try x[0].square().sum(axes: [0, 2]) }
        checkGradients(at: [rng.tensor([3, 4, 2])]) { x in try x[0].square().sum(axes: [1], keepDims: true) }
        checkGradients(at: [rng.tensor([4, 1])]) { x in try x[0].broadcast(to: [2, 4, 3]).square() }
        checkGradients(at: [rng.tensor([2, 4, 3])]) { x in try x[0].square().sum(to: [4, 1]) }
        checkGradients(at: [rng.tensor([6])]) { x in try x[0].reshaped([2, 3]).square() }
    }

    func testMaxReduction() {
        // Distinct positive values (so squares are distinct too): the maximum is
        // unique and the derivative defined.
        let t = try! Tensor(shape: [3, 4], scalars: (0..<12).map { Float(($0 * 7) % 12) / 6 + 0.1 })
        checkGradients(at: [t]) { x in try x[0].max(axes: [1]).square() }
        checkGradients(at: [t]) { x in try (x[0] * x[0]).max(axes: [0], keepDims: true) }
    }
}

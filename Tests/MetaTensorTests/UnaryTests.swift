import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import MetaTensor
import _TestSupport

final class UnaryTests: XCTestCase {
    /// Each op in Double, with the inputs on which it is defined.
    static func reference(_ op: UnaryOp) -> (f: (Double) -> Double, lo: Float, hi: Float) {
        switch op {
        case .neg: return ({ -$0 }, -5, 5)
        case .exp: return ({ Glibc.exp($0) }, -20, 20)
        case .log: return ({ Glibc.log($0) }, 1e-3, 50)
        case .sqrt: return ({ $0.squareRoot() }, 0, 50)
        case .tanh: return ({ Glibc.tanh($0) }, -6, 6)
        case .sigmoid: return ({ 1 / (1 + Glibc.exp(-$0)) }, -30, 30)
        case .relu: return ({ Swift.max($0, 0) }, -5, 5)
        case .abs: return ({ Swift.abs($0) }, -5, 5)
        case .square: return ({ $0 * $0 }, -5, 5)
        case .reciprocal: return ({ 1 / $0 }, 0.05, 5)
        case .erf: return ({ Glibc.erf($0) }, -4, 4)
        case .step: return ({ $0 > 0 ? 1 : 0 }, -5, 5)
        case .sign: return ({ $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }, -5, 5)
        }
    }

    func testEveryOpAgainstDouble() throws {
        var rng = TestRandom(seed: 21)
        for op in UnaryOp.allCases {
            let (f, lo, hi) = Self.reference(op)
            // Reciprocal is checked on both signs, away from zero.
            var x = rng.tensor([7, 9], lo, hi)
            if op == .reciprocal { x = rng.tensorAwayFromZero([7, 9], gap: lo, hi) }
            let y = try x.map(op)
            XCTAssertEqual(y.shape, x.shape)
            let expected = x.scalars.map { Float(f(Double($0))) }
            assertClose(y, try! Tensor(shape: x.shape, scalars: expected), rtol: 2e-6, atol: 1e-7, "\(op)")
        }
    }

    func testShapesArePreserved() throws {
        for shape in [[], [0], [3, 0, 2], [1, 1, 1]] as [[Int]] {
            let x = try Tensor.full(shape, 0.5)
            for op in UnaryOp.allCases {
                let y = try x.map(op)
                XCTAssertEqual(y.shape, shape, "\(op)")
                XCTAssertEqual(y.count, x.count, "\(op)")
            }
        }
        assertExactly(try Tensor(-2).map(.abs), [], [2])
    }

    /// Sigmoid splits by sign so that exp never overflows: no NaN or infinity,
    /// results in [0, 1], the tails correct, and σ(x) + σ(−x) = 1.
    func testSigmoidIsStableInTheTails() throws {
        let xs: [Float] = [-.infinity, -1000, -100, -88, -30, -1, 0, 1, 30, 88, 100, 1000, .infinity]
        let y = try Tensor(shape: [xs.count], scalars: xs).map(.sigmoid).scalars
        for (x, v) in zip(xs, y) {
            XCTAssertTrue(v.isFinite && v >= 0 && v <= 1, "sigmoid(\(x)) = \(v)")
        }
        XCTAssertEqual(y[0], 0)
        XCTAssertEqual(y[6], 0.5)
        XCTAssertEqual(y[10], 1)
        XCTAssertEqual(y[12], 1)
        // exp(-100) ≈ 3.7e-44 is a subnormal Float; the split keeps it.
        assertClose(Double(y[2]), Glibc.exp(-100.0), rtol: 0.1, atol: 0)
        let sym = try Tensor(shape: [5], scalars: [-8, -2, 0.5, 3, 7])
        let sum = try sym.map(.sigmoid).zip(sym.map(.neg).map(.sigmoid), .add)
        assertClose(sum, try Tensor.ones([5]), rtol: 0, atol: 1e-6)
    }

    func testTanhAndExpInTheTails() throws {
        let t = try Tensor(shape: [4], scalars: [-100, -20, 20, 100]).map(.tanh)
        assertExactly(t, [4], [-1, -1, 1, 1])
        let e = try Tensor(shape: [2], scalars: [-200, 200]).map(.exp)
        assertExactly(e, [2], [0, .infinity])
    }

    /// The kinks at zero: relu(0) = 0, step(0) = 0 (relu's derivative chosen as
    /// 0 there), sign(±0) = 0; and the edges of log, sqrt and reciprocal.
    func testValuesAtZero() throws {
        let z = try Tensor(shape: [2], scalars: [0, -0.0])
        assertExactly(try z.map(.relu), [2], [0, 0])
        assertExactly(try z.map(.step), [2], [0, 0])
        assertExactly(try z.map(.sign), [2], [0, 0])
        assertExactly(try z.map(.abs), [2], [0, 0])
        assertExactly(try z.map(.sqrt), [2], [0, 0])
        assertExactly(try z.map(.log), [2], [-.infinity, -.infinity])
        assertExactly(try z.map(.reciprocal), [2], [.infinity, -.infinity])
        XCTAssertEqual(try z.map(.reciprocal).scalars[1].sign, .minus)
        let small = try Tensor(shape: [4], scalars: [-1e-30, 1e-30, -3, 3])
        assertExactly(try small.map(.relu), [4], [0, 1e-30, 0, 3])
        assertExactly(try small.map(.step), [4], [0, 1, 0, 1])
        assertExactly(try small.map(.sign), [4], [-1, 1, -1, 1])
        XCTAssertTrue(try Tensor(-1).map(.log).item().isNaN)
        XCTAssertTrue(try Tensor(-1).map(.sqrt).item().isNaN)
    }

    func testAffine() throws {
        var rng = TestRandom(seed: 4)
        let x = rng.tensor([3, 5])
        let y = try x.affine(scale: -2.5, shift: 0.75)
        let expected = x.scalars.map { -2.5 * $0 + 0.75 }
        assertClose(y, try Tensor(shape: [3, 5], scalars: expected), rtol: 1e-6, atol: 1e-6)
        XCTAssertEqual(try Tensor.zeros([0, 2]).affine(scale: 2, shift: 1).shape, [0, 2])
        assertExactly(try Tensor(2).affine(scale: 3, shift: -1), [], [5])
    }
}

import XCTest
import MetaTensor
import MetaNN
import _TestSupport

final class InitializerTests: XCTestCase {
    func stats(_ t: Tensor) -> (mean: Double, std: Double) {
        let x = t.scalars.map(Double.init)
        let m = x.reduce(0, +) / Double(x.count)
        let v = x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count)
        return (m, v.squareRoot())
    }

    func testFansOfDenseAndConvLayouts() throws {
        let dense = try Initializer.fans([30, 50])
        XCTAssertEqual(dense.fanIn, 30); XCTAssertEqual(dense.fanOut, 50)
        let conv = try Initializer.fans([64, 3, 3, 5])
        XCTAssertEqual(conv.fanIn, 3 * 15); XCTAssertEqual(conv.fanOut, 64 * 15)
        let bias = try Initializer.fans([7])
        XCTAssertEqual(bias.fanIn, 7); XCTAssertEqual(bias.fanOut, 7)
        XCTAssertThrowsError(try Initializer.fans([]))
    }

    func testStandardDeviationsMatchTheFormulas() throws {
        // Large enough that the sample std is within ~2% of the target.
        let cases: [(Initializer, [Int], Double)] = [
            (.kaimingUniform(), [200, 100], (2.0 / 200).squareRoot()),
            (.kaimingNormal(), [200, 100], (2.0 / 200).squareRoot()),
            (.kaimingNormal(gain: 1), [32, 16, 3, 3], (1.0 / 144).squareRoot()),
            (.glorotUniform(), [200, 100], (2.0 / 300).squareRoot()),
            (.glorotNormal(), [32, 16, 3, 3], (2.0 / (144 + 288)).squareRoot()),
            (.normal(mean: 1, std: 0.5), [100, 100], 0.5),
        ]
        for (initializer, shape, expected) in cases {
            var rng = RNG(seed: 7)
            let t = try initializer(shape, rng: &rng)
            XCTAssertEqual(t.shape, shape)
            let s = stats(t)
            assertClose(s.std, expected, rtol: 0.03, atol: 0, "\(initializer) \(shape)")
            let want = try initializer.standardDeviation(for: shape).map(Double.init) ?? -1
            assertClose(want, expected, rtol: 1e-6, "\(initializer) formula")
            if case .normal = initializer { assertClose(s.mean, 1, atol: 0.02) } else {
                assertClose(s.mean, 0, atol: 3 * expected / Double(t.count).squareRoot() + 1e-6, "\(initializer) mean")
            }
        }
    }

    func testUniformSchemesStayWithinTheirBound() throws {
        var rng = RNG(seed: 3)
        let t = try Initializer.glorotUniform(gain: 2)([10, 20], rng: &rng)
        let bound = Float(2 * (6.0 / 30).squareRoot())
        XCTAssertTrue(t.scalars.allSatisfy { abs($0) <= bound })
        XCTAssertGreaterThan(t.scalars.map(abs).max() ?? 0, 0.9 * bound)
    }

    func testSameSeedSameTensorsDifferentSeedDifferent() throws {
        for initializer: Initializer in [.kaimingUniform(), .kaimingNormal(), .glorotUniform(), .glorotNormal()] {
            var a = RNG(seed: 11), b = RNG(seed: 11), c = RNG(seed: 12)
            let x = try initializer([5, 4], rng: &a), y = try initializer([5, 4], rng: &b), z = try initializer([5, 4], rng: &c)
            XCTAssertEqual(x.scalars, y.scalars, "\(initializer)")
            XCTAssertNotEqual(x.scalars, z.scalars, "\(initializer)")
        }
    }

    func testZerosConstantAndErrors() throws {
        var rng = RNG(seed: 1)
        let zeros = Initializer.zeros
        XCTAssertEqual(try zeros([3], rng: &rng).scalars, [0, 0, 0])
        XCTAssertEqual(try Initializer.constant(2)([2], rng: &rng).scalars, [2, 2])
        XCTAssertThrowsError(try Initializer.kaimingUniform()([0, 3], rng: &rng))
        XCTAssertThrowsError(try Initializer.kaimingNormal(gain: -1)([3, 3], rng: &rng))
        XCTAssertThrowsError(try Initializer.constant(.nan)([3], rng: &rng))
        XCTAssertThrowsError(try Initializer.normal(mean: 0, std: -1)([3], rng: &rng))
    }

    func testModelInitializationIsDeterministic() throws {
        let mlp = try MLP(sizes: [1, 40, 40, 1])
        var a = RNG(seed: 5), b = RNG(seed: 5)
        let p = try mlp.initialize(rng: &a), q = try mlp.initialize(rng: &b)
        XCTAssertEqual(p.names, ["W1", "b1", "W2", "b2", "W3", "b3"])
        XCTAssertEqual(p.shapes, [[1, 40], [40], [40, 40], [40], [40, 1], [1]])
        for (x, y) in zip(p.values, q.values) { XCTAssertEqual(x.scalars, y.scalars) }
        XCTAssertEqual(p["b2"]?.scalars, [Float](repeating: 0, count: 40))
    }
}

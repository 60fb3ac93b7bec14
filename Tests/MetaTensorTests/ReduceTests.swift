import XCTest
@testable import MetaTensor
import _TestSupport

final class ReduceTests: XCTestCase {
    /// Sum (in Double) or max over `axes`, by visiting every input element.
    static func reference(_ x: Tensor, _ op: ReduceOp, axes: Set<Int>, keepDims: Bool) -> (shape: [Int], values: [Double]) {
        let kept = x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
        let n = kept.reduce(1, *)
        var acc = [Double](repeating: op == .sum ? 0 : -.infinity, count: n)
        let xs = x.scalars
        for (i, idx) in allIndices(x.shape).enumerated() {
            let o = flatIndex(idx.enumerated().map { axes.contains($0.offset) ? 0 : $0.element }, kept)
            acc[o] = op == .sum ? acc[o] + Double(xs[i]) : Swift.max(acc[o], Double(xs[i]))
        }
        let shape = keepDims ? kept : x.shape.enumerated().filter { !axes.contains($0.offset) }.map { $0.element }
        return (shape, acc)
    }

    /// Every subset of axes of several tensors (with size-1 and merged
    /// dimensions), with and without keepDims, with axes given as positive and
    /// as negative numbers in scrambled order.
    func testEverySubsetOfAxes() throws {
        var rng = TestRandom(seed: 31)
        let shapes: [[Int]] = [[], [5], [2, 3, 4], [2, 1, 3, 2], [3, 4, 1, 5], [1, 1, 1], [4, 1], [2, 3, 2, 3]]
        for shape in shapes {
            let x = rng.mixedTensor(shape)
            let r = shape.count
            for mask in 0..<(1 << r) {
                let axes = (0..<r).filter { mask & (1 << $0) != 0 }
                let negative = axes.reversed().map { $0 - r }
                for op in [ReduceOp.sum, .max] {
                    for keepDims in [false, true] {
                        let ref = Self.reference(x, op, axes: Set(axes), keepDims: keepDims)
                        let expected = try Tensor(shape: ref.shape, scalars: ref.values.map { Float($0) })
                        let what = "\(op) \(shape) axes \(axes) keepDims \(keepDims)"
                        let y = op == .sum ? try x.sum(axes: axes, keepDims: keepDims) : try x.max(axes: axes, keepDims: keepDims)
                        assertClose(y, expected, rtol: 1e-5, atol: 1e-4, what)
                        assertClose(try x.reduce(op, axes: negative, keepDims: keepDims), expected, rtol: 1e-5, atol: 1e-4, "negative " + what)
                    }
                }
            }
        }
    }

    func testSumAll() throws {
        var rng = TestRandom(seed: 32)
        let x = rng.tensor([3, 7, 2])
        let total = x.scalars.reduce(0.0) { $0 + Double($1) }
        XCTAssertEqual(try x.sumAll().shape, [])
        assertClose(Double(try x.sumAll().item()), total, rtol: 1e-5, atol: 1e-6)
        XCTAssertEqual(try Tensor.zeros([0, 3]).sumAll().item(), 0)
    }

    /// Zero-size tensors: a sum over an empty axis is 0, a kept empty axis
    /// leaves an empty result, and max over an empty axis has no answer.
    func testZeroSize() throws {
        let x = try Tensor.zeros([2, 0, 3])
        assertExactly(try x.sum(axes: [1]), [2, 3], [Float](repeating: 0, count: 6))
        assertExactly(try x.sum(axes: [1], keepDims: true), [2, 1, 3], [Float](repeating: 0, count: 6))
        assertExactly(try x.sum(axes: [0, 2]), [0], [])
        assertExactly(try x.max(axes: [0, 2]), [0], [])
        assertThrows(.shapeMismatch, try x.max(axes: [1]))
        assertThrows(.shapeMismatch, try x.max(axes: [0, 1, 2]))
    }

    /// Max propagates NaN wherever it sits in the reduced run.
    func testMaxPropagatesNaN() throws {
        let x = try Tensor(shape: [3, 3], scalars: [.nan, 1, 2, 3, .nan, 4, 5, 6, .nan])
        let rows = try x.max(axes: [1]).scalars, cols = try x.max(axes: [0]).scalars
        XCTAssertTrue(rows.allSatisfy { $0.isNaN }, "\(rows)")
        XCTAssertTrue(cols.allSatisfy { $0.isNaN }, "\(cols)")
        let y = try Tensor(shape: [2], scalars: [-.infinity, -.infinity])
        XCTAssertEqual(try y.max(axes: [0]).item(), -.infinity)
    }

    func testAxisErrors() throws {
        let x = try Tensor.zeros([2, 3, 4])
        for op in [ReduceOp.sum, .max] {
            assertThrows(.indexOutOfRange, try x.reduce(op, axes: [3], keepDims: false), "\(op)")
            assertThrows(.indexOutOfRange, try x.reduce(op, axes: [-4], keepDims: false), "\(op)")
            assertThrows(.invalidArgument, try x.reduce(op, axes: [1, 1], keepDims: false), "\(op)")
            assertThrows(.invalidArgument, try x.reduce(op, axes: [2, -1], keepDims: true), "\(op)")
            assertThrows(.indexOutOfRange, try Tensor(1).reduce(op, axes: [0], keepDims: false), "\(op)")
        }
    }

    // MARK: - broadcast(to:) and its adjoint sum(to:)

    static let broadcastPairs: [([Int], [Int])] = [
        ([3], [2, 3]), ([1], [4]), ([], [2, 2]), ([2, 1], [2, 5]), ([1, 3], [4, 3]),
        ([2, 1, 3], [4, 2, 5, 3]), ([1, 1], [3, 1]), ([3, 4], [3, 4]), ([1, 3], [0, 3]), ([0], [2, 0]),
    ]

    func testBroadcastTo() throws {
        var rng = TestRandom(seed: 33)
        for (small, big) in Self.broadcastPairs {
            let x = rng.tensor(small)
            let expected = allIndices(big).map { broadcastElement(x, at: $0) }
            assertExactly(try x.broadcast(to: big), big, expected, "\(small) -> \(big)")
        }
        // A pure copy: the sign of zero and NaN payloads survive.
        let z = try Tensor(shape: [2, 1], scalars: [-0.0, .nan]).broadcast(to: [2, 2]).scalars
        XCTAssertEqual(z[0].sign, .minus)
        XCTAssertEqual(z[1].sign, .minus)
        XCTAssertTrue(z[2].isNaN && z[3].isNaN)
    }

    func testSumToAndTheAdjointIdentity() throws {
        var rng = TestRandom(seed: 34)
        for (small, big) in Self.broadcastPairs {
            let y = rng.tensor(big)
            var expected = [Double](repeating: 0, count: small.reduce(1, *))
            let ys = y.scalars
            for (i, idx) in allIndices(big).enumerated() {
                let off = big.count - small.count
                expected[flatIndex((0..<small.count).map { small[$0] == 1 ? 0 : idx[$0 + off] }, small)] += Double(ys[i])
            }
            let s = try y.sum(to: small)
            assertClose(s, try Tensor(shape: small, scalars: expected.map { Float($0) }), rtol: 1e-5, atol: 1e-5, "\(big) -> \(small)")
            // ⟨broadcast(x), y⟩ = ⟨x, sum_to(y)⟩: the two are adjoint.
            let x = rng.tensor(small)
            let bx = try x.broadcast(to: big)
            let lhs = zip(bx.scalars, ys).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let rhs = zip(x.scalars, s.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            assertClose(lhs, rhs, rtol: 1e-5, atol: 1e-5, "adjoint \(small) \(big)")
            // Broadcasting then summing back multiplies by the number of copies.
            let copies = Float(big.reduce(1, *)) / Float(Swift.max(small.reduce(1, *), 1))
            if x.count > 0 && bx.count > 0 {
                assertClose(try bx.sum(to: small), try x.affine(scale: copies, shift: 0), rtol: 1e-5, atol: 1e-5)
            }
        }
    }

    func testBroadcastAndSumToErrors() throws {
        let x = try Tensor.zeros([2, 3])
        assertThrows(.shapeMismatch, try x.broadcast(to: [3]))
        assertThrows(.shapeMismatch, try x.broadcast(to: [2, 4]))
        assertThrows(.shapeMismatch, try x.broadcast(to: [3, 3]))
        assertThrows(.invalidArgument, try x.broadcast(to: [-1, 3]))
        assertThrows(.shapeMismatch, try x.sum(to: [4]))
        assertThrows(.shapeMismatch, try x.sum(to: [2, 2]))
        assertThrows(.shapeMismatch, try x.sum(to: [1, 2, 3]))
        assertThrows(.invalidArgument, try x.sum(to: [-2, 3]))
    }
}

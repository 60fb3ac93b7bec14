import XCTest
@testable import MetaTensor
import _TestSupport

final class LayoutTests: XCTestCase {
    /// All permutations of 0..<n.
    static func permutations(_ n: Int) -> [[Int]] {
        if n == 0 { return [[]] }
        return permutations(n - 1).flatMap { p in (0...p.count).map { i in var q = p; q.insert(n - 1, at: i); return q } }
    }

    static func permutedReference(_ x: Tensor, _ perm: [Int]) -> [Float] {
        let shape = perm.map { x.shape[$0] }
        let xs = x.scalars
        return allIndices(shape).map { out in
            var idx = [Int](repeating: 0, count: x.rank)
            for (i, p) in perm.enumerated() { idx[p] = out[i] }
            return xs[flatIndex(idx, x.shape)]
        }
    }

    func testPermutedEveryPermutation() throws {
        var rng = TestRandom(seed: 51)
        for shape in [[], [4], [2, 3], [2, 3, 4], [2, 1, 3, 2], [3, 0, 2], [1, 5, 1]] as [[Int]] {
            let x = rng.tensor(shape)
            for perm in Self.permutations(shape.count) {
                let y = try x.permuted(perm)
                assertExactly(y, perm.map { shape[$0] }, Self.permutedReference(x, perm), "\(shape) \(perm)")
                // The inverse permutation undoes it.
                var inverse = perm
                for (i, p) in perm.enumerated() { inverse[p] = i }
                assertExactly(try y.permuted(inverse), shape, x.scalars, "inverse \(shape) \(perm)")
            }
        }
    }

    func testTransposedLast2() throws {
        var rng = TestRandom(seed: 52)
        for shape in [[3, 4], [2, 3, 4], [2, 2, 1, 5], [0, 3]] as [[Int]] {
            let x = rng.tensor(shape)
            let r = shape.count
            var perm = Array(0..<r); perm.swapAt(r - 1, r - 2)
            assertExactly(try x.transposedLast2(), perm.map { shape[$0] }, Self.permutedReference(x, perm), "\(shape)")
        }
        assertThrows(.shapeMismatch, try Tensor.zeros([3]).transposedLast2())
        assertThrows(.shapeMismatch, try Tensor(1).transposedLast2())
    }

    func testPermutedErrors() throws {
        let x = try Tensor.zeros([2, 3, 4])
        for bad in [[0, 1], [0, 1, 2, 3], [0, 0, 1], [0, 1, 3], [-1, 0, 1], [2, 2, 2]] {
            assertThrows(.invalidArgument, try x.permuted(bad), "\(bad)")
        }
    }

    func testSliced() throws {
        var rng = TestRandom(seed: 53)
        for shape in [[5], [3, 4], [2, 3, 4], [2, 1, 3, 5], [3, 0, 2]] as [[Int]] {
            let x = rng.tensor(shape)
            let xs = x.scalars
            for _ in 0..<6 {
                var lower: [Int] = [], upper: [Int] = []
                for d in shape {
                    let a = Int(rng.next() % UInt64(d + 1)), b = Int(rng.next() % UInt64(d + 1))
                    lower.append(Swift.min(a, b)); upper.append(Swift.max(a, b))
                }
                let outShape = zip(lower, upper).map { $1 - $0 }
                let expected = allIndices(outShape).map { xs[flatIndex(zip($0, lower).map { $0 + $1 }, shape)] }
                assertExactly(try x.sliced(lower: lower, upper: upper), outShape, expected, "\(shape) \(lower)..<\(upper)")
            }
            assertExactly(try x.sliced(lower: shape.map { _ in 0 }, upper: shape), shape, xs, "whole \(shape)")
        }
        assertExactly(try Tensor(3).sliced(lower: [], upper: []), [], [3])
    }

    func testSlicedErrors() throws {
        let x = try Tensor.zeros([3, 4])
        assertThrows(.invalidArgument, try x.sliced(lower: [0], upper: [1]))
        assertThrows(.invalidArgument, try x.sliced(lower: [0, 0, 0], upper: [1, 1, 1]))
        assertThrows(.invalidArgument, try x.sliced(lower: [0, 0], upper: [1]))
        assertThrows(.indexOutOfRange, try x.sliced(lower: [2, 0], upper: [1, 4]))
        assertThrows(.indexOutOfRange, try x.sliced(lower: [0, 0], upper: [3, 5]))
        assertThrows(.indexOutOfRange, try x.sliced(lower: [-1, 0], upper: [3, 4]))
        assertThrows(.indexOutOfRange, try x.sliced(lower: [0, 0], upper: [Int.max, 4]))
        assertThrows(.indexOutOfRange, try x.sliced(lower: [Int.min, 0], upper: [1, 4]))
    }

    func testPadded() throws {
        var rng = TestRandom(seed: 54)
        for shape in [[], [3], [2, 3], [2, 1, 3], [0, 2], [2, 0, 1]] as [[Int]] {
            let x = rng.tensor(shape)
            let before = shape.map { _ in Int(rng.next() % 3) }, after = shape.map { _ in Int(rng.next() % 3) }
            let outShape = (0..<shape.count).map { shape[$0] + before[$0] + after[$0] }
            let xs = x.scalars
            let expected: [Float] = allIndices(outShape).map { idx in
                let src = zip(idx, before).map { $0 - $1 }
                let inside = (0..<shape.count).allSatisfy { src[$0] >= 0 && src[$0] < shape[$0] }
                return inside ? xs[flatIndex(src, shape)] : 0
            }
            let y = try x.padded(before: before, after: after)
            assertExactly(y, outShape, expected, "\(shape) \(before) \(after)")
            // Slicing the padding away gives the input back (pad and slice are adjoint).
            let upper = (0..<shape.count).map { before[$0] + shape[$0] }
            assertExactly(try y.sliced(lower: before, upper: upper), shape, xs, "round trip \(shape)")
        }
    }

    func testPaddedErrors() throws {
        let x = try Tensor.zeros([2, 3])
        assertThrows(.invalidArgument, try x.padded(before: [1], after: [1, 1]))
        assertThrows(.invalidArgument, try x.padded(before: [1, 1], after: [1, 1, 1]))
        assertThrows(.invalidArgument, try x.padded(before: [-1, 0], after: [0, 0]))
        assertThrows(.invalidArgument, try x.padded(before: [0, 0], after: [0, -2]))
        // Widths so large that the padded size overflows Int must throw, not trap.
        assertThrows(.invalidArgument, try x.padded(before: [Int.max, 0], after: [0, 0]))
        assertThrows(.invalidArgument, try x.padded(before: [0, Int.max / 2], after: [0, Int.max / 2]))
        assertThrows(.invalidArgument, try x.padded(before: [1 << 40, 0], after: [0, 0]))
    }

    func testConcat() throws {
        var rng = TestRandom(seed: 55)
        let base = [2, 3, 4]
        for axis in 0..<3 {
            let sizes = [2, 0, 1, 3]
            let parts = sizes.map { s -> Tensor in var sh = base; sh[axis] = s; return rng.tensor(sh) }
            var outShape = base; outShape[axis] = sizes.reduce(0, +)
            let expected: [Float] = allIndices(outShape).map { idx in
                var i = idx[axis], p = 0
                while i >= sizes[p] { i -= sizes[p]; p += 1 }
                var local = idx; local[axis] = i
                return parts[p].scalars[flatIndex(local, parts[p].shape)]
            }
            assertExactly(try Tensor.concat(parts, axis: axis), outShape, expected, "axis \(axis)")
            assertExactly(try Tensor.concat(parts, axis: axis - 3), outShape, expected, "axis \(axis - 3)")
        }
        let one = rng.tensor([2, 2])
        assertExactly(try Tensor.concat([one], axis: 1), [2, 2], one.scalars)
        assertExactly(try Tensor.concat([try Tensor.zeros([0, 2]), try Tensor.zeros([0, 2])], axis: 0), [0, 2], [])
    }

    func testConcatErrors() throws {
        let a = try Tensor.zeros([2, 3]), b = try Tensor.zeros([2, 4]), c = try Tensor.zeros([2, 3, 1])
        assertThrows(.invalidArgument, try Tensor.concat([], axis: 0))
        assertThrows(.shapeMismatch, try Tensor.concat([a, b], axis: 0))
        XCTAssertNoThrow(try Tensor.concat([a, b], axis: 1))
        assertThrows(.shapeMismatch, try Tensor.concat([a, c], axis: 0))
        assertThrows(.indexOutOfRange, try Tensor.concat([a, a], axis: 2))
        assertThrows(.indexOutOfRange, try Tensor.concat([a, a], axis: -3))
        assertThrows(.indexOutOfRange, try Tensor.concat([Tensor(1), Tensor(2)], axis: 0))
    }

    func testReshaped() throws {
        var rng = TestRandom(seed: 56)
        let x = rng.tensor([2, 3, 4])
        for (target, shape) in [([24], [24]), ([4, 6], [4, 6]), ([-1], [24]), ([2, -1], [2, 12]), ([-1, 3, 2], [4, 3, 2]),
                                ([1, 2, 1, 12], [1, 2, 1, 12]), ([2, 3, 4, -1], [2, 3, 4, 1])] as [([Int], [Int])] {
            let y = try x.reshaped(target)
            assertExactly(y, shape, x.scalars, "\(target)")
            XCTAssertTrue(y.storage === x.storage, "reshape copies nothing")
        }
        assertExactly(try Tensor(5).reshaped([1, 1]), [1, 1], [5])
        assertExactly(try Tensor(shape: [1, 1], scalars: [5]).reshaped([]), [], [5])
        assertExactly(try Tensor.zeros([0, 3]).reshaped([3, 0, 5]), [3, 0, 5], [])
        assertExactly(try Tensor.zeros([0, 3]).reshaped([-1, 3]), [0, 3], [])
    }

    func testReshapedErrors() throws {
        let x = try Tensor.zeros([2, 3, 4])
        assertThrows(.shapeMismatch, try x.reshaped([5, 5]))
        assertThrows(.shapeMismatch, try x.reshaped([]))
        assertThrows(.shapeMismatch, try x.reshaped([-1, 5]))
        assertThrows(.invalidArgument, try x.reshaped([-1, -1]))
        assertThrows(.invalidArgument, try x.reshaped([-2, -12]))
        assertThrows(.invalidArgument, try x.reshaped([-3, 8]))
        assertThrows(.shapeMismatch, try x.reshaped([0, -1]))
        assertThrows(.shapeMismatch, try Tensor.zeros([0, 3]).reshaped([0, -1]))
    }
}

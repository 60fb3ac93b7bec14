import XCTest
@testable import MetaTensor
import _TestSupport

final class BinaryTests: XCTestCase {
    /// The meaning of each op, written independently of the kernels.
    static func reference(_ op: BinaryOp) -> (Float, Float) -> Float {
        switch op {
        case .add: return { $0 + $1 }
        case .sub: return { $0 - $1 }
        case .mul: return { $0 * $1 }
        case .div: return { $0 / $1 }
        case .maximum: return { a, b in a.isNaN || b.isNaN ? .nan : Swift.max(a, b) }
        case .minimum: return { a, b in a.isNaN || b.isNaN ? .nan : Swift.min(a, b) }
        case .greater: return { $0 > $1 ? 1 : 0 }
        case .equal: return { $0 == $1 ? 1 : 0 }
        }
    }

    /// Shape pairs covering every path of the broadcasting loop: equal shapes,
    /// scalars on either side, rows, columns, rank mismatch, both sides
    /// broadcasting, size-1 inner dimensions, and zero-size dimensions.
    static let shapePairs: [([Int], [Int])] = [
        ([3, 4], [3, 4]), ([], []), ([5], [5]), ([0], [0]),
        ([], [3, 4]), ([3, 4], []), ([1], [2, 3]), ([2, 3], [1, 1]),
        ([3, 4], [4]), ([4], [3, 4]), ([3, 4], [1, 4]),
        ([3, 4], [3, 1]), ([3, 1], [3, 4]), ([3, 1], [1, 4]), ([1, 4], [3, 1]),
        ([2, 3, 4], [4]), ([4], [2, 3, 4]), ([2, 3, 4], [3, 1]), ([2, 3, 4], [2, 1, 4]),
        ([2, 1, 3], [4, 1]), ([4, 1], [2, 1, 3]),
        ([5, 1, 7], [1, 6, 1]), ([2, 3, 1], [2, 1, 1]), ([1, 2, 1], [2, 1]),
        ([2, 1, 3, 1], [1, 4, 1, 5]), ([3, 1, 2, 2], [2, 1]),
        ([0, 3], [3]), ([0, 3], [1, 3]), ([3], [0, 3]), ([2, 0, 3], [1, 3]),
        ([0, 1], [1, 5]), ([2, 0], [2, 1]), ([0], []),
    ]

    func testEveryOpOverEveryShapePair() throws {
        var rng = TestRandom(seed: 11)
        for (sa, sb) in Self.shapePairs {
            let a = rng.mixedTensor(sa), b = rng.mixedTensor(sb)
            let shape = try XCTUnwrap(referenceBroadcastShape(sa, sb))
            let outIdx = allIndices(shape)
            for op in BinaryOp.allCases {
                let f = Self.reference(op)
                let expected = outIdx.map { f(broadcastElement(a, at: $0), broadcastElement(b, at: $0)) }
                assertExactly(try a.zip(b, op), shape, expected, "\(op) \(sa) \(sb)")
            }
        }
    }

    /// Division by zero and NaN operands follow IEEE arithmetic, on every path.
    func testSpecialValues() throws {
        let specials: [Float] = [0, -0.0, 1, -1, .infinity, -.infinity, .nan, 2.5]
        let n = specials.count
        let a = try Tensor(shape: [n, 1], scalars: specials)
        let b = try Tensor(shape: [n], scalars: specials)
        for op in BinaryOp.allCases {
            let f = Self.reference(op)
            var expected: [Float] = []
            for x in specials { for y in specials { expected.append(f(x, y)) } }
            assertExactly(try a.zip(b, op), [n, n], expected, "\(op) outer")
            // The equal-shape fast path and the scalar fast paths.
            let aa = try a.broadcast(to: [n, n]), bb = try b.broadcast(to: [n, n])
            assertExactly(try aa.zip(bb, op), [n, n], expected, "\(op) equal shapes")
            for (i, x) in specials.enumerated() {
                let row = Array(expected[(i * n)..<(i * n + n)])
                assertExactly(try Tensor(x).zip(b, op), [n], row, "\(op) scalar left \(x)")
                let column = (0..<n).map { expected[$0 * n + i] }
                assertExactly(try a.reshaped([n]).zip(Tensor(x), op), [n], column, "\(op) scalar right \(x)")
            }
        }
    }

    /// maximum and minimum are symmetric, including when an operand is NaN.
    func testMaximumMinimumAreSymmetric() throws {
        let a = try Tensor(shape: [4], scalars: [.nan, 1, .nan, -2])
        let b = try Tensor(shape: [4], scalars: [1, .nan, .nan, 3])
        for op in [BinaryOp.maximum, .minimum] {
            assertExactly(try a.zip(b, op), [4], try b.zip(a, op).scalars, "\(op)")
        }
        assertExactly(try a.zip(b, .maximum), [4], [.nan, .nan, .nan, 3])
        assertExactly(try a.zip(b, .minimum), [4], [.nan, .nan, .nan, -2])
    }

    func testIncompatibleShapesThrow() {
        let pairs: [([Int], [Int])] = [
            ([3], [4]), ([2, 3], [3, 2]), ([0], [2]), ([2], [0]), ([2, 3, 4], [5, 4]),
            ([4, 1], [2, 3]), ([2, 1, 3], [4, 2]),
        ]
        var rng = TestRandom(seed: 3)
        for (sa, sb) in pairs {
            XCTAssertNil(referenceBroadcastShape(sa, sb))
            let a = rng.tensor(sa), b = rng.tensor(sb)
            for op in BinaryOp.allCases {
                assertThrows(.shapeMismatch, try a.zip(b, op), "\(op) \(sa) \(sb)")
            }
        }
    }

    func testOperandsAreNotModified() throws {
        var rng = TestRandom(seed: 5)
        let a = rng.tensor([3, 4]), b = rng.tensor([4])
        let (sa, sb) = (a.scalars, b.scalars)
        _ = try a.zip(b, .sub)
        XCTAssertEqual(a.scalars, sa)
        XCTAssertEqual(b.scalars, sb)
    }
}

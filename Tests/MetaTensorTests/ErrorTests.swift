import XCTest
@testable import MetaTensor
import _TestSupport

/// Construction and access errors: each throws a MetaError of the right kind
/// whose message names what was wrong, and none traps.
final class ErrorTests: XCTestCase {
    func testScalarCountMismatch() {
        assertThrows(.shapeMismatch, try Tensor(shape: [2, 3], scalars: [1, 2, 3]))
        assertThrows(.shapeMismatch, try Tensor(shape: [], scalars: []))
        assertThrows(.shapeMismatch, try Tensor(shape: [0], scalars: [1]))
        XCTAssertThrowsError(try Tensor(shape: [2, 3], scalars: [1])) { e in
            XCTAssertTrue((e as? MetaError)?.message.contains("[2, 3]") ?? false, "\(e)")
        }
    }

    func testNegativeAndHugeDimensions() {
        assertThrows(.invalidArgument, try Tensor(shape: [-1], scalars: []))
        assertThrows(.invalidArgument, try Tensor(shape: [2, -3], scalars: [1, 2]))
        assertThrows(.invalidArgument, try Tensor.zeros([-1]))
        assertThrows(.invalidArgument, try Tensor.full([3, -2], 1))
        assertThrows(.invalidArgument, try Tensor.make(shape: [-4]) { _, _ in })
        // Products that overflow Int, or exceed what BLAS can index, are refused.
        assertThrows(.invalidArgument, try Tensor.zeros([Int.max, 2]))
        assertThrows(.invalidArgument, try Tensor.zeros([1 << 31, 1 << 31, 4]))
        assertThrows(.invalidArgument, try Tensor.zeros([1 << 20, 1 << 20]))
        assertThrows(.invalidArgument, try ShapeMath.count([0, -1]))
    }

    func testStorageShapeMismatch() throws {
        let s = try Storage(uninitializedCount: 6)
        assertThrows(.shapeMismatch, try Tensor(storage: s, shape: [2, 2]))
        assertThrows(.invalidArgument, try Tensor(storage: s, shape: [-2, -3]))
        XCTAssertNoThrow(try Tensor(storage: s, shape: [3, 2]))
    }

    func testReshapeMismatch() throws {
        let x = try Tensor.zeros([2, 3])
        assertThrows(.shapeMismatch, try x.reshaped([4]))
        assertThrows(.shapeMismatch, try x.reshaped([7, -1]))
        assertThrows(.invalidArgument, try x.reshaped([-1, -1, 6]))
        assertThrows(.invalidArgument, try x.reshaped([-6, -1]))
    }

    func testItem() throws {
        XCTAssertEqual(try Tensor(2.5).item(), 2.5)
        XCTAssertEqual(try Tensor(shape: [1, 1, 1], scalars: [-4]).item(), -4)
        assertThrows(.shapeMismatch, try Tensor.zeros([2]).item())
        assertThrows(.shapeMismatch, try Tensor.zeros([2, 3]).item())
        assertThrows(.shapeMismatch, try Tensor.zeros([0]).item())
    }

    func testConstructorsAndAccessors() throws {
        let x = try Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        XCTAssertEqual(x.rank, 2)
        XCTAssertEqual(x.count, 4)
        XCTAssertTrue(x.isFinite)
        XCTAssertFalse(try Tensor(shape: [2], scalars: [1, .nan]).isFinite)
        XCTAssertFalse(try Tensor(shape: [2], scalars: [-.infinity, 1]).isFinite)
        let c = try x.copy()
        XCTAssertFalse(c.storage === x.storage)
        assertExactly(c, [2, 2], [1, 2, 3, 4])
        assertExactly(try Tensor.full([2, 1], 7), [2, 1], [7, 7])
        assertExactly(try Tensor.ones([0, 5]), [0, 5], [])
        let made = try Tensor.make(shape: [3]) { p, n in for i in 0..<n { p[i] = Float(i) } }
        assertExactly(made, [3], [0, 1, 2])
        XCTAssertEqual(x.withUnsafeBufferPointer { Array($0) }, [1, 2, 3, 4])
        XCTAssertTrue(x.description.contains("[2, 2]"))
        // An error thrown while filling propagates.
        assertThrows(.invalidArgument, try Tensor.make(shape: [2]) { _, _ in throw MetaError.argument("fill failed") })
    }

    func testBorrowedStorageIsReleasedOnce() {
        var released = 0
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 4)
        buffer.initialize(repeating: 1.5, count: 4)
        do {
            let t = try? Tensor(storage: Storage(borrowing: buffer, count: 4, release: { released += 1 }), shape: [2, 2])
            let r = try? t?.reshaped([4])
            XCTAssertEqual(r?.scalars, [1.5, 1.5, 1.5, 1.5])
        }
        XCTAssertEqual(released, 1)
        buffer.deallocate()
    }
}

import XCTest
@testable import MetaTensor

/// Large storages are recycled: a freed buffer comes back for the next
/// request of the same capacity instead of being page-faulted in afresh.
final class BufferCacheTests: XCTestCase {
    func testLargeBuffersAreReused() throws {
        BufferCache.trim()
        XCTAssertEqual(BufferCache.cachedBytes, 0)
        let count = 3 * BufferCache.minimumFloats + 5
        var first: Storage? = try Storage(uninitializedCount: count)
        let address = first!.base
        first = nil
        XCTAssertGreaterThanOrEqual(BufferCache.cachedBytes, count * 4)
        // The same capacity class (whole pages) is found again.
        let again = try Storage(uninitializedCount: count + 7)
        XCTAssertEqual(again.base, address)
        XCTAssertEqual(again.count, count + 7)
        // Small buffers bypass the cache.
        let before = BufferCache.cachedBytes
        _ = try Storage(uninitializedCount: 100)
        XCTAssertEqual(BufferCache.cachedBytes, before)
    }

    func testLimitIsRespected() throws {
        BufferCache.trim()
        let saved = BufferCache.limitBytes
        defer { BufferCache.limitBytes = saved }
        let count = BufferCache.minimumFloats
        BufferCache.limitBytes = count * 4    // room for exactly one buffer
        var a: Storage? = try Storage(uninitializedCount: count)
        var b: Storage? = try Storage(uninitializedCount: count)
        a = nil
        b = nil
        XCTAssertEqual(BufferCache.cachedBytes, count * 4)
        BufferCache.limitBytes = 0
        XCTAssertEqual(BufferCache.cachedBytes, 0)
        _ = (a, b)
    }

    func testTensorsFromTheCacheHoldTheirValues() throws {
        // A recycled buffer is overwritten by its new owner, never shared.
        let shape = [BufferCache.minimumFloats / 4 + 3, 4]
        let a = try Tensor.full(shape, 1.5)
        let sumA = try a.sumAll()
        var tmp: Tensor? = try Tensor.full(shape, 7)
        tmp = nil
        let b = try Tensor.full(shape, 2)
        XCTAssertEqual(try a.sumAll().item(), try sumA.item())
        XCTAssertEqual(try b.sumAll().item(), Float(b.count) * 2)
        _ = tmp
    }
}

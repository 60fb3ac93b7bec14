#if canImport(Glibc)
import Glibc
#endif
import XCTest
import MetaTensor
import CSystem

/// A request for memory the process cannot have is a thrown error, never a
/// trap: the Python process that drives the engine must survive it.
final class MemoryLimitTests: XCTestCase {
    func testMoreThanTheMachineHasIsRefusedUpFront() throws {
        let tooMany = MemoryLimit.availableBytes() / 4 + (1 << 30)
        XCTAssertThrowsError(try Storage(uninitializedCount: tooMany)) { error in
            XCTAssertEqual((error as? MetaError)?.kind, .outOfMemory)
        }
        XCTAssertThrowsError(try Tensor.zeros([1 << 20, 1 << 14, 4])) { error in
            XCTAssertEqual((error as? MetaError)?.kind, .outOfMemory, "\(error)")
        }
        XCTAssertThrowsError(try MemoryLimit.check(elements: Int.max, "queries")) { error in
            XCTAssertTrue((error as? MetaError)?.message.hasPrefix("queries: needs more than") ?? false, "\(error)")
        }
        // Small requests are not measured; ordinary ones pass.
        XCTAssertNoThrow(try MemoryLimit.check(elements: 1 << 20, "x"))
    }

    /// Under an address-space limit (`ulimit -v`, as in containers), what is
    /// left below the limit is the ceiling; a request over it throws, and the
    /// same request succeeds again once the limit is lifted.
    func testAnAddressSpaceLimitIsRespected() throws {
        var saved = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_AS.rawValue), &saved), 0)
        let inUse = MemoryLimit.addressSpaceInUseForTesting()
        XCTAssertGreaterThan(inUse, 0)
        var tight = saved
        tight.rlim_cur = rlim_t(inUse + (512 << 20))
        guard tight.rlim_cur < saved.rlim_cur else { throw XCTSkip("the address-space limit is already tighter") }
        XCTAssertEqual(setrlimit(Int32(RLIMIT_AS.rawValue), &tight), 0)
        let available = MemoryLimit.availableBytes()
        let result = Result { try Storage(uninitializedCount: 1 << 28) }   // 1 GiB
        XCTAssertEqual(setrlimit(Int32(RLIMIT_AS.rawValue), &saved), 0)
        XCTAssertLessThanOrEqual(available, 512 << 20)
        XCTAssertThrowsError(try result.get()) { error in
            XCTAssertEqual((error as? MetaError)?.kind, .outOfMemory)
        }
        XCTAssertEqual(try Storage(uninitializedCount: 1 << 28).count, 1 << 28)
    }

    /// Many buffers, each small, whose total passes what the process may
    /// have: one allocation throws (the ceiling is read again as the engine's
    /// total grows, and malloc's refusals throw too), and nothing leaks.
    func testATotalNeedThatCannotBeMetThrows() throws {
        var saved = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_AS.rawValue), &saved), 0)
        var tight = saved
        tight.rlim_cur = rlim_t(MemoryLimit.addressSpaceInUseForTesting() + (256 << 20))
        guard tight.rlim_cur < saved.rlim_cur else { throw XCTSkip("the address-space limit is already tighter") }
        BufferCache.trim()
        let before = MemoryLimit.liveBytes
        // Heap memory earlier tests freed is reused without growing the
        // address space, so it adds to what the limit lets through.
        let freeHeap = Int(mallinfo2().fordblks)
        XCTAssertEqual(setrlimit(Int32(RLIMIT_AS.rawValue), &tight), 0)
        var held: [Storage] = []
        var failure: Error?
        while failure == nil && held.count < 10_000 {
            do { held.append(try Storage(uninitializedCount: 1 << 20)) } catch { failure = error }   // 4 MiB each
        }
        XCTAssertEqual(setrlimit(Int32(RLIMIT_AS.rawValue), &saved), 0)
        XCTAssertEqual(MemoryLimit.liveBytes, before + held.count * (4 << 20))
        XCTAssertLessThan(held.count * (4 << 20), (256 << 20) + freeHeap)
        held.removeAll()
        XCTAssertEqual(MemoryLimit.liveBytes, before)
        let error = try XCTUnwrap(failure as? MetaError)
        XCTAssertEqual(error.kind, .outOfMemory)
        XCTAssertTrue(error.message.contains("while the engine holds") || error.message.contains("malloc refused"),
                      error.message)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CSystem

/// What the engine may allocate, so that a request it cannot serve is an
/// error and never a dead process.
///
/// Two things end a process that asks for too much: malloc returning NULL
/// (under an address-space limit, `ulimit -v`, as in containers and on
/// clusters), and, with Linux's default overcommit, the kernel's OOM killer
/// when pages promised by a successful malloc are touched. Storage turns the
/// first into a thrown `MetaError` (kind `.outOfMemory`); this type refuses
/// the second before it happens.
///
/// The ceiling is what the process can still get: the memory the system
/// reports available to processes (`MemAvailable` plus free swap in
/// /proc/meminfo; physical memory where that file cannot be read), and,
/// under an address-space limit (`RLIMIT_AS`), the room left below it.
/// Every buffer the engine owns is counted (`reserve` / `release`); each time
/// the engine's total grows past the level last verified, the ceiling is read
/// again and must leave room for the next `step` bytes and `headroom` more,
/// so a computation whose total need (a long second-order inner loop, a huge
/// episode) cannot be met stops with an error at the allocation that would
/// pass it. One buffer of `checkedBytes` or more is always measured first.
/// Reading the two /proc files costs tens of microseconds, once per `step`
/// of growth.
public enum MemoryLimit {
    /// A single allocation of this many bytes or more is checked before malloc.
    public static let checkedBytes = 64 << 20
    /// Growth of the engine's total between two readings of the ceiling.
    public static let step = 64 << 20
    /// Room left for everything that is not a tensor (Python, Swift arrays, the tape's nodes).
    public static let headroom = 64 << 20

    /// [bytes of engine buffers alive, level up to which the ceiling was verified]
    private static let counters: UnsafeMutablePointer<Int> = {
        let p = UnsafeMutablePointer<Int>.allocate(capacity: 2)
        p.initialize(repeating: 0, count: 2)
        return p
    }()
    private static let lock: UnsafeMutablePointer<pthread_mutex_t> = {
        let p = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(p, nil)
        return p
    }()

    /// Bytes of engine-owned buffers alive now.
    public static var liveBytes: Int { ms_atomic_load(counters) }

    /// Counts `bytes` about to be allocated; throws, counting nothing, when
    /// the ceiling would be passed. `what` names the request.
    public static func reserve(bytes: Int, _ what: @autoclosure () -> String) throws {
        let total = ms_atomic_add(counters, bytes)
        guard bytes >= checkedBytes || total > ms_atomic_load(counters + 1) else { return }
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        guard bytes >= checkedBytes || total > ms_atomic_load(counters + 1) else { return }
        let available = availableBytes()
        let needed = Swift.max(bytes, step) &+ headroom
        guard available >= needed else {
            ms_atomic_add(counters, -bytes)
            throw MetaError.memory("\(what()): needs \(bytes >> 20) MiB more while the engine holds "
                                   + "\((total &- bytes) >> 20) MiB, and this process can allocate only "
                                   + "\(available >> 20) MiB now")
        }
        ms_atomic_store(counters + 1, total &+ step)
    }

    /// Uncounts `bytes` that were freed. After the total falls well below
    /// the verified level, the next growth is verified afresh.
    public static func release(bytes: Int) {
        let total = ms_atomic_add(counters, -bytes)
        if total &+ 4 &* step < ms_atomic_load(counters + 1) { ms_atomic_store(counters + 1, total &+ step) }
    }

    /// Bytes one allocation may take now (see the type's documentation).
    public static func availableBytes() -> Int {
        var limit = systemAvailableBytes()
        var rl = rlimit()
        if getrlimit(Int32(RLIMIT_AS.rawValue), &rl) == 0, rl.rlim_cur != rlim_t.max {
            let cap = Int(clamping: rl.rlim_cur)
            limit = Swift.min(limit, Swift.max(0, cap &- addressSpaceInUse()))
        }
        return limit
    }

    /// Throws unless `count` elements of `stride` bytes can be allocated;
    /// `what` names the request ("queries", "a tensor of shape [...]").
    public static func check(elements count: Int, stride: Int = MemoryLayout<Float>.stride,
                             _ what: @autoclosure () -> String) throws {
        guard count >= 0 else { throw MetaError.argument("\(what()): negative size \(count)") }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: stride)
        guard overflow || bytes >= checkedBytes else { return }
        let available = availableBytes()
        guard overflow || bytes > available else { return }
        throw MetaError.memory("\(what()): needs \(overflow ? "more than \(Int.max >> 20)" : "\(bytes >> 20)") MiB, "
                               + "more than the \(available >> 20) MiB this process can allocate now")
    }

    /// The process's virtual size in bytes (for tests of the limit).
    public static func addressSpaceInUseForTesting() -> Int { addressSpaceInUse() }

    /// `MemAvailable` + `SwapFree` from /proc/meminfo, else physical memory.
    static func systemAvailableBytes() -> Int {
        if let text = readSmallFile("/proc/meminfo") {
            let available = meminfoField(text, "MemAvailable:"), swap = meminfoField(text, "SwapFree:")
            if let available { return available &+ (swap ?? 0) }
        }
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return Int.max }
        return pages.multipliedReportingOverflow(by: pageSize).overflow ? Int.max : pages &* pageSize
    }

    /// The process's virtual size (first field of /proc/self/statm, in pages), 0 if unknown.
    static func addressSpaceInUse() -> Int {
        guard let text = readSmallFile("/proc/self/statm"),
              let pages = Int(text.prefix(while: { $0 != " " })) else { return 0 }
        return pages &* Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// A "Name:   1234 kB" line of /proc/meminfo, in bytes.
    static func meminfoField(_ text: String, _ name: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let digits = line.dropFirst(name.count).drop(while: { $0 == " " }).prefix(while: { $0.isNumber })
            guard let kb = Int(digits) else { return nil }
            return kb.multipliedReportingOverflow(by: 1024).overflow ? Int.max : kb &* 1024
        }
        return nil
    }

    /// The first 8 KiB of a file in /proc (no Foundation in the engine).
    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 8192)
        var filled = 0
        while filled < buffer.count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n <= 0 { break }
            filled += n
        }
        return String(decoding: buffer[0..<filled], as: UTF8.self)
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// A flat Float32 buffer. Tensors share storages and never write into one they
/// did not just allocate, so sharing needs no copy-on-write.
///
/// A storage either owns its memory (allocated here, freed on deinit) or borrows
/// it from a caller (a NumPy array crossing the C ABI), in which case `release`
/// runs when the last tensor that views it goes away.
///
/// Large owned buffers are recycled through `BufferCache`: a training step
/// allocates the same large activations every iteration, and glibc hands
/// blocks above its mmap threshold back to the kernel on free, so each fresh
/// one page-faults on first touch (≈0.6 ms per MB measured here, as much as
/// the arithmetic of a Conv4 layer).
public final class Storage: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let count: Int
    private let release: (() -> Void)?
    /// Capacity in floats of a buffer that came from (and returns to) the cache; 0 otherwise.
    private let cachedCapacity: Int
    /// Bytes counted by `MemoryLimit` for this buffer (0 when borrowed).
    private let ownedBytes: Int

    /// Uninitialised memory for `count` floats; the caller fills all of it.
    ///
    /// Throws `MetaError` (kind `.outOfMemory`) when the memory cannot be had:
    /// malloc fails, or a large request passes `MemoryLimit`'s ceiling.
    public init(uninitializedCount count: Int) throws {
        guard count >= 0 else { throw MetaError.argument("storage: negative element count \(count)") }
        _ = mallocTuned
        guard count <= Int.max / 8 else {
            throw MetaError.memory("out of memory: \(count) floats is more than any machine has")
        }
        let large = count >= BufferCache.minimumFloats
        let capacity = large ? BufferCache.capacity(for: count) : Swift.max(count, 1)
        try MemoryLimit.reserve(bytes: capacity &* MemoryLayout<Float>.stride, "a buffer of \(count) floats")
        if large {
            do { self.base = try BufferCache.take(capacity: capacity) } catch {
                MemoryLimit.release(bytes: capacity &* MemoryLayout<Float>.stride)
                throw error
            }
            self.cachedCapacity = capacity
        } else {
            // malloc's 16-byte alignment suffices: kernels load SIMD vectors
            // unaligned. At least one element, so `base` is never null.
            guard let raw = malloc(capacity &* MemoryLayout<Float>.stride) else {
                MemoryLimit.release(bytes: capacity &* MemoryLayout<Float>.stride)
                throw MetaError.memory("out of memory: malloc refused \(count) floats")
            }
            self.base = raw.bindMemory(to: Float.self, capacity: capacity)
            self.cachedCapacity = 0
        }
        self.ownedBytes = capacity &* MemoryLayout<Float>.stride
        self.count = count
        self.release = nil
    }

    /// Memory owned by someone else; `release` is called once, on deinit.
    public init(borrowing base: UnsafeMutablePointer<Float>, count: Int, release: @escaping () -> Void) {
        self.base = base
        self.count = count
        self.release = release
        self.cachedCapacity = 0
        self.ownedBytes = 0
    }

    deinit {
        if let release { release() } else {
            MemoryLimit.release(bytes: ownedBytes)
            if cachedCapacity > 0 { BufferCache.give(base, capacity: cachedCapacity) } else { free(base) }
        }
    }
}

/// A process-wide cache of large freed buffers, keyed by capacity.
///
/// Capacities are rounded up to whole 4 KiB pages, so the buffers of a
/// repeated computation (same shapes every step) are found again exactly.
/// At most `limitBytes` are held; a buffer that would exceed it is freed. The
/// cache is shared by all threads under one lock, taken once per large
/// allocation and once per free, which is negligible next to touching 128 KiB.
public enum BufferCache {
    /// Buffers of fewer floats come from malloc directly.
    static let minimumFloats = 32 * 1024
    static let pageFloats = 1024

    static func capacity(for count: Int) -> Int {
        (count + pageFloats - 1) / pageFloats * pageFloats
    }

    private final class State: @unchecked Sendable {
        var lock = pthread_mutex_t()
        var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
        var cachedBytes = 0
        var limitBytes = 1 << 30
        init() { pthread_mutex_init(&lock, nil) }
        func withLock<R>(_ body: (State) throws -> R) rethrows -> R {
            pthread_mutex_lock(&lock)
            defer { pthread_mutex_unlock(&lock) }
            return try body(self)
        }
    }
    private static let state = State()

    /// Most bytes the cache keeps (default 1 GiB). Lowering it frees what is over.
    public static var limitBytes: Int {
        get { state.withLock { $0.limitBytes } }
        set {
            let excess = state.withLock { s -> [UnsafeMutablePointer<Float>] in
                s.limitBytes = Swift.max(0, newValue)
                var out: [UnsafeMutablePointer<Float>] = []
                for (cap, list) in s.free where s.cachedBytes > s.limitBytes {
                    var keep = list
                    while s.cachedBytes > s.limitBytes, let p = keep.popLast() {
                        out.append(p)
                        s.cachedBytes -= cap * MemoryLayout<Float>.stride
                    }
                    s.free[cap] = keep.isEmpty ? nil : keep
                }
                return out
            }
            for p in excess { Glibc.free(p) }
        }
    }

    /// Bytes currently held for reuse.
    public static var cachedBytes: Int { state.withLock { $0.cachedBytes } }

    /// Frees every cached buffer (the memory goes back to the system).
    public static func trim() {
        let saved = limitBytes
        limitBytes = 0
        limitBytes = saved
    }

    static func take(capacity: Int) throws -> UnsafeMutablePointer<Float> {
        if let p = state.withLock({ s -> UnsafeMutablePointer<Float>? in
            guard var list = s.free[capacity], let p = list.popLast() else { return nil }
            s.free[capacity] = list.isEmpty ? nil : list
            s.cachedBytes -= capacity * MemoryLayout<Float>.stride
            return p
        }) { return p }
        guard let raw = malloc(capacity * MemoryLayout<Float>.stride) else {
            throw MetaError.memory("out of memory: malloc refused \(capacity) floats (\(capacity >> 18) MiB)")
        }
        return raw.bindMemory(to: Float.self, capacity: capacity)
    }

    static func give(_ p: UnsafeMutablePointer<Float>, capacity: Int) {
        let bytes = capacity * MemoryLayout<Float>.stride
        let kept = state.withLock { s -> Bool in
            guard s.cachedBytes + bytes <= s.limitBytes else { return false }
            s.free[capacity, default: []].append(p)
            s.cachedBytes += bytes
            return true
        }
        if !kept { free(p) }
    }
}

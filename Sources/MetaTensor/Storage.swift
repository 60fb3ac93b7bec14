#if canImport(Glibc)
import Glibc
#endif

/// A flat Float32 buffer. Tensors share storages and never write into one they
/// did not just allocate, so sharing needs no copy-on-write.
///
/// A storage either owns its memory (allocated here, freed on deinit) or borrows
/// it from a caller (a NumPy array crossing the C ABI), in which case `release`
/// runs when the last tensor that views it goes away.
public final class Storage: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let count: Int
    private let release: (() -> Void)?

    /// Uninitialised memory for `count` floats; the caller fills all of it.
    public init(uninitializedCount count: Int) {
        precondition(count >= 0, "Storage: negative count is a bug in the engine")
        _ = mallocTuned
        self.count = count
        // malloc's 16-byte alignment suffices: kernels load SIMD vectors
        // unaligned. At least one element, so `base` is never null.
        guard let raw = malloc(max(count, 1) * MemoryLayout<Float>.stride) else {
            fatalError("metaswift: out of memory allocating \(count) floats")
        }
        self.base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        self.release = nil
    }

    /// Memory owned by someone else; `release` is called once, on deinit.
    public init(borrowing base: UnsafeMutablePointer<Float>, count: Int, release: @escaping () -> Void) {
        self.base = base
        self.count = count
        self.release = release
    }

    deinit {
        if let release { release() } else { free(base) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CSystem

/// Keeps freed memory in the process instead of handing it back to the kernel.
///
/// A meta-training step frees and reallocates the same few hundred buffers
/// every iteration. By default glibc returns the top of its heap to the kernel
/// whenever 128 KiB or more is free there (brk down), and takes it back on the
/// next allocation (brk up), so every step pays system calls and page faults on
/// memory it had a moment ago: measured on sinusoid MAML, a third of the time.
/// Raising the trim threshold (and padding each heap growth) ends that cycle;
/// the cost is that up to `trimThreshold` of freed memory stays mapped.
///
/// Applied once, on the first tensor allocation, unless the user has set glibc's
/// own `MALLOC_TRIM_THRESHOLD_` or `MALLOC_TOP_PAD_`, or `METASWIFT_MALLOC_TUNING=0`.
let mallocTuned: Bool = {
    let env = { (name: String) in getenv(name) != nil }
    if env("MALLOC_TRIM_THRESHOLD_") || env("MALLOC_TOP_PAD_") { return false }
    if let v = getenv("METASWIFT_MALLOC_TUNING"), String(cString: v) == "0" { return false }
    let trimThreshold: Int32 = 512 << 20, topPad: Int32 = 64 << 20
    mallopt(M_TRIM_THRESHOLD, trimThreshold)
    mallopt(M_TOP_PAD, topPad)
    return true
}()

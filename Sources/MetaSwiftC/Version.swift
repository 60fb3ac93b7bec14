import MetaSwift
#if canImport(Glibc)
import Glibc
#endif

/// The version of the engine, the C ABI and the Python package (setup.py reads
/// it from this line, so there is one place to bump it).
let metaswiftVersion = "0.1.0"

/// A C string that lives as long as the process.
private let versionCString: UnsafeMutablePointer<CChar> = strdup(metaswiftVersion)

@_cdecl("ms_version")
public func ms_version() -> UnsafePointer<CChar> {
    UnsafePointer(versionCString)
}

/// OpenBLAS's build configuration and the kernels it chose at load time, e.g.
/// "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64; core: SkylakeX".
private let blasCString: UnsafeMutablePointer<CChar> = strdup(blasDescription())

@_cdecl("ms_blas_info")
public func ms_blas_info() -> UnsafePointer<CChar> {
    UnsafePointer(blasCString)
}

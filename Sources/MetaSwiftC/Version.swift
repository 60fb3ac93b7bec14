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

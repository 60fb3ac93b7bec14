#if canImport(Glibc)
import Glibc
#endif
import MetaSwift

/// Status codes returned by every fallible ABI function; mirrored by the
/// `MS_*` constants of include/metaswift.h.
enum Status: Int32 {
    case ok = 0
    /// A value the function does not accept (NULL pointer, negative size, NaN, unknown name).
    case argument = 1
    /// Shapes that do not fit (wrong rank, wrong feature size, wrong parameter shape).
    case shape = 2
    /// An index outside its range.
    case index = 3
    /// A handle that is NULL where one is required, freed, foreign, or of another kind.
    case handle = 4
    /// A failure that is not the caller's fault (a bug in the engine).
    case `internal` = 5
    /// Memory the call needs and the process cannot have (see MetaTensor's `MemoryLimit`).
    case memory = 6
}

/// A failure found by the bridge itself rather than by the engine.
struct BridgeError: Error, CustomStringConvertible {
    let status: Status
    let description: String

    static func handle(_ message: String) -> BridgeError { BridgeError(status: .handle, description: message) }
    static func argument(_ message: String) -> BridgeError { BridgeError(status: .argument, description: message) }
}

/// The message of the last failed call, one per thread (like libgit2's
/// `git_error_last`), so callers on different threads never see each other's
/// errors. Kept in pthread TLS because the engine links no Foundation.
///
/// The message is a malloc'd C string owned by the thread's slot: it is freed
/// when the next failure on the same thread replaces it, or when the thread exits.
enum LastError {
    /// Swift runs a global's initialiser exactly once, thread-safely.
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { free($0) }
        return key
    }()

    private static let empty: UnsafeMutablePointer<CChar> = strdup("")

    static func set(_ message: String) {
        let old = pthread_getspecific(key)
        pthread_setspecific(key, strdup(message))
        free(old)
    }

    /// The current thread's message, or "" when no call on it has failed.
    static var message: UnsafePointer<CChar> {
        guard let raw = pthread_getspecific(key) else { return UnsafePointer(empty) }
        return UnsafePointer(raw.assumingMemoryBound(to: CChar.self))
    }
}

/// Runs the body of one ABI function: 0 when it returns, otherwise the status
/// of the error it threw, with the error's message stored for `ms_last_error`.
/// Every `@_cdecl` body that can fail goes through here, so no error escapes
/// as a Swift trap and every failure leaves a message. (Memory that runs
/// out deep inside a call is charged to an argument by `Arguments.charge`.)
@inline(__always)
func guarded(_ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return Status.ok.rawValue
    } catch let error as MetaError {
        LastError.set(error.message)
        switch error.kind {
        case .shapeMismatch: return Status.shape.rawValue
        case .invalidArgument: return Status.argument.rawValue
        case .indexOutOfRange: return Status.index.rawValue
        case .outOfMemory: return Status.memory.rawValue
        }
    } catch let error as BridgeError {
        LastError.set(error.description)
        return error.status.rawValue
    } catch {
        LastError.set("internal error: \(error)")
        return Status.internal.rawValue
    }
}

@_cdecl("ms_last_error")
public func ms_last_error() -> UnsafePointer<CChar> {
    LastError.message
}

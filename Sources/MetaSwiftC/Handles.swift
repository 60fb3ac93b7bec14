#if canImport(Glibc)
import Glibc
#endif

/// The kind of an engine object behind a handle: its family ("model",
/// "learner", "tensor", "args", ...). Every handle is an `ms_object` (an
/// `ms_args` is one too, of kind "args"); the table remembers the kind so a
/// handle of one kind passed where another is expected is reported, not
/// dereferenced.
struct HandleKind: RawRepresentable, Hashable, CustomStringConvertible {
    let rawValue: String
    init(rawValue: String) { self.rawValue = rawValue }
    var description: String { rawValue }

    static let tensor = HandleKind(rawValue: "tensor")
    static let model = HandleKind(rawValue: "model")
    static let taskset = HandleKind(rawValue: "taskset")
    static let optimizer = HandleKind(rawValue: "optimizer")
    static let learner = HandleKind(rawValue: "learner")
    static let trainer = HandleKind(rawValue: "trainer")
    static let args = HandleKind(rawValue: "args")
}

/// An object that a handle can point to.
protocol Handled: AnyObject {
    static var kind: HandleKind { get }
}

/// A pthread mutex on the heap (a Swift struct holding `pthread_mutex_t` may
/// be moved, which a mutex must never be).
final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always)
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// The live handles. A handle is a number that this table hands out once and
/// never again (counting up from 16 in steps of 16, so it looks like an
/// aligned pointer to C), mapped to its kind and the object it keeps alive. A
/// handle is resolved only after the table vouches for it, so a freed handle,
/// a pointer that metaswift never handed out, or a handle of the wrong kind
/// becomes an error before anything is dereferenced, and a stale handle can
/// never alias a newer object (as an address could once its memory is reused).
///
/// Resolution retains the object while the table's lock is held, so a handle
/// freed concurrently on another thread stays alive until the call using it
/// returns.
///
/// Nothing runs under the lock but table updates and a retain: deinitialisers
/// (which may call back into Python and take the GIL) run outside it, so the
/// lock never nests with another.
enum Handles {
    private struct Entry {
        let kind: HandleKind
        let object: AnyObject
    }

    private static let lock = Lock()
    nonisolated(unsafe) private static var live: [UInt: Entry] = [:]
    nonisolated(unsafe) private static var last: UInt = 0

    /// Keeps `object` alive under a new handle and returns the handle.
    static func publish<T: Handled>(_ object: T) -> OpaquePointer {
        publish(object, kind: T.kind)
    }

    static func publish(_ object: AnyObject, kind: HandleKind) -> OpaquePointer {
        let id: UInt = lock.withLock {
            last += 16
            live[last] = Entry(kind: kind, object: object)
            return last
        }
        return OpaquePointer(bitPattern: id)!
    }

    /// The object behind `handle`, or an error naming the argument.
    static func resolve<T: Handled>(_ handle: OpaquePointer?, as type: T.Type, _ name: String) throws -> T {
        guard let handle else {
            throw BridgeError.handle("\(name): expected a \(T.kind) handle, got NULL")
        }
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
        let found: Result<T, BridgeError> = lock.withLock {
            guard let entry = live[key] else {
                return .failure(.handle("\(name): not a live metaswift handle (already freed, or not created by metaswift)"))
            }
            guard entry.kind == T.kind else {
                return .failure(.handle("\(name): expected a \(T.kind) handle, got a \(entry.kind) handle"))
            }
            return .success(unsafeDowncast(entry.object, to: T.self))
        }
        return try found.get()
    }

    /// The object behind `handle`, whatever its kind.
    static func resolveAny(_ handle: OpaquePointer?, _ name: String) throws -> (HandleKind, AnyObject) {
        guard let handle else { throw BridgeError.handle("\(name): expected a handle, got NULL") }
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
        let found: Entry? = lock.withLock { live[key] }
        guard let found else {
            throw BridgeError.handle("\(name): not a live metaswift handle (already freed, or not created by metaswift)")
        }
        return (found.kind, found.object)
    }

    /// Forgets `handle` and drops its reference. NULL is a no-op; a handle that
    /// is not live (double free, foreign pointer) or, when `type` is given, of
    /// another kind is an error and is left untouched.
    static func free<T: Handled>(_ handle: OpaquePointer?, as type: T.Type, _ name: String) throws {
        try free(handle, kind: T.kind, name)
    }

    /// With `kind` nil, any object but an args bag.
    static func free(_ handle: OpaquePointer?, kind: HandleKind?, _ name: String) throws {
        guard let handle else { return }
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
        // The entry (and so possibly the object's last reference) leaves the
        // table under the lock and is dropped after it: deinit may call out.
        let removed: Result<Entry, BridgeError> = lock.withLock {
            guard let entry = live[key] else {
                return .failure(.handle("\(name): not a live metaswift handle (already freed, or not created by metaswift)"))
            }
            if let kind, entry.kind != kind {
                return .failure(.handle("\(name): expected a \(kind) handle, got a \(entry.kind) handle"))
            }
            if kind == nil, entry.kind == .args {
                return .failure(.handle("\(name): an args bag, freed with ms_args_free"))
            }
            live[key] = nil
            return .success(entry)
        }
        _ = try removed.get()
    }

    /// Number of live handles of `kind` (for leak tests).
    static func count(_ kind: HandleKind) -> Int {
        lock.withLock { live.values.reduce(0) { $0 + ($1.kind == kind ? 1 : 0) } }
    }
}

@_cdecl("ms_handle_count")
public func ms_handle_count(_ out: UnsafeMutablePointer<Int64>?, _ kind: UnsafePointer<CChar>?) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        let name = try Check.string(kind, "kind")
        out.pointee = Int64(Handles.count(HandleKind(rawValue: name)))
    }
}

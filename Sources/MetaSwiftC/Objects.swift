#if canImport(Glibc)
import Glibc
#endif
import MetaSwift

/// One method of an engine object as `ms_call` reaches it.
typealias Method<T> = (T) -> (Arguments, Results) throws -> Void

/// An engine object that C can call methods of by name. A kind lists its
/// methods once, in a table; `ms_call` finds the method, reads the named
/// arguments through `Arguments` and hands back the `Results`:
///
///     extension ModelObject: Bridged {
///         static let methods: [String: Method<ModelObject>] = [
///             "forward": ModelObject.forward,        // func forward(_ args: Arguments, _ out: Results) throws
///         ]
///     }
///
/// Adding a method is a Swift function and a table entry; no C changes.
protocol Bridged: Handled {
    static var methods: [String: Method<Self>] { get }
}

extension Bridged {
    func invoke(_ method: String, _ args: Arguments, _ out: Results) throws {
        guard let body = Self.methods[method] else {
            let known = Self.methods.keys.sorted().joined(separator: ", ")
            throw BridgeError.argument("method: a \(Self.kind) has no method '\(method)'; expected one of \(known)")
        }
        try body(self)(args, out)
    }
}

/// A constructor by kind name ("learner.MAML") and the family its objects
/// belong to ("learner").
struct Constructor {
    let make: (Arguments) throws -> any Bridged
}

/// Every kind `ms_new` can make and every function `ms_call` reaches without
/// an object. Each family's file contributes its own table (`Kinds.models`,
/// `Kinds.learners`, ...); this is where they are joined.
enum Registry {
    static let constructors: [String: Constructor] = {
        var all: [String: Constructor] = [:]
        for table in Kinds.all {
            for (name, make) in table { all[name] = Constructor(make: make) }
        }
        return all
    }()

    static let functions: [String: (Arguments, Results) throws -> Void] = {
        var all: [String: (Arguments, Results) throws -> Void] = [:]
        for table in Functions.all {
            for (name, body) in table { all[name] = body }
        }
        return all
    }()
}

/// The constructor tables, one per family (each declared beside its kind).
enum Kinds {}
/// The function tables, one per concern.
enum Functions {}

/// Runs one constructor or method: reads arguments from `bag` (or none),
/// runs `body`, refuses unread argument names, and turns the results into
/// a bag. Memory that runs out deep inside is charged to `args.charge`.
private func run(_ bag: OpaquePointer?, context: String, _ body: (Arguments, Results) throws -> Void) throws -> ArgsObject {
    let bagObject = bag == nil ? nil : try Handles.resolve(bag, as: ArgsObject.self, "args")
    let args = Arguments(bagObject, context: context)
    let results = Results()
    do {
        try body(args, results)
        try args.done()
    } catch let error as MetaError where error.kind == .outOfMemory {
        if let charge = args.charge, !error.message.hasPrefix(charge + ":") {
            throw MetaError.memory("\(charge): \(error.message)")
        }
        throw error
    }
    let out = try results.bag(args.scope)
    try args.scope.release()
    return out
}

@_cdecl("ms_new")
public func ms_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ kind: UnsafePointer<CChar>?,
                   _ args: OpaquePointer?) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        let name = try Check.string(kind, "kind")
        guard let constructor = Registry.constructors[name] else {
            let known = Registry.constructors.keys.sorted().joined(separator: ", ")
            throw BridgeError.argument("kind: unknown kind '\(name)'; expected one of \(known)")
        }
        var made: (any Bridged)?
        _ = try run(args, context: name) { a, _ in made = try constructor.make(a) }
        guard let made else { return }
        out.pointee = Handles.publish(made, kind: type(of: made).kind)
    }
}

@_cdecl("ms_call")
public func ms_call(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ object: OpaquePointer?,
                    _ method: UnsafePointer<CChar>?, _ args: OpaquePointer?) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        let name = try Check.string(method, "method")
        let bag: ArgsObject
        if object == nil {
            guard let function = Registry.functions[name] else {
                let known = Registry.functions.keys.sorted().joined(separator: ", ")
                throw BridgeError.argument("method: unknown function '\(name)'; expected one of \(known)")
            }
            bag = try run(args, context: name, function)
        } else {
            let (kind, target) = try Handles.resolveAny(object, "object")
            guard let callee = target as? any Bridged else {
                throw BridgeError.handle("object: a \(kind) handle has no methods")
            }
            bag = try run(args, context: "\(kind).\(name)") { a, r in try callee.invoke(name, a, r) }
        }
        out.pointee = Handles.publish(bag)
    }
}

@_cdecl("ms_free")
public func ms_free(_ object: OpaquePointer?) -> Int32 {
    guarded { try Handles.free(object, kind: nil, "object") }
}

@_cdecl("ms_kind")
public func ms_kind(_ out: UnsafeMutablePointer<UnsafePointer<CChar>?>?, _ object: OpaquePointer?) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        let (kind, _) = try Handles.resolveAny(object, "object")
        out.pointee = KindNames.cString(kind)
    }
}

/// Kind names as C strings that live for the life of the process (there are
/// few of them, and `ms_kind` promises its result that long).
enum KindNames {
    private static let lock = Lock()
    nonisolated(unsafe) private static var made: [HandleKind: UnsafePointer<CChar>] = [:]

    static func cString(_ kind: HandleKind) -> UnsafePointer<CChar> {
        lock.withLock {
            if let s = made[kind] { return s }
            let s = UnsafePointer(strdup(kind.rawValue)!)
            made[kind] = s
            return s
        }
    }
}

extension Kinds {
    static let all = [tensors, models, tasksets, optimizers, learners, trainers, pretrainers, learnedOptimizers]
}

extension Functions {
    static let all = [metrics, files]
}

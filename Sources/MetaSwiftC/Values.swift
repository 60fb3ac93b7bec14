#if canImport(Glibc)
import Glibc
#endif
import MetaSwift

/// One value of an `ms_args` bag. The C type codes (`MS_INT`, ...) are the
/// raw values; include/metaswift.h lists them.
enum ValueType: Int32 {
    case none = 0, int = 1, uint = 2, float = 3, string = 4, object = 5, view = 6, ints = 7, objects = 8, views = 9
}

/// Caller memory described by pointer and shape. The bag borrows it: the
/// header makes the caller keep it valid and unchanged until the bag is freed.
struct View {
    let data: UnsafePointer<Float>?
    let shape: [Int]
}

/// An engine object in a bag, with its kind (read from the handle table when
/// it was put in, so the bag never has to look it up again).
struct Item {
    let kind: HandleKind
    let object: AnyObject
}

enum Value {
    case none
    case int(Int64)
    case uint(UInt64)
    case float(Double)
    case string(String)
    case object(Item)
    case view(View)
    case ints([Int64])
    case objects([Item])
    case views([View])

    var type: ValueType {
        switch self {
        case .none: return .none
        case .int: return .int
        case .uint: return .uint
        case .float: return .float
        case .string: return .string
        case .object: return .object
        case .view: return .view
        case .ints: return .ints
        case .objects: return .objects
        case .views: return .views
        }
    }

    /// How the value reads in an error message.
    var shown: String {
        switch self {
        case .none: return "None"
        case .int(let v): return "\(v)"
        case .uint(let v): return "\(v)"
        case .float(let v): return "\(v)"
        case .string(let s): return "'\(s)'"
        case .object(let item): return "a \(item.kind)"
        case .view(let v): return "an array of shape \(v.shape)"
        case .ints(let v): return "\(v.count) integers"
        case .objects(let v): return "a list of \(v.count) objects"
        case .views(let v): return "a list of \(v.count) arrays"
        }
    }
}

/// What an `ms_args` points to: named values in the order they were set.
/// A name appears once; the bag is filled by one thread and then read by a
/// call (arguments) or by the caller (results).
final class ArgsObject: Handled {
    static let kind = HandleKind.args

    private(set) var entries: [(name: String, value: Value)] = []
    /// Entry names as C strings, alive as long as the bag.
    private var cNames: [UnsafeMutablePointer<CChar>] = []
    /// String values as C strings, made when first read.
    private var cStrings: [Int: UnsafeMutablePointer<CChar>] = [:]
    private let lock = Lock()

    deinit {
        cNames.forEach { free($0) }
        cStrings.values.forEach { free($0) }
    }

    func set(_ name: String, _ value: Value) throws {
        guard !name.isEmpty else { throw BridgeError.argument("name: must not be empty") }
        try lock.withLock {
            guard !entries.contains(where: { $0.name == name }) else {
                throw BridgeError.argument("\(name): given twice")
            }
            entries.append((name, value))
            cNames.append(strdup(name))
        }
    }

    var count: Int { lock.withLock { entries.count } }

    func entry(_ index: Int64) throws -> (name: UnsafePointer<CChar>, value: Value) {
        try lock.withLock {
            let i = try Check.index(index, count: entries.count, "index")
            return (UnsafePointer(cNames[i]), entries[i].value)
        }
    }

    /// The string at `index` as a C string owned by the bag.
    func cString(_ index: Int64) throws -> UnsafePointer<CChar> {
        try lock.withLock {
            let i = try Check.index(index, count: entries.count, "index")
            guard case .string(let s) = entries[i].value else {
                throw BridgeError.argument("index: entry '\(entries[i].name)' holds \(entries[i].value.shown), not a string")
            }
            if let made = cStrings[i] { return UnsafePointer(made) }
            let made = strdup(s)!
            cStrings[i] = made
            return UnsafePointer(made)
        }
    }
}

// MARK: - Filling a bag

private func bag(_ args: OpaquePointer?) throws -> ArgsObject {
    try Handles.resolve(args, as: ArgsObject.self, "args")
}

private func entryName(_ name: UnsafePointer<CChar>?) throws -> String {
    try Check.string(name, "name")
}

/// A view of `rank` dimensions at `data`, checked as far as it can be without
/// reading the data (that happens when a call reads the argument).
private func checkedView(_ data: UnsafePointer<Float>?, _ shape: UnsafePointer<Int64>?, _ rank: Int64,
                         _ name: String) throws -> View {
    let dims = try Check.shape(shape, rank: rank, name)
    let n = try ShapeMath.count(dims, name: name)
    let values = try Check.floats(data, count: n, name)
    return View(data: values.baseAddress, shape: dims)
}

private func item(_ handle: OpaquePointer?, _ name: String) throws -> Item {
    let (kind, object) = try Handles.resolveAny(handle, name)
    guard kind != .args else { throw BridgeError.handle("\(name): an args bag cannot be a value") }
    return Item(kind: kind, object: object)
}

@_cdecl("ms_args_new")
public func ms_args_new(_ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        out.pointee = Handles.publish(ArgsObject())
    }
}

@_cdecl("ms_args_free")
public func ms_args_free(_ args: OpaquePointer?) -> Int32 {
    guarded { try Handles.free(args, as: ArgsObject.self, "args") }
}

@_cdecl("ms_args_set_none")
public func ms_args_set_none(_ args: OpaquePointer?, _ name: UnsafePointer<CChar>?) -> Int32 {
    guarded { try bag(args).set(try entryName(name), .none) }
}

@_cdecl("ms_args_set_int")
public func ms_args_set_int(_ args: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ value: Int64) -> Int32 {
    guarded { try bag(args).set(try entryName(name), .int(value)) }
}

@_cdecl("ms_args_set_uint")
public func ms_args_set_uint(_ args: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ value: UInt64) -> Int32 {
    guarded { try bag(args).set(try entryName(name), .uint(value)) }
}

@_cdecl("ms_args_set_float")
public func ms_args_set_float(_ args: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ value: Double) -> Int32 {
    guarded { try bag(args).set(try entryName(name), .float(value)) }
}

@_cdecl("ms_args_set_string")
public func ms_args_set_string(_ args: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                               _ value: UnsafePointer<CChar>?) -> Int32 {
    guarded {
        let n = try entryName(name)
        try bag(args).set(n, .string(try Check.string(value, n)))
    }
}

@_cdecl("ms_args_set_object")
public func ms_args_set_object(_ args: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ object: OpaquePointer?) -> Int32 {
    guarded {
        let n = try entryName(name)
        try bag(args).set(n, .object(try item(object, n)))
    }
}

@_cdecl("ms_args_set_objects")
public func ms_args_set_objects(_ args: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                                _ objects: UnsafePointer<OpaquePointer?>?, _ count: Int64) -> Int32 {
    guarded {
        let n = try entryName(name)
        let c = try Check.count(count, "count")
        guard c == 0 || objects != nil else { throw BridgeError.argument("objects: NULL for \(c) objects") }
        try bag(args).set(n, .objects(try (0..<c).map { try item(objects![$0], "\(n)[\($0)]") }))
    }
}

@_cdecl("ms_args_set_view")
public func ms_args_set_view(_ args: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ data: UnsafePointer<Float>?,
                             _ shape: UnsafePointer<Int64>?, _ rank: Int64) -> Int32 {
    guarded {
        let n = try entryName(name)
        try bag(args).set(n, .view(try checkedView(data, shape, rank, n)))
    }
}

@_cdecl("ms_args_set_views")
public func ms_args_set_views(_ args: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ views: UnsafeRawPointer?,
                              _ count: Int64) -> Int32 {
    guarded {
        let n = try entryName(name)
        let c = try Check.count(count, "count")
        let records = try ViewLayout.records(views, count: c, "views")
        let list = try (0..<c).map { i -> View in
            let at = records! + i * ViewLayout.size
            return try checkedView(at.load(fromByteOffset: ViewLayout.data, as: UnsafePointer<Float>?.self),
                                   at.load(fromByteOffset: ViewLayout.shape, as: UnsafePointer<Int64>?.self),
                                   at.load(fromByteOffset: ViewLayout.rank, as: Int64.self), "\(n)[\(i)]")
        }
        try bag(args).set(n, .views(list))
    }
}

@_cdecl("ms_args_set_ints")
public func ms_args_set_ints(_ args: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ values: UnsafePointer<Int64>?,
                             _ count: Int64) -> Int32 {
    guarded {
        let n = try entryName(name)
        let c = try Check.count(count, "count")
        guard c == 0 || values != nil else { throw BridgeError.argument("values: NULL for \(c) integers") }
        try Check.fitsInMemory(elements: c * 2, n)
        try bag(args).set(n, .ints(c == 0 ? [] : Array(UnsafeBufferPointer(start: values, count: c))))
    }
}

// MARK: - Reading a bag

@_cdecl("ms_args_count")
public func ms_args_count(_ out: UnsafeMutablePointer<Int64>?, _ args: OpaquePointer?) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        out.pointee = Int64(try bag(args).count)
    }
}

@_cdecl("ms_args_name")
public func ms_args_name(_ out: UnsafeMutablePointer<UnsafePointer<CChar>?>?, _ args: OpaquePointer?,
                         _ index: Int64) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        out.pointee = try bag(args).entry(index).name
    }
}

@_cdecl("ms_args_type")
public func ms_args_type(_ out: UnsafeMutablePointer<Int32>?, _ args: OpaquePointer?, _ index: Int64) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        out.pointee = try bag(args).entry(index).value.type.rawValue
    }
}

/// The value at `index`, refused unless it is of `type`.
private func value(_ args: OpaquePointer?, _ index: Int64, _ type: ValueType) throws -> Value {
    let (name, value) = try bag(args).entry(index)
    guard value.type == type else {
        throw BridgeError.argument("index: entry '\(String(cString: name))' holds \(value.shown), not a value of type \(type)")
    }
    return value
}

@_cdecl("ms_args_get_int")
public func ms_args_get_int(_ out: UnsafeMutablePointer<Int64>?, _ args: OpaquePointer?, _ index: Int64) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        guard case .int(let v) = try value(args, index, .int) else { return }
        out.pointee = v
    }
}

@_cdecl("ms_args_get_float")
public func ms_args_get_float(_ out: UnsafeMutablePointer<Double>?, _ args: OpaquePointer?, _ index: Int64) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        guard case .float(let v) = try value(args, index, .float) else { return }
        out.pointee = v
    }
}

@_cdecl("ms_args_get_string")
public func ms_args_get_string(_ out: UnsafeMutablePointer<UnsafePointer<CChar>?>?, _ args: OpaquePointer?,
                               _ index: Int64) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        out.pointee = try bag(args).cString(index)
    }
}

@_cdecl("ms_args_get_object")
public func ms_args_get_object(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ args: OpaquePointer?,
                               _ index: Int64) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        guard case .object(let item) = try value(args, index, .object) else { return }
        out.pointee = Handles.publish(item.object, kind: item.kind)
    }
}

@_cdecl("ms_args_length")
public func ms_args_length(_ out: UnsafeMutablePointer<Int64>?, _ args: OpaquePointer?, _ index: Int64) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        switch try bag(args).entry(index).value {
        case .ints(let v): out.pointee = Int64(v.count)
        case .objects(let v): out.pointee = Int64(v.count)
        case .views(let v): out.pointee = Int64(v.count)
        default: out.pointee = 1
        }
    }
}

@_cdecl("ms_args_get_objects")
public func ms_args_get_objects(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ capacity: Int64,
                                _ args: OpaquePointer?, _ index: Int64) -> Int32 {
    guarded {
        guard case .objects(let items) = try value(args, index, .objects) else { return }
        let cap = try Check.count(capacity, "capacity")
        guard cap >= items.count else {
            throw BridgeError.argument("capacity: \(cap) is less than the \(items.count) objects")
        }
        guard !items.isEmpty else { return }
        let out = try Check.out(out, "out")
        for (i, item) in items.enumerated() { out[i] = Handles.publish(item.object, kind: item.kind) }
    }
}

@_cdecl("ms_args_get_ints")
public func ms_args_get_ints(_ out: UnsafeMutablePointer<Int64>?, _ capacity: Int64, _ args: OpaquePointer?,
                             _ index: Int64) -> Int32 {
    guarded {
        guard case .ints(let values) = try value(args, index, .ints) else { return }
        let cap = try Check.count(capacity, "capacity")
        guard cap >= values.count else {
            throw BridgeError.argument("capacity: \(cap) is less than the \(values.count) integers")
        }
        guard !values.isEmpty else { return }
        let out = try Check.out(out, "out")
        values.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: values.count) }
    }
}

import MetaSwift

/// The named arguments of one `ms_new` or `ms_call`, read through checked
/// accessors. Each accessor validates its value before any engine code sees
/// it and throws an error that starts with the argument's name:
///
///     let lr = try args.float("inner_lr", default: 0.01, minimum: 0)   // "inner_lr: must be finite and >= 0, got nan"
///     let steps = try args.int("inner_steps", default: 1, in: 0...Check.maxInnerSteps)
///     let model = try args.object("model", as: ModelObject.self)
///     try args.done()                                                  // refuses names nobody asked for
///
/// An argument set to none (Python's None) reads as absent. `done()` refuses
/// any name the callee did not ask for, listing the ones it did, so a typo is
/// an error rather than a silently ignored option; the dispatcher calls it
/// again after the callee returns, so no call skips it.
///
/// Arrays passed as views are borrowed for the call (`scope`); results that
/// still share them are copied before they leave (see `BorrowScope`).
final class Arguments {
    /// "learner.MAML", "learner.meta_loss": what the arguments are of, for messages.
    let context: String
    let scope = BorrowScope()
    /// The argument whose size decides what the call allocates: memory that
    /// runs out deep inside the call is reported as its fault.
    var charge: String?

    private var values: [String: Value] = [:]
    private var given: [String] = []
    private var asked: [String] = []

    init(_ bag: ArgsObject?, context: String) {
        self.context = context
        for (name, value) in bag?.entries ?? [] {
            values[name] = value
            given.append(name)
        }
    }

    /// The value of `name`, or nil when it is absent or none.
    private func take(_ name: String) -> Value? {
        if !asked.contains(name) { asked.append(name) }
        guard let v = values[name] else { return nil }
        if case .none = v { return nil }
        return v
    }

    private func wrong(_ name: String, _ expected: String, _ value: Value) -> BridgeError {
        BridgeError.argument("\(name): expected \(expected), got \(value.shown)")
    }

    /// The error for a required argument that is absent, naming the given
    /// names nobody asked for so far (a misspelt one is the likely cause).
    private func missing(_ name: String) -> BridgeError {
        let stray = given.filter { !asked.contains($0) }
        guard !stray.isEmpty else { return BridgeError.argument("\(name): required") }
        let list = stray.map { "'\($0)'" }.joined(separator: ", ")
        return BridgeError.argument("\(name): required; got \(list), which \(context) does not take")
    }

    /// Refuses the names that no accessor asked for.
    func done() throws {
        for name in given where !asked.contains(name) {
            let known = asked.isEmpty ? "it takes no arguments" : "expected one of " + asked.joined(separator: ", ")
            throw BridgeError.argument("\(name): not an argument of \(context); \(known)")
        }
    }

    // MARK: numbers

    func optionalInt(_ name: String, in range: ClosedRange<Int64>? = nil) throws -> Int? {
        guard let v = take(name) else { return nil }
        let i: Int64
        switch v {
        case .int(let x): i = x
        case .uint(let x):
            guard x <= UInt64(Int64.max) else { throw BridgeError.argument("\(name): \(x) is too large") }
            i = Int64(x)
        default: throw wrong(name, "an integer", v)
        }
        if let range, !range.contains(i) {
            let open = range.upperBound == Int64.max || range.upperBound == Int64(Int32.max)
            if i > range.upperBound && open { throw BridgeError.argument("\(name): \(i) is too large") }
            let bounds = !open ? "in \(range.lowerBound)...\(range.upperBound)"
                : range.lowerBound == 1 ? "> 0" : ">= \(range.lowerBound)"
            throw BridgeError.argument("\(name): must be \(bounds), got \(i)")
        }
        return Int(i)
    }

    func int(_ name: String, default fallback: Int? = nil, in range: ClosedRange<Int64>? = nil) throws -> Int {
        if let v = try optionalInt(name, in: range) { return v }
        guard let fallback else { throw missing(name) }
        return fallback
    }

    /// An index into `0..<count`.
    func index(_ name: String, count: Int) throws -> Int {
        guard let v = try optionalInt(name) else { throw missing(name) }
        guard v >= 0, v < count else { throw MetaError.index("\(name): \(v) is out of range 0..<\(count)") }
        return v
    }

    /// A count or size: >= `minimum`.
    func count(_ name: String, default fallback: Int? = nil, minimum: Int64 = 0) throws -> Int {
        try int(name, default: fallback, in: minimum...Int64.max)
    }

    func bool(_ name: String, default fallback: Bool) throws -> Bool {
        try optionalBool(name) ?? fallback
    }

    func optionalBool(_ name: String) throws -> Bool? {
        guard let v = take(name) else { return nil }
        guard case .int(let x) = v, x == 0 || x == 1 else { throw wrong(name, "a bool", v) }
        return x == 1
    }

    /// A seed: any integer in 0..<2^64.
    func seed(_ name: String, default fallback: UInt64 = 0) throws -> UInt64 {
        guard let v = take(name) else { return fallback }
        switch v {
        case .uint(let x): return x
        case .int(let x) where x >= 0: return UInt64(x)
        default: throw wrong(name, "an integer in [0, 2**64)", v)
        }
    }

    func optionalDouble(_ name: String) throws -> Double? {
        guard let v = take(name) else { return nil }
        switch v {
        case .float(let x): return x
        case .int(let x): return Double(x)
        case .uint(let x): return Double(x)
        default: throw wrong(name, "a real number", v)
        }
    }

    /// A float32: finite (and in Float's range), and >= `minimum` / <= `maximum` when given.
    func float(_ name: String, default fallback: Float? = nil, minimum: Float? = nil, maximum: Float? = nil,
               above: Float? = nil) throws -> Float {
        guard let d = try optionalDouble(name) else {
            guard let fallback else { throw missing(name) }
            return fallback
        }
        let f = Float(d)
        var rule = "finite"
        if let minimum { rule += " and >= \(shown(minimum))" }
        if let above { rule += " and > \(shown(above))" }
        if let maximum { rule += " and <= \(shown(maximum))" }
        guard f.isFinite, minimum.map({ f >= $0 }) ?? true, maximum.map({ f <= $0 }) ?? true,
              above.map({ f > $0 }) ?? true else {
            throw BridgeError.argument("\(name): must be \(rule), got \(d)")
        }
        return f
    }

    /// A bound as people write it: 0, not 0.0.
    private func shown(_ x: Float) -> String {
        x == x.rounded() && abs(x) < 1e9 ? "\(Int(x))" : "\(x)"
    }

    // MARK: text

    func optionalString(_ name: String, oneOf options: [String]? = nil) throws -> String? {
        guard let v = take(name) else { return nil }
        guard case .string(let s) = v else { throw wrong(name, "a string", v) }
        if let options, !options.contains(s) {
            throw BridgeError.argument("\(name): expected one of \(options.map { "'\($0)'" }.joined(separator: ", ")), got '\(s)'")
        }
        return s
    }

    func string(_ name: String, default fallback: String? = nil, oneOf options: [String]? = nil) throws -> String {
        if let s = try optionalString(name, oneOf: options) { return s }
        guard let fallback else { throw missing(name) }
        return fallback
    }

    /// A value of a `RawRepresentable` enumeration named by its raw string.
    func choice<E: RawRepresentable & CaseIterable>(_ name: String, default fallback: E) throws -> E where E.RawValue == String {
        let s = try string(name, default: fallback.rawValue, oneOf: E.allCases.map(\.rawValue))
        return E(rawValue: s)!
    }

    // MARK: objects

    func optionalObject<T: Handled>(_ name: String, as type: T.Type) throws -> T? {
        guard let v = take(name) else { return nil }
        guard case .object(let item) = v else { throw wrong(name, "a \(T.kind)", v) }
        guard item.kind == T.kind, let object = item.object as? T else {
            throw BridgeError.handle("\(name): expected a \(T.kind), got a \(item.kind)")
        }
        return object
    }

    func object<T: Handled>(_ name: String, as type: T.Type) throws -> T {
        guard let object = try optionalObject(name, as: type) else { throw missing(name) }
        return object
    }

    func objects<T: Handled>(_ name: String, as type: T.Type) throws -> [T] {
        guard let v = take(name) else { return [] }
        guard case .objects(let items) = v else { throw wrong(name, "a list of \(T.kind)s", v) }
        return try items.enumerated().map { i, item in
            guard item.kind == T.kind, let object = item.object as? T else {
                throw BridgeError.handle("\(name)[\(i)]: expected a \(T.kind), got a \(item.kind)")
            }
            return object
        }
    }

    // MARK: arrays

    private func tensor(_ v: Value, _ name: String, finite: Bool) throws -> Tensor {
        switch v {
        case .view(let view): return try scope.tensor(view, name, finite: finite)
        case .object(let item) where item.kind == .tensor:
            let t = (item.object as! TensorObject).tensor
            if finite { try Check.finite(t, name) }
            return t
        default: throw wrong(name, "a float32 array", v)
        }
    }

    /// A float32 array (a borrowed view or a tensor); finite unless told otherwise.
    func optionalTensor(_ name: String, finite: Bool = true) throws -> Tensor? {
        guard let v = take(name) else { return nil }
        return try tensor(v, name, finite: finite)
    }

    func tensor(_ name: String, finite: Bool = true) throws -> Tensor {
        guard let t = try optionalTensor(name, finite: finite) else { throw missing(name) }
        return t
    }

    /// A list of float32 arrays; item i is named `label(i)` in errors (`name[i]` by default).
    func tensors(_ name: String, finite: Bool = true, label: ((Int) -> String)? = nil) throws -> [Tensor] {
        guard let v = take(name) else { return [] }
        let label = label ?? { "\(name)[\($0)]" }
        switch v {
        case .views(let views): return try views.enumerated().map { try scope.tensor($1, label($0), finite: finite) }
        case .objects(let items):
            return try items.enumerated().map { i, item in try tensor(.object(item), label(i), finite: finite) }
        default: throw wrong(name, "a list of float32 arrays", v)
        }
    }

    func optionalInts(_ name: String) throws -> [Int64]? {
        guard let v = take(name) else { return nil }
        guard case .ints(let values) = v else { throw wrong(name, "an int64 array", v) }
        return values
    }

    func ints(_ name: String) throws -> [Int64] {
        guard let v = try optionalInts(name) else { throw missing(name) }
        return v
    }
}

/// MetaStore's specs (learners, optimizers, schedules) read their
/// hyper-parameters through these and check ranges themselves.
extension Arguments: SpecArguments {
    func real(_ name: String) throws -> Double? { try optionalDouble(name) }
    func integer(_ name: String) throws -> Int? { try optionalInt(name) }
    func flag(_ name: String) throws -> Bool? { try optionalBool(name) }
    func text(_ name: String) throws -> String? { try optionalString(name) }
    func integers(_ name: String) throws -> [Int]? { try optionalInts(name)?.map { Int($0) } }
    func reals(_ name: String) throws -> [Float]? { try optionalTensor(name)?.scalars }
    func absent(_ name: String) -> Error { missing(name) }
}

/// What a call returns: named values, filled by the callee, handed to the
/// caller as an `ms_args` bag. Tensors that share borrowed caller memory are
/// copied on the way out.
final class Results {
    private enum Slot {
        case value(Value)
        case tensor(Tensor)
        case tensors([Tensor])
    }

    private var slots: [(String, Slot)] = []

    func set(_ name: String, _ v: Int) { slots.append((name, .value(.int(Int64(v))))) }
    func set(_ name: String, _ v: Float) { slots.append((name, .value(.float(Double(v))))) }
    func set(_ name: String, _ v: String) { slots.append((name, .value(.string(v)))) }
    func set(_ name: String, _ v: [Int]) { slots.append((name, .value(.ints(v.map(Int64.init))))) }
    func set(_ name: String, _ v: Tensor) { slots.append((name, .tensor(v))) }
    func set(_ name: String, _ v: [Tensor]) { slots.append((name, .tensors(v))) }
    func set<T: Handled>(_ name: String, _ v: T) { slots.append((name, .value(.object(Item(kind: T.kind, object: v))))) }

    /// The bag the caller receives. Tensors that share borrowed memory are
    /// copied out first; the slots are emptied, so that afterwards only the
    /// scope holds what was borrowed (checked by `BorrowScope.release`).
    func bag(_ scope: BorrowScope) throws -> ArgsObject {
        let bag = ArgsObject()
        let taken = slots
        slots = []
        for (name, slot) in taken {
            switch slot {
            case .value(let v): try bag.set(name, v)
            case .tensor(let t):
                try bag.set(name, .object(Item(kind: .tensor, object: TensorObject(try scope.owned(t)))))
            case .tensors(let ts):
                try bag.set(name, .objects(try ts.map { Item(kind: .tensor, object: TensorObject(try scope.owned($0))) }))
            }
        }
        return bag
    }
}

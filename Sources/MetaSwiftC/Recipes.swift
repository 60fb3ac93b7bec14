import MetaSwift

/// How an object was made: its kind and the arguments it was given, as JSON,
/// so that a file can rebuild it with no code from the caller (`replay`).
///
/// Every value keeps its type, since the accessors that read it back are
/// typed: `{"inner_lr": {"float": 0.4}, "inner_steps": {"int": 5},
/// "model": {"model": null}, "base": {"object": {"kind": ..., "arguments": ...}}}`.
/// A seed is stored as decimal text (a UInt64 does not fit a JSON number),
/// an array as its values and shape. The learner's model is a placeholder:
/// files store the model itself beside the recipe.
struct Recipe: Equatable {
    let kind: String
    let arguments: JSON

    var json: JSON { ["kind": .string(kind), "arguments": arguments] }

    /// The recipe of `kind` made from `bag`, or nil when an argument has no
    /// recorded form (an object made without a recipe, a list of arrays).
    init?(kind: String, bag: ArgsObject?) {
        var members: [(String, JSON)] = []
        for (name, value) in bag?.entries ?? [] {
            let recorded: JSON
            switch value {
            case .none: continue
            case .int(let v): recorded = ["int": .number(Double(v))]
            case .uint(let v): recorded = ["uint": .string(String(v))]
            case .float(let v):
                guard v.isFinite else { return nil }
                recorded = ["float": .number(v)]
            case .string(let s): recorded = ["string": .string(s)]
            case .ints(let v): recorded = ["ints": .array(v.map { .number(Double($0)) })]
            case .view(let v):
                guard let n = try? ShapeMath.count(v.shape, name: name), n <= 1 << 16 else { return nil }
                let values = (0..<n).map { i in Double(v.data![i]) }
                guard values.allSatisfy(\.isFinite) else { return nil }
                recorded = ["floats": .array(values.map { .number($0) }), "shape": JSON(v.shape)]
            case .object(let item):
                if item.object is ModelObject {
                    recorded = ["model": .null]
                } else if let inner = (item.object as? Recorded)?.recipe {
                    recorded = ["object": inner.json]
                } else {
                    return nil
                }
            case .objects, .views: return nil
            }
            members.append((name, recorded))
        }
        self.kind = kind
        self.arguments = .object(members)
    }

    init(kind: String, arguments: JSON) {
        self.kind = kind
        self.arguments = arguments
    }

    /// A recipe read back from a file's JSON, checked for its shape.
    init(json: JSON, _ label: String) throws {
        guard let kind = json["kind"]?.string, let arguments = json["arguments"], arguments.object != nil else {
            throw BridgeError.argument("\(label): expected {\"kind\": ..., \"arguments\": {...}}")
        }
        self.init(kind: kind, arguments: arguments)
    }

    /// Makes the object again, with `model` in place of the model placeholder.
    func replay(model: ModelObject?, _ label: String) throws -> any Bridged {
        guard let constructor = Registry.constructors[kind] else {
            throw BridgeError.argument("\(label): unknown kind '\(kind)'")
        }
        let bag = ArgsObject()
        var keep: [Tensor] = []  // the memory views point to, alive for the call
        for (name, recorded) in arguments.object ?? [] {
            guard let (tag, v) = recorded.object?.first else {
                throw BridgeError.argument("\(label).\(name): expected a typed value such as {\"float\": 0.1}")
            }
            let value: Value
            switch tag {
            case "int":
                guard let i = v.int else { throw BridgeError.argument("\(label).\(name): expected an integer") }
                value = .int(Int64(i))
            case "uint":
                guard let s = v.string, let u = UInt64(s) else { throw BridgeError.argument("\(label).\(name): expected a seed") }
                value = .uint(u)
            case "float":
                guard let d = v.double else { throw BridgeError.argument("\(label).\(name): expected a number") }
                value = .float(d)
            case "string":
                guard let s = v.string else { throw BridgeError.argument("\(label).\(name): expected a string") }
                value = .string(s)
            case "ints":
                guard let a = v.array, case let ints = a.compactMap(\.int), ints.count == a.count else {
                    throw BridgeError.argument("\(label).\(name): expected a list of integers")
                }
                value = .ints(ints.map(Int64.init))
            case "floats":
                guard let a = v.array, case let ds = a.compactMap(\.double), ds.count == a.count,
                      let shape = recorded["shape"]?.array?.compactMap(\.int),
                      let t = try? Tensor(shape: shape, scalars: ds.map { Float($0) }) else {
                    throw BridgeError.argument("\(label).\(name): expected values and their shape")
                }
                keep.append(t)
                value = .view(View(data: UnsafePointer(t.storage.base), shape: shape))
            case "model":
                guard let model else { throw BridgeError.argument("\(label).\(name): no model to put here") }
                value = .object(Item(kind: .model, object: model))
            case "object":
                let inner = try Recipe(json: v, "\(label).\(name)").replay(model: model, "\(label).\(name)")
                value = .object(Item(kind: type(of: inner).kind, object: inner))
            default:
                throw BridgeError.argument("\(label).\(name): unknown value type '\(tag)'")
            }
            try bag.set(name, value)
        }
        let args = Arguments(bag, context: kind)
        let made = try constructor.make(args)
        try args.done()
        withExtendedLifetime(keep) {}
        (made as? Recorded)?.recipe = self
        return made
    }
}

/// An object that remembers its recipe (set by `ms_new`, and by `replay`).
protocol Recorded: AnyObject {
    var recipe: Recipe? { get set }
}

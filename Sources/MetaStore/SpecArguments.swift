import MetaTensor

/// Where a spec (`LearnerSpec`, `OptimizerSpec`, `ScheduleSpec`) reads its
/// hyper-parameters from, by the names of the recipe format: a recipe's
/// JSON (`RecipeArguments`) or the named arguments of the C ABI. Each
/// accessor returns nil for an absent argument and throws, naming the
/// argument, for a value of another type. Ranges and defaults are the
/// spec's: its initialiser checks them, so there is one set of rules
/// whichever way a spec is made.
public protocol SpecArguments {
    func real(_ name: String) throws -> Double?
    func integer(_ name: String) throws -> Int?
    /// A bool, stored as the integer 0 or 1.
    func flag(_ name: String) throws -> Bool?
    func text(_ name: String) throws -> String?
    func integers(_ name: String) throws -> [Int]?
    /// Float32 values (a flat list).
    func reals(_ name: String) throws -> [Float]?
    /// The error for a required argument that is absent.
    func absent(_ name: String) -> Error
}

extension SpecArguments {
    func required<T>(_ name: String, _ read: (String) throws -> T?) throws -> T {
        guard let value = try read(name) else { throw absent(name) }
        return value
    }
}

/// A recipe's JSON, `{"kind": "learner.MAML", "arguments": {"inner_lr":
/// {"float": 0.4}, "inner_steps": {"int": 1}, "model": {"model": null}, ...}}`,
/// read by name and type as `ms_new` took the arguments: every value keeps
/// its type; a seed-sized integer is decimal text (`{"uint": "..."}`); an
/// array is its values and shape (`{"floats": [...], "shape": [n]}`); the
/// model, which files store beside the recipe, is the placeholder
/// `{"model": null}`; an object made from its own recipe is
/// `{"object": {...}}`. `done()` refuses the names nobody read.
final class RecipeArguments: SpecArguments {
    let kind: String
    private let members: [(String, JSON)]
    private var asked: [String] = []

    init(_ json: JSON) throws {
        guard let kind = json["kind"]?.string, let members = json["arguments"]?.object,
              json.keys?.count == 2 else {
            throw MetaError.argument("expected {\"kind\": ..., \"arguments\": {...}}, got \(shortText(json))")
        }
        self.kind = kind
        self.members = members
    }

    /// The JSON of a recipe: kind and arguments in the order given.
    static func json(kind: String, _ arguments: [(String, JSON)]) -> JSON {
        ["kind": .string(kind), "arguments": .object(arguments)]
    }

    /// The typed value of `name` (`{"float": 0.1}`): its tag and value, nil when absent.
    private func typed(_ name: String) throws -> (tag: String, value: JSON, whole: JSON)? {
        if !asked.contains(name) { asked.append(name) }
        guard let whole = members.first(where: { $0.0 == name })?.1 else { return nil }
        guard let (tag, value) = whole.object?.first, whole.keys == (tag == "floats" ? ["floats", "shape"] : [tag]) else {
            throw wrong(name, "a typed value such as {\"float\": 0.1}", whole)
        }
        return (tag, value, whole)
    }

    private func wrong(_ name: String, _ expected: String, _ value: JSON) -> MetaError {
        MetaError.argument("\(name): expected \(expected), got \(shortText(value))")
    }

    func real(_ name: String) throws -> Double? {
        guard let (tag, v, whole) = try typed(name) else { return nil }
        if tag == "float" || tag == "int", let d = v.double { return d }
        if tag == "uint", let s = v.string, let u = UInt64(s) { return Double(u) }
        throw wrong(name, "a real number ({\"float\": ...})", whole)
    }

    func integer(_ name: String) throws -> Int? {
        guard let (tag, v, whole) = try typed(name) else { return nil }
        if tag == "int", let i = v.int { return i }
        if tag == "uint", let s = v.string, let u = UInt64(s) {
            guard u <= UInt64(Int.max) else { throw MetaError.argument("\(name): \(u) is too large") }
            return Int(u)
        }
        throw wrong(name, "an integer ({\"int\": ...})", whole)
    }

    func flag(_ name: String) throws -> Bool? {
        guard let (tag, v, whole) = try typed(name) else { return nil }
        guard tag == "int", let i = v.int, i == 0 || i == 1 else { throw wrong(name, "a bool ({\"int\": 0} or {\"int\": 1})", whole) }
        return i == 1
    }

    func text(_ name: String) throws -> String? {
        guard let (tag, v, whole) = try typed(name) else { return nil }
        guard tag == "string", let s = v.string else { throw wrong(name, "a string ({\"string\": ...})", whole) }
        return s
    }

    func integers(_ name: String) throws -> [Int]? {
        guard let (tag, v, whole) = try typed(name) else { return nil }
        guard tag == "ints", let items = v.array, case let ints = items.compactMap(\.int), ints.count == items.count else {
            throw wrong(name, "a list of integers ({\"ints\": [...]})", whole)
        }
        return ints
    }

    func reals(_ name: String) throws -> [Float]? {
        guard let (tag, v, whole) = try typed(name) else { return nil }
        guard tag == "floats", let items = v.array, case let values = items.compactMap(\.double), values.count == items.count,
              let dims = whole["shape"]?.array, case let shape = dims.compactMap(\.int), shape.count == dims.count,
              shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, { $0.multipliedReportingOverflow(by: $1).partialValue }) == values.count else {
            throw wrong(name, "values and their shape ({\"floats\": [...], \"shape\": [n]})", whole)
        }
        return values.map { Float($0) }
    }

    /// Reads the placeholder `{"model": null}` that stands for the model.
    func model(_ name: String) throws {
        guard let (tag, v, whole) = try typed(name) else {
            throw MetaError.argument("\(name): required (the placeholder {\"model\": null} for the model stored beside the recipe)")
        }
        guard tag == "model", v.isNull else { throw wrong(name, "the model's placeholder {\"model\": null}", whole) }
    }

    /// The recipe another recipe is made from (`{"object": {...}}`).
    func object(_ name: String) throws -> JSON {
        guard let (tag, v, whole) = try typed(name) else { throw absent(name) }
        guard tag == "object" else { throw wrong(name, "a recipe ({\"object\": {\"kind\": ..., \"arguments\": ...}})", whole) }
        return v
    }

    func absent(_ name: String) -> Error { MetaError.argument("\(name): required") }

    /// Refuses the names that nothing read.
    func done() throws {
        for (name, _) in members where !asked.contains(name) {
            throw MetaError.argument("\(name): not an argument of \(kind); expected one of \(asked.joined(separator: ", "))")
        }
    }

    /// `body` on the arguments of `json`, then `done()`; errors start with `label` ("learner: inner_lr: ...").
    static func reading<T>(_ json: JSON, _ label: String, _ body: (RecipeArguments) throws -> T) throws -> T {
        do {
            let args = try RecipeArguments(json)
            let made = try body(args)
            try args.done()
            return made
        } catch let e as MetaError {
            throw MetaError(e.kind, "\(label): \(e.message)")
        }
    }
}

/// Typed values as recipes store them.
enum RecipeValue {
    static func float(_ x: Double) -> JSON { ["float": .number(x)] }
    static func int(_ i: Int) -> JSON { ["int": JSON(i)] }
    static func flag(_ b: Bool) -> JSON { ["int": JSON(b ? 1 : 0)] }
    static func string(_ s: String) -> JSON { ["string": .string(s)] }
    static func ints(_ v: [Int]) -> JSON { ["ints": JSON(v)] }
    /// Float32 values widened to Double, as `ms_new` records an array.
    static func floats(_ v: [Float]) -> JSON { ["floats": .array(v.map { .number(Double($0)) }), "shape": JSON([v.count])] }
    static let model: JSON = ["model": .null]
    static func object(_ recipe: JSON) -> JSON { ["object": recipe] }
}

/// Range checks in the C ABI's words, shared by the specs: a message starts
/// with the argument's name and says what was expected and what was given.
enum SpecCheck {
    /// A rate, epsilon, decay or accumulator: finite as a Float32, and >= 0.
    static func rate(_ x: Double, _ name: String) throws {
        let f = Float(x)
        guard f.isFinite, f >= 0 else { throw MetaError.argument("\(name): must be finite and >= 0, got \(x)") }
    }

    /// The decay rate of a moving average or a momentum: in [0, 1) as a Float32.
    static func decay(_ x: Double, _ name: String) throws {
        let f = Float(x)
        guard f >= 0, f < 1 else { throw MetaError.argument("\(name): must be in [0, 1), got \(f)") }
    }

    static func range(_ n: Int, _ name: String, _ range: ClosedRange<Int>) throws {
        guard range.contains(n) else {
            throw MetaError.argument("\(name): must be in \(range.lowerBound)...\(range.upperBound), got \(n)")
        }
    }

    /// A count: >= `minimum` (0 or 1).
    static func count(_ n: Int, _ name: String, minimum: Int = 0) throws {
        guard n >= minimum else { throw MetaError.argument("\(name): must be \(minimum == 1 ? "> 0" : ">= \(minimum)"), got \(n)") }
    }

    /// The value of an argument `kind` takes (`value`, or `fallback` when not
    /// given; nil for a required one); nil for one it does not take, which
    /// must not be given.
    static func taken<T>(_ name: String, _ value: T?, default fallback: T?, if takes: Bool, by kind: String) throws -> T? {
        guard takes else {
            if value != nil { throw MetaError.argument("\(name): not an argument of \(kind)") }
            return nil
        }
        return value ?? fallback
    }
}

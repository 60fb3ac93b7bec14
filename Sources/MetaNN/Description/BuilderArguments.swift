import MetaTensor

/// The hyper-parameters of one layer description, read with checks whose
/// errors name the layer's path and the argument:
/// `layers[3] (Conv2d).in_channels: must be >= 1, got -2`.
struct BuilderArguments {
    /// Where the layer is ("" at the root, "layers[3]", "layers[2] (Residual).body").
    let path: String
    let type: String
    let depth: Int
    let members: [(String, JSON)]

    /// Refuses any member but "type" and `allowed`.
    init(path: String, type: String, depth: Int, members: [(String, JSON)], allowed: [String]) throws {
        self.path = path
        self.type = type
        self.depth = depth
        self.members = members
        for (key, _) in members where key != "type" && !allowed.contains(key) {
            let expected = allowed.isEmpty ? "it takes no arguments" : "expected " + allowed.joined(separator: ", ")
            throw DescriptionError("\(label): unknown argument '\(key)'; \(expected)")
        }
    }

    var label: String { pathLabel(path, type) }

    func error(_ key: String, _ message: String) -> DescriptionError {
        DescriptionError("\(label).\(key): \(message)")
    }

    /// The member `key`, nil when absent.
    func value(_ key: String) -> JSON? { members.first { $0.0 == key }?.1 }

    func required(_ key: String) throws -> JSON {
        guard let v = value(key) else { throw error(key, "required argument missing") }
        return v
    }

    /// An integer in `min...ModelBuilder.maxSize`.
    func integer(_ v: JSON, _ key: String, min: Int) throws -> Int {
        guard case .number(let d) = v else { throw error(key, "must be an integer, got \(v.kindName)") }
        guard let n = v.int else { throw error(key, "must be an integer, got \(d)") }
        guard n >= min else { throw error(key, "must be >= \(min), got \(n)") }
        guard n <= ModelBuilder.maxSize else { throw error(key, "must be <= \(ModelBuilder.maxSize), got \(n)") }
        return n
    }

    func int(_ key: String, default fallback: Int? = nil, min: Int = 1) throws -> Int {
        guard let v = value(key) else {
            guard let fallback else { throw error(key, "required argument missing") }
            return fallback
        }
        return try integer(v, key, min: min)
    }

    /// An integer, or nil when absent or null.
    func optionalInt(_ key: String, min: Int = 1) throws -> Int? {
        guard let v = value(key), !v.isNull else { return nil }
        return try integer(v, key, min: min)
    }

    /// n (for (n, n)) or [h, w].
    func pair(_ key: String, default fallback: (Int, Int)? = nil, min: Int = 1) throws -> (Int, Int) {
        guard let v = value(key) else {
            guard let fallback else { throw error(key, "required argument missing") }
            return fallback
        }
        if case .array(let items) = v {
            guard items.count == 2 else { throw error(key, "must be an integer or a pair [height, width], got \(items.count) values") }
            return (try integer(items[0], "\(key)[0]", min: min), try integer(items[1], "\(key)[1]", min: min))
        }
        guard case .number = v else { throw error(key, "must be an integer or a pair [height, width], got \(v.kindName)") }
        let n = try integer(v, key, min: min)
        return (n, n)
    }

    /// A non-empty list of integers (at most `ModelBuilder.maxListLength`).
    func ints(_ key: String, default fallback: [Int]? = nil, min: Int = 1, count: Int? = nil) throws -> [Int] {
        guard let v = value(key) else {
            guard let fallback else { throw error(key, "required argument missing") }
            return fallback
        }
        if case .number = v, count == nil { return [try integer(v, key, min: min)] }
        guard case .array(let items) = v else { throw error(key, "must be a list of integers, got \(v.kindName)") }
        if let count, items.count != count { throw error(key, "must have \(count) entries, got \(items.count)") }
        guard !items.isEmpty else { throw error(key, "must not be empty") }
        guard items.count <= ModelBuilder.maxListLength else {
            throw error(key, "must have at most \(ModelBuilder.maxListLength) entries, got \(items.count)")
        }
        return try items.enumerated().map { try integer($1, "\(key)[\($0)]", min: min) }
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let v = value(key) else { return fallback }
        guard let b = v.bool else { throw error(key, "must be true or false, got \(v.kindName)") }
        return b
    }

    /// A number that is finite as a float32 (and > 0 when `positive`).
    func float(_ key: String, default fallback: Float, positive: Bool) throws -> Float {
        guard let v = value(key) else { return fallback }
        guard let d = v.double else { throw error(key, "must be a number, got \(v.kindName)") }
        let f = Float(d)
        guard f.isFinite else { throw error(key, "must be finite as a float32, got \(d)") }
        if positive, !(f > 0) { throw error(key, "must be > 0, got \(d)") }
        return f
    }

    func string(_ key: String, default fallback: String) throws -> String {
        guard let v = value(key) else { return fallback }
        guard let s = v.string else { throw error(key, "must be a string, got \(v.kindName)") }
        return s
    }

    /// The path of a part of this layer.
    func partPath(_ component: String) -> String { childPath(path, type, component) }

    /// The layer described by member `key`, built at path ….key.
    func layer(_ key: String) throws -> any Layer {
        try ModelBuilder.build(try required(key), path: partPath(key), depth: depth + 1)
    }
}

/// An error about a description whose message already names its path; the
/// builder passes it up unchanged and `ModelBuilder.build` throws it as a
/// `MetaError.argument`. (A layer initialiser's own `MetaError` is prefixed
/// with the path where it is caught.)
struct DescriptionError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

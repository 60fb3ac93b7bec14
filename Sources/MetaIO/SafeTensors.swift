import MetaTensor

/// The contents of a safetensors file (huggingface/safetensors): named
/// tensors in order, each an element type, a shape and little-endian,
/// row-major bytes, plus string metadata (`__metadata__`), where a model's
/// description is stored beside its weights.
///
/// A value: reading gives one, writing stores one, and the same contents
/// always serialise to the same bytes (header in `entries` order, metadata in
/// its order, the data laid out as the reference writer lays it out).
///
///     let file = try SafeTensors(tensors: [("fc.weight", w), ("fc.bias", b)],
///                                metadata: [("format", "pt")])
///     try file.write(to: "model.safetensors")            // atomic
///     let back = try SafeTensors.read(path: "model.safetensors")
///     let w2 = try back.tensor(named: "fc.weight")       // F32 -> Tensor
///     back.metadataValue(forKey: "format")                // "pt"
///
/// Reading is strict (see `parse(bytes:source:)`): every malformed file is a
/// thrown `MetaError` that names the file and the fault, never a trap.
///
/// Traps: only F32 entries become `Tensor`s; the other types are raw bytes
/// (`Entry.bytes`). Entries read from a file share that file's buffer, so
/// keeping one entry keeps the whole file in memory; copy its `bytes` to
/// let the rest go.
public struct SafeTensors: Equatable, Sendable {
    /// The tensors, in the order of the header (or of construction).
    public let entries: [Entry]
    /// The `__metadata__` pairs in order; keys are distinct.
    public let metadata: [(String, String)]
    /// Position of each name in `entries`.
    private let index: [String: Int]

    /// Contents from entries and metadata. Throws when two entries share a
    /// name, an entry is named `__metadata__` (the header reserves that
    /// key), or a metadata key repeats.
    public init(entries: [Entry], metadata: [(String, String)] = []) throws {
        var index: [String: Int] = [:]
        for (i, e) in entries.enumerated() {
            guard e.name != "__metadata__" else {
                throw MetaError.argument("safetensors: a tensor cannot be named \"__metadata__\" (the header reserves it)")
            }
            guard index.updateValue(i, forKey: e.name) == nil else {
                throw MetaError.argument("safetensors: two tensors are named \(quoted(e.name))")
            }
        }
        var keys = Set<String>()
        for (key, _) in metadata where !keys.insert(key).inserted {
            throw MetaError.argument("safetensors: metadata key \(quoted(key)) appears twice")
        }
        self.entries = entries
        self.metadata = metadata
        self.index = index
    }

    /// Contents from named F32 tensors (a model's parameter list) and
    /// metadata; each tensor's floats are copied once, into bytes.
    ///
    ///     let file = try SafeTensors(tensors: model.namedParameters, metadata: [("model", json)])
    public init(tensors: [(String, Tensor)], metadata: [(String, String)] = []) throws {
        try self.init(entries: tensors.map { try Entry(name: $0.0, tensor: $0.1) }, metadata: metadata)
    }

    /// The names of the tensors, in order.
    public var names: [String] { entries.map(\.name) }

    /// The entry named `name`; throws naming the tensors there are when there is none.
    public func entry(named name: String) throws -> Entry {
        guard let i = index[name] else {
            let shown = names.prefix(8).map(quoted).joined(separator: ", ")
            let more = entries.count > 8 ? ", ..." : ""
            throw MetaError.argument("safetensors: no tensor named \(quoted(name)) "
                                     + "(there are \(entries.count): \(shown)\(more))")
        }
        return entries[i]
    }

    /// The F32 tensor named `name`, copied into a new `Tensor`. Throws when
    /// there is no such tensor or when it is not F32 (naming its dtype).
    public func tensor(named name: String) throws -> Tensor {
        try entry(named: name).tensor()
    }

    /// Every tensor, in order, as named `Tensor`s; throws at the first entry
    /// that is not F32.
    public func tensors() throws -> [(String, Tensor)] {
        try entries.map { ($0.name, try $0.tensor()) }
    }

    /// The metadata value stored under `key`, or nil.
    public func metadataValue(forKey key: String) -> String? {
        metadata.first { $0.0 == key }?.1
    }

    public static func == (a: SafeTensors, b: SafeTensors) -> Bool {
        a.entries == b.entries && a.metadata.count == b.metadata.count
            && zip(a.metadata, b.metadata).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}

/// A name in double quotes with JSON's escapes, so that control characters
/// and quotes in names from a file print legibly in messages.
func quoted(_ s: String) -> String {
    let limited = s.unicodeScalars.count > 200 ? String(String.UnicodeScalarView(s.unicodeScalars.prefix(200))) + "..." : s
    return (try? JSON.string(limited).serialized) ?? "\"\(limited)\""
}

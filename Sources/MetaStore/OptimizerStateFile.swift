import MetaTensor
import MetaOptim
import MetaIO

/// An optimizer's state (`OptimizerState`: a tree of kind, update count,
/// named buffers of tensors, children) as safetensors entries plus a JSON
/// description of the tree, so a checkpoint carries Adam's moments and the
/// position in a learning-rate schedule.
///
/// The JSON holds the tree without the values:
///
///     {"kind": "chain", "count": 3, "buffers": [], "children": [
///         {"kind": "scaleByAdam", "count": 3, "buffers": [{"name": "mu", "tensors": 2}, {"name": "nu", "tensors": 2}],
///          "children": []},
///         ...]}
///
/// and each tensor is an F32 entry named by the prefix, the path of child
/// indices, the buffer's name and the tensor's index, joined by dots:
/// "optimizer.0.mu.1" is tensor 1 of buffer "mu" of child 0.
///
/// Counts are whole numbers from 0 to 2⁵³ (JSON numbers are exact that far).
public enum StoredOptimizerState {
    /// The description and the tensors of `state`, each named with `prefix`
    /// (say "optimizer."). Throws for a count JSON cannot hold exactly, a
    /// buffer name used twice in one node, or two tensors that would get
    /// the same name.
    public static func encode(_ state: OptimizerState, prefix: String) throws -> (json: JSON, entries: [SafeTensors.Entry]) {
        var entries: [SafeTensors.Entry] = []
        let json = try encode(state, prefix: prefix, path: [], into: &entries)
        var names = Set<String>()
        for e in entries where !names.insert(e.name).inserted {
            throw MetaError.argument("optimizer state: two tensors would both be named \(quotedText(e.name)) "
                                     + "(a buffer name that looks like a child index?)")
        }
        return (json, entries)
    }

    /// The state `json` describes, its tensors read from `file` under
    /// `prefix`. Strict: the description must have exactly the fields
    /// written, every tensor it names must be there and F32, and every tensor
    /// of `file` whose name starts with `prefix` must belong to the state.
    /// Errors name the file (`path`) and the fault.
    public static func decode(json: JSON, file: SafeTensors, prefix: String, path: String) throws -> OptimizerState {
        var used = Set<String>()
        let state = try decode(json, file: file, prefix: prefix, path: [], fileName: path, used: &used)
        if let extra = file.entries.first(where: { $0.name.hasPrefix(prefix) && !used.contains($0.name) }) {
            throw StoreFormat.fileError(path, "tensor \(quotedText(extra.name)) is not part of the optimizer state "
                                        + "its description gives")
        }
        return state
    }

    /// Throws unless every buffer of `state` (and of its children) holds one
    /// tensor per parameter, shaped like it, as `OptimizerState` defines.
    public static func check(_ state: OptimizerState, fits shapes: [[Int]]) throws {
        try check(state, fits: shapes, path: [])
    }

    // MARK: - Implementation

    /// Counts are JSON numbers, exact up to 2⁵³.
    static let maxCount = 9_007_199_254_740_992

    static func place(_ path: [Int]) -> String {
        path.isEmpty ? "optimizer state" : "optimizer state child " + path.map(String.init).joined(separator: ".")
    }

    static func tensorName(_ prefix: String, _ path: [Int], _ buffer: String, _ index: Int) -> String {
        prefix + (path.map(String.init) + [buffer, String(index)]).joined(separator: ".")
    }

    static func encode(_ state: OptimizerState, prefix: String, path: [Int], into entries: inout [SafeTensors.Entry]) throws -> JSON {
        guard state.count >= 0, state.count <= maxCount else {
            throw MetaError.argument("\(place(path)): count \(state.count) cannot be stored (0...2^53)")
        }
        var names = Set<String>()
        var buffers: [JSON] = []
        for b in state.buffers {
            guard names.insert(b.name).inserted else {
                throw MetaError.argument("\(place(path)): two buffers are named \(quotedText(b.name))")
            }
            for (i, t) in b.tensors.enumerated() {
                entries.append(try SafeTensors.Entry(name: tensorName(prefix, path, b.name, i), tensor: t))
            }
            buffers.append(["name": JSON(b.name), "tensors": JSON(b.tensors.count)])
        }
        let children = try state.children.enumerated().map { i, child in
            try encode(child, prefix: prefix, path: path + [i], into: &entries)
        }
        return ["kind": JSON(state.kind), "count": JSON(state.count), "buffers": .array(buffers), "children": .array(children)]
    }

    static func decode(_ json: JSON, file: SafeTensors, prefix: String, path: [Int], fileName: String,
                       used: inout Set<String>) throws -> OptimizerState {
        func fail(_ message: String) -> MetaError { StoreFormat.fileError(fileName, "\(place(path)): \(message)") }
        guard let members = json.object else { throw fail("expected an object, got \(json.kindName)") }
        let fields = ["kind", "count", "buffers", "children"]
        if let unknown = members.first(where: { !fields.contains($0.0) }) {
            throw fail("unknown field \(quotedText(unknown.0)) (expected \(fields.joined(separator: ", ")))")
        }
        guard let kindValue = json["kind"] else { throw fail("no \"kind\"") }
        guard let kind = kindValue.string, !kind.isEmpty else {
            throw fail("kind must be a non-empty string, got \(shortText(kindValue))")
        }
        guard let countValue = json["count"] else { throw fail("no \"count\"") }
        guard let count = countValue.int, count >= 0 else {
            throw fail("count must be a whole number >= 0, got \(shortText(countValue))")
        }
        guard let buffersValue = json["buffers"] else { throw fail("no \"buffers\"") }
        guard let bufferItems = buffersValue.array else { throw fail("buffers must be an array, got \(buffersValue.kindName)") }
        var names = Set<String>()
        var buffers: [OptimizerState.Buffer] = []
        for (j, item) in bufferItems.enumerated() {
            guard let o = item.object, o.count == 2, let name = item["name"]?.string, let n = item["tensors"]?.int, n >= 0 else {
                throw fail("buffer \(j) must be {\"name\": a string, \"tensors\": a whole number >= 0}, got \(shortText(item))")
            }
            guard names.insert(name).inserted else { throw fail("two buffers are named \(quotedText(name))") }
            let tensors = try (0..<n).map { i -> Tensor in
                let tensorName = tensorName(prefix, path, name, i)
                guard let entry = try? file.entry(named: tensorName) else {
                    throw fail("missing tensor \(quotedText(tensorName)) (tensor \(i) of buffer \(quotedText(name)))")
                }
                guard entry.dtype == .f32 else {
                    throw fail("tensor \(quotedText(tensorName)) is \(entry.dtype.rawValue), expected F32")
                }
                used.insert(tensorName)
                do { return try entry.tensor() } catch let e as MetaError { throw fail(e.message) }
            }
            buffers.append(.init(name: name, tensors: tensors))
        }
        guard let childrenValue = json["children"] else { throw fail("no \"children\"") }
        guard let childItems = childrenValue.array else { throw fail("children must be an array, got \(childrenValue.kindName)") }
        let children = try childItems.enumerated().map { i, child in
            try decode(child, file: file, prefix: prefix, path: path + [i], fileName: fileName, used: &used)
        }
        return OptimizerState(kind: kind, count: count, buffers: buffers, children: children)
    }

    static func check(_ state: OptimizerState, fits shapes: [[Int]], path: [Int]) throws {
        for b in state.buffers {
            guard b.tensors.count == shapes.count else {
                throw MetaError.argument("\(place(path)): buffer \(quotedText(b.name)) holds \(b.tensors.count) tensors "
                                         + "for \(shapes.count) parameters")
            }
            for (i, (t, shape)) in zip(b.tensors, shapes).enumerated() where t.shape != shape {
                throw MetaError.shape("\(place(path)): tensor \(i) of buffer \(quotedText(b.name)) has shape \(t.shape) "
                                      + "but parameter \(i) has shape \(shape)")
            }
        }
        for (i, child) in state.children.enumerated() { try check(child, fits: shapes, path: path + [i]) }
    }
}

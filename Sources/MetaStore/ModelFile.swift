import MetaTensor
import MetaNN
import MetaIO

/// A model as a file: its description (the architecture, as JSON metadata),
/// its parameters and its buffers (running statistics) under PyTorch's names
/// and layouts (`TorchLayout`), so the file is also a PyTorch state_dict:
/// `model.load_state_dict(safetensors.torch.load_file(path))` on the
/// equivalent torch.nn module.
///
///     let stored = try StoredModel(model, parameters: params, buffers: [], inputShape: [1, 28, 28])
///     try stored.write(to: "conv4.safetensors")             // atomic
///     let back = try StoredModel.read(path: "conv4.safetensors")
///     back.layer      // the model rebuilt from its description
///
/// Metadata: "format", "format_version", "kind" ("model"), "model" (the
/// description), and "input_shape" (JSON, one example's shape) when known.
/// Learners and checkpoints store a model the same way under a prefix
/// ("model.") beside their own tensors.
public struct StoredModel {
    /// The model rebuilt from `description` (or the model given).
    public let layer: any Layer
    public let description: JSON
    public let parameters: [Tensor]
    public let buffers: [Tensor]
    /// One example's shape, when the model was made with one.
    public let inputShape: [Int]?

    /// A model with the values it holds. Throws when the model cannot say
    /// what it is (a type without a description) or the values do not fit.
    public init(_ model: any Model, parameters: [Tensor], buffers: [Tensor], inputShape: [Int]? = nil) throws {
        guard let layer = model as? any Layer else {
            throw MetaError.argument("save: \(type(of: model)) has no description (only models built from MetaNN's layers "
                                     + "and presets can be saved)")
        }
        try model.checkParameters(parameters.map(\.shape))
        try model.checkBuffers(buffers.map(\.shape))
        self.layer = layer
        self.description = layer.layerDescription
        self.parameters = parameters
        self.buffers = buffers
        self.inputShape = inputShape
    }

    /// The metadata and the tensors (PyTorch's names, each with `prefix`).
    public func encoded(prefix: String = "") throws -> (metadata: [(String, String)], entries: [SafeTensors.Entry]) {
        var metadata = [("model", try description.serialized)]
        if let inputShape { metadata.append(("input_shape", try JSON(inputShape).serialized)) }
        let entries = try TorchLayout.export(layer, parameters: parameters, buffers: buffers)
        return (metadata, try prefix.isEmpty ? entries : entries.map { try $0.renamed(prefix + $0.name) })
    }

    /// The model stored in `file` under `prefix`: rebuilt from its
    /// description, its values read back from PyTorch's layout. Errors name
    /// the file and what does not fit.
    public static func decode(_ file: SafeTensors, path: String, prefix: String = "") throws -> StoredModel {
        let description = try StoreFormat.json(file, "model", path: path)
        let inputShape: [Int]?
        if file.metadataValue(forKey: "input_shape") != nil {
            let shape = try StoreFormat.json(file, "input_shape", path: path)
            guard let dims = shape.array?.compactMap(\.int), dims.count == shape.array?.count, dims.allSatisfy({ $0 > 0 }) else {
                throw StoreFormat.fileError(path, "input_shape must be a list of positive integers, got \((try? shape.serialized) ?? "?")")
            }
            inputShape = dims
        } else {
            inputShape = nil
        }
        return try StoreFormat.naming(path) {
            let layer = try ModelBuilder.build(description)
            if let inputShape { _ = try layer.outputShape(for: [1] + inputShape) }
            let mine = try prefix.isEmpty ? file.entries : file.entries.filter { $0.name.hasPrefix(prefix) }
                .map { try $0.renamed(String($0.name.dropFirst(prefix.count))) }
            let (parameters, buffers) = try TorchLayout.import(layer, entries: mine)
            return try StoredModel(layer, parameters: parameters, buffers: buffers, inputShape: inputShape)
        }
    }

    /// Writes the model alone (kind "model"), atomically.
    public func write(to path: String) throws {
        let (metadata, entries) = try encoded()
        try SafeTensors(entries: entries, metadata: StoreFormat.header(kind: "model") + metadata).write(to: path)
    }

    /// Reads a file of kind "model".
    public static func read(path: String) throws -> StoredModel {
        let file = try SafeTensors.read(path: path)
        _ = try StoreFormat.kind(of: file, path: path, expected: ["model"])
        return try decode(file, path: path)
    }
}

extension SafeTensors.Entry {
    /// The same tensor under another name (its bytes copied).
    func renamed(_ name: String) throws -> SafeTensors.Entry {
        try SafeTensors.Entry(name: name, dtype: dtype, shape: shape, bytes: bytes)
    }
}

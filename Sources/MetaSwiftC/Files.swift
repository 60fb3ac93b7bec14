import MetaSwift

// Files: `save` methods write an object to a safetensors file (MetaStore's
// formats); the `load` function reads any file metaswift wrote and returns
// the object it holds with its kind, so Python rebuilds the matching class.

extension ModelObject {
    /// Writes the model (description, parameters, buffers, input shape) to `path`, atomically.
    func save(_ args: Arguments, _ out: Results) throws {
        let path = try args.string("path")
        try args.done()
        try StoredModel(model, parameters: parameters, buffers: buffers, inputShape: inputShape).write(to: path)
    }
}

extension Functions {
    static let files: [String: (Arguments, Results) throws -> Void] = [
        /// The object in the file at `path`: `kind`, `object`, and for a model
        /// its `description` (JSON text) and `input_shape` when it has one.
        "load": { args, out in
            let path = try args.string("path")
            try args.done()
            let file = try SafeTensors.read(path: path)
            let kind = try StoreFormat.kind(of: file, path: path, expected: ["model"])
            let stored = try StoredModel.decode(file, path: path)
            out.set("kind", kind)
            out.set("object", try ModelFactory.described(stored.layer, inputShape: stored.inputShape,
                                                         values: stored.parameters, buffers: stored.buffers))
            out.set("description", try stored.description.serialized)
            if let shape = stored.inputShape { out.set("input_shape", shape) }
        },
    ]
}

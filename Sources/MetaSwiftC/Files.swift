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

extension ModelObject {
    /// The values under PyTorch's names and layouts (`TorchLayout`): `names`
    /// (a JSON array) and `values` of the F32 entries, and `counters` (a JSON
    /// array) naming batch norm's `num_batches_tracked`, which is 0 here.
    func stateDict(_ args: Arguments, _ out: Results) throws {
        try args.done()
        let entries = try TorchLayout.export(model, parameters: parameters, buffers: buffers)
        let floats = entries.filter { $0.dtype == .f32 }
        out.set("names", try JSON.array(floats.map { .string($0.name) }).serialized)
        out.set("values", try floats.map { try $0.tensor() })
        out.set("counters", try JSON.array(entries.filter { $0.dtype != .f32 }.map { .string($0.name) }).serialized)
    }

    /// Replaces every parameter and buffer with the values of a PyTorch
    /// state_dict: `names` (a JSON array) and `values` in the same order.
    /// Strict, as PyTorch's `load_state_dict(strict=True)`: a missing, extra
    /// or mis-shaped entry is an error naming it, and nothing changes.
    func loadStateDict(_ args: Arguments, _ out: Results) throws {
        let text = try args.string("names")
        args.charge = "values"
        let values = try args.tensors("values", finite: false)
        try args.done()
        guard let names = (try? JSON.parse(text))?.array?.compactMap(\.string), names.count == (try? JSON.parse(text))?.array?.count else {
            throw BridgeError.argument("names: expected a JSON array of strings")
        }
        guard names.count == values.count else {
            throw BridgeError.argument("values: \(values.count) arrays for \(names.count) names")
        }
        var tensors: [String: Tensor] = [:]
        for (name, value) in zip(names, values) {
            guard tensors.updateValue(try args.scope.owned(value), forKey: name) == nil else {
                throw BridgeError.argument("names: \(name) appears twice")
            }
        }
        let (newParameters, newBuffers) = try TorchLayout.import(model, tensors: tensors)
        for (t, spec) in zip(newParameters + newBuffers, specs + bufferSpecs) {
            try Check.finite(t, spec.name)
        }
        setParameters(newParameters)
        for (i, b) in newBuffers.enumerated() { setBuffer(i, b) }
    }
}

extension LearnerObject {
    /// Writes the learner (MetaStore's `StoredLearner`): its spec (kind and
    /// hyper-parameters), its model (under "model.", as a model file stores
    /// it) and its own meta-parameters (Meta-SGD's rates, under "learner.").
    func save(_ args: Arguments, _ out: Results) throws {
        let path = try args.string("path")
        // What the caller's own class keeps beside the engine's arguments (JSON), stored as is.
        let attributes = try args.optionalString("attributes")
        try args.done()
        try StoredLearner(spec, model: model.model, metaParameters: metaParameters, buffers: model.buffers,
                          inputShape: model.inputShape, attributes: attributes).write(to: path)
    }

    /// The learner in `file`: its model rebuilt, the spec made around it,
    /// its own meta-parameters set.
    static func load(_ file: SafeTensors, path: String) throws -> (LearnerObject, StoredLearner) {
        let stored = try StoredLearner.decode(file, path: path)
        let model = try ModelFactory.described(stored.model.layer, inputShape: stored.model.inputShape,
                                               values: stored.model.parameters, buffers: stored.model.buffers)
        let learner = try inFile(path) { try LearnerObject(stored.spec, model: model) }
        let n = model.specs.count
        for (k, value) in stored.learnerParameters.enumerated() {
            try inFile(path) { try Check.finite(value, "learner.\(learner.specs[n + k].name)") }
            learner.setMetaParameter(n + k, value)
        }
        return (learner, stored)
    }
}

extension OptimizerObject {
    /// Writes the optimizer's spec (rule, hyper-parameters, schedule; MetaStore's
    /// `StoredOptimizer`), or a learned optimizer's network and weights
    /// (`StoredLearnedOptimizer`); it holds no state.
    func save(_ args: Arguments, _ out: Results) throws {
        let path = try args.string("path")
        try args.done()
        if let learned {
            try StoredLearnedOptimizer.write(learned, weights: weights, to: path)
        } else if let spec {
            try StoredOptimizer.write(spec, to: path)
        }
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
            let kind = try StoreFormat.kind(of: file, path: path)
            out.set("kind", kind)
            func describe(_ stored: StoredModel) throws {
                out.set("description", try stored.description.serialized)
                if let shape = stored.inputShape { out.set("input_shape", shape) }
            }
            if kind == "model" {
                let stored = try StoredModel.decode(file, path: path)
                out.set("object", try ModelFactory.described(stored.layer, inputShape: stored.inputShape,
                                                             values: stored.parameters, buffers: stored.buffers))
                try describe(stored)
            } else if kind.hasPrefix("learner.") {
                let (learner, stored) = try LearnerObject.load(file, path: path)
                out.set("object", learner)
                out.set("model", learner.model)
                out.set("recipe", try learner.spec.json.serialized)
                if let attributes = stored.attributes { out.set("attributes", attributes) }
                try describe(stored.model)
            } else if kind == StoredLearnedOptimizer.kind {
                let stored = try StoredLearnedOptimizer.decode(file, path: path)
                out.set("object", try inFile(path) { try OptimizerObject(learned: stored.optimizer, weights: stored.weights) })
                out.set("recipe", try StoredLearnedOptimizer.recipe(stored.optimizer).serialized)
            } else if kind.hasPrefix("optimizer.") || kind.hasPrefix("schedule.") {
                let spec = try StoredOptimizer.decode(file, path: path)
                out.set("object", try inFile(path) { try OptimizerObject(spec) })
                out.set("recipe", try spec.json.serialized)
            } else if kind == "checkpoint" {
                // What a run's checkpoint says about the run; fit(resume_from=) restores it.
                let checkpoint = try Checkpoint.read(path: path)
                out.set("steps", checkpoint.steps)
                out.set("meta_batch_size", checkpoint.metaBatchSize)
                out.set("losses", try Tensor(shape: [checkpoint.losses.count], scalars: checkpoint.losses))
            } else {
                throw StoreFormat.fileError(path, "holds a \"\(kind)\", which this engine cannot load (a model, "
                                            + "a learner, an optimizer or a checkpoint)")
            }
        },
    ]
}

/// `body()`, with its errors (the engine's and the bridge's) prefixed by the file's path.
func inFile<T>(_ path: String, _ body: () throws -> T) throws -> T {
    do {
        return try StoreFormat.naming(path, body)
    } catch let e as BridgeError where !e.description.hasPrefix(path + ":") {
        throw BridgeError(status: e.status, description: "\(path): \(e.description)")
    }
}

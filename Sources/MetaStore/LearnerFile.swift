import MetaTensor
import MetaNN
import MetaLearners
import MetaIO

/// A learner as a file: its spec, its model as a model file holds it, and
/// its own meta-parameters (Meta-SGD's rates). Python's `ms.save(learner)`
/// writes the same file, so either side reads what the other wrote.
///
///     try StoredLearner(spec, model: mlp, metaParameters: trainer.metaParameters).write(to: "maml.safetensors")
///     let back = try StoredLearner.read(path: "maml.safetensors")
///     let learner = try back.learner()                       // back.spec.make(model: back.model.layer)
///     try learner.metaLossAndGrad(back.metaParameters, tasks: tasks, seed: 0)
///
/// What the file holds (kind: the learner's, "learner.MAML"):
/// - metadata "learner": the spec's recipe (`LearnerSpec.json`);
/// - the model as `StoredModel` writes it under "model.": metadata "model"
///   and "input_shape", tensors "model.0.weight", ...;
/// - the learner's own meta-parameters as F32 tensors "learner.<name>",
///   named by the learner's parameter specs ("learner.lr.W1");
/// - metadata "attributes" when given: a JSON object the caller keeps
///   beside the spec (Python's classes: Reptile's epsilon), stored as is.
public struct StoredLearner {
    public let spec: LearnerSpec
    public let model: StoredModel
    /// The meta-parameters after the model's: the learner's own.
    public let learnerParameters: [Tensor]
    public let attributes: String?
    /// The specs of `learnerParameters` (the learner's, after the model's).
    private let own: [ParameterSpec]

    /// The learner's meta-parameters: the model's, then its own.
    public var metaParameters: [Tensor] { model.parameters + learnerParameters }

    /// The learner the spec makes around the stored model.
    public func learner() throws -> any MetaLearner { try spec.make(model: model.layer) }

    /// A learner made by `spec` around `model`, with `metaParameters` (the
    /// model's parameters, then the learner's own, as a trainer holds them),
    /// the model's `buffers` and, when known, one example's `inputShape`.
    public init(_ spec: LearnerSpec, model: any Model, metaParameters: [Tensor], buffers: [Tensor] = [],
                inputShape: [Int]? = nil, attributes: String? = nil) throws {
        let n = model.parameterCount
        guard metaParameters.count >= n else {
            throw MetaError.argument("learner: the model has \(n) parameters but there are only \(metaParameters.count) meta-parameters")
        }
        try self.init(spec, model: try StoredModel(model, parameters: Array(metaParameters[..<n]), buffers: buffers,
                                                   inputShape: inputShape),
                      learnerParameters: Array(metaParameters[n...]), attributes: attributes)
    }

    /// A learner from its parts. Throws unless `learnerParameters` are those
    /// the learner takes beside the model's (count and shapes) and
    /// `attributes`, when given, is a JSON object.
    public init(_ spec: LearnerSpec, model: StoredModel, learnerParameters: [Tensor] = [], attributes: String? = nil) throws {
        let learner = try spec.make(model: model.layer)
        let own = Array(learner.metaParameterSpecs.dropFirst(model.parameters.count))
        guard learnerParameters.count == own.count else {
            throw MetaError.argument("learner: a \(spec.kind.rawValue) has \(own.count) meta-parameters of its own "
                                     + "\(own.map(\.name)), got \(learnerParameters.count)")
        }
        for (t, s) in zip(learnerParameters, own) where t.shape != s.shape {
            throw MetaError.shape("learner.\(s.name): expected shape \(s.shape), got \(t.shape)")
        }
        if let attributes, (try? JSON.parse(attributes))?.object == nil {
            throw MetaError.argument("attributes: expected a JSON object, got \(quotedText(attributes))")
        }
        self.spec = spec
        self.model = model
        self.learnerParameters = learnerParameters
        self.attributes = attributes
        self.own = own
    }

    /// Writes the learner (kind: its own), atomically.
    public func write(to path: String) throws {
        let (metadata, entries) = try model.encoded(prefix: "model.")
        let mine = try zip(own, learnerParameters).map { try SafeTensors.Entry(name: "learner." + $0.name, tensor: $1) }
        try SafeTensors(entries: entries + mine,
                        metadata: StoreFormat.header(kind: spec.kind.rawValue) + [("learner", try spec.json.serialized)]
                            + (attributes.map { [("attributes", $0)] } ?? []) + metadata).write(to: path)
    }

    /// Reads a learner file.
    public static func read(path: String) throws -> StoredLearner {
        try decode(try SafeTensors.read(path: path), path: path)
    }

    /// The learner in `file`. Strict: the kind is the spec's, every tensor
    /// is the model's or one of the learner's own, F32 and of its shape;
    /// errors name the file (`path`) and the fault.
    public static func decode(_ file: SafeTensors, path: String) throws -> StoredLearner {
        let kind = try StoreFormat.kind(of: file, path: path, expected: LearnerSpec.Kind.allCases.map(\.rawValue))
        func fail(_ message: String) -> MetaError { StoreFormat.fileError(path, message) }
        let model = try StoredModel.decode(file, path: path, prefix: "model.")
        let spec = try StoreFormat.naming(path) { try LearnerSpec(json: try StoreFormat.json(file, "learner", path: path)) }
        guard spec.kind.rawValue == kind else { throw fail("holds a \(quotedText(kind)), but its learner is a \(spec.kind.rawValue)") }
        let own = try StoreFormat.naming(path) {
            Array(try spec.make(model: model.layer).metaParameterSpecs.dropFirst(model.parameters.count))
        }
        let values = try own.map { s -> Tensor in
            let name = "learner." + s.name
            guard let entry = try? file.entry(named: name) else {
                throw fail("missing tensor \(quotedText(name)) (a \(spec.kind.rawValue)'s own meta-parameter)")
            }
            let t = try StoreFormat.naming(path) { try entry.tensor() }
            guard t.shape == s.shape else { throw fail("tensor \(quotedText(name)): expected shape \(s.shape), got \(t.shape)") }
            return t
        }
        let names = Set(own.map { "learner." + $0.name })
        if let extra = file.entries.first(where: { !$0.name.hasPrefix("model.") && !names.contains($0.name) }) {
            throw fail("tensor \(quotedText(extra.name)) is not part of a learner file")
        }
        return try StoreFormat.naming(path) {
            try StoredLearner(spec, model: model, learnerParameters: values, attributes: file.metadataValue(forKey: "attributes"))
        }
    }
}

/// An optimizer as a file: its spec's recipe (rule, hyper-parameters,
/// schedule) as metadata "optimizer", under the kind `ms_new` makes it by
/// ("optimizer.Adam", "schedule.Cosine"), and no tensors: it holds no
/// state (a checkpoint stores that). Python's `ms.save(optimizer)` writes
/// the same file.
///
///     try StoredOptimizer.write(try OptimizerSpec(.adam, lr: 1e-3), to: "adam.safetensors")
///     let rule = try StoredOptimizer.read(path: "adam.safetensors").make()
public enum StoredOptimizer {
    /// Writes `spec` to `path`, atomically.
    public static func write(_ spec: OptimizerSpec, to path: String) throws {
        try SafeTensors(entries: [], metadata: StoreFormat.header(kind: spec.kind)
                        + [("optimizer", try spec.json.serialized)]).write(to: path)
    }

    /// Reads an optimizer file.
    public static func read(path: String) throws -> OptimizerSpec {
        try decode(try SafeTensors.read(path: path), path: path)
    }

    /// The optimizer in `file`, read strictly; errors name the file (`path`).
    public static func decode(_ file: SafeTensors, path: String) throws -> OptimizerSpec {
        let kind = try StoreFormat.kind(of: file, path: path, expected: OptimizerSpec.kinds)
        let spec = try StoreFormat.naming(path) { try OptimizerSpec(json: try StoreFormat.json(file, "optimizer", path: path)) }
        guard spec.kind == kind else {
            throw StoreFormat.fileError(path, "holds a \(quotedText(kind)), but its optimizer is a \(spec.kind)")
        }
        if let extra = file.entries.first {
            throw StoreFormat.fileError(path, "tensor \(quotedText(extra.name)) is not part of an optimizer file")
        }
        return spec
    }
}

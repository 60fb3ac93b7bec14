import MetaTensor
import MetaNN
import MetaOptim
import MetaLearners
import MetaIO

/// A training run as a file: everything a `MetaTrainer` needs to continue
/// exactly where it was, in another process, so that N steps in one go and
/// k steps, a checkpoint, a restore and N − k steps end with the same bits.
///
///     var trainer = try MetaTrainer(learner: maml, metaParameters: start, optimizer: adam,
///                                   metaBatchSize: 25, seed: 1)
///     for _ in 0..<1000 { losses.append(try trainer.step(tasks)) }
///     try Checkpoint(trainer, losses: losses).write(to: "run.safetensors")   // atomic
///
///     // later, elsewhere: rebuild the learner and the rule, then
///     let checkpoint = try Checkpoint.read(path: "run.safetensors")
///     var resumed = try checkpoint.trainer(learner: maml, optimizer: adam)
///
/// What the file holds (kind "checkpoint"):
/// - the model as a model file holds it (`StoredModel`), under "model.":
///   the description as metadata "model", the model's meta-parameters and
///   its buffers under PyTorch's names and layouts ("model.0.weight", ...);
/// - the learner's own meta-parameters (Meta-SGD's rates), in the engine's
///   layout: "learner.0", "learner.1", ...;
/// - the optimizer state (`StoredOptimizerState`): metadata
///   "optimizer_state", tensors "optimizer.<children>.<buffer>.<index>";
/// - metadata "trainer": the step count, the meta-batch size, the number
///   of learner tensors and the generator's state (`RNG.State`; its 64-bit
///   fields as strings of decimal digits, which JSON numbers cannot hold);
/// - the losses so far as one F32 tensor "history.losses";
/// - `descriptions`: the caller's own metadata pairs (how to rebuild the
///   learner and the optimizer), stored and given back as they are.
///
/// The learner and the optimizer's rule are code, not data: the caller
/// rebuilds them (from its descriptions) and `trainer(learner:optimizer:)`
/// checks that the stored state fits them.
///
/// Trap: a restored trainer cannot fall back past its first step after a
/// non-finite meta-loss (see `MetaTrainer.init(learner:metaParameters:optimizer:metaBatchSize:rng:steps:)`).
public struct Checkpoint {
    /// The model: description, its part of the meta-parameters, its buffers.
    public let model: StoredModel
    /// The meta-parameters after the model's: the learner's own (Meta-SGD's rates).
    public let learnerParameters: [Tensor]
    public let optimizerState: OptimizerState
    /// The trainer's generator, where the next meta-batch is drawn from.
    public let rng: RNG.State
    /// Meta-steps taken.
    public let steps: Int
    public let metaBatchSize: Int
    /// The run's meta-losses so far (the caller's history).
    public let losses: [Float]
    /// The caller's metadata pairs, in order.
    public let descriptions: [(String, String)]
    /// The file it was read from, or "checkpoint": what errors name.
    let source: String

    /// The learner's meta-parameters: the model's, then the learner's own.
    public var metaParameters: [Tensor] { model.parameters + learnerParameters }
    /// How many of `metaParameters` are the model's.
    public var modelParameterCount: Int { model.parameters.count }

    /// Metadata keys the checkpoint itself uses; `descriptions` may not.
    public static let reservedKeys = [StoreFormat.formatKey, StoreFormat.versionKey, StoreFormat.kindKey,
                                      "model", "input_shape", "trainer", "optimizer_state"]

    /// A checkpoint from its parts. `metaParameters` are the learner's: the
    /// first `model.parameterCount` are the model's (checked against it),
    /// the rest the learner's own. Throws when a part does not fit: the
    /// optimizer state's buffers must hold one tensor per meta-parameter,
    /// shaped like it; `steps` >= 0, `metaBatchSize` > 0; description keys
    /// distinct and not among `reservedKeys`.
    public init(model: any Model, metaParameters: [Tensor], buffers: [Tensor] = [], inputShape: [Int]? = nil,
                optimizerState: OptimizerState, rng: RNG.State, steps: Int, metaBatchSize: Int,
                losses: [Float] = [], descriptions: [(String, String)] = []) throws {
        let n = model.parameterCount
        guard metaParameters.count >= n else {
            throw MetaError.argument("checkpoint: the model has \(n) parameters but there are only "
                                     + "\(metaParameters.count) meta-parameters")
        }
        guard steps >= 0, steps <= StoredOptimizerState.maxCount else {
            throw MetaError.argument("checkpoint: steps must be in 0...2^53, got \(steps)")
        }
        guard metaBatchSize > 0, metaBatchSize <= StoredOptimizerState.maxCount else {
            throw MetaError.argument("checkpoint: meta_batch_size must be > 0, got \(metaBatchSize)")
        }
        var keys = Set<String>()
        for (key, _) in descriptions {
            guard !Checkpoint.reservedKeys.contains(key) else {
                throw MetaError.argument("checkpoint: description key \(quotedText(key)) is one the checkpoint uses itself "
                                         + "(\(Checkpoint.reservedKeys.joined(separator: ", ")))")
            }
            guard keys.insert(key).inserted else {
                throw MetaError.argument("checkpoint: description key \(quotedText(key)) appears twice")
            }
        }
        try StoredOptimizerState.check(optimizerState, fits: metaParameters.map(\.shape))
        self.init(model: try StoredModel(model, parameters: Array(metaParameters[..<n]), buffers: buffers, inputShape: inputShape),
                  learnerParameters: Array(metaParameters[n...]), optimizerState: optimizerState, rng: rng, steps: steps,
                  metaBatchSize: metaBatchSize, losses: losses, descriptions: descriptions, source: "checkpoint")
    }

    /// Where `trainer` is: its meta-parameters, optimizer state, generator,
    /// step count and meta-batch size, with the model described by `model`
    /// (by default the learner's; it must have the same parameters) and its
    /// `buffers` (the trainer holds none).
    public init(_ trainer: MetaTrainer, model: (any Model)? = nil, buffers: [Tensor] = [], inputShape: [Int]? = nil,
                losses: [Float] = [], descriptions: [(String, String)] = []) throws {
        let learnerModel = trainer.learner.model
        let model = model ?? learnerModel
        guard model.parameterSpecs.map(\.shape) == learnerModel.parameterSpecs.map(\.shape) else {
            throw MetaError.argument("checkpoint: the model given has parameters \(model.parameterSpecs), "
                                     + "the learner's model \(learnerModel.parameterSpecs)")
        }
        try self.init(model: model, metaParameters: trainer.metaParameters, buffers: buffers, inputShape: inputShape,
                      optimizerState: trainer.optimizer.state, rng: trainer.rng.state, steps: trainer.steps,
                      metaBatchSize: trainer.metaBatchSize, losses: losses, descriptions: descriptions)
    }

    init(model: StoredModel, learnerParameters: [Tensor], optimizerState: OptimizerState, rng: RNG.State, steps: Int,
         metaBatchSize: Int, losses: [Float], descriptions: [(String, String)], source: String) {
        self.model = model
        self.learnerParameters = learnerParameters
        self.optimizerState = optimizerState
        self.rng = rng
        self.steps = steps
        self.metaBatchSize = metaBatchSize
        self.losses = losses
        self.descriptions = descriptions
        self.source = source
    }

    /// A trainer that continues the run, for `learner` and `optimizer`
    /// rebuilt by the caller. Throws, naming the file, unless they fit what
    /// was stored: the learner's model has the stored description (when it
    /// has one) and parameters, the learner takes these meta-parameters, and
    /// the optimizer state is one `optimizer` made (kinds, counts, shapes).
    public func trainer(learner: any MetaLearner, optimizer: GradientTransformation) throws -> MetaTrainer {
        try StoreFormat.naming(source) {
            if let layer = learner.model as? any Layer, layer.layerDescription != model.description {
                throw MetaError.argument("the learner's model is \(shortText(layer.layerDescription)), "
                                         + "the checkpoint's \(shortText(model.description))")
            }
            let n = learner.model.parameterCount
            guard n == modelParameterCount else {
                throw MetaError.argument("the learner's model has \(n) parameters, the checkpoint's \(modelParameterCount)")
            }
            return try MetaTrainer(learner: learner, metaParameters: metaParameters,
                                   optimizer: Optimizer(optimizer, state: optimizerState),
                                   metaBatchSize: metaBatchSize, rng: RNG(state: rng), steps: steps)
        }
    }
}

// MARK: - The file

extension Checkpoint {
    /// Writes the checkpoint (kind "checkpoint") atomically: a crash while
    /// writing leaves the previous file whole.
    public func write(to path: String) throws {
        let (modelMetadata, modelEntries) = try model.encoded(prefix: "model.")
        let (optimizerJSON, optimizerEntries) = try StoredOptimizerState.encode(optimizerState, prefix: "optimizer.")
        let learnerEntries = try learnerParameters.enumerated().map { try SafeTensors.Entry(name: "learner.\($0)", tensor: $1) }
        let history = try SafeTensors.Entry(name: "history.losses", tensor: try Tensor(shape: [losses.count], scalars: losses))
        let trainer: JSON = [
            "steps": JSON(steps), "meta_batch_size": JSON(metaBatchSize), "learner_parameters": JSON(learnerParameters.count),
            "rng": ["key": JSON(String(rng.key)), "stream": JSON(String(rng.stream)), "position": JSON(String(rng.position)),
                    "splits": JSON(String(rng.splits)), "used": JSON(rng.used)],
        ]
        let metadata = StoreFormat.header(kind: "checkpoint") + modelMetadata
            + [("trainer", try trainer.serialized), ("optimizer_state", try optimizerJSON.serialized)] + descriptions
        try SafeTensors(entries: modelEntries + learnerEntries + optimizerEntries + [history], metadata: metadata).write(to: path)
    }

    /// Reads a file of kind "checkpoint". Strict: every tensor the metadata
    /// names must be there, F32 and of its shape, nothing else may be, and
    /// the optimizer state must fit the meta-parameters; errors name the
    /// file and the fault.
    public static func read(path: String) throws -> Checkpoint {
        let file = try SafeTensors.read(path: path)
        _ = try StoreFormat.kind(of: file, path: path, expected: ["checkpoint"])
        func fail(_ message: String) -> MetaError { StoreFormat.fileError(path, message) }

        let trainer = try StoreFormat.json(file, "trainer", path: path)
        let fields = ["steps", "meta_batch_size", "learner_parameters", "rng"]
        guard let members = trainer.object else { throw fail("metadata \"trainer\" must be an object, got \(trainer.kindName)") }
        if let unknown = members.first(where: { !fields.contains($0.0) }) {
            throw fail("metadata \"trainer\" has an unknown field \(quotedText(unknown.0))")
        }
        func whole(_ key: String, atLeast low: Int) throws -> Int {
            guard let v = trainer[key] else { throw fail("metadata \"trainer\" has no \(quotedText(key))") }
            guard let n = v.int, n >= low else {
                throw fail("trainer \(key) must be a whole number >= \(low), got \(shortText(v))")
            }
            return n
        }
        let steps = try whole("steps", atLeast: 0)
        let metaBatchSize = try whole("meta_batch_size", atLeast: 1)
        let learnerCount = try whole("learner_parameters", atLeast: 0)
        guard let rngValue = trainer["rng"] else { throw fail("metadata \"trainer\" has no \"rng\"") }
        let rng = try readRNG(rngValue, fail)

        let model = try StoredModel.decode(file, path: path, prefix: "model.")
        let learnerParameters = try (0..<learnerCount).map { i -> Tensor in
            guard let entry = try? file.entry(named: "learner.\(i)") else {
                throw fail("missing tensor \"learner.\(i)\" (learner parameter \(i) of \(learnerCount))")
            }
            return try StoreFormat.naming(path) { try entry.tensor() }
        }
        let optimizerState = try StoredOptimizerState.decode(json: try StoreFormat.json(file, "optimizer_state", path: path),
                                                             file: file, prefix: "optimizer.", path: path)
        guard let historyEntry = try? file.entry(named: "history.losses") else { throw fail("missing tensor \"history.losses\"") }
        guard historyEntry.shape.count == 1 else {
            throw fail("tensor \"history.losses\" must have one dimension, got shape \(historyEntry.shape)")
        }
        let losses = try StoreFormat.naming(path) { try historyEntry.tensor().scalars }

        let learnerNames = Set((0..<learnerCount).map { "learner.\($0)" })
        if let extra = file.entries.first(where: { e in
            !(e.name.hasPrefix("model.") || e.name.hasPrefix("optimizer.") || learnerNames.contains(e.name)
              || e.name == "history.losses")
        }) {
            throw fail("tensor \(quotedText(extra.name)) is not part of a checkpoint")
        }
        let metaParameters = model.parameters + learnerParameters
        try StoreFormat.naming(path) {
            try StoredOptimizerState.check(optimizerState, fits: metaParameters.map(\.shape))
        }
        return Checkpoint(model: model, learnerParameters: learnerParameters, optimizerState: optimizerState, rng: rng,
                          steps: steps, metaBatchSize: metaBatchSize, losses: losses,
                          descriptions: file.metadata.filter { !reservedKeys.contains($0.0) }, source: path)
    }

    static func readRNG(_ json: JSON, _ fail: (String) -> MetaError) throws -> RNG.State {
        let fields = ["key", "stream", "position", "splits", "used"]
        guard let members = json.object else { throw fail("trainer rng must be an object, got \(json.kindName)") }
        if let unknown = members.first(where: { !fields.contains($0.0) }) {
            throw fail("trainer rng has an unknown field \(quotedText(unknown.0))")
        }
        func word(_ key: String) throws -> UInt64 {
            guard let v = json[key] else { throw fail("trainer rng has no \(quotedText(key))") }
            guard let text = v.string, !text.isEmpty, text.utf8.allSatisfy({ (48...57).contains($0) }), let n = UInt64(text) else {
                throw fail("trainer rng \(key) must be a string of decimal digits of a 64-bit unsigned integer, "
                           + "got \(shortText(v))")
            }
            return n
        }
        let (key, stream, position, splits) = (try word("key"), try word("stream"), try word("position"), try word("splits"))
        guard let usedValue = json["used"] else { throw fail("trainer rng has no \"used\"") }
        guard let used = usedValue.int else { throw fail("trainer rng used must be a whole number, got \(shortText(usedValue))") }
        do {
            return try RNG.State(key: key, stream: stream, position: position, splits: splits, used: used)
        } catch let e as MetaError {
            throw fail(e.message)
        }
    }
}

/// A JSON value for a message, cut to 200 characters.
func shortText(_ value: JSON) -> String {
    guard let text = try? value.serialized else { return value.kindName }
    return text.count > 200 ? String(text.prefix(200)) + "..." : text
}

// MARK: - The run's learner and optimizer

extension Checkpoint {
    /// Descriptions that record how the run's learner and optimizer were
    /// made, as the C ABI's trainers write them ("learner" and "optimizer":
    /// their recipes' JSON), so Python's `fit(resume_from=)` and
    /// `learnerSpec` / `optimizerSpec` find them.
    public static func descriptions(learner: LearnerSpec, optimizer: OptimizerSpec) throws -> [(String, String)] {
        [("learner", try learner.json.serialized), ("optimizer", try optimizer.json.serialized)]
    }

    /// The learner recorded in the descriptions (under "learner"), or nil
    /// when there is none; throws, naming the file, when it is not a
    /// learner's recipe.
    public func learnerSpec() throws -> LearnerSpec? {
        try described("learner", LearnerSpec.init(json:))
    }

    /// The optimizer recorded in the descriptions (under "optimizer"), or nil.
    public func optimizerSpec() throws -> OptimizerSpec? {
        try described("optimizer", OptimizerSpec.init(json:))
    }

    private func described<T>(_ key: String, _ read: (JSON) throws -> T) throws -> T? {
        guard let text = descriptions.first(where: { $0.0 == key })?.1 else { return nil }
        return try StoreFormat.naming(source) {
            let json: JSON
            do { json = try JSON.parse(text) } catch let e as MetaError {
                throw MetaError.argument("metadata \(quotedText(key)) is not JSON: \(e.message)")
            }
            return try read(json)
        }
    }
}

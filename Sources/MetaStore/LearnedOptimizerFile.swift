import MetaTensor
import MetaIO
import MetaLearners

/// A learned optimizer (MetaLearners' `LearnedOptimizer` and its trained
/// weights) as one safetensors file:
///
/// - metadata `kind` "optimizer.Learned" and `optimizer`, its recipe:
///   `{"kind": "optimizer.Learned", "arguments": {"hidden": {"int": 20},
///   "layers": {"int": 2}, "output_scale": {"float": 0.1}, "preprocessing":
///   {"float": 10}}}` (preprocessing 0: the raw gradient), and "cell":
///   {"string": "gru"} for GRU layers (absent: LSTM, as files before it);
/// - tensors: the network's weights under its parameter names
///   ("lstm0.Wx", ..., "out.W", "out.b"), F32, exactly those.
///
/// Unlike the rule optimizers, whose recipe is all there is, the weights are
/// the optimizer; they are read strictly (every name, every shape, finite).
public enum StoredLearnedOptimizer {
    public static let kind = "optimizer.Learned"

    public static func recipe(_ optimizer: LearnedOptimizer) -> JSON {
        RecipeArguments.json(kind: kind, [("hidden", RecipeValue.int(optimizer.hiddenSize)),
                                          ("layers", RecipeValue.int(optimizer.layers)),
                                          ("output_scale", RecipeValue.float(Double(optimizer.outputScale))),
                                          ("preprocessing", RecipeValue.float(Double(optimizer.preprocessing ?? 0)))]
                                         + (optimizer.cell == .lstm ? [] : [("cell", RecipeValue.string(optimizer.cell.rawValue))]))
    }

    /// The architecture a recipe describes.
    public static func optimizer(recipe json: JSON) throws -> LearnedOptimizer {
        try RecipeArguments.reading(json, "optimizer") { args in
            guard args.kind == kind else { throw MetaError.argument("kind: expected \(quotedText(kind)), got \(quotedText(args.kind))") }
            let p = try args.real("preprocessing") ?? 10
            let name = try args.text("cell") ?? "lstm"
            guard let cell = RecurrentCell(rawValue: name) else {
                throw MetaError.argument("cell: expected 'lstm' or 'gru', got \(quotedText(name))")
            }
            return try LearnedOptimizer(hiddenSize: try args.integer("hidden") ?? 20, layers: try args.integer("layers") ?? 2,
                                        outputScale: Float(try args.real("output_scale") ?? 0.1),
                                        preprocessing: p == 0 ? nil : Float(p), cell: cell)
        }
    }

    /// Writes the optimizer and its weights to `path`, atomically.
    public static func write(_ optimizer: LearnedOptimizer, weights: [Tensor], to path: String) throws {
        try optimizer.check(weights)
        try SafeTensors(tensors: zip(optimizer.parameterSpecs, weights).map { ($0.0.name, $0.1) },
                        metadata: StoreFormat.header(kind: kind) + [("optimizer", try recipe(optimizer).serialized)])
            .write(to: path)
    }

    /// The optimizer in `file`, read strictly; errors name the file (`path`).
    public static func decode(_ file: SafeTensors, path: String) throws -> (optimizer: LearnedOptimizer, weights: [Tensor]) {
        _ = try StoreFormat.kind(of: file, path: path, expected: [kind])
        let optimizer = try StoreFormat.naming(path) { try Self.optimizer(recipe: try StoreFormat.json(file, "optimizer", path: path)) }
        let specs = optimizer.parameterSpecs
        let known = Set(specs.map(\.name))
        if let extra = file.entries.first(where: { !known.contains($0.name) }) {
            throw StoreFormat.fileError(path, "tensor \(quotedText(extra.name)) is not a weight of \(optimizer)")
        }
        let weights = try specs.map { spec -> Tensor in
            let t = try StoreFormat.naming(path) { try file.tensor(named: spec.name) }
            guard t.shape == spec.shape else {
                throw StoreFormat.fileError(path, "tensor \(quotedText(spec.name)) has shape \(t.shape), expected \(spec.shape)")
            }
            guard t.isFinite else { throw StoreFormat.fileError(path, "tensor \(quotedText(spec.name)) is not finite") }
            return t
        }
        return (optimizer, weights)
    }

    public static func read(path: String) throws -> (optimizer: LearnedOptimizer, weights: [Tensor]) {
        try decode(try SafeTensors.read(path: path), path: path)
    }
}

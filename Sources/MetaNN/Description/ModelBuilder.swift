import MetaTensor

/// Builds a model from its description (see `Describable`): the inverse of
/// `layerDescription`. For every layer and preset of MetaNN,
/// `try ModelBuilder.build(m.layerDescription).layerDescription` is the
/// same JSON as `m.layerDescription`, with the same `parameterSpecs`.
///
///     let model = try ModelBuilder.build(json: """
///         {"type": "Sequential", "layers": [
///             {"type": "Conv2d", "in_channels": 1, "out_channels": 64, "kernel_size": 3, "padding": 1},
///             {"type": "BatchNorm2d", "num_features": 64}, {"type": "ReLU"},
///             {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Flatten"},
///             {"type": "Linear", "in_features": 12544, "out_features": 5}]}
///         """)
///     try model.outputShape(for: [25, 1, 28, 28])  // [25, 5]
///
/// Arguments PyTorch has defaults for may be left out (stride = kernel_size
/// for pools, padding 0, bias true, eps 1e-5, …). Errors are
/// `MetaError.argument`s naming the layer's path and the argument:
///
///     layers[3] (Conv2d).in_channels: must be >= 1, got -2
///     layers[7]: unknown layer type 'Conv3d'; expected one of Sequential, Linear, …
///     layers[0] (Linear): unknown argument 'in_feature'; expected in_features, out_features, bias
///
/// Every size is bounded by `maxSize`, nesting by `maxNesting`, and the total
/// parameter count must not overflow, so no description can make the
/// engine trap. Whether the parameters fit in memory is the caller's check
/// (`parameterElementCount()`).
public enum ModelBuilder {
    /// The largest size any integer argument may have.
    public static let maxSize = Int(Int32.max)
    /// The deepest nesting of layers inside layers.
    public static let maxNesting = 32
    /// The most entries a list argument ("sizes", "normalized_shape") or a Sequential may have.
    public static let maxListLength = 100_000

    /// The "type" names `build` knows, in the order errors list them.
    public static var layerTypes: [String] { builders.map(\.type) }

    public static func build(_ description: JSON) throws -> any Layer {
        let model: any Layer
        do {
            model = try build(description, path: "", depth: 0)
        } catch let e as DescriptionError {
            throw MetaError.argument(e.message)
        }
        do {
            _ = try model.parameterElementCount()
        } catch let e as MetaError {
            throw MetaError.argument("\(model.layerType): too many parameters (\(e.message))")
        }
        return model
    }

    /// `build(JSON.parse(text))`.
    public static func build(json text: String) throws -> any Layer {
        try build(try JSON.parse(text))
    }

    static func build(_ description: JSON, path: String, depth: Int) throws -> any Layer {
        let at = path.isEmpty ? "description" : path
        guard depth <= maxNesting else { throw DescriptionError("\(at): layers nested more than \(maxNesting) deep") }
        guard case .object(let members) = description else {
            throw DescriptionError("\(at): a layer description must be an object like {\"type\": \"Linear\", ...}, "
                                   + "got \(description.kindName)")
        }
        guard let typeValue = members.first(where: { $0.0 == "type" })?.1 else {
            throw DescriptionError("\(at): missing \"type\" (a layer description is an object like {\"type\": \"Linear\", ...})")
        }
        guard let type = typeValue.string else {
            throw DescriptionError("\(at).type: must be a string, got \(typeValue.kindName)")
        }
        guard let builder = builders.first(where: { $0.type == type }) else {
            throw DescriptionError("\(at): unknown layer type '\(type)'; expected one of \(layerTypes.joined(separator: ", "))")
        }
        let args = try BuilderArguments(path: path, type: type, depth: depth, members: members, allowed: builder.arguments)
        do {
            return try builder.make(args)
        } catch let e as MetaError {
            // A layer's own check that the argument checks did not anticipate
            // ("Conv4: …" becomes "layers[2] (Conv4): …").
            let message = e.message.hasPrefix(type + ":") ? String(e.message.dropFirst(type.count + 1)) : " " + e.message
            throw DescriptionError("\(args.label):\(message)")
        }
    }

    struct Builder {
        let type: String
        let arguments: [String]
        let make: (BuilderArguments) throws -> any Layer
    }

    static let builders: [Builder] = [
        Builder(type: "Sequential", arguments: ["layers", "names"], make: sequential),
        Builder(type: "Linear", arguments: ["in_features", "out_features", "bias"]) { a in
            try Linear(inputs: a.int("in_features"), outputs: a.int("out_features"), bias: a.bool("bias", default: true))
        },
        Builder(type: "CosineLinear", arguments: ["in_features", "out_features", "scale", "learned_norm"]) { a in
            let outputs = try a.int("out_features")
            return try CosineLinear(inputs: a.int("in_features"), outputs: outputs,
                                    scale: a.float("scale", default: CosineLinear.defaultScale(classes: outputs), positive: true),
                                    learnedNorm: a.bool("learned_norm", default: true))
        },
        Builder(type: "Conv2d", arguments: ["in_channels", "out_channels", "kernel_size", "stride", "padding", "bias"]) { a in
            try Conv2d(inChannels: a.int("in_channels"), outChannels: a.int("out_channels"),
                       kernelSize: a.pair("kernel_size"), stride: a.pair("stride", default: (1, 1)),
                       padding: a.pair("padding", default: (0, 0), min: 0), bias: a.bool("bias", default: true))
        },
        Builder(type: "BatchNorm1d", arguments: ["num_features", "eps", "momentum", "track_running_stats"]) { a in
            try BatchNorm1d(features: a.int("num_features"), eps: a.float("eps", default: 1e-5, positive: true),
                   momentum: a.float("momentum", default: 0.1, positive: false), trackRunningStats: a.bool("track_running_stats", default: false))
        },
        Builder(type: "BatchNorm2d", arguments: ["num_features", "eps", "momentum", "track_running_stats"]) { a in
            try BatchNorm2d(features: a.int("num_features"), eps: a.float("eps", default: 1e-5, positive: true),
                   momentum: a.float("momentum", default: 0.1, positive: false), trackRunningStats: a.bool("track_running_stats", default: false))
        },
        Builder(type: "BatchNorm", arguments: ["num_features", "eps", "momentum", "track_running_stats"]) { a in
            try BatchNorm(features: a.int("num_features"), eps: a.float("eps", default: 1e-5, positive: true),
                   momentum: a.float("momentum", default: 0.1, positive: false), trackRunningStats: a.bool("track_running_stats", default: false))
        },
        Builder(type: "LayerNorm", arguments: ["normalized_shape", "eps", "elementwise_affine"]) { a in
            try LayerNorm(normalizedShape: a.ints("normalized_shape"), eps: a.float("eps", default: 1e-5, positive: true),
                          elementwiseAffine: a.bool("elementwise_affine", default: true))
        },
        Builder(type: "Identity", arguments: []) { _ in Activation.identity },
        Builder(type: "ReLU", arguments: []) { _ in Activation.relu },
        Builder(type: "LeakyReLU", arguments: ["negative_slope"]) { a in
            try LeakyReLU(negativeSlope: a.float("negative_slope", default: 0.01, positive: false))
        },
        Builder(type: "Tanh", arguments: []) { _ in Activation.tanh },
        Builder(type: "Sigmoid", arguments: []) { _ in Activation.sigmoid },
        Builder(type: "GELU", arguments: []) { _ in Activation.gelu },
        Builder(type: "Softplus", arguments: []) { _ in Activation.softplus },
        Builder(type: "MaxPool2d", arguments: ["kernel_size", "stride"]) { a in
            let k = try a.int("kernel_size")
            return try MaxPool2d(kernelSize: k, stride: a.optionalInt("stride") ?? k)
        },
        Builder(type: "AvgPool2d", arguments: ["kernel_size", "stride", "padding"]) { a in
            let k = try a.int("kernel_size")
            let p = try a.int("padding", default: 0, min: 0)
            guard 2 * p <= k else { throw a.error("padding", "must be at most kernel_size / 2 = \(k / 2) (as PyTorch), got \(p)") }
            return try AvgPool2d(kernelSize: k, stride: a.optionalInt("stride") ?? k, padding: p)
        },
        Builder(type: "GlobalAvgPool2d", arguments: []) { _ in GlobalAvgPool2d() },
        Builder(type: "Flatten", arguments: []) { _ in Flatten() },
        Builder(type: "Dropout", arguments: ["p"]) { a in try Dropout(p: a.float("p", default: 0.5, positive: false)) },
        Builder(type: "Residual", arguments: ["body", "shortcut"]) { a in
            let body = try a.layer("body")
            let shortcut = try a.value("shortcut").flatMap { $0.isNull ? nil : try a.layer("shortcut") }
            return Residual(body: body, shortcut: shortcut)
        },
        Builder(type: "LSTM", arguments: ["input_size", "hidden_size", "batch_first"]) { a in
            try requireBatchFirst(a)
            return try LSTM(inputSize: a.int("input_size"), hiddenSize: a.int("hidden_size"))
        },
        Builder(type: "GRU", arguments: ["input_size", "hidden_size", "batch_first"]) { a in
            try requireBatchFirst(a)
            return try GRU(inputSize: a.int("input_size"), hiddenSize: a.int("hidden_size"))
        },
        Builder(type: "LastStep", arguments: []) { _ in LastStep() },
        Builder(type: "LSTMCell", arguments: ["input_size", "hidden_size"]) { a in
            try LSTMCell(inputSize: a.int("input_size"), hiddenSize: a.int("hidden_size"))
        },
        Builder(type: "GRUCell", arguments: ["input_size", "hidden_size"]) { a in
            try GRUCell(inputSize: a.int("input_size"), hiddenSize: a.int("hidden_size"))
        },
        Builder(type: "MLP", arguments: ["sizes", "activation", "bias"]) { a in
            let sizes = try a.ints("sizes")
            guard sizes.count >= 2 else { throw a.error("sizes", "needs at least an input and an output size, got \(sizes)") }
            let name = try a.string("activation", default: "relu")
            guard let activation = Activation(rawValue: name) else {
                let known = Activation.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
                throw a.error("activation", "unknown activation '\(name)'; expected one of \(known)")
            }
            return try MLP(sizes: sizes, activation: activation, bias: a.bool("bias", default: true))
        },
        Builder(type: "Conv4", arguments: ["in_channels", "hidden", "blocks", "outputs", "image_size", "eps", "momentum",
                                           "track_running_stats"]) { a in
            let blocks = try a.int("blocks", default: 4)
            let imageSize = try a.int("image_size", default: 28)
            let outputs = try a.optionalInt("outputs")
            if outputs != nil, imageSize >> Swift.min(blocks, 62) == 0 {
                throw a.error("image_size", "\(imageSize) is too small for \(blocks) 2x2 poolings")
            }
            return try Conv4(inChannels: a.int("in_channels", default: 1), hidden: a.int("hidden", default: 64),
                             blocks: blocks, outputs: outputs, imageSize: imageSize,
                             eps: a.float("eps", default: 1e-5, positive: true),
                             momentum: a.float("momentum", default: 0.1, positive: false),
                             trackRunningStats: a.bool("track_running_stats", default: false))
        },
        Builder(type: "ResNet12", arguments: ["in_channels", "widths", "outputs"]) { a in
            try ResNet12(inChannels: a.int("in_channels", default: 3),
                         widths: a.ints("widths", default: ResNet12.standardWidths, count: 4),
                         outputs: a.optionalInt("outputs"))
        },
    ]

    static func sequential(_ a: BuilderArguments) throws -> any Layer {
        let value = try a.required("layers")
        guard case .array(let items) = value else { throw a.error("layers", "must be a list of layer descriptions, got \(value.kindName)") }
        guard items.count <= maxListLength else {
            throw a.error("layers", "must have at most \(maxListLength) entries, got \(items.count)")
        }
        let layers: [any Model] = try items.enumerated().map { i, item in
            try build(item, path: a.partPath("layers[\(i)]"), depth: a.depth + 1)
        }
        guard let namesValue = a.value("names"), !namesValue.isNull else { return Sequential(layers) }
        guard case .array(let nameItems) = namesValue else {
            throw a.error("names", "must be a list of strings, got \(namesValue.kindName)")
        }
        guard nameItems.count == items.count else {
            throw a.error("names", "must have one name per layer (\(items.count)), got \(nameItems.count)")
        }
        var names: [String] = []
        var seen = Set<String>()
        for (i, item) in nameItems.enumerated() {
            guard let name = item.string else { throw a.error("names[\(i)]", "must be a string, got \(item.kindName)") }
            guard !name.isEmpty, seen.insert(name).inserted else {
                throw a.error("names[\(i)]", "must be non-empty and distinct, got '\(name)'")
            }
            names.append(name)
        }
        return try Sequential(named: Array(zip(names, layers)))
    }

    static func requireBatchFirst(_ a: BuilderArguments) throws {
        guard try a.bool("batch_first", default: true) else {
            throw a.error("batch_first", "only true is supported: the input is (N, T, input_size)")
        }
    }
}

import MetaSwift

/// Builds the models the `model.*` kinds make: it turns checked arguments
/// into engine values, initialises the parameters from the seed, and states
/// which inputs the model accepts, so `forward` can refuse a bad `x` with a
/// message in the model's terms.
enum ModelFactory {
    /// A model built from its description (MetaNN's `ModelBuilder`; errors
    /// name the layer's path and argument). With `inputShape` (one example's
    /// shape) the description is checked against it now, and inputs must
    /// have it; without, each input is checked when it comes.
    static func described(_ description: String, inputShape: [Int]?, seed: UInt64) throws -> ModelObject {
        let layer = try ModelBuilder.build(json: description)
        try Check.fitsInMemory(elements: try layer.parameterElementCount(), "description")
        var rng = RNG(seed: seed)
        return try described(layer, inputShape: inputShape, values: try layer.initialParameters(rng: &rng), buffers: nil)
    }

    /// A built model holding `values` (and `buffers`, or its initial ones).
    static func described(_ layer: any Layer, inputShape: [Int]?, values: [Tensor], buffers: [Tensor]?) throws -> ModelObject {
        let declared = try inputShape.map { Array(try layer.outputShape(for: [1] + $0).dropFirst()) }
        // A Conv4 or MLP written from layers runs as the preset does (same
        // numbers, bit for bit); its names and description stay the user's.
        let model = Recognition.optimized(layer, inputShape: inputShape)
        return try ModelObject(model: model, values: values, buffers: buffers, outputShape: declared,
                               inputShape: inputShape) { shape, name in
            guard shape.count >= 1, shape[0] > 0 else {
                throw MetaError.shape("\(name): needs at least one example, got shape \(shape)")
            }
            if let inputShape, Array(shape.dropFirst()) != inputShape {
                throw MetaError.shape("\(name): expected examples of shape \(inputShape) (the model's input_shape), got shape \(shape)")
            }
            let out: [Int]
            do {
                out = try layer.outputShape(for: shape)
            } catch let error as MetaError {
                throw MetaError(error.kind, "\(name): \(error.message)")
            }
            // The largest activation is at most a few times the widest of
            // input and output per example; deeper needs are charged to `x`.
            try Check.fitsInMemory(elements: Safe.product([max(Safe.product(shape), Safe.product(out)), 4]), name)
            return Array(out.dropFirst())
        }
    }


    static func mlp(sizes: [Int], activation: String, seed: UInt64) throws -> ModelObject {
        guard sizes.count >= 2 else {
            throw BridgeError.argument("sizes: expected at least 2 sizes (inputs and outputs), got \(sizes)")
        }
        guard let act = Activation(rawValue: activation) else {
            let known = Activation.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
            throw BridgeError.argument("activation: unknown activation '\(activation)'; expected one of \(known)")
        }
        let weights = zip(sizes, sizes.dropFirst()).reduce(0) { total, layer in
            let (w, o1) = layer.0.multipliedReportingOverflow(by: layer.1)
            let (t, o2) = total.addingReportingOverflow(w &+ layer.1)
            return o1 || o2 ? Int.max : t
        }
        try Check.fitsInMemory(elements: weights, "sizes")
        let model = try MLP(sizes: sizes, activation: act)
        var rng = RNG(seed: seed)
        let values = try model.initialParameters(rng: &rng)
        let inputs = sizes[0], widest = sizes.max() ?? 0
        return try ModelObject(model: model, values: values, outputShape: [sizes[sizes.count - 1]]) { shape, name in
            guard shape.count == 2 else {
                throw MetaError.shape("\(name): expected 2 dimensions (batch, \(inputs)), got shape \(shape)")
            }
            guard shape[1] == inputs else {
                throw MetaError.shape("\(name): expected \(inputs) features per row (shape (batch, \(inputs))), got shape \(shape)")
            }
            let (activations, overflow) = shape[0].multipliedReportingOverflow(by: widest)
            try Check.fitsInMemory(elements: overflow ? Int.max : activations, name)
            return [sizes[sizes.count - 1]]
        }
    }
}

extension ModelFactory {
    /// Conv4 (see MetaNN's `Conv4`) for square images of side `imageSize`,
    /// with a Linear head of `outputs` classes when `outputs` is set. Inputs
    /// must be (batch >= 1, inChannels, imageSize, imageSize): the head's
    /// width, and the embedding size of a headless encoder, follow from
    /// `imageSize`, so the check names it rather than failing inside a layer.
    static func conv4(inChannels: Int, hidden: Int, blocks: Int, outputs: Int?, imageSize: Int,
                      momentum: Float = 0.1, trackRunningStats: Bool = false, seed: UInt64) throws -> ModelObject {
        // Each block's 2x2 pool needs at least 2x2 pixels: imageSize >= 2^blocks.
        guard blocks <= 30, imageSize >> blocks >= 1 else {
            throw BridgeError.argument("image_size: \(imageSize) is too small for \(blocks) blocks "
                                       + "(each halves the image; needs at least 2^blocks pixels a side)")
        }
        let side = imageSize >> blocks
        let embedding = Safe.product([hidden, side, side])
        let weights = Safe.sum([
            Safe.product([hidden, inChannels, 9]), Safe.product([blocks - 1, hidden, hidden, 9]),
            Safe.product([blocks, 4, hidden]), Safe.product([embedding, outputs ?? 0]), outputs ?? 0,
        ])
        try Check.fitsInMemory(elements: weights, "hidden")
        let model = try Conv4(inChannels: inChannels, hidden: hidden, blocks: blocks, outputs: outputs,
                              imageSize: imageSize, momentum: momentum, trackRunningStats: trackRunningStats)
        var rng = RNG(seed: seed)
        let values = try model.initialParameters(rng: &rng)
        let channels = max(inChannels, hidden)
        let expected = "(batch, \(inChannels), \(imageSize), \(imageSize))"
        return try ModelObject(model: model, values: values, outputShape: [outputs ?? embedding]) { shape, name in
            guard shape.count == 4 else {
                throw MetaError.shape("\(name): expected 4 dimensions \(expected), got shape \(shape)")
            }
            guard shape[1] == inChannels, shape[2] == imageSize, shape[3] == imageSize else {
                throw MetaError.shape("\(name): expected images of shape \(expected) (in_channels, image_size), got shape \(shape)")
            }
            guard shape[0] > 0 else { throw MetaError.shape("\(name): needs at least one example, got shape \(shape)") }
            // The largest buffer of a forward pass: the first im2col, 9 values per pixel and channel.
            try Check.fitsInMemory(elements: Safe.product([shape[0], channels, 9, imageSize, imageSize]), name)
            return [outputs ?? embedding]
        }
    }
}

/// Sizes multiplied and added without trapping: Int.max on overflow, which
/// every memory check then refuses.
enum Safe {
    static func product(_ values: [Int]) -> Int {
        values.reduce(1) { a, b in
            let (p, o) = a.multipliedReportingOverflow(by: b)
            return o ? Int.max : p
        }
    }

    static func sum(_ values: [Int]) -> Int {
        values.reduce(0) { a, b in
            let (s, o) = a.addingReportingOverflow(b)
            return o ? Int.max : s
        }
    }
}

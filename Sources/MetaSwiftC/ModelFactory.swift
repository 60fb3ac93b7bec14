import MetaSwift

/// Builds the models the ABI offers, one function per architecture: it turns
/// C-level options (names as strings) into engine values, initialises the
/// parameters from the seed, and states which inputs the model accepts, so
/// `ms_model_forward` can refuse a bad `x` with a message in the model's terms.
///
/// A new architecture needs a function here, an `ms_model_new_*` in
/// ModelABI.swift, its declaration in metaswift.h and a `new_*` in the
/// extension; every other `ms_model_*` function works on it unchanged.
enum ModelFactory {
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
        }
    }
}

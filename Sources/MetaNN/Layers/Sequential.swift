import MetaTensor
import MetaAutodiff

/// Layers applied in order; each takes its own consecutive slice of the
/// parameter list.
///
/// Parameter names are the layer's own names prefixed by the layer's name and
/// a dot: `Sequential([Linear, Activation.relu, Linear])` has "0.W", "0.b",
/// "2.W", "2.b" (PyTorch's convention); `Sequential(named:)` chooses the
/// prefixes. Parameter-free layers take an empty slice and add no names.
public struct Sequential: Model {
    public let layers: [any Model]
    public let names: [String]
    /// Where each layer's slice starts; the last entry is the total count.
    let offsets: [Int]

    public init(_ layers: [any Model]) {
        self.init(uncheckedLayers: layers, names: layers.indices.map { "\($0)" })
    }

    /// Layers with the prefixes their parameter names get; the prefixes must be distinct.
    public init(named parts: [(String, any Model)]) throws {
        var seen = Set<String>()
        for (name, _) in parts {
            guard !name.isEmpty, seen.insert(name).inserted else {
                throw MetaError.argument("Sequential: layer names must be non-empty and distinct, got \(parts.map(\.0))")
            }
        }
        self.init(uncheckedLayers: parts.map(\.1), names: parts.map(\.0))
    }

    private init(uncheckedLayers layers: [any Model], names: [String]) {
        self.layers = layers
        self.names = names
        var o = [0]
        for l in layers { o.append(o[o.count - 1] + l.parameterSpecs.count) }
        self.offsets = o
    }

    public var parameterSpecs: [ParameterSpec] {
        zip(names, layers).flatMap { name, layer in
            layer.parameterSpecs.map { ParameterSpec("\(name).\($0.name)", $0.shape) }
        }
    }

    public func initialParameters(rng: inout RNG) throws -> [Tensor] {
        try layers.flatMap { try $0.initialParameters(rng: &rng) }
    }

    public var bufferSpecs: [ParameterSpec] {
        zip(names, layers).flatMap { name, layer in
            layer.bufferSpecs.map { ParameterSpec("\(name).\($0.name)", $0.shape) }
        }
    }

    public var isStochastic: Bool { layers.contains { $0.isStochastic } }

    public func initialBuffers() throws -> [Tensor] { try layers.flatMap { try $0.initialBuffers() } }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        try forward(params, x, layers: 0..<layers.count)
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable, context: ForwardContext) throws -> Variable {
        try forward(params, x, layers: 0..<layers.count, context: context)
    }

    /// Runs only the layers in `range` on the slice of `params` they own
    /// (`params` is the whole list). E.g. an encoder's body without its head.
    public func forward(_ params: ArraySlice<Variable>, _ x: Variable, layers range: Range<Int>,
                        context: ForwardContext? = nil) throws -> Variable {
        guard params.count == offsets[layers.count] else {
            throw MetaError.argument("Sequential: expected \(offsets[layers.count]) parameter tensors, got \(params.count)")
        }
        guard range.lowerBound >= 0, range.upperBound <= layers.count else {
            throw MetaError.index("Sequential: layers \(range) out of range for \(layers.count) layers")
        }
        var h = x
        let base = params.startIndex
        var bufferStart = 0
        for i in 0..<range.lowerBound { bufferStart += layers[i].bufferSpecs.count }
        for i in range {
            let part = params[(base + offsets[i])..<(base + offsets[i + 1])]
            if let context {
                h = try context.within(offset: bufferStart) { try layers[i].forward(part, h, context: context) }
                bufferStart += layers[i].bufferSpecs.count
            } else {
                h = try layers[i].forward(part, h)
            }
        }
        return h
    }

    /// The indices, within the whole parameter list, of layer `i`'s parameters.
    public func parameterRange(ofLayer i: Int) throws -> Range<Int> {
        guard i >= 0, i < layers.count else {
            throw MetaError.index("Sequential: layer \(i) out of range for \(layers.count) layers")
        }
        return offsets[i]..<offsets[i + 1]
    }
}

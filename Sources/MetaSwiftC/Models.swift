#if canImport(Glibc)
import Glibc
#endif
import MetaSwift

/// What an `ms_model` points to: a MetaNN model (a pure function of
/// parameters and input) together with the parameter values the ABI's caller
/// currently holds for it. Values are immutable tensors swapped whole under a
/// lock, so `forward` on one thread and `set_parameter` on another see either
/// the old or the new tensor, never a torn one.
final class ModelObject: Bridged {
    static let kind = HandleKind.model

    let model: any Model
    let specs: [ParameterSpec]
    /// Validates an input batch before the model sees it, with messages in
    /// terms of the model's own sizes (the generic engine error would name
    /// matmul operands instead of the argument), starting with the argument's
    /// name; returns the shape of one example's output for that input (what a
    /// regression target must be, or (classes) for a classifier).
    let checkInput: (_ shape: [Int], _ name: String) throws -> [Int]
    /// The shape of one example's output when it is known without an input
    /// (presets, and models described with an input shape).
    let outputShape: [Int]?

    private let lock = Lock()
    private var values: [Tensor]

    init(model: any Model, values: [Tensor], outputShape: [Int]?,
         checkInput: @escaping (_ shape: [Int], _ name: String) throws -> [Int]) throws {
        try model.checkParameters(values.map(\.shape))
        self.model = model
        self.specs = model.parameterSpecs
        self.checkInput = checkInput
        self.outputShape = outputShape
        self.values = values
    }

    /// The same architecture holding other parameter values (a model adapted
    /// by a learner): the values must fit the specs.
    func with(values newValues: [Tensor]) throws -> ModelObject {
        try ModelObject(model: model, values: newValues, outputShape: outputShape, checkInput: checkInput)
    }

    var parameters: [Tensor] { lock.withLock { values } }

    func setParameter(_ index: Int, _ value: Tensor) {
        lock.withLock { values[index] = value }
    }

    /// Replaces every parameter at once (a trainer writing back its result).
    func setParameters(_ newValues: [Tensor]) {
        lock.withLock { values = newValues }
    }

    func spec(_ index: Int64, _ name: String = "index") throws -> (Int, ParameterSpec) {
        let i = try Check.index(index, count: specs.count, name)
        return (i, specs[i])
    }
}

extension Kinds {
    static let models: [String: (Arguments) throws -> any Bridged] = [
        "model.MLP": { args in
            let sizes = try args.ints("sizes")
            let activation = try args.string("activation", default: "relu")
            let seed = try args.seed("seed")
            try args.done()
            let widths = try sizes.enumerated().map { i, v -> Int in
                guard v > 0 else { throw BridgeError.argument("sizes[\(i)]: must be > 0, got \(v)") }
                guard v <= Int64(Int32.max) else { throw BridgeError.argument("sizes[\(i)]: \(v) is too large") }
                return Int(v)
            }
            return try ModelFactory.mlp(sizes: widths, activation: activation, seed: seed)
        },
        "model": { args in
            let description = try args.string("description")
            let input = try args.optionalInts("input_shape")
            let seed = try args.seed("seed")
            try args.done()
            let shape = try input.map { dims in
                try dims.enumerated().map { i, d -> Int in
                    guard d > 0, d <= Int64(Int32.max) else {
                        throw BridgeError.argument("input_shape[\(i)]: must be in 1...\(Int32.max), got \(d)")
                    }
                    return Int(d)
                }
            }
            return try ModelFactory.described(description, inputShape: shape, seed: seed)
        },
        "model.Conv4": { args in
            let inChannels = try args.int("in_channels", default: 1, in: 1...Int64(Int32.max))
            let hidden = try args.int("hidden", default: 64, in: 1...Int64(Int32.max))
            let blocks = try args.int("blocks", default: 4, in: 1...Int64(Int32.max))
            let outputs = try args.optionalInt("outputs", in: 1...Int64(Int32.max))
            let imageSize = try args.int("image_size", default: 28, in: 1...Int64(Int32.max))
            let seed = try args.seed("seed")
            try args.done()
            return try ModelFactory.conv4(inChannels: inChannels, hidden: hidden, blocks: blocks, outputs: outputs,
                                          imageSize: imageSize, seed: seed)
        },
    ]
}

extension ModelObject {
    static let methods: [String: Method<ModelObject>] = [
        "parameter_count": ModelObject.parameterCount,
        "parameter": ModelObject.parameter,
        "parameters": ModelObject.allParameters,
        "set_parameter": ModelObject.setParameter,
        "forward": ModelObject.forward,
        "output_shape": ModelObject.outputShapeMethod,
        "describe": ModelObject.describe,
    ]

    func parameterCount(_ args: Arguments, _ out: Results) throws {
        try ParameterTable.count(specs, args, out)
    }

    /// The parameter at `index`: its name, shape and value (shared with the
    /// model: tensors are immutable, and setting a parameter replaces it).
    func parameter(_ args: Arguments, _ out: Results) throws {
        try ParameterTable.read(specs, args, out) { parameters[$0] }
    }

    func allParameters(_ args: Arguments, _ out: Results) throws {
        try args.done()
        out.set("values", parameters)
    }

    func setParameter(_ args: Arguments, _ out: Results) throws {
        try ParameterTable.write(specs, "parameter", args) { setParameter($0, $1) }
    }

    func forward(_ args: Arguments, _ out: Results) throws {
        args.charge = "x"
        let x = try args.tensor("x", finite: false)
        try args.done()
        _ = try checkInput(x.shape, "x")
        try Check.finite(x, "x")
        out.set("y", try model(parameters.map { Variable($0) }, Variable(x)).value)
    }

    /// The output shape of one example: for `input_shape` (one example's
    /// shape) when given, else the one known from construction.
    func outputShapeMethod(_ args: Arguments, _ out: Results) throws {
        let input = try args.optionalInts("input_shape")
        try args.done()
        if let input {
            out.set("shape", try checkInput([1] + input.map { Int(truncatingIfNeeded: $0) }, "input_shape"))
        } else if let outputShape {
            out.set("shape", outputShape)
        }
    }

    /// The model's description (JSON text; see MetaNN's `Describable`).
    func describe(_ args: Arguments, _ out: Results) throws {
        try args.done()
        out.set("description", try layerDescription(of: model).serialized)
    }
}

/// The methods a model and a learner share over their named parameters.
enum ParameterTable {
    static func count(_ specs: [ParameterSpec], _ args: Arguments, _ out: Results) throws {
        try args.done()
        out.set("count", specs.count)
    }

    /// Entry `index`: `name`, `shape` and `value`.
    static func read(_ specs: [ParameterSpec], _ args: Arguments, _ out: Results, value: (Int) -> Tensor) throws {
        let i = try args.index("index", count: specs.count)
        try args.done()
        out.set("name", specs[i].name)
        out.set("shape", specs[i].shape)
        out.set("value", value(i))
    }

    /// Replaces entry `index` with a copy of `value`: of the entry's shape, finite.
    static func write(_ specs: [ParameterSpec], _ what: String, _ args: Arguments,
                      set: (Int, Tensor) -> Void) throws {
        let i = try args.index("index", count: specs.count)
        let spec = specs[i]
        let value = try args.tensor("value", finite: false)
        try args.done()
        guard value.shape == spec.shape else {
            throw MetaError.shape("\(what) \(spec.name): expected shape \(spec.shape), got \(value.shape)")
        }
        try Check.finite(value, "\(what) \(spec.name)")
        set(i, try args.scope.owned(value))
    }
}

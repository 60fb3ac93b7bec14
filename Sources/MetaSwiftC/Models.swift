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
    /// One example's input shape, when the model was described with one (saved with it).
    let inputShape: [Int]?

    private let lock = Lock()
    private var values: [Tensor]
    /// Running statistics (`model.bufferSpecs`): what inference forwards
    /// normalise with, and training forwards update.
    private var bufferValues: [Tensor]
    let bufferSpecs: [ParameterSpec]

    init(model: any Model, values: [Tensor], buffers: [Tensor]? = nil, outputShape: [Int]?, inputShape: [Int]? = nil,
         checkInput: @escaping (_ shape: [Int], _ name: String) throws -> [Int]) throws {
        try model.checkParameters(values.map(\.shape))
        let buffers = try buffers ?? model.initialBuffers()
        try model.checkBuffers(buffers.map(\.shape))
        self.model = model
        self.specs = model.parameterSpecs
        self.bufferSpecs = model.bufferSpecs
        self.bufferValues = buffers
        self.checkInput = checkInput
        self.outputShape = outputShape
        self.inputShape = inputShape
        self.values = values
    }

    /// The same architecture holding other parameter values (a model adapted
    /// by a learner): the values must fit the specs.
    func with(values newValues: [Tensor]) throws -> ModelObject {
        try ModelObject(model: model, values: newValues, buffers: buffers, outputShape: outputShape, inputShape: inputShape,
                        checkInput: checkInput)
    }

    var parameters: [Tensor] { lock.withLock { values } }
    var buffers: [Tensor] { lock.withLock { bufferValues } }

    func setBuffer(_ index: Int, _ value: Tensor) {
        lock.withLock { bufferValues[index] = value }
    }

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
            let momentum = try args.float("momentum", default: 0.1, minimum: 0, maximum: 1)
            let track = try args.bool("track_running_stats", default: false)
            let seed = try args.seed("seed")
            try args.done()
            return try ModelFactory.conv4(inChannels: inChannels, hidden: hidden, blocks: blocks, outputs: outputs,
                                          imageSize: imageSize, momentum: momentum, trackRunningStats: track, seed: seed)
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
        "buffer_count": ModelObject.bufferCount,
        "buffer": ModelObject.buffer,
        "set_buffer": ModelObject.setBufferMethod,
        "uses_context": ModelObject.usesContext,
        "run_sequence": ModelObject.runSequence,
        "save": ModelObject.save,
        "state_dict": ModelObject.stateDict,
        "load_state_dict": ModelObject.loadStateDict,
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

    /// The model's output for `x`. In inference (the default) dropout is off
    /// and batch norm that tracks statistics uses the running ones; with
    /// `training` dropout draws from `seed` and the running statistics take in
    /// this batch (the object's buffers change, as a PyTorch module's do in
    /// train mode).
    func forward(_ args: Arguments, _ out: Results) throws {
        args.charge = "x"
        let x = try args.tensor("x", finite: false)
        let training = try args.bool("training", default: false)
        let seed = try args.seed("seed")
        try args.done()
        _ = try checkInput(x.shape, "x")
        try Check.finite(x, "x")
        let context = ForwardContext(mode: training ? .training : .inference, seed: seed, buffers: buffers)
        out.set("y", try model(parameters.map { Variable($0) }, Variable(x), context: context).value)
        if training, let updated = context.buffers, !updated.isEmpty {
            lock.withLock { bufferValues = updated }
        }
    }

    /// An LSTM or a GRU over x (N, T, input) from an initial state (`h0`, and
    /// `c0` for an LSTM, each (N, H); zeros when absent): every hidden state
    /// `y` (N, T, H) and the final state `h` (and `c`), as PyTorch's
    /// `output, (h_n, c_n)` with batch first.
    func runSequence(_ args: Arguments, _ out: Results) throws {
        args.charge = "x"
        let x = try args.tensor("x", finite: false)
        let h0 = try args.optionalTensor("h0"), c0 = try args.optionalTensor("c0")
        try args.done()
        _ = try checkInput(x.shape, "x")
        try Check.finite(x, "x")
        func state(_ t: Tensor?, _ name: String, hidden: Int) throws -> Variable? {
            guard let t else { return nil }
            guard t.shape == [x.shape[0], hidden] else {
                throw MetaError.shape("\(name): expected shape [\(x.shape[0]), \(hidden)] (batch, hidden_size), got \(t.shape)")
            }
            return Variable(t)
        }
        let params = parameters.map { Variable($0) }
        switch model {
        case let lstm as LSTM:
            let h = try state(h0, "h0", hidden: lstm.hiddenSize), c = try state(c0, "c0", hidden: lstm.hiddenSize)
            guard (h == nil) == (c == nil) else { throw BridgeError.argument("h0, c0: give both or neither") }
            let zero = try lstm.cell.zeroState(batch: x.shape[0])
            let run = try lstm.run(params, Variable(x), from: h.map { ($0, c!) } ?? zero)
            out.set("y", run.outputs.value)
            out.set("h", run.final.h.value)
            out.set("c", run.final.c.value)
        case let gru as GRU:
            guard c0 == nil else { throw BridgeError.argument("c0: a GRU has no cell state; give h0 only") }
            let run = try gru.run(params, Variable(x), from: try state(h0, "h0", hidden: gru.hiddenSize))
            out.set("y", run.outputs.value)
            out.set("h", run.final.value)
        default:
            throw BridgeError.argument("run_sequence: only an LSTM or a GRU model returns its final state; this model is "
                                       + ((model as? Describable)?.layerType ?? "\(type(of: model))"))
        }
    }

    func bufferCount(_ args: Arguments, _ out: Results) throws {
        try ParameterTable.count(bufferSpecs, args, out)
    }

    /// Buffer `index` (a running statistic): its name, shape and value.
    func buffer(_ args: Arguments, _ out: Results) throws {
        try ParameterTable.read(bufferSpecs, args, out) { buffers[$0] }
    }

    func setBufferMethod(_ args: Arguments, _ out: Results) throws {
        try ParameterTable.write(bufferSpecs, "buffer", args) { setBuffer($0, $1) }
    }

    /// Whether training and inference differ for this model (dropout or running statistics).
    func usesContext(_ args: Arguments, _ out: Results) throws {
        try args.done()
        out.set("stochastic", model.isStochastic ? 1 : 0)
        out.set("uses_context", model.usesContext ? 1 : 0)
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

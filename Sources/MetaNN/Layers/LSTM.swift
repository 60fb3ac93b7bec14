import MetaTensor
import MetaAutodiff

/// A one-layer LSTM over a batch of sequences, batch first as PyTorch's
/// `nn.LSTM(input_size, hidden_size, batch_first=True)`: x (N, T, inputSize)
/// → every hidden state, (N, T, hiddenSize). The cell is `LSTMCell` (gates i,
/// f, g, o; see there for the equations and the forget bias), and the
/// parameters are its "Wx" (inputSize, 4H), "Wh" (H, 4H), "b" (4H).
///
/// The input half of every step's gates is one GEMM over the whole sequence;
/// only h·Wh runs step by step. Composed from differentiable ops, so
/// second-order MAML through it is exact.
///
/// `forward` starts from the zero state; `run` takes an initial state and
/// also returns the final one. For a sequence classifier, follow it with
/// `LastStep` and a `Linear`.
public struct LSTM: Model, Sendable {
    public let cell: LSTMCell
    public var inputSize: Int { cell.inputSize }
    public var hiddenSize: Int { cell.hiddenSize }

    public init(inputSize: Int, hiddenSize: Int, forgetBias: Float = 1, weightInit: Initializer? = nil) throws {
        do {
            cell = try LSTMCell(inputSize: inputSize, hiddenSize: hiddenSize, forgetBias: forgetBias, weightInit: weightInit)
        } catch let e as MetaError {
            throw MetaError(e.kind, e.message.replacingPrefix("LSTMCell", with: "LSTM"))
        }
    }

    var name: String { "LSTM(\(inputSize), \(hiddenSize))" }

    public var parameterSpecs: [ParameterSpec] { cell.parameterSpecs }
    public func initialParameters(rng: inout RNG) throws -> [Tensor] { try cell.initialParameters(rng: &rng) }

    /// x (N, T, inputSize) from `initial` ((h, c), each (N, H); zeros when
    /// nil) → every hidden state (N, T, H) and the final state.
    public func run(_ params: ArraySlice<Variable>, _ x: Variable,
                    from initial: LSTMCell.State? = nil) throws -> (outputs: Variable, final: LSTMCell.State) {
        let p = try unpack(params, cell.shapes, layer: name)
        guard x.rank == 3, x.shape[2] == inputSize else {
            throw MetaError.shape("\(name): input x must have shape (N, T, \(inputSize)), got \(x.shape)")
        }
        guard x.shape[1] > 0 else { throw MetaError.shape("\(name): the sequences x of shape \(x.shape) have no steps") }
        let projected = try Variable.matmul(x, p[0])  // (N, T, 4H)
        let start = try initial ?? cell.zeroState(batch: x.shape[0])
        let (outputs, final) = try unrollKeepingState(projected, timeAxis: 1, from: start, output: { $0.h }) { xt, state in
            try cell.cell(inputProjection: xt, wh: p[1], b: p[2], state: state)
        }
        return (outputs, final)
    }

    public func run(_ params: [Variable], _ x: Variable,
                    from initial: LSTMCell.State? = nil) throws -> (outputs: Variable, final: LSTMCell.State) {
        try run(params[...], x, from: initial)
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        try run(params, x).outputs
    }
}

/// A one-layer GRU over a batch of sequences, batch first as PyTorch's
/// `nn.GRU(input_size, hidden_size, batch_first=True)`: x (N, T, inputSize)
/// → every hidden state, (N, T, hiddenSize). The cell is `GRUCell` (gates r,
/// z, n, PyTorch's two biases), with its parameters "Wx" (inputSize, 3H),
/// "Wh" (H, 3H), "bx" (3H), "bh" (3H).
///
/// `forward` starts from h = 0; `run` takes an initial h and also returns the
/// final one.
public struct GRU: Model, Sendable {
    public let cell: GRUCell
    public var inputSize: Int { cell.inputSize }
    public var hiddenSize: Int { cell.hiddenSize }

    public init(inputSize: Int, hiddenSize: Int, weightInit: Initializer? = nil) throws {
        do {
            cell = try GRUCell(inputSize: inputSize, hiddenSize: hiddenSize, weightInit: weightInit)
        } catch let e as MetaError {
            throw MetaError(e.kind, e.message.replacingPrefix("GRUCell", with: "GRU"))
        }
    }

    var name: String { "GRU(\(inputSize), \(hiddenSize))" }

    public var parameterSpecs: [ParameterSpec] { cell.parameterSpecs }
    public func initialParameters(rng: inout RNG) throws -> [Tensor] { try cell.initialParameters(rng: &rng) }

    /// x (N, T, inputSize) from `initial` h (N, H; zeros when nil) → every
    /// hidden state (N, T, H) and the final h.
    public func run(_ params: ArraySlice<Variable>, _ x: Variable,
                    from initial: GRUCell.State? = nil) throws -> (outputs: Variable, final: GRUCell.State) {
        let p = try unpack(params, cell.shapes, layer: name)
        guard x.rank == 3, x.shape[2] == inputSize else {
            throw MetaError.shape("\(name): input x must have shape (N, T, \(inputSize)), got \(x.shape)")
        }
        guard x.shape[1] > 0 else { throw MetaError.shape("\(name): the sequences x of shape \(x.shape) have no steps") }
        let projected = try Variable.matmul(x, p[0]) + p[2]  // (N, T, 3H)
        let start = try initial ?? cell.zeroState(batch: x.shape[0])
        let (outputs, final) = try unrollKeepingState(projected, timeAxis: 1, from: start, output: { $0 }) { xt, h in
            try cell.cell(inputProjection: xt, wh: p[1], bh: p[3], state: h)
        }
        return (outputs, final)
    }

    public func run(_ params: [Variable], _ x: Variable,
                    from initial: GRUCell.State? = nil) throws -> (outputs: Variable, final: GRUCell.State) {
        try run(params[...], x, from: initial)
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        try run(params, x).outputs
    }
}

/// The last step of each sequence: (N, T, ...) → (N, ...), e.g. an LSTM's
/// (N, T, H) outputs to the (N, H) state a classifier head reads.
/// Parameter-free; its derivative routes the cotangent to step T − 1 only.
public struct LastStep: Model, Sendable {
    public init() {}

    public var parameterSpecs: [ParameterSpec] { [] }
    public func initialParameters(rng: inout RNG) throws -> [Tensor] { [] }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        _ = try unpack(params, [], layer: "LastStep")
        guard x.rank >= 2, x.shape[1] > 0 else {
            throw MetaError.shape("LastStep: input x must be (N, T, ...) with T >= 1, got \(x.shape)")
        }
        let t = x.shape[1]
        return try x.slice(axis: 1, range: (t - 1)..<t).reshaped([x.shape[0]] + x.shape.dropFirst(2))
    }
}

extension String {
    /// `self` with a leading `prefix` replaced (error messages of a wrapped layer).
    func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
}

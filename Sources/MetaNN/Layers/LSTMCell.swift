import MetaTensor
import MetaAutodiff

/// A long short-term memory cell (Hochreiter & Schmidhuber 1997, with the
/// forget gate of Gers et al. 2000), gates in PyTorch's order i, f, g, o:
///
///     z = x·Wx + h·Wh + b                       (N, 4H)
///     i = σ(z[:, 0H..<1H])   f = σ(z[:, 1H..<2H])
///     g = tanh(z[:, 2H..<3H])  o = σ(z[:, 3H..<4H])
///     c' = f ⊙ c + i ⊙ g,   h' = o ⊙ tanh(c')
///
/// Parameters: "Wx" (inputSize, 4H), "Wh" (H, 4H), "b" (4H). Weights start
/// uniform in ±1/√H (as PyTorch); b starts at zero except the forget gate's
/// quarter, at `forgetBias` (1 by default, Jozefowicz et al. 2015: the cell
/// remembers until it learns to forget).
///
/// As a `Model`, `forward` runs a sequence x of shape (T, N, inputSize) from
/// the zero state and returns every hidden state, (T, N, H); a matrix
/// (N, inputSize) is one step from the zero state, giving h (N, H). For
/// explicit state, call `step`.
public struct LSTMCell: Model, Sendable {
    public typealias State = (h: Variable, c: Variable)

    public let inputSize: Int
    public let hiddenSize: Int
    public let forgetBias: Float
    public let weightInit: Initializer

    public init(inputSize: Int, hiddenSize: Int, forgetBias: Float = 1, weightInit: Initializer? = nil) throws {
        try requirePositive(inputSize, "inputSize", in: "LSTMCell")
        try requirePositive(hiddenSize, "hiddenSize", in: "LSTMCell")
        guard forgetBias.isFinite else { throw MetaError.argument("LSTMCell: forgetBias must be finite, got \(forgetBias)") }
        let bound = 1 / Float(hiddenSize).squareRoot()
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.forgetBias = forgetBias
        self.weightInit = weightInit ?? .uniform(low: -bound, high: bound)
    }

    var shapes: [[Int]] { [[inputSize, 4 * hiddenSize], [hiddenSize, 4 * hiddenSize], [4 * hiddenSize]] }

    public var parameterSpecs: [ParameterSpec] { zip(["Wx", "Wh", "b"], shapes).map { ParameterSpec($0, $1) } }

    public func initialParameters(rng: inout RNG) throws -> [Tensor] {
        let wx = try weightInit(shapes[0], rng: &rng), wh = try weightInit(shapes[1], rng: &rng)
        let h = hiddenSize
        let b = try Tensor.make(shape: [4 * h]) { p, n in
            p.update(repeating: 0, count: n)
            (p + h).update(repeating: forgetBias, count: h)
        }
        return [wx, wh, b]
    }

    /// h = c = 0 for a batch of `batch` rows.
    public func zeroState(batch: Int) throws -> State {
        let z = Variable(try Tensor.zeros([batch, hiddenSize]))
        return (z, z)
    }

    /// One step: x (N, inputSize) and state (N, H) each → the next state.
    public func step(_ params: ArraySlice<Variable>, x: Variable, state: State) throws -> State {
        let p = try unpack(params, shapes, layer: "LSTMCell(\(inputSize), \(hiddenSize))")
        guard x.rank == 2, x.shape[1] == inputSize else {
            throw MetaError.shape("LSTMCell: input x must have shape (N, \(inputSize)), got \(x.shape)")
        }
        return try cell(inputProjection: try Variable.matmul(x, p[0]), wh: p[1], b: p[2], state: state)
    }

    public func step(_ params: [Variable], x: Variable, state: State) throws -> State {
        try step(params[...], x: x, state: state)
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        let p = try unpack(params, shapes, layer: "LSTMCell(\(inputSize), \(hiddenSize))")
        guard x.rank == 2 || x.rank == 3, x.shape[x.rank - 1] == inputSize else {
            throw MetaError.shape("LSTMCell: input x must have shape (T, N, \(inputSize)) or (N, \(inputSize)), got \(x.shape)")
        }
        if x.rank == 2 {
            return try step(params, x: x, state: try zeroState(batch: x.shape[0])).h
        }
        let (steps, batch) = (x.shape[0], x.shape[1])
        guard steps > 0 else { throw MetaError.shape("LSTMCell: the sequence x of shape \(x.shape) has no steps") }
        // The input half of every step's gates in one GEMM.
        let projected = try Variable.matmul(x, p[0])  // (T, N, 4H)
        return try unroll(projected, from: try zeroState(batch: batch), output: { $0.h }) { xt, state in
            try cell(inputProjection: xt, wh: p[1], b: p[2], state: state)
        }
    }

    /// The gate arithmetic, given x·Wx.
    func cell(inputProjection xw: Variable, wh: Variable, b: Variable, state: State) throws -> State {
        let n = xw.shape[0], h = hiddenSize
        guard state.h.shape == [n, h], state.c.shape == [n, h] else {
            throw MetaError.shape("LSTMCell: state (h, c) must both have shape [\(n), \(h)], got \(state.h.shape) and \(state.c.shape)")
        }
        let z = try xw + Variable.matmul(state.h, wh) + b
        // One fused pass each way (`Variable.lstmCell`): the composite
        // formulation spent a coordinate-wise cell's time in elementwise passes.
        return try Variable.lstmCell(gates: z, cell: state.c)
    }
}

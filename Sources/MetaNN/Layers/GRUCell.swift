import MetaTensor
import MetaAutodiff

/// A gated recurrent unit cell (Cho et al. 2014), in PyTorch's formulation
/// and gate order r, z, n:
///
///     a = x·Wx + bx,  b = h·Wh + bh                        (N, 3H) each
///     r = σ(a[:, 0H..<1H] + b[:, 0H..<1H])
///     z = σ(a[:, 1H..<2H] + b[:, 1H..<2H])
///     n = tanh(a[:, 2H..<3H] + r ⊙ b[:, 2H..<3H])
///     h' = (1 − z) ⊙ n + z ⊙ h
///
/// Two biases, because r multiplies h·Whn + bhn: bhn cannot be folded into
/// bxn (Cho et al. put r inside the product, r ⊙ h before Whn; PyTorch and
/// cuDNN apply it after, as here, so one GEMM serves all three gates of h).
///
/// Parameters: "Wx" (inputSize, 3H), "Wh" (H, 3H), "bx" (3H), "bh" (3H); all
/// start uniform in ±1/√H, as PyTorch.
///
/// As a `Model`, `forward` runs a sequence x of shape (T, N, inputSize) from
/// the zero state and returns every hidden state, (T, N, H); a matrix
/// (N, inputSize) is one step from the zero state, giving h (N, H). For
/// explicit state, call `step`.
public struct GRUCell: Model, Sendable {
    public typealias State = Variable

    public let inputSize: Int
    public let hiddenSize: Int
    public let weightInit: Initializer

    public init(inputSize: Int, hiddenSize: Int, weightInit: Initializer? = nil) throws {
        try requirePositive(inputSize, "inputSize", in: "GRUCell")
        try requirePositive(hiddenSize, "hiddenSize", in: "GRUCell")
        let bound = 1 / Float(hiddenSize).squareRoot()
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.weightInit = weightInit ?? .uniform(low: -bound, high: bound)
    }

    var shapes: [[Int]] {
        [[inputSize, 3 * hiddenSize], [hiddenSize, 3 * hiddenSize], [3 * hiddenSize], [3 * hiddenSize]]
    }

    var name: String { "GRUCell(\(inputSize), \(hiddenSize))" }

    public var parameterSpecs: [ParameterSpec] { zip(["Wx", "Wh", "bx", "bh"], shapes).map { ParameterSpec($0, $1) } }

    /// Every parameter, biases included, uniform in ±1/√H (PyTorch's `nn.GRUCell`).
    public func initialParameters(rng: inout RNG) throws -> [Tensor] {
        let bound = 1 / Float(hiddenSize).squareRoot()
        let wx = try weightInit(shapes[0], rng: &rng), wh = try weightInit(shapes[1], rng: &rng)
        let bias = Initializer.uniform(low: -bound, high: bound)
        return [wx, wh, try bias(shapes[2], rng: &rng), try bias(shapes[3], rng: &rng)]
    }

    /// h = 0 for a batch of `batch` rows.
    public func zeroState(batch: Int) throws -> State {
        Variable(try Tensor.zeros([batch, hiddenSize]))
    }

    /// One step: x (N, inputSize) and h (N, H) → the next h.
    public func step(_ params: ArraySlice<Variable>, x: Variable, state: State) throws -> State {
        let p = try unpack(params, shapes, layer: name)
        guard x.rank == 2, x.shape[1] == inputSize else {
            throw MetaError.shape("GRUCell: input x must have shape (N, \(inputSize)), got \(x.shape)")
        }
        return try cell(inputProjection: try Variable.matmul(x, p[0]) + p[2], wh: p[1], bh: p[3], state: state)
    }

    public func step(_ params: [Variable], x: Variable, state: State) throws -> State {
        try step(params[...], x: x, state: state)
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        let p = try unpack(params, shapes, layer: name)
        guard x.rank == 2 || x.rank == 3, x.shape[x.rank - 1] == inputSize else {
            throw MetaError.shape("GRUCell: input x must have shape (T, N, \(inputSize)) or (N, \(inputSize)), got \(x.shape)")
        }
        if x.rank == 2 {
            return try step(params, x: x, state: try zeroState(batch: x.shape[0]))
        }
        let (steps, batch) = (x.shape[0], x.shape[1])
        guard steps > 0 else { throw MetaError.shape("GRUCell: the sequence x of shape \(x.shape) has no steps") }
        // The input half of every step's gates in one GEMM.
        let projected = try Variable.matmul(x, p[0]) + p[2]  // (T, N, 3H)
        return try unroll(projected, from: try zeroState(batch: batch), output: { $0 }) { xt, h in
            try cell(inputProjection: xt, wh: p[1], bh: p[3], state: h)
        }
    }

    /// The gate arithmetic, given x·Wx + bx.
    func cell(inputProjection a: Variable, wh: Variable, bh: Variable, state h: State) throws -> State {
        let n = a.shape[0], hs = hiddenSize
        guard h.shape == [n, hs] else {
            throw MetaError.shape("GRUCell: state h must have shape [\(n), \(hs)], got \(h.shape)")
        }
        let b = try Variable.matmul(h, wh) + bh
        // One fused pass each way (`Variable.gruCell`): the composite
        // formulation spent a coordinate-wise cell's time in elementwise passes.
        return try Variable.gruCell(input: a, hidden: b, state: h)
    }
}

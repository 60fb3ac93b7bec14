import MetaTensor
import MetaAutodiff
import MetaNN

/// The coordinate-wise LSTM optimizer of Andrychowicz et al. (NeurIPS 2016,
/// "Learning to learn by gradient descent by gradient descent"): the update
/// of every coordinate of the optimizee θ is
///
///     (g_t, s_{t+1}) = m(∇_t, s_t; φ),     θ_{t+1} = θ_t + g_t,
///
/// where m is a stack of LSTM cells (two of 20 units in the paper; GRU
/// cells with `cell: .gru`) with
/// shared weights φ, run with the coordinates as its batch axis (each
/// coordinate keeps its own hidden and cell states), followed by a linear
/// output times `outputScale` (the paper's 0.1). The gradient is the
/// network's input, preprocessed (`preprocessGradient`, p = 10) unless
/// `preprocessing` is nil, in which case it enters raw (one input).
///
/// This value is the architecture; the weights φ are a separate list of
/// tensors (`parameterSpecs`, `initialParameters`), so a meta-trainer can
/// differentiate with respect to them and a trained list can be stored.
/// `step` is written in `Variable` ops: the same code runs on the tape in
/// meta-training and on constants when the trained optimizer drives a model
/// (`transformation(parameters:)`).
public struct LearnedOptimizer: Sendable, Equatable, CustomStringConvertible {
    public let hiddenSize: Int
    public let layers: Int
    public let outputScale: Float
    /// p of the preprocessing, or nil for the raw gradient.
    public let preprocessing: Float?
    /// The layers' recurrence.
    public let cell: RecurrentCell

    public init(hiddenSize: Int = 20, layers: Int = 2, outputScale: Float = 0.1, preprocessing: Float? = 10,
                cell: RecurrentCell = .lstm) throws {
        guard hiddenSize > 0, hiddenSize <= 1 << 16 else {
            throw MetaError.argument("LearnedOptimizer: hiddenSize must be in 1...65536, got \(hiddenSize)")
        }
        guard layers > 0, layers <= 16 else { throw MetaError.argument("LearnedOptimizer: layers must be in 1...16, got \(layers)") }
        guard outputScale.isFinite, outputScale > 0 else {
            throw MetaError.argument("LearnedOptimizer: outputScale must be finite and > 0, got \(outputScale)")
        }
        if let p = preprocessing, !(p.isFinite && p > 0) {
            throw MetaError.argument("LearnedOptimizer: preprocessing p must be finite and > 0, got \(p)")
        }
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.outputScale = outputScale
        self.preprocessing = preprocessing
        self.cell = cell
    }

    public var inputSize: Int { preprocessing == nil ? 1 : 2 }

    /// Layer l's input width.
    func inputs(_ l: Int) -> Int { l == 0 ? inputSize : hiddenSize }

    /// "lstm0.Wx", "lstm0.Wh", "lstm0.b", ... (GRU: "gru0.Wx", "gru0.Wh",
    /// "gru0.bx", "gru0.bh", ...), then "out.W" (H, 1), "out.b" (1).
    public var parameterSpecs: [ParameterSpec] {
        var specs: [ParameterSpec] = []
        for l in 0..<layers {
            specs += try! cell.specs(inputs: inputs(l), hidden: hiddenSize)
                .map { ParameterSpec("\(cell.rawValue)\(l).\($0.name)", $0.shape) }
        }
        return specs + [ParameterSpec("out.W", [hiddenSize, 1]), ParameterSpec("out.b", [1])]
    }

    /// Recurrent weights as PyTorch starts them (±1/√H; an LSTM's forget
    /// bias 1), the output layer uniform in ±1/√H with a zero bias.
    public func initialParameters(rng: inout RNG) throws -> [Tensor] {
        var out: [Tensor] = []
        for l in 0..<layers { out += try cell.initialParameters(inputs: inputs(l), hidden: hiddenSize, rng: &rng) }
        let bound = 1 / Float(hiddenSize).squareRoot()
        out.append(try Tensor.uniform([hiddenSize, 1], low: -bound, high: bound, rng: &rng))
        out.append(try Tensor.zeros([1]))
        return out
    }

    /// Throws unless `parameters` match `parameterSpecs` in count and shapes.
    public func check(_ parameters: [Tensor]) throws {
        let specs = parameterSpecs
        guard parameters.count == specs.count else {
            throw MetaError.argument("LearnedOptimizer: expected \(specs.count) parameters, got \(parameters.count)")
        }
        for (t, s) in zip(parameters, specs) where t.shape != s.shape {
            throw MetaError.shape("LearnedOptimizer: parameter \(s.name) must have shape \(s.shape), got \(t.shape)")
        }
    }

    /// The per-coordinate states: for each layer h then c (a GRU: h), each (N, H).
    public typealias State = [Variable]

    /// The state tensors' names, in `State`'s order: "lstm0.h", "lstm0.c", ... (GRU: "gru0.h", ...).
    public var stateNames: [String] {
        (0..<layers).flatMap { l in cell.stateNames.map { "\(cell.rawValue)\(l).\($0)" } }
    }

    public func zeroState(coordinates n: Int) throws -> State {
        let z = Variable(try Tensor.zeros([n, hiddenSize]))
        return Array(repeating: z, count: cell.stateCount * layers)
    }

    /// One step for N coordinates: `gradient` of any shape with N elements,
    /// `state` from `zeroState` or a previous step. Returns the update g of
    /// shape (N) (to be added to θ) and the next state.
    public func step(_ parameters: [Variable], gradient: Variable, state: State) throws -> (update: Variable, state: State) {
        let (w, k) = (cell.weightCount, cell.stateCount)
        guard parameters.count == w * layers + 2 else {
            throw MetaError.argument("LearnedOptimizer: expected \(w * layers + 2) parameters, got \(parameters.count)")
        }
        guard state.count == k * layers else {
            throw MetaError.argument("LearnedOptimizer: expected \(k * layers) state tensors, got \(state.count)")
        }
        let n = gradient.count
        var x = try preprocessing.map { try preprocessGradient(gradient, p: $0) } ?? gradient.reshaped([n, 1])
        var next: State = []
        next.reserveCapacity(k * layers)
        for l in 0..<layers {
            let s = try cell.step(parameters[(w * l)..<(w * l + w)], inputs: inputs(l), hidden: hiddenSize, x: x,
                                  state: state[(k * l)..<(k * l + k)])
            next += s.state
            x = s.h
        }
        let out = try Variable.matmul(x, parameters[w * layers]) + parameters[w * layers + 1]
        return (try (out * outputScale).reshaped([n]), next)
    }

    public var description: String {
        "LearnedOptimizer(hidden: \(hiddenSize), layers: \(layers), \(cell == .gru ? "cell: gru, " : "")outputScale: \(outputScale), "
            + (preprocessing.map { "preprocessing p: \($0)" } ?? "raw gradient") + ")"
    }
}

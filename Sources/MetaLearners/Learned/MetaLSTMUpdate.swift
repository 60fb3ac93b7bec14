import MetaTensor
import MetaAutodiff
import MetaNN

/// The update network of the LSTM meta-learner (Ravi & Larochelle, ICLR
/// 2017, "Optimization as a model for few-shot learning"): a two-layer
/// coordinate-wise recurrent network whose second layer's cell state *is*
/// the learner's parameters θ.
///
/// For every coordinate, at inner step t, with ∇ the support-loss gradient
/// and L the support loss:
///
///     x_t = [pre(∇), pre(L)]                      (4 inputs; `preprocessGradient`, p = 10)
///     h_t = cell(x_t, h_{t−1})                    (an LSTM, or a GRU, of `hiddenSize` units)
///     f_t = σ(W_F · [h_t, θ_{t−1}, f_{t−1}] + b_F)
///     i_t = σ(W_I · [h_t, θ_{t−1}, i_{t−1}] + b_I)
///     θ_t = f_t ⊙ θ_{t−1} − i_t ⊙ ∇
///
/// All weights are shared by the coordinates (the coordinates are the batch
/// axis); each coordinate keeps its own h, f and i. With f held at 1 and i
/// at α, θ_t = θ_{t−1} − α∇: gradient descent. W_F and W_I start uniform in
/// ±0.01, b_F in [4, 5] and b_I in [−5, −4] (the paper's: f near 1, i near
/// 0.01), so training starts close to gradient descent with a small rate;
/// f_0 and i_0 are 0.
///
/// The same code runs on the tape in meta-training and on constants at
/// adaptation. Whether ∇ and L are constants (the paper) or carry their
/// graph (the exact meta-gradient) is the caller's: this network
/// differentiates through whatever it is given.
public struct MetaLSTMUpdate: Sendable, Equatable, CustomStringConvertible {
    /// The first layer's recurrence.
    public typealias Recurrence = RecurrentCell

    public let hiddenSize: Int
    public let recurrence: Recurrence
    /// p of the gradient and loss preprocessing.
    public let preprocessing: Float

    public init(hiddenSize: Int = 20, recurrence: Recurrence = .lstm, preprocessing: Float = 10) throws {
        guard hiddenSize > 0, hiddenSize <= 4096 else {
            throw MetaError.argument("hidden: must be in 1...4096, got \(hiddenSize)")
        }
        guard preprocessing.isFinite, preprocessing > 0 else {
            throw MetaError.argument("preprocessing: p must be finite and > 0, got \(preprocessing)")
        }
        self.hiddenSize = hiddenSize
        self.recurrence = recurrence
        self.preprocessing = preprocessing
    }

    static let inputs = 4

    var cellSpecs: [ParameterSpec] { try! recurrence.specs(inputs: Self.inputs, hidden: hiddenSize) }
    var cellCount: Int { recurrence.weightCount }

    /// "lstm.Wx", … (or "gru.Wx", …), then "forget.W" (H + 2, 1),
    /// "forget.b" (1), "input.W" (H + 2, 1), "input.b" (1).
    public var parameterSpecs: [ParameterSpec] {
        let gate = hiddenSize + 2
        return cellSpecs.map { ParameterSpec("\(recurrence.rawValue).\($0.name)", $0.shape) } + [
            ParameterSpec("forget.W", [gate, 1]), ParameterSpec("forget.b", [1]),
            ParameterSpec("input.W", [gate, 1]), ParameterSpec("input.b", [1]),
        ]
    }

    /// The first layer as its cell starts (PyTorch's), the gates as the paper's.
    public func initialParameters(rng: inout RNG) throws -> [Tensor] {
        let cell = try recurrence.initialParameters(inputs: Self.inputs, hidden: hiddenSize, rng: &rng)
        let gate = [hiddenSize + 2, 1]
        return cell + [
            try Tensor.uniform(gate, low: -0.01, high: 0.01, rng: &rng), try Tensor.uniform([1], low: 4, high: 5, rng: &rng),
            try Tensor.uniform(gate, low: -0.01, high: 0.01, rng: &rng), try Tensor.uniform([1], low: -5, high: -4, rng: &rng),
        ]
    }

    /// Each coordinate's recurrent state: the first layer's (h, and c for an
    /// LSTM), and the previous forget and input gates, all (N, ·).
    public struct State {
        public var recurrent: [Variable]
        public var forget: Variable
        public var input: Variable
    }

    public func start(coordinates n: Int) throws -> State {
        let h = Variable(try Tensor.zeros([n, hiddenSize])), gate = Variable(try Tensor.zeros([n, 1]))
        return State(recurrent: Array(repeating: h, count: recurrence.stateCount), forget: gate, input: gate)
    }

    /// One step for the N coordinates θ (N), their gradient ∇ (N) and the
    /// loss L: the new θ (N) and state. For several tasks at once, L holds
    /// one loss per task (T) and the coordinates are task-major (task t's
    /// are the t-th N/T).
    public func step(_ weights: [Variable], theta: Variable, gradient: Variable, loss: Variable,
                     state: State) throws -> (theta: Variable, state: State) {
        guard weights.count == cellCount + 4 else {
            throw MetaError.argument("MetaLSTMUpdate: expected \(cellCount + 4) weights, got \(weights.count)")
        }
        let n = theta.count, tasks = loss.count
        guard theta.shape == [n], gradient.shape == [n], tasks > 0, n % tasks == 0 else {
            throw MetaError.shape("MetaLSTMUpdate: θ and ∇ must be vectors of one length, a whole number of coordinates "
                                  + "per loss, got \(theta.shape), \(gradient.shape), \(loss.shape)")
        }
        let lossInput = try preprocessGradient(loss, p: preprocessing).reshaped([tasks, 1, 2])
            .broadcast(to: [tasks, n / tasks, 2]).reshaped([n, 2])
        let x = try Variable.concat([try preprocessGradient(gradient, p: preprocessing), lossInput], axis: 1)
        let (h, recurrent) = try recurrence.step(weights[0..<cellCount], inputs: Self.inputs, hidden: hiddenSize, x: x,
                                                 state: state.recurrent[...])
        let column = try theta.reshaped([n, 1])
        let (wf, bf, wi, bi) = (weights[cellCount], weights[cellCount + 1], weights[cellCount + 2], weights[cellCount + 3])
        let forget = try (try Variable.matmul(try Variable.concat([h, column, state.forget], axis: 1), wf) + bf).sigmoid()
        let input = try (try Variable.matmul(try Variable.concat([h, column, state.input], axis: 1), wi) + bi).sigmoid()
        let next = try forget.reshaped([n]) * theta - input.reshaped([n]) * gradient
        return (next, State(recurrent: recurrent, forget: forget, input: input))
    }

    public var description: String {
        "MetaLSTMUpdate(hidden: \(hiddenSize), recurrence: \(recurrence.rawValue), preprocessing p: \(preprocessing))"
    }
}

import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData

/// ALFA, "Meta-Learning with Adaptive Hyperparameters" (Baik, Choi, Choi,
/// Kim & Lee, NeurIPS 2020): MAML whose inner steps take a learning rate and
/// a weight decay that a small network generates from the task's state.
///
/// At inner step s, for the model's parameter tensors θ₁ … θ_L and their
/// support-loss gradients g₁ … g_L, the task state is
/// τ = [mean θ₁, …, mean θ_L, mean g₁, …, mean g_L] and the network (two
/// linear layers of width 2L with a ReLU between, as the authors' code)
/// outputs o = (o₁ … o_L, o_{L+1} … o_{2L}), read as the factors
/// a_l = 2σ(o_l) and b_l = 2σ(o_{L+l}), each in (0, 2). Each tensor then steps
///
///     θ_l ← (1 − b_l β_{s,l}) θ_l − a_l α_{s,l} g_l,
///
/// where α_{s,l} and β_{s,l} are learned per step and per tensor, starting
/// at `innerLR` and `innerLR · weightDecay` (the authors' "bias terms"). The
/// network, α, β and the initial parameters are all meta-learned.
///
/// One departure from the authors' code, for stability: they use the
/// network's output o itself as the factors, unbounded and of either sign.
/// Then a and b grow linearly with the gradient means in τ, so the step
/// a α g grows with the square of the gradient and the decay can turn into
/// a growth: with large gradients (MSE on sinusoids of amplitude 5) a
/// single task's five inner steps feed back on themselves and overflow
/// (support loss 15 → 15 → 37 → 2596 → 3·10¹⁸ while a on the first layer
/// went −1.0 → −1.2 → −2.2 → −150 → −4·10¹⁴), and meta-training stops at
/// an infinite meta-loss. The factors 2σ(o) keep the generated rate and
/// decay within (0, 2) times α and β, whatever the gradients; they start
/// near 1 (MAML with weight decay) instead of near the network's random
/// output around 0. α and β themselves are stored raw, as the authors'
/// (MAML++ stores its rates in units of its inner rate instead: there
/// nothing can scale a rate down for a task with large gradients, while
/// here the network can).
///
/// The authors' code feeds the gradient means to the network as constants
/// (it takes the gradient again, without a graph, for the state); here,
/// with second order, the meta-gradient flows through them too, so it is
/// the exact gradient of the meta-loss (first order treats every inner
/// gradient as a constant, these included). Steps past `innerSteps` (at
/// evaluation) reuse the last step's α and β.
///
/// With the network's output held at o = 0 (a = b = 1), this is MAML with
/// weight decay: θ ← (1 − α wd) θ − α g.
public struct ALFA: MetaLearner {
    public let model: any Model
    public let innerLR: Float
    public let weightDecay: Float
    public let innerSteps: Int
    public let firstOrder: Bool
    public let loss: TaskLoss
    public let pool: WorkerPool

    public init(model: any Model, innerLR: Float = 0.01, weightDecay: Float = 5e-4, innerSteps: Int = 5,
                firstOrder: Bool = false, loss: TaskLoss = .mse, pool: WorkerPool = .shared) throws {
        try Check.rate(innerLR, "inner_lr")
        try Check.rate(weightDecay, "weight_decay")
        try Check.steps(innerSteps, "inner_steps")
        guard model.parameterCount > 0 else { throw MetaError.argument("model: ALFA needs a model with parameters") }
        self.model = model
        self.innerLR = innerLR
        self.weightDecay = weightDecay
        self.innerSteps = innerSteps
        self.firstOrder = firstOrder
        self.loss = loss
        self.pool = pool
    }

    /// Parameter tensors the inner loop adapts (all the model's).
    var layers: Int { model.parameterCount }

    /// The generator network: two linear layers of width 2L.
    var generator: Linear { get throws { try Linear(inputs: 2 * layers, outputs: 2 * layers) } }

    public var metaParameterSpecs: [ParameterSpec] {
        let (l, n) = (layers, innerSteps)
        return model.parameterSpecs + [
            ParameterSpec("alfa.alpha", [n, l]), ParameterSpec("alfa.beta", [n, l]),
            ParameterSpec("alfa.W1", [2 * l, 2 * l]), ParameterSpec("alfa.b1", [2 * l]),
            ParameterSpec("alfa.W2", [2 * l, 2 * l]), ParameterSpec("alfa.b2", [2 * l]),
        ]
    }

    public func initialMetaParameters(rng: inout RNG) throws -> [Tensor] {
        let theta = try model.initialParameters(rng: &rng)
        let (l, n) = (layers, innerSteps)
        let first = try generator.initialParameters(rng: &rng), second = try generator.initialParameters(rng: &rng)
        return theta + [try Tensor.full([n, l], innerLR), try Tensor.full([n, l], innerLR * weightDecay)] + first + second
    }

    public var batchesTasks: Bool { false }

    var inner: InnerLoop { InnerLoop(model: model, loss: loss) }

    /// The inner rule of the meta-parameters `meta` (the model's, then ALFA's
    /// six): each step's rate and decay from the generator and α, β.
    func rates(_ meta: [Variable]) -> InnerLoop.Rates {
        let n = layers, steps = innerSteps
        let (alpha, beta, w1, b1, w2, b2) = (meta[n], meta[n + 1], meta[n + 2], meta[n + 3], meta[n + 4], meta[n + 5])
        return .rule {
            { step, _, params, grads, _ in
                let row = Swift.min(step, steps - 1)
                let state = try Variable.stack(try params.map { try $0.mean() } + grads.map { try $0.mean() }, axis: 0)
                let hidden = try (try Variable.matmul(try state.reshaped([1, 2 * n]), w1) + b1.reshaped([1, 2 * n])).relu()
                let out = try (try Variable.matmul(hidden, w2) + b2.reshaped([1, 2 * n])).reshaped([2 * n])
                let factors = try out.sigmoid() * 2  // a, b in (0, 2): bounded whatever the gradients in the state
                return try (0..<n).map { l in
                    let p = params[l]
                    func scalar(_ v: Variable) throws -> Variable {
                        try v.reshaped(Array(repeating: 1, count: p.rank)).broadcast(to: p.shape)
                    }
                    func learned(_ v: Variable) throws -> Variable {
                        try v.sliced(lower: [row, l], upper: [row + 1, l + 1]).reshaped([1])
                    }
                    let a = try factors.slice(axis: 0, range: l..<(l + 1)) * learned(alpha)
                    let b = try factors.slice(axis: 0, range: (n + l)..<(n + l + 1)) * learned(beta)
                    let keep = try 1 - b
                    return try p * scalar(keep) - scalar(a) * grads[l]
                }
            }
        }
    }

    public func metaParts(_ metaParams: [Tensor], share: MetaBatchShare, seed: UInt64) throws -> [MetaPart] {
        try checkMetaParameters(metaParams)
        let (n, steps, graph, inner) = (layers, innerSteps, !firstOrder, self.inner)
        return try parts(share, pool: pool, seed: seed) { task, context in
            let (v, g) = try Autodiff.valueAndGrad(at: metaParams.map { Variable($0) }) { all in
                let adapted = try inner.adapt(Array(all[0..<n]), x: task.supportX, y: task.supportY, steps: steps,
                                              rates: rates(all), createGraph: graph, context: context)
                return try inner.loss(try inner.run(adapted, Variable(task.queryX), context), task.queryY)
            }
            return (try v.item(), g.map(\.value))
        }
    }

    public func adapt(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int? = nil) throws -> [Tensor] {
        try adaptSteps(metaParams, x: x, y: y, steps: steps ?? innerSteps).last ?? Array(metaParams[0..<layers])
    }

    public func adaptSteps(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int) throws -> [[Tensor]] {
        try checkMetaParameters(metaParams, finite: false)
        return try inner.ruleSteps(metaParams, adapting: layers, x: x, y: y, steps: steps, rates: rates)
    }
}

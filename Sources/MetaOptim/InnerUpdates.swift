#if canImport(Glibc)
import Glibc
#endif
import MetaTensor
import MetaAutodiff

// Differentiable inner-loop updates. They are written with `Variable` ops, so
// when the gradients were taken with `createGraph: true` the adapted
// parameters stay on the tape and an outer loss differentiates through the
// step: exact second-order MAML (Finn et al. 2017) and Meta-SGD's learned
// rates (Li et al. 2017). With untracked gradients (first-order MAML) the
// step is a plain update whose result depends on the parameters only through
// θ itself.

/// θ' = θ − α g for every parameter: MAML's inner step.
///
/// `learningRate` is a constant: finite and >= 0. `params` and `grads` pair
/// up one for one with equal shapes.
///
///     let g = try Autodiff.grad(at: params, createGraph: true) { try loss($0, support) }
///     let adapted = try sgdStep(params: params, grads: g, learningRate: 0.01)
public func sgdStep(params: [Variable], grads: [Variable], learningRate: Float) throws -> [Variable] {
    try Check.nonNegative(learningRate, "learningRate", "sgdStep")
    try checkPairs(params, grads, op: "sgdStep")
    return try zip(params, grads).map { p, g in try p - g * learningRate }
}

/// θ' = θ − α ⊙ g with one learnable rate tensor per parameter: Meta-SGD's
/// inner step (Li et al. 2017, "Meta-SGD: Learning to Learn Quickly for
/// Few-Shot Learning"). Each α has the parameter's shape (a rate per
/// coordinate) or holds one element (a rate per tensor, e.g. shape [] or
/// [1, 1]). The rates are not restricted in sign: Meta-SGD learns the
/// direction of the step as well as its size. Pass them tracked to receive
/// their meta-gradient.
public func sgdStep(params: [Variable], grads: [Variable], learningRates: [Variable]) throws -> [Variable] {
    let op = "sgdStep"
    try checkPairs(params, grads, op: op)
    guard learningRates.count == params.count else {
        throw MetaError.argument("\(op): \(learningRates.count) learning rates for \(params.count) parameters")
    }
    var out: [Variable] = []
    out.reserveCapacity(params.count)
    for i in 0..<params.count {
        let (p, g, a) = (params[i], grads[i], learningRates[i])
        let fits = a.shape == p.shape
            || (a.count == 1 && a.rank <= p.rank && (try? ShapeMath.broadcast(a.shape, p.shape)) == p.shape)
        guard fits else {
            throw MetaError.shape("\(op): learning rate \(i) has shape \(a.shape); expected the parameter's shape \(p.shape) or one element")
        }
        out.append(try p - a * g)
    }
    return out
}

/// Adam as a differentiable inner step (as in `higher`'s differentiable
/// optimizers, Grefenstette et al. 2019): the moments are `Variable`s, so the
/// outer gradient flows through m, v and the step alike.
///
/// The trap: d√v/dv = 1/(2√v) is infinite where v = 0, which happens wherever a
/// gradient coordinate is exactly zero (a dead ReLU), and 0·∞ = NaN would
/// poison the whole meta-gradient. So √v̂ is taken as √max(v̂, 1e-30): the value
/// moves by at most 1e-15 (far below ε), and the derivative is cut to zero
/// there instead of NaN.
public struct DifferentiableAdam: Sendable, CustomStringConvertible {
    public let learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let eps: Float

    /// The moments and the number of steps taken.
    public struct State: Sendable {
        public let mu: [Variable]
        public let nu: [Variable]
        public let count: Int
    }

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) throws {
        let op = "DifferentiableAdam"
        try Check.nonNegative(learningRate, "learningRate", op)
        try Check.decayRate(beta1, "beta1", op)
        try Check.decayRate(beta2, "beta2", op)
        try Check.nonNegative(eps, "eps", op)
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
    }

    /// Zero moments shaped like `params` (constants).
    public func initialize(_ params: [Variable]) throws -> State {
        let zeros = try params.map { Variable(try Tensor.zeros($0.shape)) }
        return State(mu: zeros, nu: zeros, count: 0)
    }

    /// One Adam step: the adapted parameters and the next state.
    public func step(params: [Variable], grads: [Variable], state: State) throws -> (params: [Variable], state: State) {
        let op = "DifferentiableAdam.step"
        try checkPairs(params, grads, op: op)
        try checkPairs(params, state.mu, op: op + " (state mu)")
        try checkPairs(params, state.nu, op: op + " (state nu)")
        let t = state.count &+ 1
        let c1 = Float(1 - pow(Double(beta1), Double(t))), c2 = Float(1 - pow(Double(beta2), Double(t)))
        var ps: [Variable] = [], ms: [Variable] = [], vs: [Variable] = []
        for i in 0..<params.count {
            let g = grads[i]
            let m = try state.mu[i] * beta1 + g * (1 - beta1)
            let v = try state.nu[i] * beta2 + g.square() * (1 - beta2)
            let denom = try rootOfSquares(v * (1 / c2), eps: eps)
            ps.append(try params[i] - (try (m * (learningRate / c1)) / denom))
            ms.append(m); vs.append(v)
        }
        return (ps, State(mu: ms, nu: vs, count: t))
    }

    public var description: String {
        "DifferentiableAdam(learningRate: \(learningRate), beta1: \(beta1), beta2: \(beta2), eps: \(eps))"
    }
}

/// AdaGrad as a differentiable inner step, as PyTorch's `optim.Adagrad`
/// (Duchi et al. 2011): G ← G + g², θ ← θ − η g / (√G + ε). The sums of
/// squares are `Variable`s, so an outer gradient flows through them; √ is
/// taken of max(G, 1e-30), as `DifferentiableAdam` does, so a coordinate
/// whose gradients were all exactly zero gets a zero derivative, not NaN.
public struct DifferentiableAdagrad: Sendable, CustomStringConvertible {
    public let learningRate: Float
    public let eps: Float

    public init(learningRate: Float = 1e-2, eps: Float = 1e-10) throws {
        try Check.nonNegative(learningRate, "learningRate", "DifferentiableAdagrad")
        try Check.nonNegative(eps, "eps", "DifferentiableAdagrad")
        self.learningRate = learningRate
        self.eps = eps
    }

    /// Zero sums of squares shaped like `params`.
    public func initialize(_ params: [Variable]) throws -> [Variable] {
        try params.map { Variable(try Tensor.zeros($0.shape)) }
    }

    /// One step: the adapted parameters and the next sums of squares.
    public func step(params: [Variable], grads: [Variable], state: [Variable]) throws -> (params: [Variable], state: [Variable]) {
        let op = "DifferentiableAdagrad.step"
        try checkPairs(params, grads, op: op)
        try checkPairs(params, state, op: op + " (state)")
        var ps: [Variable] = [], gs: [Variable] = []
        for i in 0..<params.count {
            let sum = try state[i] + grads[i].square()
            let denom = try rootOfSquares(sum, eps: eps)
            ps.append(try params[i] - (try (grads[i] * learningRate) / denom))
            gs.append(sum)
        }
        return (ps, gs)
    }

    public var description: String { "DifferentiableAdagrad(learningRate: \(learningRate), eps: \(eps))" }
}

/// RMSprop as a differentiable inner step, as PyTorch's `optim.RMSprop`
/// without momentum or centring (Tieleman & Hinton 2012): v ← α v + (1 − α) g²,
/// θ ← θ − η g / (√v + ε), with √ of max(v, 1e-30) as in `DifferentiableAdam`.
public struct DifferentiableRMSprop: Sendable, CustomStringConvertible {
    public let learningRate: Float
    public let alpha: Float
    public let eps: Float

    public init(learningRate: Float = 1e-2, alpha: Float = 0.99, eps: Float = 1e-8) throws {
        let op = "DifferentiableRMSprop"
        try Check.nonNegative(learningRate, "learningRate", op)
        try Check.decayRate(alpha, "alpha", op)
        try Check.nonNegative(eps, "eps", op)
        self.learningRate = learningRate
        self.alpha = alpha
        self.eps = eps
    }

    /// Zero mean squares shaped like `params`.
    public func initialize(_ params: [Variable]) throws -> [Variable] {
        try params.map { Variable(try Tensor.zeros($0.shape)) }
    }

    /// One step: the adapted parameters and the next mean squares.
    public func step(params: [Variable], grads: [Variable], state: [Variable]) throws -> (params: [Variable], state: [Variable]) {
        let op = "DifferentiableRMSprop.step"
        try checkPairs(params, grads, op: op)
        try checkPairs(params, state, op: op + " (state)")
        var ps: [Variable] = [], vs: [Variable] = []
        for i in 0..<params.count {
            let v = try state[i] * alpha + grads[i].square() * (1 - alpha)
            let denom = try rootOfSquares(v, eps: eps)
            ps.append(try params[i] - (try (grads[i] * learningRate) / denom))
            vs.append(v)
        }
        return (ps, vs)
    }

    public var description: String {
        "DifferentiableRMSprop(learningRate: \(learningRate), alpha: \(alpha), eps: \(eps))"
    }
}

/// √max(s, 1e-30) + ε: the denominator of the adaptive steps, whose root is
/// floored so a coordinate with zero squared gradients has a zero
/// derivative there rather than an infinite one (0·∞ = NaN).
func rootOfSquares(_ squares: Variable, eps: Float) throws -> Variable {
    try Variable.maximum(squares, try Variable(Float(1e-30))).sqrt() + eps
}

/// `params` and `other` pair up one for one with equal shapes.
func checkPairs(_ params: [Variable], _ other: [Variable], op: String) throws {
    guard params.count == other.count else {
        throw MetaError.argument("\(op): \(other.count) tensors for \(params.count) parameters")
    }
    for i in 0..<params.count where params[i].shape != other[i].shape {
        throw MetaError.shape("\(op): tensor \(i) has shape \(other[i].shape) but parameter \(i) has shape \(params[i].shape)")
    }
}

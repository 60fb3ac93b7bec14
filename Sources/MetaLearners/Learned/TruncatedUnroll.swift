import MetaTensor
import MetaAutodiff
import MetaOptim

/// How the meta-gradient treats the optimizee's gradients ∇_t = ∇f(θ_t).
public enum MetaGradientMode: String, Sendable, CaseIterable {
    /// The paper's: ∇_t is an input, a constant (∂∇_t/∂φ = 0), so no second
    /// derivatives of f are taken (Andrychowicz et al. 2016, section 2:
    /// "we make the assumption that ∂∇_t/∂φ = 0").
    case firstOrder = "first_order"
    /// Exact: ∇_t is differentiated too (createGraph), through f's Hessian
    /// and through the preprocessing.
    case exact
}

/// Where an unroll stands: the optimizee's parameters and every
/// coordinate's LSTM states (values, cut from any graph).
public struct UnrollState: Sendable {
    public var parameters: [Tensor]
    public var lstm: [Tensor]
    /// The optimizee step θ is at (the step of the next loss evaluated).
    public var step: Int
}

extension LearnedOptimizer {
    /// The LSTM states of a fresh unroll of `problem` (zeros) and its θ₀.
    public func start(_ problem: any Optimizee) throws -> UnrollState {
        let n = problem.initialParameters.reduce(0) { $0 + $1.count }
        return UnrollState(parameters: problem.initialParameters,
                           lstm: try zeroState(coordinates: n).map(\.value), step: 0)
    }

    /// One truncation of `steps` optimizee updates from `state`:
    ///
    ///     for t in s..<s+steps:  ∇_t = ∇f_t(θ_t);  (g_t, h_{t+1}) = m(∇_t, h_t; φ);  θ_{t+1} = θ_t + g_t
    ///     L(φ) = Σ_{t = s+1}^{s+steps} f_t(θ_t)
    ///
    /// with every step weighted 1 (the paper's w_t = 1). The truncation
    /// starts from `state` as constants (its θ and LSTM states are detached
    /// at the boundary, truncated backpropagation through time), so L
    /// depends on φ only through this truncation's updates. `weights` are
    /// the variables L is recorded against (leaves for a meta-gradient,
    /// constants for a plain evaluation).
    ///
    /// Returns L (a variable of `weights`) and where the unroll stands after.
    public func truncation(_ weights: [Variable], problem: any Optimizee, from state: UnrollState, steps: Int,
                           mode: MetaGradientMode) throws -> (metaLoss: Variable, end: UnrollState) {
        guard steps > 0 else { throw MetaError.argument("truncation: steps must be > 0, got \(steps)") }
        var theta = state.parameters.map { Variable($0) }
        var lstm = state.lstm.map { Variable($0) }
        let shapes = theta.map(\.shape), counts = theta.map(\.count)
        var metaLoss: Variable?
        // ∇f_s at the boundary: θ_s is a constant, so both modes agree here.
        var gradient = try Autodiff.valueAndGrad(at: theta) { try problem.loss($0, step: state.step) }.grads
        for k in 1...steps {
            let t = state.step + k
            let flat = try Variable.concat(gradient.map { try $0.reshaped([$0.count]) }, axis: 0)
            let (update, next) = try step(weights, gradient: flat, state: lstm)
            lstm = next
            var offset = 0
            theta = try zip(theta.indices, counts).map { i, n in
                defer { offset += n }
                return try theta[i] + update.slice(axis: 0, range: offset..<(offset + n)).reshaped(shapes[i])
            }
            let loss: Variable
            if k < steps {
                let r = try Autodiff.valueAndGrad(at: theta, createGraph: mode == .exact) { try problem.loss($0, step: t) }
                (loss, gradient) = (r.value, r.grads)
            } else {
                loss = try problem.loss(theta, step: t)  // the next truncation takes its gradient afresh
            }
            metaLoss = try metaLoss.map { try $0 + loss } ?? loss
        }
        return (metaLoss!, UnrollState(parameters: theta.map(\.value), lstm: lstm.map(\.value), step: state.step + steps))
    }

    /// The meta-loss of a truncation and its gradient with respect to the
    /// network's weights.
    public func metaGradient(weights: [Tensor], problem: any Optimizee, from state: UnrollState, steps: Int,
                             mode: MetaGradientMode) throws -> (loss: Float, gradients: [Tensor], end: UnrollState) {
        try check(weights)
        var end: UnrollState?
        let r = try Autodiff.valueAndGrad(at: weights.map { Variable($0) }) { w in
            let out = try truncation(w, problem: problem, from: state, steps: steps, mode: mode)
            end = out.end
            return out.metaLoss
        }
        return (try r.value.item(), r.grads.map(\.value), end!)
    }

    /// The meta-loss of a truncation alone (no tape for φ), for finite differences.
    public func metaLoss(weights: [Tensor], problem: any Optimizee, from state: UnrollState, steps: Int) throws -> Float {
        try check(weights)
        return try truncation(weights.map { Variable($0) }, problem: problem, from: state, steps: steps, mode: .firstOrder)
            .metaLoss.item()
    }
}

/// The losses f_0(θ_0), f_1(θ_1), ..., f_steps(θ_steps) of `transformation`
/// (any optimizer, learned or not) run for `steps` updates on `problem`
/// from its θ₀. A diverging optimizer's curve keeps its infinities and
/// NaNs, which a comparison must see.
public func lossCurve(_ problem: any Optimizee, transformation: GradientTransformation, steps: Int) throws -> [Float] {
    guard steps >= 0 else { throw MetaError.argument("lossCurve: steps must be >= 0, got \(steps)") }
    var params = problem.initialParameters
    var state = try transformation.initialize(params)
    var losses: [Float] = []
    losses.reserveCapacity(steps + 1)
    for t in 0...steps {
        let r = try Autodiff.valueAndGrad(at: params.map { Variable($0) }) { try problem.loss($0, step: t) }
        losses.append(try r.value.item())
        if t == steps { break }
        let u = try transformation.update(r.grads.map(\.value), state: state, params: params)
        params = try applyUpdates(params, u.updates)
        state = u.state
    }
    return losses
}

/// The loss curves of `count` problems drawn from `family` with `seed` (the
/// same problems for any optimizer and any call), each optimised by
/// `transformation` for `steps` updates: one curve (`steps` + 1 losses) per
/// problem, in the order drawn.
public func lossCurves(_ family: any OptimizeeFamily, transformation: GradientTransformation, problems count: Int,
                       steps: Int, seed: UInt64) throws -> [[Float]] {
    guard count > 0 else { throw MetaError.argument("lossCurves: problems must be > 0, got \(count)") }
    var rng = RNG(seed: seed)
    return try (0..<count).map { _ in
        var draw = rng.split()
        return try lossCurve(try family.sample(rng: &draw, steps: steps), transformation: transformation, steps: steps)
    }
}

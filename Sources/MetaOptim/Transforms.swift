#if canImport(Glibc)
import Glibc
#endif
import MetaTensor

// The building blocks. Each one is a transformation of the updates that flow
// through a chain; named optimizers (Optimizers.swift) are chains of these.
// Kernels are single fused passes over equal-shaped buffers (shapes were
// checked by `update` and `checkState` before any pointer is read).

extension GradientTransformation {
    /// u ← s · u. Stateless.
    public static func scale(_ factor: Float) throws -> GradientTransformation {
        try Check.finite(factor, "factor", "scale")
        return stateless("scale(\(factor))", kind: "scale") { g, _ in try g.affine(scale: factor, shift: 0) }
    }

    /// u ← −η · u: turns a direction of ascent into a step of descent.
    public static func scaleByLearningRate(_ learningRate: Float) throws -> GradientTransformation {
        try Check.nonNegative(learningRate, "learningRate", "scaleByLearningRate")
        return stateless("scaleByLearningRate(\(learningRate))", kind: "scale") { g, _ in
            try g.affine(scale: -learningRate, shift: 0)
        }
    }

    /// u ← u + λ · θ: decoupled weight decay (Loshchilov & Hutter 2019). Put it
    /// after the adaptive scaling and before the learning rate, so the decay is
    /// −ηλθ whatever Adam's per-coordinate scale is (that is what "decoupled"
    /// means; adding λθ to the gradient instead is L2 regularisation).
    public static func addDecayedWeights(_ weightDecay: Float) throws -> GradientTransformation {
        try Check.nonNegative(weightDecay, "weightDecay", "addDecayedWeights")
        return stateless("addDecayedWeights(\(weightDecay))", kind: "addDecayedWeights") { g, p in
            let (u, up) = try fresh(g.shape, count: g.count)
            let gp = g.storage.base, pp = p.storage.base
            for i in 0..<g.count { up[i] = gp[i] + weightDecay * pp[i] }
            return u
        }
    }

    /// If ‖u‖ > c for the global norm ‖u‖ = √(Σ over all tensors of Σ u²),
    /// u ← u · c / ‖u‖; otherwise u is unchanged. The direction is kept, only
    /// the length is capped. The sum is accumulated in Double so large
    /// gradients do not overflow to infinity (a NaN gradient still gives NaN).
    public static func clipByGlobalNorm(_ maxNorm: Float) throws -> GradientTransformation {
        try Check.positive(maxNorm, "maxNorm", "clipByGlobalNorm")
        let kind = "clipByGlobalNorm"
        return GradientTransformation(
            description: "clipByGlobalNorm(\(maxNorm))",
            initialize: { _ in OptimizerState(kind: kind) },
            update: { grads, state, params in
                _ = try checkState(state, kind: kind, buffers: [], params: params)
                let norm = globalNorm(grads)
                let next = OptimizerState(kind: kind, count: state.count &+ 1)
                guard norm > Double(maxNorm) else { return (grads, next) }
                let s = Float(Double(maxNorm) / norm)
                return (try grads.map { try $0.affine(scale: s, shift: 0) }, next)
            })
    }

    /// Momentum: t ← u + μ · t, then u ← t, or u ← u + μ · t with Nesterov
    /// (Sutskever et al. 2013, in the form PyTorch's SGD uses: no dampening).
    /// State: buffer "trace".
    public static func trace(decay: Float, nesterov: Bool = false) throws -> GradientTransformation {
        try Check.decayRate(decay, "decay", "trace")
        let kind = "trace"
        return GradientTransformation(
            description: "trace(decay: \(decay), nesterov: \(nesterov))",
            initialize: { params in
                OptimizerState(kind: kind, buffers: [.init(name: "trace", tensors: try zerosLike(params))])
            },
            update: { grads, state, params in
                let prev = try checkState(state, kind: kind, buffers: ["trace"], params: params)[0]
                var updates: [Tensor] = [], traces: [Tensor] = []
                for (g, t0) in zip(grads, prev) {
                    let n = g.count
                    let (t, tp) = try fresh(g.shape, count: n)
                    let gp = g.storage.base, t0p = t0.storage.base
                    for i in 0..<n { tp[i] = gp[i] + decay * t0p[i] }
                    traces.append(t)
                    if nesterov {
                        let (u, up) = try fresh(g.shape, count: n)
                        for i in 0..<n { up[i] = gp[i] + decay * tp[i] }
                        updates.append(u)
                    } else {
                        updates.append(t)
                    }
                }
                return (updates, OptimizerState(kind: kind, count: state.count &+ 1,
                                                buffers: [.init(name: "trace", tensors: traces)]))
            })
    }

    /// Adam's rescaling (Kingma & Ba 2015), with t the step (1, 2, ...):
    ///
    ///     m ← β₁ m + (1 − β₁) u          v ← β₂ v + (1 − β₂) u²
    ///     u ← m̂ / (√v̂ + ε)   with m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
    ///
    /// The bias correction undoes the pull of the zero initial moments toward
    /// zero; without it the first steps would be (1 − β₁)/√(1 − β₂) ≈ 3× too
    /// small for the defaults. State: buffers "mu" and "nu", and the step count.
    public static func scaleByAdam(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) throws -> GradientTransformation {
        let op = "scaleByAdam"
        try Check.decayRate(beta1, "beta1", op)
        try Check.decayRate(beta2, "beta2", op)
        try Check.nonNegative(eps, "eps", op)
        return GradientTransformation(
            description: "scaleByAdam(beta1: \(beta1), beta2: \(beta2), eps: \(eps))",
            initialize: { params in
                OptimizerState(kind: op, buffers: [.init(name: "mu", tensors: try zerosLike(params)),
                                                   .init(name: "nu", tensors: try zerosLike(params))])
            },
            update: { grads, state, params in
                let b = try checkState(state, kind: op, buffers: ["mu", "nu"], params: params)
                let t = state.count &+ 1
                // In Double: 1 − β₂ᵗ for β₂ = 0.999 loses digits in Float at small t.
                let c1 = Float(1 - pow(Double(beta1), Double(t))), c2 = Float(1 - pow(Double(beta2), Double(t)))
                var us: [Tensor] = [], ms: [Tensor] = [], vs: [Tensor] = []
                for k in 0..<grads.count {
                    let g = grads[k], n = g.count
                    let (m, mp) = try fresh(g.shape, count: n)
                    let (v, vp) = try fresh(g.shape, count: n)
                    let (u, up) = try fresh(g.shape, count: n)
                    let gp = g.storage.base, m0 = b[0][k].storage.base, v0 = b[1][k].storage.base
                    for i in 0..<n {
                        let gi = gp[i]
                        let mi = beta1 * m0[i] + (1 - beta1) * gi
                        let vi = beta2 * v0[i] + (1 - beta2) * gi * gi
                        mp[i] = mi; vp[i] = vi
                        up[i] = (mi / c1) / ((vi / c2).squareRoot() + eps)
                    }
                    us.append(u); ms.append(m); vs.append(v)
                }
                return (us, OptimizerState(kind: op, count: t, buffers: [.init(name: "mu", tensors: ms),
                                                                         .init(name: "nu", tensors: vs)]))
            })
    }

    /// AdaGrad's rescaling (Duchi et al. 2011): G ← G + u², u ← u / (√G + ε).
    /// With a learning rate η₀ after it, the step of each coordinate is
    /// η₀ / (√Gₜ + ε) · g: rates only ever shrink, fastest where gradients are
    /// large. `initialAccumulator` starts G above zero; with 0 (PyTorch's
    /// default) and ε = 0 a coordinate whose gradients are all zero gives 0/0.
    /// State: buffer "sumOfSquares".
    public static func scaleByRSS(initialAccumulator: Float = 0, eps: Float = 1e-10) throws -> GradientTransformation {
        let op = "scaleByRSS"
        try Check.nonNegative(initialAccumulator, "initialAccumulator", op)
        try Check.nonNegative(eps, "eps", op)
        return GradientTransformation(
            description: "scaleByRSS(initialAccumulator: \(initialAccumulator), eps: \(eps))",
            initialize: { params in
                OptimizerState(kind: op, buffers: [.init(name: "sumOfSquares",
                                                         tensors: try params.map { try Tensor.full($0.shape, initialAccumulator) })])
            },
            update: { grads, state, params in
                let prev = try checkState(state, kind: op, buffers: ["sumOfSquares"], params: params)[0]
                var us: [Tensor] = [], gs: [Tensor] = []
                for (g, s0) in zip(grads, prev) {
                    let n = g.count
                    let (s, sp) = try fresh(g.shape, count: n)
                    let (u, up) = try fresh(g.shape, count: n)
                    let gp = g.storage.base, s0p = s0.storage.base
                    for i in 0..<n {
                        let gi = gp[i], si = s0p[i] + gi * gi
                        sp[i] = si
                        up[i] = gi / (si.squareRoot() + eps)
                    }
                    us.append(u); gs.append(s)
                }
                return (us, OptimizerState(kind: op, count: state.count &+ 1,
                                           buffers: [.init(name: "sumOfSquares", tensors: gs)]))
            })
    }

    /// RMSProp's rescaling (Tieleman & Hinton 2012): v ← ρ v + (1 − ρ) u²,
    /// u ← u / (√v + ε), with v starting at zero and no bias correction (as in
    /// PyTorch), so the first step is about 1/√(1 − ρ) times larger than later
    /// ones. State: buffer "nu".
    public static func scaleByRMS(decay: Float = 0.9, eps: Float = 1e-8) throws -> GradientTransformation {
        let op = "scaleByRMS"
        try Check.decayRate(decay, "decay", op)
        try Check.nonNegative(eps, "eps", op)
        return GradientTransformation(
            description: "scaleByRMS(decay: \(decay), eps: \(eps))",
            initialize: { params in
                OptimizerState(kind: op, buffers: [.init(name: "nu", tensors: try zerosLike(params))])
            },
            update: { grads, state, params in
                let prev = try checkState(state, kind: op, buffers: ["nu"], params: params)[0]
                var us: [Tensor] = [], vs: [Tensor] = []
                for (g, v0) in zip(grads, prev) {
                    let n = g.count
                    let (v, vp) = try fresh(g.shape, count: n)
                    let (u, up) = try fresh(g.shape, count: n)
                    let gp = g.storage.base, v0p = v0.storage.base
                    for i in 0..<n {
                        let gi = gp[i], vi = decay * v0p[i] + (1 - decay) * gi * gi
                        vp[i] = vi
                        up[i] = gi / (vi.squareRoot() + eps)
                    }
                    us.append(u); vs.append(v)
                }
                return (us, OptimizerState(kind: op, count: state.count &+ 1, buffers: [.init(name: "nu", tensors: vs)]))
            })
    }

    /// A transformation without buffers that maps each (update, parameter) pair.
    static func stateless(_ description: String, kind: String,
                          _ f: @escaping @Sendable (Tensor, Tensor) throws -> Tensor) -> GradientTransformation {
        GradientTransformation(
            description: description,
            initialize: { _ in OptimizerState(kind: kind) },
            update: { grads, state, params in
                _ = try checkState(state, kind: kind, buffers: [], params: params)
                var us: [Tensor] = []
                us.reserveCapacity(grads.count)
                for (g, p) in zip(grads, params) { us.append(try f(g, p)) }
                return (us, OptimizerState(kind: kind, count: state.count &+ 1))
            })
    }
}

/// √(Σ over tensors of Σ x²), accumulated in Double.
func globalNorm(_ tensors: [Tensor]) -> Double {
    var acc = 0.0
    for t in tensors {
        let p = t.storage.base
        for i in 0..<t.count { let x = Double(p[i]); acc += x * x }
    }
    return acc.squareRoot()
}

import MetaTensor

// Named optimizers: chains of building blocks, each checked under its own name
// so an error says `adam: beta1 ...`, not the name of a block inside it.
// Defaults follow the papers and PyTorch.

extension GradientTransformation {
    /// Stochastic gradient descent, with heavy-ball or Nesterov momentum μ:
    ///
    ///     b ← μ b + g;   θ ← θ − η b            (plain momentum)
    ///     b ← μ b + g;   θ ← θ − η (g + μ b)    (Nesterov, Sutskever et al. 2013)
    ///
    /// This is PyTorch's `SGD(lr, momentum, nesterov=True)` without dampening.
    /// Nesterov needs μ > 0 (PyTorch refuses it too: with μ = 0 it is silently
    /// plain SGD).
    ///
    ///     let opt = try GradientTransformation.sgd(learningRate: 0.1, momentum: 0.9, nesterov: true)
    public static func sgd(learningRate: Schedule, momentum: Float = 0, nesterov: Bool = false) throws -> GradientTransformation {
        let op = "sgd"
        try Check.decayRate(momentum, "momentum", op)
        if nesterov && momentum == 0 {
            throw MetaError.argument("sgd: nesterov momentum needs momentum > 0, got 0")
        }
        var parts: [GradientTransformation] = []
        if momentum > 0 { parts.append(try .trace(decay: momentum, nesterov: nesterov)) }
        parts.append(try .learningRate(learningRate))
        return chain(parts).named("sgd(learningRate: \(rateText(learningRate)), momentum: \(momentum), nesterov: \(nesterov))")
    }

    /// The same with a learning rate that does not change.
    public static func sgd(learningRate: Float, momentum: Float = 0, nesterov: Bool = false) throws -> GradientTransformation {
        try Check.nonNegative(learningRate, "learningRate", "sgd")
        return try sgd(learningRate: .constant(learningRate), momentum: momentum, nesterov: nesterov)
    }

    /// Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization"):
    /// θ ← θ − η m̂ / (√v̂ + ε) with bias-corrected moments; see `scaleByAdam`.
    ///
    ///     let opt = try GradientTransformation.adam(learningRate: 1e-3)
    public static func adam(learningRate: Schedule, beta1: Float = 0.9, beta2: Float = 0.999,
                            eps: Float = 1e-8) throws -> GradientTransformation {
        let op = "adam"
        try Check.decayRate(beta1, "beta1", op)
        try Check.decayRate(beta2, "beta2", op)
        try Check.nonNegative(eps, "eps", op)
        return chain(try .scaleByAdam(beta1: beta1, beta2: beta2, eps: eps), try .learningRate(learningRate))
            .named("adam(learningRate: \(rateText(learningRate)), beta1: \(beta1), beta2: \(beta2), eps: \(eps))")
    }

    /// The same with a learning rate that does not change.
    public static func adam(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                            eps: Float = 1e-8) throws -> GradientTransformation {
        try Check.nonNegative(learningRate, "learningRate", "adam")
        return try adam(learningRate: .constant(learningRate), beta1: beta1, beta2: beta2, eps: eps)
    }

    /// AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"):
    /// θ ← θ − η (m̂ / (√v̂ + ε) + λ θ). The decay is not divided by √v̂, unlike
    /// Adam with an L2 term added to the loss.
    public static func adamW(learningRate: Schedule, beta1: Float = 0.9, beta2: Float = 0.999,
                             eps: Float = 1e-8, weightDecay: Float = 1e-2) throws -> GradientTransformation {
        let op = "adamW"
        try Check.decayRate(beta1, "beta1", op)
        try Check.decayRate(beta2, "beta2", op)
        try Check.nonNegative(eps, "eps", op)
        try Check.nonNegative(weightDecay, "weightDecay", op)
        return chain(try .scaleByAdam(beta1: beta1, beta2: beta2, eps: eps),
                     try .addDecayedWeights(weightDecay),
                     try .learningRate(learningRate))
            .named("adamW(learningRate: \(rateText(learningRate)), beta1: \(beta1), beta2: \(beta2), eps: \(eps), weightDecay: \(weightDecay))")
    }

    /// The same with a learning rate that does not change.
    public static func adamW(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                             eps: Float = 1e-8, weightDecay: Float = 1e-2) throws -> GradientTransformation {
        try Check.nonNegative(learningRate, "learningRate", "adamW")
        return try adamW(learningRate: .constant(learningRate), beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay)
    }

    /// AdaGrad (Duchi, Hazan & Singer 2011): Gₜ = G₀ + Σₛ≤ₜ gₛ²,
    /// θ ← θ − η₀ / (√Gₜ + ε) · g. See `scaleByRSS`.
    public static func adagrad(learningRate: Schedule, initialAccumulator: Float = 0,
                               eps: Float = 1e-10) throws -> GradientTransformation {
        let op = "adagrad"
                try Check.nonNegative(initialAccumulator, "initialAccumulator", op)
        try Check.nonNegative(eps, "eps", op)
        return chain(try .scaleByRSS(initialAccumulator: initialAccumulator, eps: eps), try .learningRate(learningRate))
            .named("adagrad(learningRate: \(rateText(learningRate)), initialAccumulator: \(initialAccumulator), eps: \(eps))")
    }

    /// The same with a learning rate that does not change.
    public static func adagrad(learningRate: Float = 1e-2, initialAccumulator: Float = 0,
                               eps: Float = 1e-10) throws -> GradientTransformation {
        try Check.nonNegative(learningRate, "learningRate", "adagrad")
        return try adagrad(learningRate: .constant(learningRate), initialAccumulator: initialAccumulator, eps: eps)
    }

    /// RMSProp (Tieleman & Hinton 2012, Lecture 6.5): v ← ρ v + (1 − ρ) g²,
    /// then with momentum μ: b ← μ b + g / (√v + ε), θ ← θ − η b (PyTorch's
    /// form; μ = 0 is θ ← θ − η g / (√v + ε)).
    public static func rmsprop(learningRate: Schedule, decay: Float = 0.9, eps: Float = 1e-8,
                               momentum: Float = 0) throws -> GradientTransformation {
        let op = "rmsprop"
        try Check.decayRate(decay, "decay", op)
        try Check.nonNegative(eps, "eps", op)
        try Check.decayRate(momentum, "momentum", op)
        var parts = [try GradientTransformation.scaleByRMS(decay: decay, eps: eps)]
        if momentum > 0 { parts.append(try .trace(decay: momentum)) }
        parts.append(try .learningRate(learningRate))
        return chain(parts).named("rmsprop(learningRate: \(rateText(learningRate)), decay: \(decay), eps: \(eps), momentum: \(momentum))")
    }

    /// The same with a learning rate that does not change.
    public static func rmsprop(learningRate: Float = 1e-2, decay: Float = 0.9, eps: Float = 1e-8,
                               momentum: Float = 0) throws -> GradientTransformation {
        try Check.nonNegative(learningRate, "learningRate", "rmsprop")
        return try rmsprop(learningRate: .constant(learningRate), decay: decay, eps: eps, momentum: momentum)
    }
}

/// How a named optimizer prints its rate: the number when it is constant.
private func rateText(_ schedule: Schedule) -> String {
    schedule.constantValue.map { "\($0)" } ?? schedule.description
}

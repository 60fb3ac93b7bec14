import MetaTensor

// Batch normalisation of channels-last data (statistics over every axis but
// the last) as a fused primitive, with its backward pass as two more
// primitives. With μ, s = 1/√(σ² + ε) and x̂ = (x − μ)·s per channel, R rows,
// and P_x(g) = g − mean(g) − x̂·mean(g·x̂) (the projection away from 1 and x̂):
//
//     batchNorm(x, γ, β)           = γ·x̂ + β
//     normBackwardInput(g, x, γ)   = γ·s·P_x(g)             ∂/∂x ⟨g, γ·x̂⟩
//     normParamGrad(g, x)          = [Σ g·x̂ ; Σ g]  (2, C)   ∂/∂(γ, β) ⟨g, γ·x̂ + β⟩
//
// The composition (mean, subtract, square, mean, sqrt, divide, scale, shift)
// makes ~8 passes over the activations forward and ~20 backward; these make
// 3 forward and 3 backward. Their VJPs stay in the family where the math
// allows (P_x is symmetric, so normBackwardInput is its own adjoint in g) and
// are composed from primitives otherwise, so every order is exact.

/// μ and s of one channels-last tensor, computed once and shared by the
/// forward pass and the VJPs that read the same x. It holds the storage it
/// describes, so it is only ever applied to that tensor's values.
public struct ChannelStats: @unchecked Sendable {
    public let mean: Tensor
    public let invStd: Tensor
    public let eps: Float
    let source: Storage

    /// The statistics of `x` (over every axis but the last).
    public init(of x: Tensor, eps: Float) throws {
        let (m, s) = try x.channelStatistics(eps: eps)
        self.init(mean: m, invStd: s, eps: eps, source: x.storage)
    }

    init(mean: Tensor, invStd: Tensor, eps: Float, source: Storage) {
        (self.mean, self.invStd, self.eps, self.source) = (mean, invStd, eps, source)
    }

    func check(_ x: Variable, _ op: String) throws {
        guard source === x.value.storage else {
            throw MetaError.argument("\(op): statistics were computed from another tensor than x")
        }
    }
}

extension Variable {
    /// γ·(x − μ)/√(σ² + ε) + β per channel, μ and the biased σ² over all axes but the last.
    public static func batchNormChannelsLast(_ x: Variable, gamma: Variable, beta: Variable, eps: Float) throws -> Variable {
        try batchNormChannelsLast(x, gamma: gamma, beta: beta, stats: try ChannelStats(of: x.value, eps: eps))
    }

    /// The same with x's statistics already known (e.g. from `conv2dNHWCWithStatistics`).
    public static func batchNormChannelsLast(_ x: Variable, gamma: Variable, beta: Variable,
                                             statistics: ChannelStats) throws -> Variable {
        try statistics.check(x, "batchNormChannelsLast")
        return try batchNormChannelsLast(x, gamma: gamma, beta: beta, stats: statistics)
    }

    static func batchNormChannelsLast(_ x: Variable, gamma: Variable, beta: Variable, stats: ChannelStats) throws -> Variable {
        let y = try x.value.channelNormalized(mean: stats.mean, invStd: stats.invStd, gamma: gamma.value, beta: beta.value)
        return record("batchNorm", y, [x, gamma, beta]) { g, ins, _ in
            let (x, gamma) = (ins[0], ins[1])
            let wantParams = ins[1].needsGradient || ins[2].needsGradient
            guard x.needsGradient || wantParams else { return [nil, nil, nil] }
            // One pass over (g, x) gives Σ g·x̂ and Σ g, used by both cotangents.
            let sums = try Tensor.channelNormSums(g.value, x.value, mean: stats.mean, invStd: stats.invStd)
            let dx = x.needsGradient ? try normBackwardInput(g, x, gamma: gamma, stats: stats, sums: sums) : nil
            guard wantParams else { return [dx, nil, nil] }
            let p = try normParamGrad(g, x, stats: stats, sums: sums)
            let c = sums.shape[1]
            return [dx, try p.slice(axis: 0, range: 0..<1).reshaped([c]), try p.slice(axis: 0, range: 1..<2).reshaped([c])]
        }
    }

    /// γ·s·(g − mean(g) − x̂·mean(g·x̂)): the cotangent of x under batch norm.
    static func normBackwardInput(_ g: Variable, _ x: Variable, gamma: Variable, stats: ChannelStats,
                                  sums: Tensor? = nil) throws -> Variable {
        let s = try sums ?? Tensor.channelNormSums(g.value, x.value, mean: stats.mean, invStd: stats.invStd)
        let dx = try Tensor.channelNormBackward(g.value, x.value, mean: stats.mean, invStd: stats.invStd,
                                                gamma: gamma.value, sums: s)
        return record("batchNormBackwardInput", dx, [g, x, gamma]) { h, ins, _ in
            let (g, x, gamma) = (ins[0], ins[1], ins[2])
            let c = gamma.shape[0]
            // Linear in g with a symmetric operator: its own adjoint.
            let dg = g.needsGradient ? try normBackwardInput(h, x, gamma: gamma, stats: stats) : nil
            // Linear in γ: ⟨h, γ·s·P(g)⟩ summed per channel.
            let dgamma = gamma.needsGradient
                ? try (h * normBackwardInput(g, x, gamma: Variable(try Tensor.ones([c])), stats: stats))
                    .reshaped([-1, c]).sum(axes: [0])
                : nil
            let dx = x.needsGradient ? try normBackwardInputX(h, g, x, gamma: gamma, eps: stats.eps) : nil
            return [dg, dx, dgamma]
        }
    }

    /// ∂/∂x ⟨h, γ·s·P_x(g)⟩, composed from primitives. Per channel, with means
    /// over rows: −γ·s²·[x̂·(mean(h·g) − mean(g)·mean(h) − m·b) + b·P(g) + m·P(h)],
    /// m = mean(g·x̂), b = mean(h·x̂). It runs only inside second-order
    /// differentiation (on MAML's support set), so it is written for clarity.
    static func normBackwardInputX(_ h: Variable, _ g: Variable, _ x: Variable, gamma: Variable, eps: Float) throws -> Variable {
        let c = x.shape[x.rank - 1], shape = x.shape
        let (h, g, x) = (try h.reshaped([-1, c]), try g.reshaped([-1, c]), try x.reshaped([-1, c]))
        func mean(_ v: Variable) throws -> Variable { try v.mean(axes: [0], keepDims: true) }
        let centred = try x - mean(x)
        let s = try 1 / (try mean(centred.square()) + eps).sqrt()
        let xh = try centred * s
        let (gm, hm) = (try mean(g), try mean(h))
        let m = try mean(g * xh), b = try mean(h * xh)
        let pg = try g - gm - xh * m, ph = try h - hm - xh * b
        let inner = try xh * (try mean(h * g) - gm * hm - m * b) + b * pg + m * ph
        let dx = try -(inner * (try gamma.reshaped([1, c]) * s.square()))
        return try dx.reshaped(shape)
    }

    /// [Σ g·x̂ ; Σ g] per channel, (2, C): the cotangents of γ and β.
    static func normParamGrad(_ g: Variable, _ x: Variable, stats: ChannelStats, sums: Tensor? = nil) throws -> Variable {
        let p = try sums ?? Tensor.channelNormSums(g.value, x.value, mean: stats.mean, invStd: stats.invStd)
        return record("batchNormParamGrad", p, g, x) { v, ins, _ in
            let (g, x) = (ins[0], ins[1])
            let c = v.shape[1]
            let vgamma = try v.slice(axis: 0, range: 0..<1).reshaped([c])
            let vbeta = try v.slice(axis: 0, range: 1..<2).reshaped([c])
            // ⟨v, p⟩ = ⟨g, v_γ·x̂ + v_β⟩: batch norm of x with γ = v_γ, β = v_β.
            let dg = g.needsGradient ? try batchNormChannelsLast(x, gamma: vgamma, beta: vbeta, stats: stats) : nil
            // ∂/∂x ⟨g, v_γ·x̂⟩ is the backward pass with γ = v_γ.
            let dx = x.needsGradient ? try normBackwardInput(g, x, gamma: vgamma, stats: stats) : nil
            return [dg, dx]
        }
    }
}

extension Variable {
    /// Σ over every axis but the last (a channels-last bias's cotangent): (C).
    /// VJP: the cotangent repeated over those axes.
    public func channelSums() throws -> Variable {
        let shape = self.shape
        guard rank >= 2 else { throw MetaError.shape("channelSums: need rank >= 2, got \(shape)") }
        let out = try value.channelSums()
        var kept = [Int](repeating: 1, count: rank)
        kept[rank - 1] = shape[rank - 1]
        return record("channelSums", out, self) { g, _, _ in [try g.reshaped(kept).broadcast(to: shape)] }
    }
}

import MetaTensor

// The end of a conv block, relu(maxPool2x2(batchNorm(x, γ, β))), channels-last,
// as one primitive whose kernels never store the normalised activations
// y = γ·x̂ + β (see `NormPool`). With U_y the unpool operator that spreads a
// cotangent to the window maxima of y (relu-masked; y only selects, so the
// choice is a constant) and G = U_y g:
//
//     forward                          z = relu(maxpool(y))
//     backwardInput(g, x, γ, β)        = normBackwardInput(G, x, γ) = γ·s·P_x(G)
//     paramGrad(g, x, γ, β)            = [Σ G·x̂ ; Σ G]
//
// Their VJPs are those of batch norm's backward primitives composed with
// U_y, whose adjoint is the max-gather: derivatives of every order are the
// ones of the separate batch norm and pool.

extension Variable {
    /// relu(maxPool2x2(batchNormChannelsLast(x, γ, β))) for x (N, H, W, C); (N, H/2, W/2, C).
    public static func batchNormPoolReLU(_ x: Variable, gamma: Variable, beta: Variable, eps: Float) throws -> Variable {
        try batchNormPoolReLU(x, gamma: gamma, beta: beta, stats: try ChannelStats(of: x.value, eps: eps))
    }

    /// The same with x's statistics already known (e.g. from `conv2dNHWCWithStatistics`).
    public static func batchNormPoolReLU(_ x: Variable, gamma: Variable, beta: Variable, statistics: ChannelStats) throws -> Variable {
        try statistics.check(x, "batchNormPoolReLU")
        return try batchNormPoolReLU(x, gamma: gamma, beta: beta, stats: statistics)
    }

    static func batchNormPoolReLU(_ x: Variable, gamma: Variable, beta: Variable, stats: ChannelStats) throws -> Variable {
        guard NormPool.supported(x.shape) else {
            // Channels not a multiple of 8: the two primitives apart.
            return try batchNormChannelsLast(x, gamma: gamma, beta: beta, stats: stats).maxPoolNHWC(kernelSize: 2, relu: true)
        }
        let z = try NormPool.forward(x.value, mean: stats.mean, invStd: stats.invStd, gamma: gamma.value, beta: beta.value)
        return record("batchNormPoolReLU", z, [x, gamma, beta]) { g, ins, _ in
            let (x, gamma, beta) = (ins[0], ins[1], ins[2])
            let wantParams = gamma.needsGradient || beta.needsGradient
            guard x.needsGradient || wantParams else { return [nil, nil, nil] }
            let sums = try NormPool.sums(g.value, x.value, mean: stats.mean, invStd: stats.invStd,
                                         gamma: gamma.value, beta: beta.value)
            let dx = x.needsGradient ? try normPoolBackwardInput(g, x, gamma, beta, stats: stats, sums: sums) : nil
            guard wantParams else { return [dx, nil, nil] }
            let p = try normPoolParamGrad(g, x, gamma, beta, stats: stats, sums: sums)
            let c = sums.shape[1]
            return [dx, try p.slice(axis: 0, range: 0..<1).reshaped([c]), try p.slice(axis: 0, range: 1..<2).reshaped([c])]
        }
    }

    /// y = γ·x̂ + β, the values whose window maxima the pool chose (a constant).
    static func normalised(_ x: Variable, _ gamma: Variable, _ beta: Variable, _ stats: ChannelStats) throws -> Tensor {
        try x.value.channelNormalized(mean: stats.mean, invStd: stats.invStd, gamma: gamma.value, beta: beta.value)
    }

    /// γ·s·P_x(U_y g): the cotangent of x.
    static func normPoolBackwardInput(_ g: Variable, _ x: Variable, _ gamma: Variable, _ beta: Variable,
                                      stats: ChannelStats, sums: Tensor) throws -> Variable {
        let dx = try NormPool.backward(g.value, x.value, mean: stats.mean, invStd: stats.invStd, gamma: gamma.value,
                                       beta: beta.value, sums: sums)
        return record("batchNormPoolReLUBackwardInput", dx, [g, x, gamma, beta]) { h, ins, _ in
            let (g, x, gamma, beta) = (ins[0], ins[1], ins[2], ins[3])
            let y = try normalised(x, gamma, beta, stats)
            let spread = try maxUnpoolNHWC(g, selecting: y, kernelSize: 2, relu: true)
            // As normBackwardInput's VJP, with G = U_y g and U_yᵀ the max-gather.
            let dg = g.needsGradient
                ? try maxGatherNHWC(try normBackwardInput(h, x, gamma: gamma, stats: stats), selecting: y, kernelSize: 2, relu: true)
                : nil
            let dx = x.needsGradient ? try normBackwardInputX(h, spread, x, gamma: gamma, eps: stats.eps) : nil
            let c = gamma.shape[0]
            let dgamma = gamma.needsGradient
                ? try (h * normBackwardInput(spread, x, gamma: Variable(try Tensor.ones([c])), stats: stats)).channelSums()
                : nil
            return [dg, dx, dgamma, nil]
        }
    }

    /// [Σ G·x̂ ; Σ G], G = U_y g: the cotangents of γ and β.
    static func normPoolParamGrad(_ g: Variable, _ x: Variable, _ gamma: Variable, _ beta: Variable,
                                  stats: ChannelStats, sums: Tensor) throws -> Variable {
        record("batchNormPoolReLUParamGrad", sums, [g, x, gamma, beta]) { v, ins, _ in
            let (g, x, gamma, beta) = (ins[0], ins[1], ins[2], ins[3])
            let c = v.shape[1]
            let vgamma = try v.slice(axis: 0, range: 0..<1).reshaped([c])
            let vbeta = try v.slice(axis: 0, range: 1..<2).reshaped([c])
            let y = try normalised(x, gamma, beta, stats)
            // ⟨v, p⟩ = ⟨U_y g, v_γ·x̂ + v_β⟩ = ⟨g, U_yᵀ batchNorm(x; v_γ, v_β)⟩.
            let dg = g.needsGradient
                ? try maxGatherNHWC(try batchNormChannelsLast(x, gamma: vgamma, beta: vbeta, stats: stats), selecting: y,
                                    kernelSize: 2, relu: true)
                : nil
            let dx = x.needsGradient
                ? try normBackwardInput(try maxUnpoolNHWC(g, selecting: y, kernelSize: 2, relu: true), x, gamma: vgamma, stats: stats)
                : nil
            return [dg, dx, nil, nil]
        }
    }
}

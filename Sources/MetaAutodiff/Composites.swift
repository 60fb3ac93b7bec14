import MetaTensor

// Differentiable functions composed from primitives: they need no VJP of their own.

extension Variable {
    /// Mean over `axes`.
    public func mean(axes: [Int], keepDims: Bool = false) throws -> Variable {
        let ax = try ShapeMath.axes(axes, rank: rank, op: "mean")
        let n = ax.reduce(1) { $0 * shape[$1] }
        guard n > 0 else { throw MetaError.shape("mean over an empty axis of shape \(shape)") }
        return try sum(axes: ax, keepDims: keepDims) * (1 / Float(n))
    }

    /// Mean of all elements, rank 0.
    public func mean() throws -> Variable { try mean(axes: Array(0..<rank)) }
}

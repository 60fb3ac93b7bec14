import MetaTensor
import MetaAutodiff

// Softmax and its logarithm, composed from primitives so their derivatives of
// every order come from the primitives' VJPs.

extension Variable {
    /// log Σ exp(x) along `axis`, computed stably as m + log Σ exp(x − m) with
    /// m the maximum along the axis.
    ///
    /// m is a constant (detached). That is exact, not an approximation: the
    /// value does not depend on m, so neither does any derivative; the shift
    /// only keeps exp from overflowing.
    public func logSumExp(axis: Int = -1, keepDims: Bool = false) throws -> Variable {
        let a = try ShapeMath.axis(axis, rank: rank, op: "logSumExp")
        guard shape[a] > 0 else { throw MetaError.shape("logSumExp: axis \(axis) of shape \(shape) is empty") }
        let m = Variable(try value.max(axes: [a], keepDims: true))
        let l = try (self - m).exp().sum(axes: [a], keepDims: true).log() + m
        if keepDims { return l }
        var reduced = shape
        reduced.remove(at: a)
        return try l.reshaped(reduced)
    }

    /// log softmax along `axis`: x − logΣexp(x), shifted by the detached
    /// maximum first so no exp overflows (see `logSumExp`). Each slice along
    /// the axis exponentiates and sums to 1.
    public func logSoftmax(axis: Int = -1) throws -> Variable {
        let a = try ShapeMath.axis(axis, rank: rank, op: "logSoftmax")
        guard shape[a] > 0 else { throw MetaError.shape("logSoftmax: axis \(axis) of shape \(shape) is empty") }
        let z = try self - Variable(try value.max(axes: [a], keepDims: true))
        return try z - z.exp().sum(axes: [a], keepDims: true).log()
    }

    /// softmax along `axis`: exp(x − m) / Σ exp(x − m) with m the detached maximum.
    public func softmax(axis: Int = -1) throws -> Variable {
        let a = try ShapeMath.axis(axis, rank: rank, op: "softmax")
        guard shape[a] > 0 else { throw MetaError.shape("softmax: axis \(axis) of shape \(shape) is empty") }
        let e = try (self - Variable(try value.max(axes: [a], keepDims: true))).exp()
        return try e / e.sum(axes: [a], keepDims: true)
    }
}

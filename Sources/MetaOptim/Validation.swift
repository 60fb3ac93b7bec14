import MetaTensor

// Hyper-parameters are checked once, where a transformation is made, and every
// message names the optimizer and the argument, because the C ABI passes the
// message to Python as the text of the exception.

enum Check {
    static func finite(_ x: Float, _ name: String, _ op: String) throws {
        guard x.isFinite else { throw MetaError.argument("\(op): \(name) must be finite, got \(x)") }
    }

    /// Finite and >= 0 (learning rates, weight decay, epsilons).
    static func nonNegative(_ x: Float, _ name: String, _ op: String) throws {
        guard x.isFinite, x >= 0 else {
            throw MetaError.argument("\(op): \(name) must be finite and >= 0, got \(x)")
        }
    }

    /// Finite and > 0 (clipping norms).
    static func positive(_ x: Float, _ name: String, _ op: String) throws {
        guard x.isFinite, x > 0 else {
            throw MetaError.argument("\(op): \(name) must be finite and > 0, got \(x)")
        }
    }

    /// In [0, 1): decay rates of moving averages. At 1 the average never
    /// moves and Adam's bias correction divides by 1 − 1ᵗ = 0.
    static func decayRate(_ x: Float, _ name: String, _ op: String) throws {
        guard x >= 0, x < 1 else { throw MetaError.argument("\(op): \(name) must be in [0, 1), got \(x)") }
    }
}

/// Checks that `state` was made by a transformation of `kind` holding the
/// buffers `names`, each with one tensor per parameter shaped like it, and
/// returns those buffers in the order of `names`.
func checkState(_ state: OptimizerState, kind: String, buffers names: [String], params: [Tensor]) throws -> [[Tensor]] {
    guard state.kind == kind else {
        throw MetaError.argument("\(kind): the optimizer state was made by \(state.kind), not \(kind)")
    }
    guard state.buffers.count == names.count else {
        throw MetaError.argument("\(kind): the state has \(state.buffers.count) buffers, expected \(names.count) \(names)")
    }
    var out: [[Tensor]] = []
    for name in names {
        guard let ts = state.buffer(name) else {
            throw MetaError.argument("\(kind): the state has no buffer \"\(name)\"")
        }
        guard ts.count == params.count else {
            throw MetaError.argument("\(kind): state buffer \"\(name)\" holds \(ts.count) tensors for \(params.count) parameters")
        }
        for i in 0..<ts.count where ts[i].shape != params[i].shape {
            throw MetaError.shape("\(kind): state buffer \"\(name)\" tensor \(i) has shape \(ts[i].shape) but parameter \(i) has shape \(params[i].shape)")
        }
        out.append(ts)
    }
    return out
}

/// Zeros shaped like each parameter.
func zerosLike(_ params: [Tensor]) throws -> [Tensor] {
    try params.map { try Tensor.zeros($0.shape) }
}

/// A fresh tensor of `shape` and a pointer to fill it through. Only the
/// transformation that allocates it writes into it, before anyone else sees it.
func fresh(_ shape: [Int], count: Int) throws -> (Tensor, UnsafeMutablePointer<Float>) {
    let s = try Storage(uninitializedCount: count)
    return (try Tensor(storage: s, shape: shape), s.base)
}

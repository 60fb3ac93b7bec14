#if canImport(Glibc)
import Glibc
#endif
import MetaTensor
import MetaAutodiff
import MetaNN

/// The classifier a transfer learner trains on top of the encoder's
/// embeddings z (d-dimensional), for N classes. Parameters, in order:
///
/// - `linear`: W (d, N), b (N); logits = z·W + b. Both drawn as PyTorch's
///   `nn.Linear` default, U(±1/√d).
/// - `cosine(scale)` (Baseline++, Chen et al. 2019; weight-normalised, no
///   bias): v (d, N) drawn as W, and g (N) initialised to the column norms
///   ‖v_c‖ (PyTorch's `weight_norm` initialisation);
///   logits_c = scale · g_c · ⟨ẑ, v_c⟩ / ‖v_c‖ with ẑ = z / (‖z‖ + 1e-5).
///   This is MetaNN's `CosineLinear` (W (in, out), g (out), same formula,
///   same 1e-5), so a Baseline++ head and a pre-training head agree. The
///   official code's scale is 2 for up to 200 classes.
///
/// Two implementations of the same function: `logits(_:_:)` in differentiable
/// ops (FineTune trains through it, and it is the reference of the tests), and
/// `FrozenHead` below, with closed-form gradients over Float buffers, for
/// training a head on frozen embeddings (thousands of tiny steps per episode:
/// no tape per step).
public enum TransferHead: Equatable, Sendable {
    case linear
    case cosine(scale: Float)

    /// The recipe names of the heads.
    public static let names = ["linear", "cosine"]
    public var name: String { self == .linear ? "linear" : "cosine" }

    public func parameterSpecs(features d: Int, classes n: Int) -> [ParameterSpec] {
        switch self {
        case .linear: return [ParameterSpec("head.weight", [d, n]), ParameterSpec("head.bias", [n])]
        case .cosine: return [ParameterSpec("head.weight_v", [d, n]), ParameterSpec("head.weight_g", [n])]
        }
    }

    /// Fresh head parameters for d features and n classes, from `rng`: first
    /// the d·n weights row by row, then (linear) the n biases.
    public func initialParameters(features d: Int, classes n: Int, rng: inout RNG) throws -> [Tensor] {
        let bound = 1 / Float(d).squareRoot()
        let w = try Tensor.uniform([d, n], low: -bound, high: bound, rng: &rng)
        switch self {
        case .linear:
            return [w, try Tensor.uniform([n], low: -bound, high: bound, rng: &rng)]
        case .cosine:
            let v = w.scalars
            let g = (0..<n).map { c in (0..<d).reduce(Float(0)) { $0 + v[$1 * n + c] * v[$1 * n + c] }.squareRoot() }
            return [w, try Tensor(shape: [n], scalars: g)]
        }
    }

    /// The logits (B, N) of embeddings z (B, d), in differentiable ops: MetaNN's
    /// `Linear` and `CosineLinear` layers themselves (whose norms are
    /// √(Σ² + 1e-24), differentiable at a zero embedding).
    public func logits(_ params: [Variable], _ z: Variable) throws -> Variable {
        guard z.rank == 2, params.count == 2, params[0].rank == 2 else {
            throw MetaError.shape("TransferHead: expected embeddings (B, d) and two head parameters, got \(z.shape)")
        }
        let (d, n) = (params[0].shape[0], params[0].shape[1])
        switch self {
        case .linear:
            return try Linear(inputs: d, outputs: n)([params[0], params[1]], z)
        case .cosine(let scale):
            return try CosineLinear(inputs: d, outputs: n, scale: scale)([params[0], params[1].reshaped([n, 1])], z)
        }
    }
}

/// A head trained on frozen features with closed-form gradients, over Float
/// buffers: `features` are the embeddings as the head sees them (z for the
/// linear head, ẑ = z/(‖z‖ + 1e-5) for the cosine one, see `prepare`).
struct FrozenHead {
    let head: TransferHead
    let d: Int
    let n: Int

    /// The rows of z (count, d) as the head consumes them.
    func prepare(_ z: [Float], count: Int) -> [Float] {
        guard case .cosine = head else { return z }
        var out = z
        for i in 0..<count {
            var s: Float = 0
            for k in 0..<d { s += z[i * d + k] * z[i * d + k] }
            let inv = 1 / (s.squareRoot() + 1e-5)
            for k in 0..<d { out[i * d + k] = z[i * d + k] * inv }
        }
        return out
    }

    /// Logits (rows.count, n) of the prepared feature rows `rows`.
    func logits(_ p: [[Float]], _ x: UnsafeBufferPointer<Float>, rows: some Collection<Int>) -> [Float] {
        var out = [Float](repeating: 0, count: rows.count * n)
        let w = p[0], second = p[1]
        var factor = [Float](repeating: 1, count: n), bias = [Float](repeating: 0, count: n)
        switch head {
        case .linear:
            bias = second
        case .cosine(let scale):
            for c in 0..<n {
                var s: Float = 0
                for k in 0..<d { s += w[k * n + c] * w[k * n + c] }
                factor[c] = second[c] / s.squareRoot() * scale
            }
        }
        for (r, i) in rows.enumerated() {
            for c in 0..<n {
                var s: Float = 0
                for k in 0..<d { s += x[i * d + k] * w[k * n + c] }
                out[r * n + c] = s * factor[c] + bias[c]
            }
        }
        return out
    }

    /// The mean softmax cross-entropy of the rows `rows` (labels `labels[i]`)
    /// and its gradient with respect to each head parameter.
    func lossAndGrad(_ p: [[Float]], _ x: UnsafeBufferPointer<Float>, rows: ArraySlice<Int>,
                     labels: [Int]) -> (loss: Float, grads: [[Float]]) {
        let b = rows.count
        var z = logits(p, x, rows: rows)
        var loss: Float = 0
        // z becomes δ = (softmax − one-hot) / B, the gradient of the loss with respect to the logits.
        for (r, i) in rows.enumerated() {
            var top = -Float.infinity
            for c in 0..<n { top = max(top, z[r * n + c]) }
            var sum: Float = 0
            for c in 0..<n { sum += expf(z[r * n + c] - top) }
            let y = labels[i]
            loss += (top + logf(sum)) - z[r * n + y]
            for c in 0..<n { z[r * n + c] = (expf(z[r * n + c] - top) / sum - (c == y ? 1 : 0)) / Float(b) }
        }
        var gw = [Float](repeating: 0, count: d * n), g2 = [Float](repeating: 0, count: n)
        switch head {
        case .linear:
            for (r, i) in rows.enumerated() {
                for c in 0..<n {
                    let delta = z[r * n + c]
                    g2[c] += delta
                    for k in 0..<d { gw[k * n + c] += x[i * d + k] * delta }
                }
            }
        case .cosine(let scale):
            // logit_c = s g_c a_c, a_c = ⟨ẑ, v_c⟩/‖v_c‖: ∂/∂g_c = s Σ δ_c a_c, and with
            // e_c = s g_c Σ δ_c ẑ, ∂/∂v_c = (e_c − ⟨e_c, v_c⟩ v_c / ‖v_c‖²) / ‖v_c‖.
            let w = p[0], g = p[1]
            for c in 0..<n {
                var nn: Float = 0
                for k in 0..<d { nn += w[k * n + c] * w[k * n + c] }
                let norm = nn.squareRoot()
                var e = [Float](repeating: 0, count: d)
                var dg: Float = 0
                for (r, i) in rows.enumerated() {
                    let delta = z[r * n + c]
                    var dot: Float = 0
                    for k in 0..<d { dot += x[i * d + k] * w[k * n + c] }
                    dg += delta * dot / norm
                    for k in 0..<d { e[k] += delta * x[i * d + k] }
                }
                g2[c] = scale * dg
                let sg = scale * g[c]
                var ev: Float = 0
                for k in 0..<d { e[k] *= sg; ev += e[k] * w[k * n + c] }
                for k in 0..<d { gw[k * n + c] = (e[k] - ev * w[k * n + c] / nn) / norm }
            }
        }
        return (loss / Float(b), [gw, g2])
    }
}

/// PyTorch's `torch.optim.SGD` with momentum, dampening and weight decay, on
/// Float buffers: d = grad + wd·p; with momentum, buf = d on the first step
/// and momentum·buf + (1 − dampening)·d after, and d = buf; then p −= lr·d.
public struct TorchSGD: Sendable {
    public var lr: Float
    public var momentum: Float
    public var dampening: Float
    public var weightDecay: Float

    public init(lr: Float, momentum: Float = 0, dampening: Float = 0, weightDecay: Float = 0) {
        self.lr = lr
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
    }

    /// One step of parameter `p` with gradient `g` and momentum buffer `buf`
    /// (empty before the first step).
    public func step(_ p: inout [Float], _ g: [Float], _ buf: inout [Float], lr: Float? = nil) {
        let rate = lr ?? self.lr
        let first = buf.isEmpty
        if first && momentum != 0 { buf = [Float](repeating: 0, count: p.count) }
        for k in 0..<p.count {
            var d = g[k] + weightDecay * p[k]
            if momentum != 0 {
                buf[k] = first ? d : momentum * buf[k] + (1 - dampening) * d
                d = buf[k]
            }
            p[k] = p[k] + (-rate) * d
        }
    }
}

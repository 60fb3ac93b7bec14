#if canImport(Glibc)
import Glibc
#endif
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData

/// The linear probe of Tian, Wang, Krishnan, Tenenbaum & Isola, "Rethinking
/// Few-Shot Image Classification: a Good Embedding Is All You Need?", ECCV
/// 2020: a pre-trained encoder, frozen; per episode a multinomial logistic
/// regression on the L2-normalised support embeddings.
///
/// With x = z/‖z‖ (a zero embedding stays zero), W (d, N) and b (N), it
/// minimises scikit-learn's objective for
/// `LogisticRegression(C=C, penalty='l2', fit_intercept=True)` (multinomial):
///
///     ½‖W‖²_F + C · Σ_i CE(softmax(x_i·W + b), y_i)       (b not penalised)
///
/// from zero, natively with L-BFGS in Double (`LBFGS`: history 10, strong
/// Wolfe line search, gradient tolerance 1e-9 relative, at most `maxIter`
/// iterations). The objective is strictly convex in W; b is fixed up to a
/// constant, and from zero every step keeps Σ_c b_c = 0, the solution
/// scikit-learn reports. Query logits are x·W + b. Tian et al. use C = 1.
///
/// Embeddings come from one inference forward of support and query (running
/// statistics when `buffers` are given, as `Baseline`). It does not
/// meta-train; `adapt` returns the encoder's parameters unchanged.
public struct LogisticProbe: FrozenEncoderClassifier {
    public let encoder: any Model
    public let C: Double
    public let maxIter: Int
    public let pool: WorkerPool

    public init(encoder: any Model, C: Double = 1, maxIter: Int = 1000, pool: WorkerPool = .shared) throws {
        guard C.isFinite, C > 0 else { throw MetaError.argument("C must be finite and > 0, got \(C)") }
        try Check.steps(maxIter, "max_iter")
        self.encoder = encoder
        self.C = C
        self.maxIter = maxIter
        self.pool = pool
    }

    /// Rows divided by their norm (zero rows stay zero), in Double.
    static func normalized(_ z: Tensor) -> [Double] {
        let (n, d) = (z.shape[0], z.shape[1])
        var x = z.scalars.map(Double.init)
        for i in 0..<n {
            var s = 0.0
            for k in 0..<d { s += x[i * d + k] * x[i * d + k] }
            let inv = s > 0 ? 1 / s.squareRoot() : 0
            for k in 0..<d { x[i * d + k] *= inv }
        }
        return x
    }

    public func fitHead(_ z: Tensor, labels: [Int], ways: Int) throws -> (initial: [Tensor], fitted: [Tensor]) {
        let (w, b) = try fit(z, labels: labels, ways: ways)
        return ([try Tensor.zeros(w.shape), try Tensor.zeros(b.shape)], [w, b])
    }

    /// W (d, N) and b (N) fitted to the embeddings `z` (S, d) with labels 0..<`ways`.
    public func fit(_ z: Tensor, labels: [Int], ways n: Int) throws -> (weight: Tensor, bias: Tensor) {
        let (s, d) = (z.shape[0], z.shape[1])
        let x = LogisticProbe.normalized(z)
        let c = C
        let solver = LBFGS(history: 10, maxIterations: maxIter, gradientTolerance: 1e-9)
        let result = try solver.minimize(from: [Double](repeating: 0, count: d * n + n)) { theta in
            var value = 0.0
            var grad = [Double](repeating: 0, count: d * n + n)
            for k in 0..<(d * n) { value += 0.5 * theta[k] * theta[k]; grad[k] = theta[k] }
            var logits = [Double](repeating: 0, count: n)
            for i in 0..<s {
                for j in 0..<n {
                    var t = theta[d * n + j]
                    for k in 0..<d { t += x[i * d + k] * theta[k * n + j] }
                    logits[j] = t
                }
                let top = logits.max()!
                var sum = 0.0
                for j in 0..<n { sum += exp(logits[j] - top) }
                value += c * (top + log(sum) - logits[labels[i]])
                for j in 0..<n {
                    let delta = c * (exp(logits[j] - top) / sum - (j == labels[i] ? 1 : 0))
                    grad[d * n + j] += delta
                    for k in 0..<d { grad[k * n + j] += delta * x[i * d + k] }
                }
            }
            return (value, grad)
        }
        let theta = result.x.map { Float($0) }
        return (try Tensor(shape: [d, n], scalars: Array(theta[0..<(d * n)])),
                try Tensor(shape: [n], scalars: Array(theta[(d * n)...])))
    }

    public func episodeLogits(_ metaParams: [Tensor], supportX: Tensor, supportY: Tensor, queryX: Tensor,
                              buffers: [Tensor]?) throws -> Tensor {
        let (labels, ways, zs, zq) = try embeddedEpisode(metaParams, supportX: supportX, supportY: supportY,
                                                         queryX: queryX, buffers: buffers)
        let (w, b) = try fit(zs, labels: labels, ways: ways)
        let m = zq.shape[0], d = zq.shape[1]
        let x = LogisticProbe.normalized(zq)
        let (ws, bs) = (w.scalars.map(Double.init), b.scalars.map(Double.init))
        var out = [Float](repeating: 0, count: m * ways)
        for i in 0..<m {
            for j in 0..<ways {
                var t = bs[j]
                for k in 0..<d { t += x[i * d + k] * ws[k * ways + j] }
                out[i * ways + j] = Float(t)
            }
        }
        return try Tensor(shape: [m, ways], scalars: out)
    }
}

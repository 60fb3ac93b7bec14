import Glibc
import MetaTensor

/// Hand-written ProtoNet loss and gradient for a linear encoder e = x·W + b
/// with squared Euclidean distance, in Double, from the definitions (no
/// ‖q‖² − 2q·p + ‖p‖² expansion, no matrix products).
///
/// L = (1/M) Σ_q [d(q, y_q) + log Σ_c exp(−d(q, c))] with d(q, c) = ‖e_q − p_c‖².
/// G[q][c] = ∂L/∂d(q, c) = (1/M)(δ(c, y_q) − softmax(−d(q, ·))_c).
/// ∂L/∂e_q = Σ_c G[q][c]·2(e_q − p_c); ∂L/∂p_c = −Σ_q G[q][c]·2(e_q − p_c), and a
/// support example of class c receives ∂L/∂p_c / |S_c|. Then
/// ∂L/∂W = Σ_i x_i ⊗ ∂L/∂e_i and ∂L/∂b = Σ_i ∂L/∂e_i over support and query.
struct ProtoReference {
    let w: [[Double]]  // (in, out)
    let b: [Double]

    init(_ params: [Tensor]) {
        let (i, o) = (params[0].shape[0], params[0].shape[1])
        let s = params[0].scalars.map(Double.init)
        w = (0..<i).map { r in (0..<o).map { s[r * o + $0] } }
        b = params[1].scalars.map(Double.init)
    }

    static func rows(_ x: Tensor) -> [[Double]] {
        let d = x.shape[1], s = x.scalars.map(Double.init)
        return (0..<x.shape[0]).map { r in (0..<d).map { s[r * d + $0] } }
    }

    func embed(_ x: [Double]) -> [Double] {
        (0..<b.count).map { j in b[j] + x.indices.reduce(0) { $0 + x[$1] * w[$1][j] } }
    }

    /// (logits −d (M × N), loss, dW, db).
    func lossAndGrad(supportX: Tensor, supportY: [Int], queryX: Tensor, queryY: [Int])
        -> ([[Double]], Double, [[Double]], [Double]) {
        let xs = Self.rows(supportX), xq = Self.rows(queryX)
        let es = xs.map(embed), eq = xq.map(embed)
        let n = supportY.max()! + 1, m = xq.count, dim = b.count
        var protos = [[Double]](repeating: [Double](repeating: 0, count: dim), count: n)
        var counts = [Double](repeating: 0, count: n)
        for (e, y) in zip(es, supportY) {
            counts[y] += 1
            for j in 0..<dim { protos[y][j] += e[j] }
        }
        for c in 0..<n { for j in 0..<dim { protos[c][j] /= counts[c] } }
        let dist = eq.map { e in protos.map { p in zip(e, p).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } } }
        var loss = 0.0
        var g = [[Double]](repeating: [Double](repeating: 0, count: n), count: m)
        for q in 0..<m {
            let z = dist[q].map { -$0 }
            let mx = z.max()!
            let lse = mx + Glibc.log(z.reduce(0) { $0 + Glibc.exp($1 - mx) })
            loss += (lse - z[queryY[q]]) / Double(m)
            for c in 0..<n { g[q][c] = ((c == queryY[q] ? 1 : 0) - Glibc.exp(z[c] - lse)) / Double(m) }
        }
        var dEq = [[Double]](repeating: [Double](repeating: 0, count: dim), count: m)
        var dP = [[Double]](repeating: [Double](repeating: 0, count: dim), count: n)
        for q in 0..<m {
            for c in 0..<n {
                for j in 0..<dim {
                    let t = g[q][c] * 2 * (eq[q][j] - protos[c][j])
                    dEq[q][j] += t
                    dP[c][j] -= t
                }
            }
        }
        let dEs = supportY.map { y in dP[y].map { $0 / counts[y] } }
        var dW = [[Double]](repeating: [Double](repeating: 0, count: dim), count: w.count)
        var db = [Double](repeating: 0, count: dim)
        for (x, de) in zip(xs + xq, dEs + dEq) {
            for j in 0..<dim {
                db[j] += de[j]
                for i in 0..<w.count { dW[i][j] += x[i] * de[j] }
            }
        }
        return (dist.map { $0.map { -$0 } }, loss, dW, db)
    }
}

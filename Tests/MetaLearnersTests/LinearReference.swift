import MetaTensor
import MetaData
import _TestSupport

/// Hand-written MAML for linear regression y = x·W + b with MSE, in Double.
///
/// With the bias folded into an augmented input column, L(w) = 1/n ‖Xw − y‖²,
/// ∇L = 2/n Xᵀ(Xw − y) and ∇²L = 2/n XᵀX. One inner step gives
/// w' = w − α∇L_s(w); the exact meta-gradient is (I − α∇²L_s)·∇L_q(w'), the
/// first-order one is ∇L_q(w'). Several steps chain the Jacobians.
struct LinearReference {
    let alpha: Double

    static func augmented(_ x: Tensor) -> [[Double]] {
        let d = x.shape[1]
        let v = x.scalars.map(Double.init)
        return (0..<x.shape[0]).map { i in (0..<d).map { v[i * d + $0] } + [1] }
    }

    static func grad(_ x: [[Double]], _ y: [Double], _ w: [Double]) -> [Double] {
        let n = Double(x.count)
        var g = [Double](repeating: 0, count: w.count)
        for (row, t) in zip(x, y) {
            let r = zip(row, w).reduce(0) { $0 + $1.0 * $1.1 } - t
            for j in 0..<w.count { g[j] += 2 / n * row[j] * r }
        }
        return g
    }

    static func loss(_ x: [[Double]], _ y: [Double], _ w: [Double]) -> Double {
        zip(x, y).reduce(0) { acc, p in
            let r = zip(p.0, w).reduce(0) { $0 + $1.0 * $1.1 } - p.1
            return acc + r * r
        } / Double(x.count)
    }

    /// (I − α H) v with H = 2/n XᵀX.
    static func jacobianTransposeTimes(_ x: [[Double]], alpha: Double, _ v: [Double]) -> [Double] {
        let n = Double(x.count)
        var out = v
        for row in x {
            let rv = zip(row, v).reduce(0) { $0 + $1.0 * $1.1 }
            for j in 0..<v.count { out[j] -= alpha * 2 / n * row[j] * rv }
        }
        return out
    }

    /// (query loss after `steps` steps, exact meta-gradient, first-order meta-gradient, adapted w).
    func metaGradient(_ task: Task, w: [Double], steps: Int) -> (Double, [Double], [Double], [Double]) {
        let xs = Self.augmented(task.supportX), ys = task.supportY.scalars.map(Double.init)
        let xq = Self.augmented(task.queryX), yq = task.queryY.scalars.map(Double.init)
        var cur = w
        for _ in 0..<steps {
            let g = Self.grad(xs, ys, cur)
            cur = zip(cur, g).map { $0 - alpha * $1 }
        }
        let gq = Self.grad(xq, yq, cur)
        var exact = gq
        for _ in 0..<steps { exact = Self.jacobianTransposeTimes(xs, alpha: alpha, exact) }
        return (Self.loss(xq, yq, cur), exact, gq, cur)
    }
}

/// A small linear-regression task with `d` inputs.
func linearTask(_ rng: inout TestRandom, d: Int, shots: Int = 6, queries: Int = 7) throws -> Task {
    let w = (0..<d).map { _ in rng.uniform(-2, 2) }
    func points(_ n: Int) throws -> (Tensor, Tensor) {
        let x = rng.tensor([n, d])
        let xs = x.scalars
        let y = (0..<n).map { i in (0..<d).reduce(Float(0.3)) { $0 + xs[i * d + $1] * w[$1] } + rng.uniform(-0.1, 0.1) }
        return (x, try Tensor(shape: [n, 1], scalars: y))
    }
    let (a, b) = try points(shots), (c, e) = try points(queries)
    return try Task(supportX: a, supportY: b, queryX: c, queryY: e)
}

/// Limited-memory BFGS (Nocedal & Wright, "Numerical Optimization", 2nd ed.,
/// Algorithm 7.4 with the two-loop recursion 7.5), in Double, with a line
/// search satisfying the strong Wolfe conditions (Algorithms 3.5 and 3.6;
/// c1 = 1e-4, c2 = 0.9) and the initial Hessian γI, γ = sᵀy / yᵀy.
///
/// Trap: near the minimum the decrease a step promises (c1·α·∇fᵀp, of the
/// order of ‖∇f‖²) falls below the rounding of f itself, and the Armijo test
/// fails on noise. There the line search takes Hager & Zhang's approximate
/// Wolfe conditions instead (f(α) ≤ f(0) + 1e-10·|f(0)| and
/// f'(α) ≤ (2c1 − 1)·f'(0)), which rest on the derivative, still accurate.
///
/// Stops when the largest gradient component is at most `gradientTolerance`
/// times max(1, that of the starting point), after `maxIterations`
/// iterations, or when the line search can make no more progress (the
/// objective is then flat to rounding).
struct LBFGS {
    var history = 10
    var maxIterations = 1000
    var gradientTolerance = 1e-6

    struct Result {
        var x: [Double]
        var value: Double
        var iterations: Int
        var converged: Bool
    }

    func minimize(from start: [Double], _ f: ([Double]) throws -> (Double, [Double])) throws -> Result {
        var x = start
        var (fx, g) = try f(x)
        let tolerance = gradientTolerance * max(1, maxAbs(g))
        var ss: [[Double]] = [], ys: [[Double]] = [], rhos: [Double] = []
        var iteration = 0
        while iteration < maxIterations {
            if maxAbs(g) <= tolerance { return Result(x: x, value: fx, iterations: iteration, converged: true) }
            iteration += 1
            // Two-loop recursion: direction = −H g.
            var q = g
            var alphas = [Double](repeating: 0, count: ss.count)
            for i in stride(from: ss.count - 1, through: 0, by: -1) {
                alphas[i] = rhos[i] * dot(ss[i], q)
                axpy(-alphas[i], ys[i], &q)
            }
            let gamma = ss.isEmpty ? 1 / max(1, norm(g)) : dot(ss.last!, ys.last!) / dot(ys.last!, ys.last!)
            for k in q.indices { q[k] *= gamma }
            for i in 0..<ss.count {
                let beta = rhos[i] * dot(ys[i], q)
                axpy(alphas[i] - beta, ss[i], &q)
            }
            var direction = q.map { -$0 }
            var slope = dot(g, direction)
            if !(slope < 0) {  // not a descent direction (rounding): restart from steepest descent
                ss = []; ys = []; rhos = []
                direction = g.map { -$0 / max(1, norm(g)) }
                slope = dot(g, direction)
                if !(slope < 0) { break }
            }
            guard let (step, fNew, gNew) = try lineSearch(f, x: x, fx: fx, g: g, direction: direction, slope: slope) else {
                break
            }
            let s = direction.map { $0 * step }
            var y = gNew
            axpy(-1, g, &y)
            let sy = dot(s, y)
            for k in x.indices { x[k] += s[k] }
            (fx, g) = (fNew, gNew)
            if sy > 1e-12 * norm(s) * norm(y) {
                ss.append(s); ys.append(y); rhos.append(1 / sy)
                if ss.count > history { ss.removeFirst(); ys.removeFirst(); rhos.removeFirst() }
            }
        }
        return Result(x: x, value: fx, iterations: iteration, converged: maxAbs(g) <= tolerance)
    }

    /// A step length satisfying the strong Wolfe conditions along `direction`,
    /// with the objective and gradient there; nil when none is found.
    private func lineSearch(_ f: ([Double]) throws -> (Double, [Double]), x: [Double], fx: Double, g: [Double],
                            direction: [Double], slope: Double) throws -> (Double, Double, [Double])? {
        let c1 = 1e-4, c2 = 0.9
        func at(_ a: Double) throws -> (Double, [Double], Double) {
            var p = x
            axpy(a, direction, &p)
            let (v, gr) = try f(p)
            return (v, gr, dot(gr, direction))
        }
        let noise = 1e-10 * abs(fx)
        /// Not a sufficient decrease (Armijo, or approximately near the minimum).
        func fails(_ a: Double, _ v: Double, _ d: Double) -> Bool {
            guard v.isFinite else { return true }
            if v <= fx + c1 * a * slope { return false }
            return !(v <= fx + noise && d <= (2 * c1 - 1) * slope)
        }
        func zoom(_ lo0: Double, _ hi0: Double, _ fLo0: Double) throws -> (Double, Double, [Double])? {
            var (lo, hi, fLo) = (lo0, hi0, fLo0)
            for _ in 0..<50 {
                let a = (lo + hi) / 2
                let (v, gr, d) = try at(a)
                if fails(a, v, d) || (v >= fLo && v > fx + c1 * a * slope) {
                    hi = a
                } else {
                    if abs(d) <= -c2 * slope { return (a, v, gr) }
                    if d * (hi - lo) >= 0 { hi = lo }
                    (lo, fLo) = (a, v)
                }
                if abs(hi - lo) <= 1e-16 * max(1, abs(lo)) { break }
            }
            // The best sufficient-decrease point found, if it moved at all.
            if lo > 0 { let (v, gr, _) = try at(lo); return (lo, v, gr) }
            return nil
        }
        var previous = 0.0, fPrevious = fx
        var a = 1.0
        for i in 0..<40 {
            let (v, gr, d) = try at(a)
            if fails(a, v, d) || (i > 0 && v >= fPrevious && v > fx + c1 * a * slope) {
                return try zoom(previous, a, fPrevious)
            }
            if abs(d) <= -c2 * slope { return (a, v, gr) }
            if d >= 0 { return try zoom(a, previous, v) }
            (previous, fPrevious) = (a, v)
            a *= 2
        }
        return nil
    }
}

func dot(_ a: [Double], _ b: [Double]) -> Double {
    var s = 0.0
    for k in a.indices { s += a[k] * b[k] }
    return s
}

func norm(_ a: [Double]) -> Double { dot(a, a).squareRoot() }

func maxAbs(_ a: [Double]) -> Double { a.reduce(0) { max($0, abs($1)) } }

/// y += a·x
func axpy(_ a: Double, _ x: [Double], _ y: inout [Double]) {
    for k in y.indices { y[k] += a * x[k] }
}

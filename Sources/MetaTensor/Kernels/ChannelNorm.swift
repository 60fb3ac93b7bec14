/// Batch-normalisation kernels for channels-last data: x is read as a matrix
/// (R, C) whose rows are all positions (n, h, w) and whose columns are the
/// channels, so every pass is a streaming read along rows with C-wide SIMD
/// arithmetic, and statistics are per column.
///
///     μ = mean(x),  s = 1/√(var(x) + ε)  (biased variance),  x̂ = (x − μ)·s
///     forward:   y = γ·x̂ + β
///     backward:  dx = γ·s·(g − mean(g) − x̂·mean(g·x̂)),  dγ = Σ g·x̂,  dβ = Σ g
///
/// Sums run over blocks of rows in Float and are combined in Double, so a
/// channel of 80 000 positions keeps its digits. Rows are split into parts
/// for the worker pool (see `Parts`).
extension Tensor {
    /// (rows, channels) of a channels-last tensor, rank >= 2.
    func channelsLastMatrix(_ op: String) throws -> (Int, Int) {
        guard rank >= 2, let c = shape.last else {
            throw MetaError.shape("\(op): input must have rank >= 2 with channels last, got \(shape)")
        }
        return (c == 0 ? 0 : count / c, c)
    }

    /// Per-channel mean and 1/√(biased variance + eps) over every axis but the last.
    public func channelStatistics(eps: Float) throws -> (mean: Tensor, invStd: Tensor) {
        let (r, c) = try channelsLastMatrix("channelStatistics")
        guard r > 0 else { throw MetaError.shape("channelStatistics: no rows in \(shape)") }
        let x = storage.base
        let sums = try columnSums(rows: r, channels: c) { acc, rows in
            for row in rows { addFloats(acc, x + row &* c, c) }
        }
        let mean = try Tensor.make(shape: [c]) { p, _ in for j in 0..<c { p[j] = Float(sums[j] / Double(r)) } }
        let mp = mean.storage.base
        let squares = try columnSums(rows: r, channels: c) { acc, rows in
            for row in rows { squaredDeviations(acc, x + row &* c, mp, c) }
        }
        let invStd = try Tensor.make(shape: [c]) { p, _ in
            for j in 0..<c { p[j] = Float(1 / (squares[j] / Double(r) + Double(eps)).squareRoot()) }
        }
        return (mean, invStd)
    }

    /// Σ over all axes but the last: (C).
    public func channelSums() throws -> Tensor {
        let (r, c) = try channelsLastMatrix("channelSums")
        let x = storage.base
        let sums = try columnSums(rows: r, channels: c) { acc, rows in
            for row in rows { addFloats(acc, x + row &* c, c) }
        }
        return try Tensor.make(shape: [c]) { p, _ in for j in 0..<c { p[j] = Float(sums[j]) } }
    }

    /// γ·(x − μ)·s + β per channel, with μ, s from `channelStatistics`.
    public func channelNormalized(mean: Tensor, invStd: Tensor, gamma: Tensor, beta: Tensor) throws -> Tensor {
        let (r, c) = try channelsLastMatrix("channelNormalized")
        for (name, t) in [("mean", mean), ("invStd", invStd), ("gamma", gamma), ("beta", beta)] where t.shape != [c] {
            throw MetaError.shape("channelNormalized: \(name) must have shape [\(c)], got \(t.shape)")
        }
        // y = (x − μ)·a + β with a = γ·s (x − μ first: no cancellation for a large mean).
        var a = [Float](repeating: 0, count: c)
        for j in 0..<c { a[j] = gamma.storage.base[j] * invStd.storage.base[j] }
        let y = try Tensor.make(shape: shape) { _, _ in }
        let x = storage.base, yp = y.storage.base, mp = mean.storage.base, bp = beta.storage.base
        try a.withUnsafeBufferPointer { ap in
            let parts = Parts.count(units: r, costPerUnit: c)
            _ = try Parts.run(parts) { p in
                for row in Parts.range(p, of: parts, units: r) {
                    affineRow(yp + row &* c, x + row &* c, mp, ap.baseAddress!, bp, c)
                }
                return 0
            }
        }
        return y
    }

    /// (2, C): row 0 is Σ g·x̂ (dγ), row 1 is Σ g (dβ), over all rows.
    public static func channelNormSums(_ g: Tensor, _ x: Tensor, mean: Tensor, invStd: Tensor) throws -> Tensor {
        let (r, c) = try x.channelsLastMatrix("channelNormSums")
        guard g.shape == x.shape, mean.shape == [c], invStd.shape == [c] else {
            throw MetaError.shape("channelNormSums: g \(g.shape), x \(x.shape), statistics \(mean.shape), \(invStd.shape) disagree")
        }
        let gp = g.storage.base, xp = x.storage.base, mp = mean.storage.base, sp = invStd.storage.base
        // One pass: the first C accumulators take g·x̂, the next C take g.
        let sums = try columnSums(rows: r, channels: 2 &* c) { acc, rows in
            for row in rows { normSumsRow(acc, gp + row &* c, xp + row &* c, mp, sp, c) }
        }
        return try Tensor.make(shape: [2, c]) { p, _ in for j in 0..<(2 &* c) { p[j] = Float(sums[j]) } }
    }

    /// dx = γ·s·(g − Σg/R − x̂·Σ(g·x̂)/R) per channel, given `sums` from `channelNormSums`.
    public static func channelNormBackward(_ g: Tensor, _ x: Tensor, mean: Tensor, invStd: Tensor, gamma: Tensor,
                                           sums: Tensor) throws -> Tensor {
        let (r, c) = try x.channelsLastMatrix("channelNormBackward")
        guard g.shape == x.shape, mean.shape == [c], invStd.shape == [c], gamma.shape == [c], sums.shape == [2, c] else {
            throw MetaError.shape("channelNormBackward: g \(g.shape), x \(x.shape), statistics and gamma disagree")
        }
        // dx = A·g + B·(x − μ) + D with k = γ·s: A = k, B = −k·s·mean(g·x̂), D = −k·mean(g).
        var a = [Float](repeating: 0, count: c), b = a, d = a
        for j in 0..<c {
            let s = invStd.storage.base[j], k = gamma.storage.base[j] * s
            let mgx = sums.storage.base[j] / Float(r), mg = sums.storage.base[c &+ j] / Float(r)
            a[j] = k
            b[j] = -k * s * mgx
            d[j] = -k * mg
        }
        let dx = try Tensor.make(shape: x.shape) { _, _ in }
        let gp = g.storage.base, xp = x.storage.base, dp = dx.storage.base, mp = mean.storage.base
        try a.withUnsafeBufferPointer { ap in try b.withUnsafeBufferPointer { bp in try d.withUnsafeBufferPointer { dq in
            let parts = Parts.count(units: r, costPerUnit: c)
            _ = try Parts.run(parts) { p in
                for row in Parts.range(p, of: parts, units: r) {
                    backwardRow(dp + row &* c, gp + row &* c, xp + row &* c, mp, ap.baseAddress!, bp.baseAddress!,
                                dq.baseAddress!, c)
                }
                return 0
            }
        } } }
        return dx
    }
}

/// Column sums of a (rows × width) computation: `body(acc, rows)` adds the
/// given rows into `acc` (width floats, zeroed). Rows go in blocks whose Float
/// sums are added into Double totals; parts' totals are added in part order.
func columnSums(rows r: Int, channels width: Int,
                _ body: (UnsafeMutablePointer<Float>, Range<Int>) -> Void) throws -> [Double] {
    let block = 64
    let parts = Parts.count(units: (r + block - 1) / block, costPerUnit: block * width)
    let partials = try Parts.run(parts) { p -> [Double] in
        var total = [Double](repeating: 0, count: width)
        let acc = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(width, 1))
        defer { acc.deallocate() }
        let blocks = Parts.range(p, of: parts, units: (r + block - 1) / block)
        for bi in blocks {
            zeroFloats(acc, width)
            body(acc, (bi &* block)..<Swift.min(r, (bi &+ 1) &* block))
            for j in 0..<width { total[j] += Double(acc[j]) }
        }
        return total
    }
    var sum = partials[0]
    for q in partials.dropFirst() { for j in 0..<width { sum[j] += q[j] } }
    return sum
}

/// acc += (x − μ)².
@inline(__always)
func squaredDeviations(_ acc: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ m: UnsafePointer<Float>, _ n: Int) {
    var k = 0
    while k &+ 8 <= n {
        let d = load8(x + k) - load8(m + k)
        store8(multiplyAdd(load8(acc + k), d, d), acc + k)
        k &+= 8
    }
    while k < n { let d = x[k] - m[k]; acc[k] += d * d; k &+= 1 }
}

/// y = (x − m)·a + b.
@inline(__always)
func affineRow(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ m: UnsafePointer<Float>,
               _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) {
    var k = 0
    while k &+ 8 <= n { store8(multiplyAdd(load8(b + k), load8(x + k) - load8(m + k), load8(a + k)), y + k); k &+= 8 }
    while k < n { y[k] = (x[k] - m[k]) * a[k] + b[k]; k &+= 1 }
}

/// acc[0..<n] += g·(x − μ)·s, acc[n..<2n] += g.
@inline(__always)
func normSumsRow(_ acc: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                 _ m: UnsafePointer<Float>, _ s: UnsafePointer<Float>, _ n: Int) {
    var k = 0
    while k &+ 8 <= n {
        let gv = load8(g + k), xh = (load8(x + k) - load8(m + k)) * load8(s + k)
        store8(multiplyAdd(load8(acc + k), gv, xh), acc + k)
        store8(load8(acc + (n &+ k)) + gv, acc + (n &+ k))
        k &+= 8
    }
    while k < n { acc[k] += g[k] * ((x[k] - m[k]) * s[k]); acc[n &+ k] += g[k]; k &+= 1 }
}

/// dx = a·g + b·(x − m) + d.
@inline(__always)
func backwardRow(_ dx: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                 _ m: UnsafePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                 _ d: UnsafePointer<Float>, _ n: Int) {
    var k = 0
    while k &+ 8 <= n {
        let t = multiplyAdd(load8(d + k), load8(g + k), load8(a + k))
        store8(multiplyAdd(t, load8(x + k) - load8(m + k), load8(b + k)), dx + k)
        k &+= 8
    }
    while k < n { dx[k] = a[k] * g[k] + b[k] * (x[k] - m[k]) + d[k]; k &+= 1 }
}

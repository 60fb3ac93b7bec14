import MetaTensor

/// The mean of N values with the half-width of its normal-approximation 95%
/// confidence interval, as few-shot papers report test accuracy
/// ("mean ± halfWidth over 600 episodes"):
///
///     halfWidth = 1.96 · std / √N
///
/// `std` is the POPULATION standard deviation by default (divisor N, NumPy's
/// `np.std` with `ddof=0`), because that is what the reference code of the
/// field computes (`1.96 * np.std(accs) / np.sqrt(N)` in Finn et al.'s MAML,
/// Snell et al.'s ProtoNets and Chen et al.'s "A Closer Look"), so numbers
/// compare with published ones. The unbiased sample standard deviation
/// (divisor N − 1) is available with `ddof: 1`; the two differ by the factor
/// √(N / (N − 1)), 1.0008 at N = 600.
///
/// Trap: 1.96 is the normal quantile. For a handful of values (e.g. 5
/// cross-validation folds) the interval is too narrow; a Student-t quantile
/// (2.776 for 4 degrees of freedom) would be honest.
public struct MeanWithInterval: Sendable, Equatable, CustomStringConvertible {
    public let mean: Float
    /// Half-width of the 95% interval: the interval is mean ± halfWidth.
    public let halfWidth: Float
    /// Standard deviation of the values, with divisor N − ddof.
    public let std: Float
    public let count: Int
    /// The divisor offset `std` was computed with (0: population, 1: sample).
    public let ddof: Int

    public var lower: Float { mean - halfWidth }
    public var upper: Float { mean + halfWidth }

    public var description: String { "\(mean) ± \(halfWidth) (95% CI, n = \(count))" }
}

/// Mean and 95% confidence half-width of `values` (see `MeanWithInterval`).
/// Sums are accumulated in Double. Throws for no values, a non-finite value,
/// or a `ddof` outside 0..<values.count.
public func summarize(_ values: [Float], ddof: Int = 0) throws -> MeanWithInterval {
    guard !values.isEmpty else { throw MetaError.argument("summarize: values are empty") }
    guard ddof >= 0, ddof < values.count else {
        throw MetaError.argument("summarize: ddof must be in 0..<\(values.count) (the number of values), got \(ddof)")
    }
    for (i, v) in values.enumerated() where !v.isFinite {
        throw MetaError.argument("summarize: values[\(i)] is \(v)")
    }
    let n = Double(values.count)
    let mean = values.reduce(0.0) { $0 + Double($1) } / n
    // Two passes: the one-pass Σx² − N·mean² cancels badly for accuracies near 1.
    let squares = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) }
    let std = (squares / (n - Double(ddof))).squareRoot()
    return MeanWithInterval(mean: Float(mean), halfWidth: Float(1.96 * std / n.squareRoot()), std: Float(std),
                            count: values.count, ddof: ddof)
}

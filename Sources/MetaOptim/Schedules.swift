#if canImport(Glibc)
import Glibc
#endif
import MetaTensor

/// A learning-rate schedule: the rate of update t (t = 0 for the first
/// update), a pure function of t. `scaleBySchedule` reads t from its state's
/// update count, so a resumed optimizer state resumes its schedule too.
///
///     let lr = try Schedule.cosineDecay(peak: 3e-3, steps: 10_000, final: 1e-4, warmup: 100)
///     let opt = try GradientTransformation.adam(learningRate: lr)
///
/// Rates are computed in Double and rounded once to Float.
public struct Schedule: Sendable, CustomStringConvertible {
    public let description: String
    /// The value when the schedule never changes (then optimizers use the
    /// stateless `scaleByLearningRate`, bit for bit as with a plain number).
    public let constantValue: Float?
    private let body: @Sendable (Int) -> Double

    private init(_ description: String, constant: Float? = nil, _ body: @escaping @Sendable (Int) -> Double) {
        self.description = description
        self.constantValue = constant
        self.body = body
    }

    /// The learning rate of update `step` (0-based; negative counts as 0).
    public func callAsFunction(_ step: Int) -> Float { Float(body(max(0, step))) }

    /// η at every step.
    public static func constant(_ value: Float) throws -> Schedule {
        try Check.nonNegative(value, "value", "constant")
        return Schedule("constant(\(value))", constant: value) { _ in Double(value) }
    }

    /// Linear warm-up, then cosine annealing (Loshchilov & Hutter 2017, SGDR,
    /// without restarts): for t < w the rate is η·(t + 1)/w; then, with
    /// T = steps − w and s = min(t − w, T),
    ///
    ///     η_t = η_final + (η − η_final) · (1 + cos(π s / T)) / 2
    ///
    /// so it falls from η at t = w to η_final at t = steps and stays there.
    /// `steps` counts the warm-up (set it to the number of updates of the run).
    public static func cosineDecay(peak: Float, steps: Int, final: Float = 0, warmup: Int = 0) throws -> Schedule {
        let op = "cosineDecay"
        try Check.nonNegative(peak, "peak", op)
        try Check.nonNegative(final, "final", op)
        guard warmup >= 0 else { throw MetaError.argument("\(op): warmup must be >= 0, got \(warmup)") }
        guard steps > warmup else {
            throw MetaError.argument("\(op): steps must be > warmup (\(warmup)), got \(steps)")
        }
        let p = Double(peak), f = Double(final), w = warmup, span = Double(steps - warmup)
        return Schedule("cosineDecay(peak: \(peak), steps: \(steps), final: \(final), warmup: \(warmup))") { t in
            if t < w { return p * Double(t + 1) / Double(w) }
            let s = min(Double(t - w), span)
            return f + (p - f) * (1 + cos(Double.pi * s / span)) / 2
        }
    }

    /// η · rate^(t / every), or rate^⌊t / every⌋ with `staircase` (PyTorch's
    /// StepLR is the staircase form, ExponentialLR the case every = 1).
    /// `rate` in (0, 1].
    public static func exponentialDecay(initial: Float, rate: Float, every: Int = 1, staircase: Bool = false) throws -> Schedule {
        let op = "exponentialDecay"
        try Check.nonNegative(initial, "initial", op)
        guard rate > 0, rate <= 1 else { throw MetaError.argument("\(op): rate must be in (0, 1], got \(rate)") }
        guard every > 0 else { throw MetaError.argument("\(op): every must be > 0, got \(every)") }
        let i = Double(initial), r = Double(rate)
        return Schedule("exponentialDecay(initial: \(initial), rate: \(rate), every: \(every), staircase: \(staircase))") { t in
            let e = staircase ? Double(t / every) : Double(t) / Double(every)
            return i * pow(r, e)
        }
    }

    /// η until the first boundary, then `values[k]` from update `boundaries[k]`
    /// on (PyTorch's MultiStepLR with explicit values). Boundaries are
    /// strictly increasing and > 0, one value for each.
    public static func piecewiseConstant(initial: Float, boundaries: [Int], values: [Float]) throws -> Schedule {
        let op = "piecewiseConstant"
        try Check.nonNegative(initial, "initial", op)
        guard boundaries.count == values.count else {
            throw MetaError.argument("\(op): \(boundaries.count) boundaries but \(values.count) values; give one value per boundary")
        }
        for (k, b) in boundaries.enumerated() {
            guard b > (k == 0 ? 0 : boundaries[k - 1]) else {
                throw MetaError.argument("\(op): boundaries must be > 0 and strictly increasing, got \(boundaries)")
            }
        }
        for v in values { try Check.nonNegative(v, "values", op) }
        return Schedule("piecewiseConstant(initial: \(initial), boundaries: \(boundaries), values: \(values))") { t in
            var rate = initial
            for (b, v) in zip(boundaries, values) where t >= b { rate = v }
            return Double(rate)
        }
    }
}

extension GradientTransformation {
    /// u ← −η_t · u with η_t = schedule(t), t the number of updates taken
    /// before this one (kept in the state's count).
    public static func scaleBySchedule(_ schedule: Schedule) -> GradientTransformation {
        let kind = "scaleBySchedule"
        return GradientTransformation(
            description: "scaleBySchedule(\(schedule))",
            initialize: { _ in OptimizerState(kind: kind) },
            update: { grads, state, params in
                _ = try checkState(state, kind: kind, buffers: [], params: params)
                let rate = schedule(state.count)
                return (try grads.map { try $0.affine(scale: -rate, shift: 0) }, OptimizerState(kind: kind, count: state.count &+ 1))
            })
    }

    /// The last link of a named optimizer: the stateless `scaleByLearningRate`
    /// for a constant rate, `scaleBySchedule` otherwise.
    static func learningRate(_ schedule: Schedule) throws -> GradientTransformation {
        if let value = schedule.constantValue { return try .scaleByLearningRate(value) }
        return .scaleBySchedule(schedule)
    }
}

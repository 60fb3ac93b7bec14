import MetaSwift

/// What an `ms_optimizer` points to: an outer-loop optimizer as a pure
/// transformation (MetaOptim's `GradientTransformation`), with no state. A
/// trainer made from it starts its own state, so one optimizer handle can
/// serve several trainers. It also keeps how to rebuild itself with another
/// learning-rate schedule (`ms_optimizer_cosine` and its kin).
final class OptimizerObject: Handled {
    static let kind = HandleKind.optimizer
    typealias Rule = @Sendable (Schedule) throws -> GradientTransformation
    let transformation: GradientTransformation
    let schedule: Schedule
    private let rule: Rule

    init(schedule: Schedule, rule: @escaping Rule) throws {
        self.transformation = try rule(schedule)
        self.schedule = schedule
        self.rule = rule
    }

    /// The same rule and hyper-parameters with `schedule` as the learning rate.
    func rescheduled(_ schedule: Schedule) throws -> OptimizerObject {
        try OptimizerObject(schedule: schedule, rule: rule)
    }
}

/// Hyper-parameter checks with the header's argument names. MetaOptim checks
/// the same conditions, but names its own Swift arguments (`learningRate`);
/// checking here first gives messages in the caller's terms.
private enum Hyper {
    /// Finite and >= 0: learning rates, epsilons, weight decay, accumulators.
    static func nonNegative(_ x: Float, _ name: String) throws {
        guard x.isFinite, x >= 0 else { throw BridgeError.argument("\(name): must be finite and >= 0, got \(x)") }
    }

    /// In [0, 1): decay rates of moving averages and momentum.
    static func decay(_ x: Float, _ name: String) throws {
        guard x >= 0, x < 1 else { throw BridgeError.argument("\(name): must be in [0, 1), got \(x)") }
    }
}

/// Checks `lr` and the other hyper-parameters (`check`), then publishes the optimizer `rule` makes for a constant rate.
private func publish(_ out: UnsafeMutablePointer<OpaquePointer?>?, lr: Float, check: () throws -> Void,
                     _ rule: @escaping OptimizerObject.Rule) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        try Hyper.nonNegative(lr, "lr")
        try check()
        out.pointee = Handles.publish(try OptimizerObject(schedule: .constant(lr), rule: rule))
    }
}

@_cdecl("ms_sgd_new")
public func ms_sgd_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ lr: Float, _ momentum: Float,
                       _ nesterov: Int32) -> Int32 {
    publish(out, lr: lr, check: {
        try Hyper.decay(momentum, "momentum")
        if nesterov != 0 && momentum == 0 { throw BridgeError.argument("nesterov: needs momentum > 0") }
    }) { schedule in
        try .sgd(learningRate: schedule, momentum: momentum, nesterov: nesterov != 0)
    }
}

@_cdecl("ms_adam_new")
public func ms_adam_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ lr: Float, _ beta1: Float, _ beta2: Float,
                        _ eps: Float) -> Int32 {
    publish(out, lr: lr, check: {
        try Hyper.decay(beta1, "beta1")
        try Hyper.decay(beta2, "beta2")
        try Hyper.nonNegative(eps, "eps")
    }) { schedule in
        try .adam(learningRate: schedule, beta1: beta1, beta2: beta2, eps: eps)
    }
}

@_cdecl("ms_adamw_new")
public func ms_adamw_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ lr: Float, _ beta1: Float, _ beta2: Float,
                         _ eps: Float, _ weightDecay: Float) -> Int32 {
    publish(out, lr: lr, check: {
        try Hyper.decay(beta1, "beta1")
        try Hyper.decay(beta2, "beta2")
        try Hyper.nonNegative(eps, "eps")
        try Hyper.nonNegative(weightDecay, "weight_decay")
    }) { schedule in
        try .adamW(learningRate: schedule, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay)
    }
}

@_cdecl("ms_adagrad_new")
public func ms_adagrad_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ lr: Float, _ initialAccumulator: Float,
                           _ eps: Float) -> Int32 {
    publish(out, lr: lr, check: {
        try Hyper.nonNegative(initialAccumulator, "initial_accumulator")
        try Hyper.nonNegative(eps, "eps")
    }) { schedule in
        try .adagrad(learningRate: schedule, initialAccumulator: initialAccumulator, eps: eps)
    }
}

@_cdecl("ms_rmsprop_new")
public func ms_rmsprop_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ lr: Float, _ decay: Float, _ eps: Float,
                           _ momentum: Float) -> Int32 {
    publish(out, lr: lr, check: {
        try Hyper.decay(decay, "decay")
        try Hyper.nonNegative(eps, "eps")
        try Hyper.decay(momentum, "momentum")
    }) { schedule in
        try .rmsprop(learningRate: schedule, decay: decay, eps: eps, momentum: momentum)
    }
}

@_cdecl("ms_optimizer_free")
public func ms_optimizer_free(_ optimizer: OpaquePointer?) -> Int32 {
    guarded { try Handles.free(optimizer, as: OptimizerObject.self, "optimizer") }
}

// ---- Learning-rate schedules: a new optimizer with the rule and
// hyper-parameters of `base` and a schedule in place of its constant rate.

private func reschedule(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ base: OpaquePointer?,
                        _ make: () throws -> Schedule) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        let b = try Handles.resolve(base, as: OptimizerObject.self, "base")
        out.pointee = Handles.publish(try b.rescheduled(try make()))
    }
}

@_cdecl("ms_optimizer_cosine")
public func ms_optimizer_cosine(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ base: OpaquePointer?, _ peak: Float,
                                _ steps: Int64, _ final: Float, _ warmup: Int64) -> Int32 {
    reschedule(out, base) {
        try Hyper.nonNegative(peak, "lr")
        try Hyper.nonNegative(final, "final")
        let w = try Check.count(warmup, "warmup")
        let n = try Check.count(steps, "steps")
        guard n > w else { throw BridgeError.argument("steps: must be > warmup (\(w)), got \(n)") }
        return try .cosineDecay(peak: peak, steps: n, final: final, warmup: w)
    }
}

@_cdecl("ms_optimizer_exponential")
public func ms_optimizer_exponential(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ base: OpaquePointer?,
                                     _ initial: Float, _ rate: Float, _ every: Int64, _ staircase: Int32) -> Int32 {
    reschedule(out, base) {
        try Hyper.nonNegative(initial, "lr")
        guard rate > 0, rate <= 1 else { throw BridgeError.argument("rate: must be in (0, 1], got \(rate)") }
        guard every > 0 else { throw BridgeError.argument("every: must be >= 1, got \(every)") }
        return try .exponentialDecay(initial: initial, rate: rate, every: Int(every), staircase: staircase != 0)
    }
}

@_cdecl("ms_optimizer_piecewise")
public func ms_optimizer_piecewise(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ base: OpaquePointer?,
                                   _ initial: Float, _ boundaries: UnsafePointer<Int64>?,
                                   _ values: UnsafePointer<Float>?, _ count: Int64) -> Int32 {
    reschedule(out, base) {
        try Hyper.nonNegative(initial, "lr")
        let n = try Check.count(count, "count")
        let bs = n == 0 ? [] : try Check.sizes(boundaries, count: count, "boundaries")
        let vs = n == 0 ? [] : Array(try Check.floats(values, count: n, "values"))
        for (k, b) in bs.enumerated() where b <= (k == 0 ? 0 : bs[k - 1]) {
            throw BridgeError.argument("boundaries: must be > 0 and strictly increasing, got \(bs)")
        }
        for v in vs { try Hyper.nonNegative(v, "values") }
        return try .piecewiseConstant(initial: initial, boundaries: bs, values: vs)
    }
}

@_cdecl("ms_optimizer_learning_rates")
public func ms_optimizer_learning_rates(_ outRates: UnsafeMutablePointer<Float>?, _ count: Int64,
                                        _ optimizer: OpaquePointer?) -> Int32 {
    guarded {
        let o = try Handles.resolve(optimizer, as: OptimizerObject.self, "optimizer")
        let n = try Check.count(count, "count")
        guard n > 0 else { return }
        // The caller's buffer may be untouched (calloc'd) memory that
        // writing it makes real: it must fit as much as a new one would.
        try Check.fitsInMemory(elements: n, "count")
        let rates = try Check.out(outRates, "out_rates")
        for t in 0..<n { rates[t] = o.schedule(t) }
    }
}

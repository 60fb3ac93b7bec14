import MetaSwift

/// What an `ms_optimizer` points to: an outer-loop optimizer as a pure
/// transformation (MetaOptim's `GradientTransformation`), with no state. A
/// trainer made from it starts its own state, so one optimizer handle can
/// serve several trainers.
final class OptimizerObject: Handled {
    static let kind = HandleKind.optimizer
    let transformation: GradientTransformation
    init(_ transformation: GradientTransformation) { self.transformation = transformation }
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

private func publish(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ make: () throws -> GradientTransformation) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        out.pointee = Handles.publish(OptimizerObject(try make()))
    }
}

@_cdecl("ms_sgd_new")
public func ms_sgd_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ lr: Float, _ momentum: Float,
                       _ nesterov: Int32) -> Int32 {
    publish(out) {
        try Hyper.nonNegative(lr, "lr")
        try Hyper.decay(momentum, "momentum")
        if nesterov != 0 && momentum == 0 { throw BridgeError.argument("nesterov: needs momentum > 0") }
        return try .sgd(learningRate: lr, momentum: momentum, nesterov: nesterov != 0)
    }
}

@_cdecl("ms_adam_new")
public func ms_adam_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ lr: Float, _ beta1: Float, _ beta2: Float,
                        _ eps: Float) -> Int32 {
    publish(out) {
        try Hyper.nonNegative(lr, "lr")
        try Hyper.decay(beta1, "beta1")
        try Hyper.decay(beta2, "beta2")
        try Hyper.nonNegative(eps, "eps")
        return try .adam(learningRate: lr, beta1: beta1, beta2: beta2, eps: eps)
    }
}

@_cdecl("ms_adamw_new")
public func ms_adamw_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ lr: Float, _ beta1: Float, _ beta2: Float,
                         _ eps: Float, _ weightDecay: Float) -> Int32 {
    publish(out) {
        try Hyper.nonNegative(lr, "lr")
        try Hyper.decay(beta1, "beta1")
        try Hyper.decay(beta2, "beta2")
        try Hyper.nonNegative(eps, "eps")
        try Hyper.nonNegative(weightDecay, "weight_decay")
        return try .adamW(learningRate: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay)
    }
}

@_cdecl("ms_adagrad_new")
public func ms_adagrad_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ lr: Float, _ initialAccumulator: Float,
                           _ eps: Float) -> Int32 {
    publish(out) {
        try Hyper.nonNegative(lr, "lr")
        try Hyper.nonNegative(initialAccumulator, "initial_accumulator")
        try Hyper.nonNegative(eps, "eps")
        return try .adagrad(learningRate: lr, initialAccumulator: initialAccumulator, eps: eps)
    }
}

@_cdecl("ms_rmsprop_new")
public func ms_rmsprop_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ lr: Float, _ decay: Float, _ eps: Float,
                           _ momentum: Float) -> Int32 {
    publish(out) {
        try Hyper.nonNegative(lr, "lr")
        try Hyper.decay(decay, "decay")
        try Hyper.nonNegative(eps, "eps")
        try Hyper.decay(momentum, "momentum")
        return try .rmsprop(learningRate: lr, decay: decay, eps: eps, momentum: momentum)
    }
}

@_cdecl("ms_optimizer_free")
public func ms_optimizer_free(_ optimizer: OpaquePointer?) -> Int32 {
    guarded { try Handles.free(optimizer, as: OptimizerObject.self, "optimizer") }
}

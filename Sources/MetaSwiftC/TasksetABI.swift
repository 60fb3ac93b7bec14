import MetaSwift

/// What an `ms_taskset` points to: a distribution over tasks and its own
/// seeded stream, from which `ms_taskset_sample` draws (under a lock, so
/// concurrent samplers each get a distinct next task). Trainers and
/// evaluations draw from their own generators, never from this stream, so
/// sampling a task to look at it changes nothing they compute.
final class TasksetObject: Handled {
    static let kind = HandleKind.taskset

    let distribution: any TaskDistribution & Sendable
    private let lock = Lock()
    private var rng: RNG

    init(_ distribution: any TaskDistribution & Sendable, seed: UInt64) {
        self.distribution = distribution
        self.rng = RNG(seed: seed)
    }

    /// The next task of the taskset's own stream.
    func next() throws -> Task {
        // Only the split happens under the lock; the task is built outside it.
        var child = lock.withLock { rng.split() }
        return try distribution.sample(rng: &child)
    }

    /// The generators of `count` tasks drawn from `seed`, one per task, as
    /// `TaskDistribution.sample(count, rng:)` makes them: the same seed gives
    /// the same tasks, whatever was sampled from the taskset before, and
    /// they can be sampled a few at a time.
    func streams(_ count: Int, seed: UInt64) -> [RNG] {
        var r = RNG(seed: seed)
        return r.split(count)
    }

    /// One task to check against a learner's model and loss before any
    /// training or evaluation starts (a taskset yields tasks of one shape).
    func probe() throws -> Task {
        var r = RNG(seed: 0)
        return try distribution.sample(rng: &r)
    }
}

/// A finite range lo...hi, checked before a ClosedRange is formed (forming
/// one with lo > hi, or with NaN, traps).
private func range(_ lo: Float, _ hi: Float, _ name: String) throws -> ClosedRange<Float> {
    guard lo.isFinite, hi.isFinite else {
        throw BridgeError.argument("\(name): bounds must be finite, got [\(lo), \(hi)]")
    }
    guard lo <= hi else { throw BridgeError.argument("\(name): lower bound \(lo) exceeds upper bound \(hi)") }
    return lo...hi
}

@_cdecl("ms_sinusoid_new")
public func ms_sinusoid_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ shots: Int64, _ queries: Int64,
                            _ ampLo: Float, _ ampHi: Float, _ phaseLo: Float, _ phaseHi: Float,
                            _ xLo: Float, _ xHi: Float, _ seed: UInt64) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        guard shots > 0 else { throw BridgeError.argument("shots: must be > 0, got \(shots)") }
        guard queries > 0 else { throw BridgeError.argument("queries: must be > 0, got \(queries)") }
        try Check.fitsInMemory(elements: Int(truncatingIfNeeded: shots), "shots")
        try Check.fitsInMemory(elements: Int(truncatingIfNeeded: queries), "queries")
        let amplitude = try range(ampLo, ampHi, "amplitude")
        let phase = try range(phaseLo, phaseHi, "phase")
        let input = try range(xLo, xHi, "x_range")
        let sinusoid = try Sinusoid(shots: Int(shots), queries: Int(queries), amplitude: amplitude,
                                    phase: phase, input: input)
        try Check.fitsInMemory(elements: sinusoid.floatsPerTask, "shots + queries")
        out.pointee = Handles.publish(TasksetObject(sinusoid, seed: seed))
    }
}

@_cdecl("ms_taskset_free")
public func ms_taskset_free(_ taskset: OpaquePointer?) -> Int32 {
    guarded { try Handles.free(taskset, as: TasksetObject.self, "taskset") }
}

@_cdecl("ms_taskset_sample")
public func ms_taskset_sample(_ outXSupport: UnsafeMutablePointer<OpaquePointer?>?,
                              _ outYSupport: UnsafeMutablePointer<OpaquePointer?>?,
                              _ outXQuery: UnsafeMutablePointer<OpaquePointer?>?,
                              _ outYQuery: UnsafeMutablePointer<OpaquePointer?>?,
                              _ taskset: OpaquePointer?) -> Int32 {
    guarded(memory: "taskset") {
        let outs = [try Check.outHandle(outXSupport, "out_x_support"), try Check.outHandle(outYSupport, "out_y_support"),
                    try Check.outHandle(outXQuery, "out_x_query"), try Check.outHandle(outYQuery, "out_y_query")]
        let ts = try Handles.resolve(taskset, as: TasksetObject.self, "taskset")
        try Check.fitsInMemory(elements: ts.distribution.floatsPerTask, "taskset (one task)")
        let t = try ts.next()
        for (out, tensor) in zip(outs, [t.supportX, t.supportY, t.queryX, t.queryY]) {
            out.pointee = Handles.publish(TensorObject(tensor))
        }
    }
}

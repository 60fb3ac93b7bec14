import MetaSwift

/// What an `ms_taskset` points to: a distribution over tasks and its own
/// seeded stream, from which its `sample` method draws (under a lock, so
/// concurrent samplers each get a distinct next task). Trainers and
/// evaluations draw from their own generators, never from this stream, so
/// sampling a task to look at it changes nothing they compute.
final class TasksetObject: Bridged {
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

/// Class ids: each >= 0, none repeated. Names the first offending entry.
func classIDs(_ values: [Int], _ name: String) throws {
    var seen = Set<Int>()
    for (i, c) in values.enumerated() {
        guard c >= 0 else { throw BridgeError.argument("\(name)[\(i)]: \(c) is negative; class labels must be >= 0") }
        guard seen.insert(c).inserted else {
            throw BridgeError.argument("\(name)[\(i)]: class \(c) appears more than once")
        }
    }
}


extension Kinds {
    static let tasksets: [String: (Arguments) throws -> any Bridged] = [
        "taskset.Sinusoid": { args in
            let shots = try args.count("shots", minimum: 1), queries = try args.count("queries", minimum: 1)
            let amplitude = try range(args, "amplitude", 0.1, 5.0)
            let phase = try range(args, "phase", 0, Float.pi)
            let input = try range(args, "x_range", -5, 5)
            let seed = try args.seed("seed")
            try args.done()
            try Check.fitsInMemory(elements: shots, "shots")
            try Check.fitsInMemory(elements: queries, "queries")
            let sinusoid = try Sinusoid(shots: shots, queries: queries, amplitude: amplitude, phase: phase, input: input)
            try Check.fitsInMemory(elements: sinusoid.floatsPerTask, "shots + queries")
            return TasksetObject(sinusoid, seed: seed)
        },
        "taskset.Arrays": { args in
            // A view is copied (the taskset outlives the call); a tensor (made
            // by ms_tensor_wrap over the caller's array) is shared.
            let x = try args.scope.owned(try args.tensor("images"))
            let labels = try args.ints("labels")
            let (w, s, q) = (try args.count("ways", minimum: 1), try args.count("shots", minimum: 1),
                             try args.count("queries", minimum: 1))
            let requested = try args.optionalInts("classes")
            let seed = try args.seed("seed")
            try args.done()
            return TasksetObject(try arrayTaskset(x, labels.map { Int($0) }, ways: w, shots: s, queries: q,
                                                  classes: requested.map { $0.map { Int($0) } }), seed: seed)
        },
    ]
}

/// A finite range [name_low, name_high], checked before a ClosedRange is
/// formed (forming one with low > high, or with NaN, traps).
private func range(_ args: Arguments, _ name: String, _ lo: Float, _ hi: Float) throws -> ClosedRange<Float> {
    let low = Float(try args.optionalDouble("\(name)_low") ?? Double(lo))
    let high = Float(try args.optionalDouble("\(name)_high") ?? Double(hi))
    guard low.isFinite, high.isFinite else {
        throw BridgeError.argument("\(name): bounds must be finite, got [\(low), \(high)]")
    }
    guard low <= high else { throw BridgeError.argument("\(name): lower bound \(low) exceeds upper bound \(high)") }
    return low...high
}

/// The N-way K-shot taskset over labelled arrays, every argument checked.
private func arrayTaskset(_ x: Tensor, _ ys: [Int], ways w: Int, shots s: Int, queries q: Int,
                          classes: [Int]?) throws -> Taskset {
    guard x.rank >= 2 else {
        throw MetaError.shape("images: expected (n, ...) with at least one axis after the example axis, "
                              + "e.g. (n, channels, height, width); got shape \(x.shape)")
    }
    let n = x.shape[0]
    guard n > 0 else { throw MetaError.shape("images: has no examples, shape \(x.shape)") }
    guard x.count > 0 else { throw MetaError.shape("images: examples of shape \(Array(x.shape.dropFirst())) are empty") }
    guard ys.count == n else {
        throw MetaError.shape("labels: has \(ys.count) entries but images has \(n) examples")
    }
    for (i, l) in ys.enumerated() where l < 0 {
        throw BridgeError.argument("labels[\(i)]: \(l) is negative; class labels must be >= 0")
    }
    var sizes: [Int: Int] = [:]
    for l in ys { sizes[l, default: 0] += 1 }
    let chosen: [Int]
    if let requested = classes {
        guard !requested.isEmpty else { throw BridgeError.argument("classes: is empty; pass none for every class") }
        try classIDs(requested, "classes")
        for (i, c) in requested.enumerated() where sizes[c] == nil {
            throw BridgeError.argument("classes[\(i)]: class \(c) does not occur in labels")
        }
        chosen = requested.sorted()
    } else {
        chosen = sizes.keys.sorted()
    }
    guard w <= chosen.count else {
        throw BridgeError.argument("ways: \(w) exceeds the \(chosen.count) classes available")
    }
    let (perClass, overflow) = s.addingReportingOverflow(q)
    for c in chosen where overflow || sizes[c, default: 0] < perClass {
        throw BridgeError.argument("queries: class \(c) has \(sizes[c, default: 0]) examples; "
                                   + "shots + queries = \(s) + \(q) needs that many per class")
    }
    // Every class has >= shots + queries examples and ways <= classes, so
    // an episode holds at most n examples: no size check beyond the images'.
    return try Taskset(images: x, labels: ys, ways: w, shots: s, queries: q, classes: chosen)
}

extension TasksetObject {
    static let methods: [String: Method<TasksetObject>] = [
        "sample": TasksetObject.sample,
    ]

    /// The next task of the taskset's own stream.
    func sample(_ args: Arguments, _ out: Results) throws {
        try args.done()
        args.charge = "taskset"
        try Check.fitsInMemory(elements: distribution.floatsPerTask, "taskset (one task)")
        let t = try next()
        out.set("x_support", t.supportX)
        out.set("y_support", t.supportY)
        out.set("x_query", t.queryX)
        out.set("y_query", t.queryY)
    }
}

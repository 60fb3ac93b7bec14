import MetaTensor

/// N-way K-shot classification episodes drawn from a labelled in-memory
/// dataset (Vinyals et al. 2016, the episode protocol of every few-shot
/// benchmark since).
///
/// Each episode draws `ways` distinct classes (uniformly, without
/// replacement) from `classes`, then, for each drawn class, `shots + queries`
/// distinct examples of it (uniformly, without replacement): the first
/// `shots` go to the support set, the other `queries` to the query set.
/// Episodes are balanced: every class has exactly `shots` support and
/// `queries` query examples, and no example appears twice in an episode.
///
/// Labels are remapped per episode: the i-th class drawn becomes class i,
/// stored as the float i in `y` of shape (n,). Which original class becomes
/// class 0 is random, so a learner cannot memorise a fixed assignment.
///
/// Ordering (relied on by nothing in the engine, but stated so callers can):
/// both sets are grouped by class, class 0's examples first, then class 1's,
/// ..., so `supportY` is [0, 0, ..., 1, 1, ..., N−1] with each value repeated
/// `shots` times, and `queryY` the same with `queries`. Nothing here depends
/// on that order (losses and batch statistics are permutation-invariant), but
/// a model that looked at positions would learn the labels from them.
///
///     let train = try Taskset(images: x, labels: y, ways: 5, shots: 1, queries: 15,
///                             classes: split.train)
///     let task = try train.sample(rng: &rng)   // supportX (5, 1, 28, 28), supportY (5,)
public struct Taskset: TaskDistribution, Sendable {
    /// All examples, (n, ...); episodes gather rows of it.
    public let images: Tensor
    public let labels: [Int]
    public let ways: Int
    public let shots: Int
    public let queries: Int
    /// The label values episodes draw from, in ascending order.
    public let classes: [Int]
    /// Row indices of each class's examples, parallel to `classes`; built
    /// once so that sampling touches only the examples it draws.
    let members: [[Int]]

    /// `classes` restricts sampling to those label values (a class split);
    /// nil uses every label value that occurs. Throws `MetaError` naming the
    /// argument when: `images` has no leading example axis or its size
    /// differs from `labels.count`; `ways`, `shots` or `queries` is not
    /// positive; `classes` is empty or repeats a value; fewer than `ways`
    /// classes are available; or a class has fewer than `shots + queries`
    /// examples (none at all, for a requested class absent from `labels`).
    public init(images: Tensor, labels: [Int], ways: Int, shots: Int, queries: Int, classes: [Int]? = nil) throws {
        guard images.rank >= 1 else {
            throw MetaError.shape("Taskset: images must have a leading example axis, got shape \(images.shape)")
        }
        guard images.shape[0] == labels.count else {
            throw MetaError.shape("Taskset: labels has \(labels.count) entries but images has \(images.shape[0]) examples")
        }
        for (name, v) in [("ways", ways), ("shots", shots), ("queries", queries)] where v <= 0 {
            throw MetaError.argument("Taskset: \(name) must be > 0, got \(v)")
        }
        var byLabel: [Int: [Int]] = [:]
        for (i, l) in labels.enumerated() { byLabel[l, default: []].append(i) }
        let chosen: [Int]
        if let classes {
            chosen = classes.sorted()
            guard !chosen.isEmpty else { throw MetaError.argument("Taskset: classes is empty") }
            for i in chosen.indices.dropFirst() where chosen[i] == chosen[i - 1] {
                throw MetaError.argument("Taskset: classes contains \(chosen[i]) more than once")
            }
        } else {
            chosen = byLabel.keys.sorted()
        }
        guard ways <= chosen.count else {
            throw MetaError.argument("Taskset: ways (\(ways)) exceeds the \(chosen.count) classes available")
        }
        let (perClass, overflow) = shots.addingReportingOverflow(queries)
        guard !overflow else { throw MetaError.argument("Taskset: shots + queries = \(shots) + \(queries) overflows") }
        for c in chosen {
            let n = byLabel[c]?.count ?? 0
            guard n >= perClass else {
                throw MetaError.argument("Taskset: class \(c) has \(n) examples; shots + queries = \(shots) + \(queries) needs \(perClass)")
            }
        }
        self.images = images
        self.labels = labels
        self.ways = ways
        self.shots = shots
        self.queries = queries
        self.classes = chosen
        self.members = chosen.map { byLabel[$0] ?? [] }
    }

    /// The rows of `ways · (shots + queries)` examples and their labels.
    public var floatsPerTask: Int {
        let row = images.shape.dropFirst().reduce(1) { saturatingProduct([$0, $1]) }
        return saturatingProduct([ways, shots &+ queries, row &+ 1])
    }

    /// One episode. Consumes random numbers from `rng` only, so a seed fixes it.
    public func sample(rng: inout RNG) throws -> Task {
        let drawn = try rng.choice(classes.count, ways)
        var support: [Int] = [], query: [Int] = []
        support.reserveCapacity(ways * shots)
        query.reserveCapacity(ways * queries)
        for c in drawn {
            let rows = members[c]
            let picked = try rng.choice(rows.count, shots + queries)
            for (k, p) in picked.enumerated() {
                if k < shots { support.append(rows[p]) } else { query.append(rows[p]) }
            }
        }
        return try Task(supportX: try images.gather(indices: support, axis: 0),
                        supportY: try Taskset.classIndices(ways: ways, each: shots),
                        queryX: try images.gather(indices: query, axis: 0),
                        queryY: try Taskset.classIndices(ways: ways, each: queries))
    }

    /// [0, ..., 0, 1, ..., 1, ..., ways−1] with each value `each` times, as floats.
    static func classIndices(ways: Int, each: Int) throws -> Tensor {
        try Tensor.make(shape: [ways * each]) { p, _ in
            for c in 0..<ways { (p + c &* each).update(repeating: Float(c), count: each) }
        }
    }

    /// The original label of each class of an episode drawn with the same
    /// generator state, for reports that must name the classes. Consumes
    /// random numbers exactly like `sample`.
    public func sampleWithClasses(rng: inout RNG) throws -> (task: Task, classes: [Int]) {
        var probe = rng
        let drawn = try probe.choice(classes.count, ways).map { classes[$0] }
        return (try sample(rng: &rng), drawn)
    }
}

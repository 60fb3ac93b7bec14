import MetaTensor

/// Disjoint meta-train / meta-validation / meta-test class sets, so that the
/// classes a learner is evaluated on were never seen in meta-training.
///
/// The distinct classes are sorted, shuffled by `RNG(seed:)`, and the first
/// `train` go to `train`, the next `validation` to `validation`, the next
/// `test` (all the rest when nil) to `test`; each set is then sorted. Sorting
/// first makes the split depend only on the set of classes and the seed.
///
///     // Omniglot's 1623 characters, as in Vinyals et al. (1200 for training).
///     let split = try ClassSplit(classes: Array(0..<1623), train: 1100, validation: 100, seed: 0)
///
/// Published benchmarks fix their splits by name (Ravi & Larochelle's
/// miniImageNet lists); pass those sets to `Taskset(classes:)` directly
/// instead when reproducing them.
public struct ClassSplit: Sendable, Equatable {
    public let train: [Int]
    public let validation: [Int]
    public let test: [Int]

    public init(classes: [Int], train: Int, validation: Int, test: Int? = nil, seed: UInt64) throws {
        let sorted = classes.sorted()
        for i in sorted.indices.dropFirst() where sorted[i] == sorted[i - 1] {
            throw MetaError.argument("ClassSplit: classes contains \(sorted[i]) more than once")
        }
        let n = sorted.count
        for (name, v) in [("train", train), ("validation", validation), ("test", test ?? 0)] where v < 0 {
            throw MetaError.argument("ClassSplit: \(name) must be >= 0, got \(v)")
        }
        guard train <= n, validation <= n - train else {
            throw MetaError.argument("ClassSplit: train (\(train)) + validation (\(validation)) exceeds the \(n) classes")
        }
        let rest = n - train - validation
        let testCount = test ?? rest
        guard testCount <= rest else {
            throw MetaError.argument("ClassSplit: train (\(train)) + validation (\(validation)) + test (\(testCount)) exceeds the \(n) classes")
        }
        var rng = RNG(seed: seed)
        let order = try rng.permutation(n).map { sorted[$0] }
        self.train = order[0..<train].sorted()
        self.validation = order[train..<(train + validation)].sorted()
        self.test = order[(train + validation)..<(train + validation + testCount)].sorted()
    }
}

import MetaTensor

/// One fold of K-fold cross-validation over classes: meta-train on `train`,
/// meta-test on `test`. Both are sorted; they are disjoint and together hold
/// every class.
public struct ClassFold: Sendable, Equatable {
    public let train: [Int]
    public let test: [Int]
}

/// K-fold splits of a set of class ids, reproducible by seed.
///
/// The distinct classes are sorted, shuffled by `RNG(seed:)`, and cut into
/// `folds` contiguous runs whose sizes differ by at most one (run k holds
/// positions ⌊k·n/K⌋ ..< ⌊(k+1)·n/K⌋). Run k is fold k's test set, the other
/// classes its training set, so every class is tested exactly once. Sorting
/// first makes the folds depend on the set of classes and the seed only, not
/// on the order the classes were passed in.
public func classFolds(classes: [Int], folds: Int, seed: UInt64) throws -> [ClassFold] {
    let sorted = classes.sorted()
    for i in sorted.indices.dropFirst() where sorted[i] == sorted[i - 1] {
        throw MetaError.argument("crossValidate: classes contains \(sorted[i]) more than once")
    }
    guard folds >= 2 else { throw MetaError.argument("crossValidate: folds must be >= 2, got \(folds)") }
    guard folds <= sorted.count else {
        throw MetaError.argument("crossValidate: folds (\(folds)) exceeds the number of classes (\(sorted.count)); every fold needs a test class")
    }
    var rng = RNG(seed: seed)
    let order = try rng.permutation(sorted.count).map { sorted[$0] }
    let n = sorted.count
    return (0..<folds).map { k in
        let range = (k * n / folds)..<((k + 1) * n / folds)
        let test = Array(order[range]).sorted()
        let train = (Array(order[..<range.lowerBound]) + Array(order[range.upperBound...])).sorted()
        return ClassFold(train: train, test: test)
    }
}

/// K-fold cross-validation over class splits: `body(train, test)` runs once per
/// fold (see `classFolds` for how the folds are made) and returns a score,
/// e.g. the mean test accuracy of a learner meta-trained on `train` and
/// evaluated on episodes of `test` classes. Returns each fold's score and
/// their mean with a 95% interval (population std over folds; with few folds
/// that interval is optimistic, see `MeanWithInterval`).
///
///     let (scores, summary) = try crossValidate(classes: Array(0..<100), folds: 5, seed: 0) { train, test in
///         try trainAndEvaluate(train: train, test: test)
///     }
///
/// An error thrown by `body` stops the loop and is rethrown; a non-finite score
/// is an error.
public func crossValidate(classes: [Int], folds: Int, seed: UInt64,
                          body: (_ trainClasses: [Int], _ testClasses: [Int]) throws -> Float)
    throws -> (perFold: [Float], mean: MeanWithInterval) {
    let splits = try classFolds(classes: classes, folds: folds, seed: seed)
    var scores: [Float] = []
    for (k, fold) in splits.enumerated() {
        let s = try body(fold.train, fold.test)
        guard s.isFinite else { throw MetaError.argument("crossValidate: fold \(k) returned \(s)") }
        scores.append(s)
    }
    return (scores, try summarize(scores))
}

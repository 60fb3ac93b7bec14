import MetaTensor

// Classification metrics over predicted and true class indices. Plain
// numbers, not differentiable: they report, they do not train.

/// Fraction of positions where `predicted` equals `labels`.
///
/// Both arrays hold one class index per example and must have the same,
/// non-zero length.
public func accuracy(predicted: [Int], labels: [Int]) throws -> Float {
    try checkPair(predicted, labels, op: "accuracy")
    var correct = 0
    for i in 0..<labels.count where predicted[i] == labels[i] { correct += 1 }
    return Float(correct) / Float(labels.count)
}

/// Macro-averaged F1: the unweighted mean over classes of
///
///     F1_c = 2·TP_c / (2·TP_c + FP_c + FN_c)
///
/// which equals the harmonic mean of precision and recall whenever both are
/// defined. Every index in `predicted` and `labels` must lie in 0..<classes.
///
/// Zero-division convention (that of scikit-learn's `f1_score(average:
/// "macro")` with its default label set and `zero_division=0`):
/// - a class that is neither predicted nor present in `labels`
///   (TP = FP = FN = 0) is skipped: it does not enter the mean;
/// - a class that is present but never predicted, or predicted but never
///   present, has F1 = 0 (its precision or recall is 0/0, counted as 0),
///   and does enter the mean.
/// So with balanced episodes that contain every class, macro-F1 is the mean
/// of `classes` per-class scores.
public func macroF1(predicted: [Int], labels: [Int], classes: Int) throws -> Float {
    let scores = try f1ByClass(predicted: predicted, labels: labels, classes: classes)
    // Non-empty inputs always make at least one class present; summed in
    // class order so the result does not depend on the dictionary's order.
    let total = scores.keys.sorted().reduce(0.0) { $0 + scores[$1]! }
    return Float(total / Double(scores.count))
}

/// F1 of each class in 0..<classes, nil for a class with TP = FP = FN = 0
/// (see `macroF1` for the convention). Allocates one entry per class; use
/// `f1ByClass` when `classes` may be large.
public func perClassF1(predicted: [Int], labels: [Int], classes: Int) throws -> [Double?] {
    let scores = try f1ByClass(predicted: predicted, labels: labels, classes: classes)
    try MemoryLimit.check(elements: classes, stride: MemoryLayout<Double?>.stride, "macroF1: classes")
    return (0..<classes).map { scores[$0] }
}

/// F1 of each class that is predicted or present in `labels` (the classes
/// `macroF1` averages over), keyed by class. Work and memory grow with the
/// number of examples, never with `classes` or with the label values, so a
/// label of 2^62 costs what a label of 2 does.
public func f1ByClass(predicted: [Int], labels: [Int], classes: Int) throws -> [Int: Double] {
    try checkPair(predicted, labels, op: "macroF1")
    guard classes > 0 else { throw MetaError.argument("macroF1: classes must be > 0, got \(classes)") }
    for (name, values) in [("predicted", predicted), ("labels", labels)] {
        for (i, v) in values.enumerated() where v < 0 || v >= classes {
            throw MetaError.index("macroF1: \(name)[\(i)] = \(v) is outside 0..<\(classes)")
        }
    }
    // (TP, FP, FN) per class seen.
    var counts: [Int: (tp: Int, fp: Int, fn: Int)] = [:]
    for (p, l) in zip(predicted, labels) {
        if p == l { counts[l, default: (0, 0, 0)].tp += 1 } else {
            counts[p, default: (0, 0, 0)].fp += 1
            counts[l, default: (0, 0, 0)].fn += 1
        }
    }
    return counts.mapValues { c in Double(2 * c.tp) / Double(2 * c.tp + c.fp + c.fn) }
}

func checkPair(_ predicted: [Int], _ labels: [Int], op: String) throws {
    guard predicted.count == labels.count else {
        throw MetaError.shape("\(op): predicted has \(predicted.count) entries but labels has \(labels.count)")
    }
    guard !labels.isEmpty else { throw MetaError.argument("\(op): predicted and labels are empty") }
}

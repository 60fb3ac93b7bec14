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
    let scores = try perClassF1(predicted: predicted, labels: labels, classes: classes)
    let present = scores.compactMap { $0 }
    // Non-empty inputs always make at least one class present.
    return Float(present.reduce(0, +) / Double(present.count))
}

/// F1 of each class in 0..<classes, nil for a class with TP = FP = FN = 0
/// (see `macroF1` for the convention).
public func perClassF1(predicted: [Int], labels: [Int], classes: Int) throws -> [Double?] {
    try checkPair(predicted, labels, op: "macroF1")
    guard classes > 0 else { throw MetaError.argument("macroF1: classes must be > 0, got \(classes)") }
    for (name, values) in [("predicted", predicted), ("labels", labels)] {
        for (i, v) in values.enumerated() where v < 0 || v >= classes {
            throw MetaError.index("macroF1: \(name)[\(i)] = \(v) is outside 0..<\(classes)")
        }
    }
    var tp = [Int](repeating: 0, count: classes), fp = tp, fn = tp
    for (p, l) in zip(predicted, labels) {
        if p == l { tp[l] += 1 } else { fp[p] += 1; fn[l] += 1 }
    }
    return (0..<classes).map { c in
        let denominator = 2 * tp[c] + fp[c] + fn[c]
        return denominator == 0 ? nil : Double(2 * tp[c]) / Double(denominator)
    }
}

func checkPair(_ predicted: [Int], _ labels: [Int], op: String) throws {
    guard predicted.count == labels.count else {
        throw MetaError.shape("\(op): predicted has \(predicted.count) entries but labels has \(labels.count)")
    }
    guard !labels.isEmpty else { throw MetaError.argument("\(op): predicted and labels are empty") }
}

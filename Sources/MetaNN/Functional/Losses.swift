import MetaTensor
import MetaAutodiff

// Losses composed from primitives: exact gradients of every order, which
// second-order MAML differentiates through.

/// Mean squared error, mean over all elements: (1/n) Σ (pred − target)².
/// The shapes must be equal (no broadcasting: a (n, 1) prediction against a
/// (n,) target would silently become an (n, n) loss).
public func mseLoss(_ pred: Variable, _ target: Variable) throws -> Variable {
    guard pred.shape == target.shape else {
        throw MetaError.shape("mseLoss: target shape \(target.shape) differs from pred shape \(pred.shape)")
    }
    return try (pred - target).square().mean()
}

/// Mean over rows of −log softmax(logits)[label].
///
/// `logits` is (..., classes); `labels` holds one class index per row, in
/// row-major order of the leading dimensions, each in 0..<classes. The label
/// is picked by a constant one-hot mask, so the loss stays a composition of
/// primitives.
public func softmaxCrossEntropy(logits: Variable, labels: [Int]) throws -> Variable {
    let (rows, classes) = try checkLabels(logits.shape, labels, op: "softmaxCrossEntropy")
    let mask = try Tensor.make(shape: logits.shape) { p, n in
        p.update(repeating: 0, count: n)
        for r in 0..<rows { p[r &* classes &+ labels[r]] = 1 }
    }
    let picked = try (try logits.logSoftmax(axis: -1) * Variable(mask)).sum()
    return try picked * (-1 / Float(rows))
}

/// Mean over all elements of the binary cross-entropy between sigmoid(logits)
/// and `targets` (in [0, 1]): softplus(x) − x·t, with softplus(x) = log(1 + eˣ).
///
/// softplus is computed as m + log(e^(−m) + e^(x−m)) with m = max(x, 0) a
/// detached constant: no exponent is positive, so nothing overflows, and the
/// value does not depend on m, so every derivative (σ(x) − t, then σ'(x)) is
/// exact, at x = 0 too. The textbook form max(x, 0) + log(1 + e^(−|x|)) is not:
/// its primitives' derivatives at the kink (step(0) = sign(0) = 0) give −t
/// instead of ½ − t at x = 0, exactly where a zero-initialised head starts.
public func binaryCrossEntropyWithLogits(logits: Variable, targets: Variable) throws -> Variable {
    guard logits.shape == targets.shape else {
        throw MetaError.shape("binaryCrossEntropyWithLogits: targets shape \(targets.shape) differs from logits shape \(logits.shape)")
    }
    guard logits.count > 0 else { throw MetaError.shape("binaryCrossEntropyWithLogits: logits are empty") }
    let m = try logits.value.map(.relu)
    let softplus = try (try (logits - Variable(m)).exp() + Variable(m.affine(scale: -1, shift: 0).map(.exp))).log() + Variable(m)
    return try (softplus - logits * targets).mean()
}

/// Fraction of rows whose largest logit is at the label (ties go to the
/// first index). Not differentiable: a plain number.
public func accuracy(logits: Variable, labels: [Int]) throws -> Float {
    try accuracy(logits: logits.value, labels: labels)
}

public func accuracy(logits: Tensor, labels: [Int]) throws -> Float {
    let (rows, classes) = try checkLabels(logits.shape, labels, op: "accuracy")
    let p = logits.storage.base
    var correct = 0
    for r in 0..<rows {
        let row = p + r &* classes
        var best = 0
        for c in 1..<classes where row[c] > row[best] { best = c }
        if best == labels[r] { correct += 1 }
    }
    return Float(correct) / Float(rows)
}

/// The predicted class of each row: the index of the largest logit.
public func argmax(logits: Tensor) throws -> [Int] {
    guard logits.rank >= 1, let classes = logits.shape.last, classes > 0 else {
        throw MetaError.shape("argmax: logits must have shape (..., classes) with classes > 0, got \(logits.shape)")
    }
    let rows = logits.count / classes
    let p = logits.storage.base
    return (0..<rows).map { r in
        let row = p + r &* classes
        var best = 0
        for c in 1..<classes where row[c] > row[best] { best = c }
        return best
    }
}

/// (rows, classes) of logits (..., classes), after checking that `labels` has
/// one entry per row, each in 0..<classes.
func checkLabels(_ shape: [Int], _ labels: [Int], op: String) throws -> (Int, Int) {
    guard shape.count >= 1, let classes = shape.last, classes > 0 else {
        throw MetaError.shape("\(op): logits must have shape (..., classes) with classes > 0, got \(shape)")
    }
    let rows = shape.dropLast().reduce(1, &*)
    guard rows > 0 else { throw MetaError.shape("\(op): logits of shape \(shape) have no rows") }
    guard labels.count == rows else {
        throw MetaError.shape("\(op): labels has \(labels.count) entries for \(rows) rows of logits \(shape)")
    }
    for (i, l) in labels.enumerated() where l < 0 || l >= classes {
        throw MetaError.index("\(op): labels[\(i)] = \(l) is outside 0..<\(classes)")
    }
    return (rows, classes)
}

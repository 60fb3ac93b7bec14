import MetaTensor
import MetaAutodiff
import MetaNN

/// Class labels stored as a float tensor of shape (n) or (n, 1), checked to be
/// whole numbers in 0..<classes.
func classLabels(_ target: Tensor, classes: Int) throws -> [Int] {
    guard target.rank == 1 || (target.rank == 2 && target.shape[1] == 1) else {
        throw MetaError.shape("labels: expected shape (n,) of class indices, got \(target.shape)")
    }
    return try target.scalars.map { v in
        guard v.isFinite, v == v.rounded(), v >= 0, Int(v) < classes else {
            throw MetaError.index("labels: \(v) is not a class index in 0..<\(classes)")
        }
        return Int(v)
    }
}

func softmaxCrossEntropyLoss(_ logits: Variable, _ target: Tensor) throws -> Variable {
    guard logits.rank == 2 else { throw MetaError.shape("cross_entropy: logits must be (n, classes), got \(logits.shape)") }
    return try softmaxCrossEntropy(logits: logits, labels: classLabels(target, classes: logits.shape[1]))
}

func classificationAccuracy(_ logits: Tensor, _ target: Tensor) throws -> Float {
    guard logits.rank == 2 else { throw MetaError.shape("accuracy: logits must be (n, classes), got \(logits.shape)") }
    return try accuracy(logits: logits, labels: classLabels(target, classes: logits.shape[1]))
}

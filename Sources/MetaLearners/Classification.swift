import MetaTensor
import MetaAutodiff
import MetaNN

/// Class labels stored as a float tensor of shape (n) or (n, 1), checked to be
/// whole numbers in 0..<classes (see `episodeLabels`).
func classLabels(_ target: Tensor, classes: Int) throws -> [Int] {
    try episodeLabels(target, name: "labels", bound: classes, examples: target.rank >= 1 ? target.shape[0] : 0)
}

func softmaxCrossEntropyLoss(_ logits: Variable, _ target: Tensor) throws -> Variable {
    guard logits.rank == 2 else { throw MetaError.shape("cross_entropy: logits must be (n, classes), got \(logits.shape)") }
    return try softmaxCrossEntropy(logits: logits, labels: classLabels(target, classes: logits.shape[1]))
}

func classificationAccuracy(_ logits: Tensor, _ target: Tensor) throws -> Float {
    guard logits.rank == 2 else { throw MetaError.shape("accuracy: logits must be (n, classes), got \(logits.shape)") }
    return try accuracy(logits: logits, labels: classLabels(target, classes: logits.shape[1]))
}

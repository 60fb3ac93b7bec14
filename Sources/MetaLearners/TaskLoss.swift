import MetaTensor
import MetaAutodiff
import MetaNN

/// The loss a learner adapts and evaluates with: regression (mean squared
/// error) or N-way classification (softmax cross-entropy on integer labels
/// stored as floats).
public enum TaskLoss: String, Sendable, CaseIterable {
    case mse
    case crossEntropy = "cross_entropy"

    public var isClassification: Bool { self == .crossEntropy }

    /// Mean loss of `prediction` against `target`.
    public func callAsFunction(_ prediction: Variable, _ target: Tensor) throws -> Variable {
        switch self {
        case .mse:
            guard prediction.shape == target.shape else {
                throw MetaError.shape("mse: predictions \(prediction.shape) and targets \(target.shape) differ")
            }
            return try mseLoss(prediction, Variable(target))
        case .crossEntropy:
            return try softmaxCrossEntropyLoss(prediction, target)
        }
    }
}

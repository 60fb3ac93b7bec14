import MetaTensor
import MetaAutodiff
import MetaOptim

/// One task's inner update rule, started fresh for every adaptation: it maps
/// (the step's index from 0, the indices of the adapted parameters, those
/// parameters, their gradients) to the new parameters, and may keep state
/// between the steps of one adaptation (an adaptive optimizer's moments).
/// `loss` is the support loss the gradients are of, on the tape when the
/// adaptation records one (the LSTM meta-learner reads it).
typealias InnerStep = (_ step: Int, _ indices: [Int], _ params: [Variable], _ grads: [Variable], _ loss: Variable) throws
    -> [Variable]

/// The inner loop's optimizer: plain gradient descent (MAML's), or an
/// adaptive one whose state (sums or averages of squared gradients,
/// moments) is part of the computation the meta-gradient differentiates:
/// AdaGrad, RMSprop and Adam with PyTorch's formulas and defaults, their
/// learning rate the learner's `inner_lr`. The state starts at zero for
/// every task (every adaptation).
public enum InnerOptimizer: Equatable, Sendable, CustomStringConvertible {
    case sgd
    /// G ← G + g², θ ← θ − η g / (√G + ε).
    case adagrad(eps: Float)
    /// v ← α v + (1 − α) g², θ ← θ − η g / (√v + ε).
    case rmsprop(alpha: Float, eps: Float)
    /// Adam with bias correction.
    case adam(beta1: Float, beta2: Float, eps: Float)

    /// The optimizer called `name` ("sgd", "adagrad", "rmsprop", "adam") with
    /// PyTorch's default hyper-parameters.
    public init(named name: String) throws {
        switch name {
        case "sgd": self = .sgd
        case "adagrad": self = .adagrad(eps: 1e-10)
        case "rmsprop": self = .rmsprop(alpha: 0.99, eps: 1e-8)
        case "adam": self = .adam(beta1: 0.9, beta2: 0.999, eps: 1e-8)
        default:
            throw MetaError.argument("inner_optimizer: expected one of 'sgd', 'adagrad', 'rmsprop', 'adam', got '\(name)'")
        }
    }

    /// The name `init(named:)` takes.
    public var name: String {
        switch self {
        case .sgd: return "sgd"
        case .adagrad: return "adagrad"
        case .rmsprop: return "rmsprop"
        case .adam: return "adam"
        }
    }

    public var description: String { name }

    /// Whether a step depends on earlier steps (all but SGD).
    var isStateful: Bool { self != .sgd }

    /// The rates of `InnerLoop.adapt` for learning rate `lr`: SGD's shared
    /// rate, or a rule that starts this optimizer's state at each adaptation.
    func rates(_ lr: Float) throws -> InnerLoop.Rates {
        switch self {
        case .sgd:
            return .shared(lr)
        case .adagrad(let eps):
            let rule = try DifferentiableAdagrad(learningRate: lr, eps: eps)
            return .rule { Self.stateful(rule.initialize, rule.step) }
        case .rmsprop(let alpha, let eps):
            let rule = try DifferentiableRMSprop(learningRate: lr, alpha: alpha, eps: eps)
            return .rule { Self.stateful(rule.initialize, rule.step) }
        case .adam(let beta1, let beta2, let eps):
            let rule = try DifferentiableAdam(learningRate: lr, beta1: beta1, beta2: beta2, eps: eps)
            return .rule {
                var state: DifferentiableAdam.State?
                return { _, _, params, grads, _ in
                    let (next, after) = try rule.step(params: params, grads: grads, state: try state ?? rule.initialize(params))
                    state = after
                    return next
                }
            }
        }
    }

    /// A step that keeps one state tensor per adapted parameter, zero at first.
    private static func stateful(_ initialize: @escaping ([Variable]) throws -> [Variable],
                                 _ step: @escaping ([Variable], [Variable], [Variable]) throws -> ([Variable], [Variable]))
        -> InnerStep {
        var state: [Variable]?
        return { _, _, params, grads, _ in
            let (next, after) = try step(params, grads, try state ?? initialize(params))
            state = after
            return next
        }
    }
}

extension InnerLoop {
    /// The model's parameters after each of `steps` steps of a rule made
    /// from all the meta-parameters (the model's `adapting` first, then the
    /// learner's own): the curves of ALFA and the LSTM meta-learner, whose
    /// rules read their own meta-parameters. Nothing is recorded.
    func ruleSteps(_ metaParams: [Tensor], adapting layers: Int, x: Tensor, y: Tensor, steps: Int,
                   rates: ([Variable]) -> Rates) throws -> [[Tensor]] {
        try Check.steps(steps, "steps", allowZero: true)
        let all = metaParams.map { Variable($0) }
        return try adaptSteps(Array(all[0..<layers]), x: x, y: y, steps: steps, rates: rates(all),
                              createGraph: false).map { $0.map(\.value) }
    }
}

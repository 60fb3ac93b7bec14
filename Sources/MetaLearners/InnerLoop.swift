import MetaTensor
import MetaAutodiff
import MetaNN

/// The inner loop shared by the gradient-based learners: a few steps of
/// gradient descent on a task's support set, starting from the meta-parameters.
///
/// With `createGraph: true` each step's gradient is itself recorded, so the
/// adapted parameters are a differentiable function of the starting ones and
/// the meta-gradient is exact (second order). With `false`, each step's
/// gradient is a constant and the meta-gradient is the first-order
/// approximation (FOMAML): ∂L(θ')/∂θ' is used for ∂L(θ')/∂θ.
struct InnerLoop {
    let model: any Model
    let loss: TaskLoss

    /// Per-parameter step sizes: one scalar for all, or a learned tensor per
    /// parameter (Meta-SGD), or nil for a parameter that is not adapted (ANIL).
    enum Rates {
        case shared(Float)
        case learned([Variable])
    }

    /// Adapts `params` on (x, y). `adapted[i] == false` keeps parameter i
    /// fixed (its gradient is not even computed).
    /// `context` is the task's (training mode in meta-training); nil runs the
    /// model without one (inference).
    func adapt(_ params: [Variable], x: Tensor, y: Tensor, steps: Int, rates: Rates,
               adapted: [Bool]? = nil, createGraph: Bool, context: ForwardContext? = nil) throws -> [Variable] {
        var current = params
        let which = adapted.map { mask in (0..<params.count).filter { mask[$0] } } ?? Array(0..<params.count)
        let input = Variable(x)
        for _ in 0..<steps {
            let targets = which.map { current[$0] }
            let frozen = current
            let grads = try Autodiff.grad(at: targets, createGraph: createGraph) { vars in
                var all = frozen
                for (k, i) in which.enumerated() { all[i] = vars[k] }
                return try loss(try run(all, input, context), y)
            }
            for (k, i) in which.enumerated() {
                switch rates {
                case .shared(let lr): current[i] = try current[i] - grads[k] * lr
                case .learned(let lrs): current[i] = try current[i] - lrs[i] * grads[k]
                }
            }
        }
        return current
    }

    /// The model's output, under `context` when there is one.
    func run(_ params: [Variable], _ x: Variable, _ context: ForwardContext?) throws -> Variable {
        if let context { return try model(params, x, context: context) }
        return try model(params, x)
    }

    /// Query loss and (for classification) accuracy of `params` on (x, y).
    func evaluate(_ params: [Variable], x: Tensor, y: Tensor) throws -> (loss: Float, accuracy: Float?) {
        let pred = try model(params.map(\.detached), Variable(x))
        let l = try loss(pred, y).item()
        return (l, loss.isClassification ? try classificationAccuracy(pred.value, y) : nil)
    }
}

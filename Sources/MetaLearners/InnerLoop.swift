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
        /// A rule made fresh for each adaptation (`InnerStep`): adaptive
        /// optimizers, rates per step.
        case rule(() -> InnerStep)
    }

    /// One adaptation's update: the new values of the adapted parameters
    /// `which` at step `step`, from `rates` (a `.rule` made by `start`).
    struct Updater {
        let which: [Int]
        private let step: InnerStep

        init(_ rates: Rates, which: [Int]) {
            self.which = which
            switch rates {
            case .shared(let lr): step = { _, _, params, grads, _ in try zip(params, grads).map { try $0 - $1 * lr } }
            case .learned(let lrs):
                step = { _, indices, params, grads, _ in
                    try (0..<params.count).map { k in try params[k] - lrs[indices[k]] * grads[k] }
                }
            case .rule(let start): step = start()
            }
        }

        /// `current` with the adapted parameters replaced by their step `s` update.
        func apply(_ s: Int, _ current: [Variable], grads: [Variable], loss: Variable) throws -> [Variable] {
            let updated = try step(s, which, which.map { current[$0] }, grads, loss)
            var next = current
            for (k, i) in which.enumerated() { next[i] = updated[k] }
            return next
        }
    }

    /// Adapts `params` on (x, y). `adapted[i] == false` keeps parameter i
    /// fixed (its gradient is not even computed).
    /// `context` is the task's (training mode in meta-training); nil runs the
    /// model without one (inference).
    func adapt(_ params: [Variable], x: Tensor, y: Tensor, steps: Int, rates: Rates,
               adapted: [Bool]? = nil, createGraph: Bool, context: ForwardContext? = nil) throws -> [Variable] {
        try adaptSteps(params, x: x, y: y, steps: steps, rates: rates, adapted: adapted, createGraph: createGraph,
                       context: context).last ?? params
    }

    /// The parameters after each of `steps` inner steps (as `adapt`, which
    /// returns the last), for curves of a rule whose steps depend on earlier
    /// ones (a stateful optimizer, rates per step).
    ///
    /// `atStep`, when given, sets the parameters step s's forward runs with
    /// (MAML++'s per-step normalisation weights) from the current ones.
    func adaptSteps(_ params: [Variable], x: Tensor, y: Tensor, steps: Int, rates: Rates,
                    adapted: [Bool]? = nil, createGraph: Bool, context: ForwardContext? = nil,
                    atStep: ((Int, [Variable]) -> [Variable])? = nil) throws -> [[Variable]] {
        var current = params
        let which = adapted.map { mask in (0..<params.count).filter { mask[$0] } } ?? Array(0..<params.count)
        let update = Updater(rates, which: which)
        let input = Variable(x)
        var all: [[Variable]] = []
        for s in 0..<steps {
            if let atStep { current = atStep(s, current) }
            let targets = which.map { current[$0] }
            let frozen = current
            let (value, grads) = try Autodiff.valueAndGrad(at: targets, createGraph: createGraph) { vars in
                var all = frozen
                for (k, i) in which.enumerated() { all[i] = vars[k] }
                return try loss(try run(all, input, context), y)
            }
            current = try update.apply(s, current, grads: grads, loss: value)
            all.append(current)
        }
        return all
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

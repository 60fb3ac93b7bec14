import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData

/// MAML++ (Antoniou, Edwards & Storkey, ICLR 2019, "How to train your
/// MAML"): MAML with the paper's fixes, each a switch.
///
/// - LSLR: a learned learning rate per inner step and per adapted parameter
///   tensor, starting at `innerLR`; off (`learnRates: false`), every step
///   takes `innerLR`. The rates are stored in units of `innerLR`
///   ("mamlpp.lr_scale", shape [steps, adapted tensors], starting at 1; the
///   rate is `innerLR` times it), where the paper's code stores them raw. An
///   outer optimizer like Adam moves every meta-parameter by about its
///   learning rate per update whatever the parameter's scale, so raw rates
///   of 0.01 under Adam 10⁻³ grow tenfold in a hundred updates; on
///   sinusoid regression (MSE, amplitudes to 5) the first layer's rates
///   reached 0.1 by update 142, where a large-amplitude task's five inner
///   steps diverge (support loss 18 → 64 → 410 → 3·10⁶ → 2·10²⁵) and the
///   meta-loss becomes infinite. In units of `innerLR` a rate moves by about
///   0.1% of `innerLR` per update: the inner rule is the paper's, only the
///   outer optimizer's geometry differs (as if the rates had their own outer
///   learning rate, `innerLR` times the others').
/// - MSL: the meta-loss is Σ_s v_s L_query(θ_s) over the steps, with the
///   paper's importance vector v annealed over `mslEpochs` epochs from
///   uniform towards the last step (`importance(epoch:)`); after that, and
///   when off, the last step's loss alone.
/// - DA (derivative-order annealing): first order for the first
///   `firstOrderEpochs` epochs, exact second order after.
/// - BNWB: per-step normalisation weights. Every parameter named `gamma` or
///   `beta` (batch norm, layer norm) has a copy per inner step after the
///   first ("mamlpp.step<s>.<name>"); step s's forward passes, on the support
///   set and on the query set after step s, take step s's. Per-step
///   statistics: the model normalises with each forward's batch statistics
///   (as MAML++'s code does: its per-step running statistics are kept but,
///   every forward running in training mode, never used to normalise).
/// - The normalisation weights are not adapted in the inner loop
///   (`adaptNormalization: false`, the paper's code's default).
/// - CA (cosine annealing of the outer rate) is the outer optimizer's
///   schedule (`ms.optim.CosineDecay`), which Python's `fit` defaults to.
///
/// An epoch is `iterationsPerEpoch` meta-steps (the paper's 500); the step
/// comes from the trainer (`MetaBatchShare.step`).
public struct MAMLPlusPlus: MetaLearner {
    public let model: any Model
    public let innerLR: Float
    public let innerSteps: Int
    public let loss: TaskLoss
    public let learnRates: Bool
    public let multiStepLoss: Bool
    public let mslEpochs: Int
    public let firstOrderEpochs: Int
    public let iterationsPerEpoch: Int
    public let perStepNormalization: Bool
    public let adaptNormalization: Bool
    public let pool: WorkerPool

    public init(model: any Model, innerLR: Float = 0.1, innerSteps: Int = 5, loss: TaskLoss = .crossEntropy,
                learnRates: Bool = true, multiStepLoss: Bool = true, mslEpochs: Int = 10, firstOrderEpochs: Int = 0,
                iterationsPerEpoch: Int = 500, perStepNormalization: Bool = true, adaptNormalization: Bool = false,
                pool: WorkerPool = .shared) throws {
        try Check.rate(innerLR, "inner_lr")
        guard innerLR > 0 || !learnRates else {
            throw MetaError.argument("inner_lr must be > 0 for MAML++ with learn_rates: its learned rates are in units of it")
        }
        try Check.steps(innerSteps, "inner_steps")
        try Check.steps(mslEpochs, "msl_epochs", allowZero: true)
        try Check.steps(firstOrderEpochs, "first_order_epochs", allowZero: true)
        try Check.steps(iterationsPerEpoch, "iterations_per_epoch")
        self.model = model
        self.innerLR = innerLR
        self.innerSteps = innerSteps
        self.loss = loss
        self.learnRates = learnRates
        self.multiStepLoss = multiStepLoss
        self.mslEpochs = mslEpochs
        self.firstOrderEpochs = firstOrderEpochs
        self.iterationsPerEpoch = iterationsPerEpoch
        self.perStepNormalization = perStepNormalization
        self.adaptNormalization = adaptNormalization
        self.pool = pool
        guard !adapted.isEmpty else {
            throw MetaError.argument("model: MAML++ adapts no parameter (only normalisation weights, with adapt_norm off)")
        }
    }

    /// Indices of the model's normalisation weights (named gamma or beta).
    var normalization: [Int] {
        model.parameterSpecs.indices.filter {
            let last = model.parameterSpecs[$0].name.split(separator: ".").last
            return last == "gamma" || last == "beta"
        }
    }

    /// Indices of the parameters the inner loop adapts.
    var adapted: [Int] {
        let norm = Set(normalization)
        return model.parameterSpecs.indices.filter { adaptNormalization || !norm.contains($0) }
    }

    /// Per-step copies: for steps 1..<innerSteps, one per normalisation weight.
    var stepCopies: [(step: Int, index: Int)] {
        guard perStepNormalization else { return [] }
        return (1..<innerSteps).flatMap { s in normalization.map { (s, $0) } }
    }

    public var metaParameterSpecs: [ParameterSpec] {
        let specs = model.parameterSpecs
        return specs + (learnRates ? [ParameterSpec("mamlpp.lr_scale", [innerSteps, adapted.count])] : [])
            + stepCopies.map { ParameterSpec("mamlpp.step\($0.step).\(specs[$0.index].name)", specs[$0.index].shape) }
    }

    public func initialMetaParameters(rng: inout RNG) throws -> [Tensor] {
        let theta = try model.initialParameters(rng: &rng)
        return theta + (learnRates ? [try Tensor.full([innerSteps, adapted.count], 1)] : [])
            + stepCopies.map { theta[$0.index] }
    }

    public var batchesTasks: Bool { false }

    /// The paper's importance of each step's query loss at `epoch`: uniform
    /// at first, the non-final weights decaying by 1/(N·mslEpochs) per epoch
    /// to at least 0.03/N, the final one growing to at most 1 − (N−1)·0.03/N.
    public func importance(epoch: Int) -> [Float] {
        let n = Double(innerSteps)
        let decay = 1 / n / Double(max(mslEpochs, 1)), floor = 0.03 / n
        var w = (0..<innerSteps).map { _ in Swift.max(1 / n - Double(epoch) * decay, floor) }
        w[innerSteps - 1] = Swift.min(1 / n + Double(epoch) * (n - 1) * decay, 1 - (n - 1) * floor)
        return w.map { Float($0) }
    }

    /// The model's parameters for step `s`'s forward passes: `current` with
    /// the normalisation weights of step s (the model's own at step 0).
    func forStep(_ s: Int, _ current: [Variable], _ meta: [Variable]) -> [Variable] {
        guard perStepNormalization, s > 0 else { return current }
        let n = model.parameterCount, base = n + (learnRates ? 1 : 0)
        var p = current
        let copies = stepCopies
        for (k, c) in copies.enumerated() where c.step == Swift.min(s, innerSteps - 1) { p[c.index] = meta[base + k] }
        return p
    }

    /// The inner loop on a support set from the meta-parameters `meta`:
    /// the model's parameters after each step (normalisation weights of
    /// that step in place). Steps past `innerSteps` reuse the last step's
    /// rates and normalisation weights.
    func unroll(_ meta: [Variable], x: Tensor, y: Tensor, steps: Int, createGraph: Bool,
                context: ForwardContext?) throws -> [[Variable]] {
        let n = model.parameterCount, last = innerSteps - 1, unit = innerLR
        let mask = (0..<n).map(Set(adapted).contains)
        let rates: InnerLoop.Rates = learnRates ? .rule {
            { s, _, params, grads, _ in
                let row = Swift.min(s, last)
                return try (0..<params.count).map { k in
                    let rate = try (try meta[n].sliced(lower: [row, k], upper: [row + 1, k + 1]) * unit)
                        .reshaped(Array(repeating: 1, count: params[k].rank)).broadcast(to: params[k].shape)
                    return try params[k] - rate * grads[k]
                }
            }
        } : .shared(innerLR)
        return try InnerLoop(model: model, loss: loss)
            .adaptSteps(Array(meta[0..<n]), x: x, y: y, steps: steps, rates: rates, adapted: mask, createGraph: createGraph,
                        context: context, atStep: { forStep($0, $1, meta) })
            .enumerated().map { forStep($0.offset, $0.element, meta) }
    }

    public func metaParts(_ metaParams: [Tensor], share: MetaBatchShare, seed: UInt64) throws -> [MetaPart] {
        try checkMetaParameters(metaParams)
        let epoch = share.step / iterationsPerEpoch
        let secondOrder = epoch >= firstOrderEpochs
        let weights: [Float]? = multiStepLoss && epoch < mslEpochs ? importance(epoch: epoch) : nil
        let inner = InnerLoop(model: model, loss: loss)
        return try parts(share, pool: pool, seed: seed) { task, context in
            let (v, g) = try Autodiff.valueAndGrad(at: metaParams.map { Variable($0) }) { meta in
                let steps = try unroll(meta, x: task.supportX, y: task.supportY, steps: innerSteps,
                                       createGraph: secondOrder, context: context)
                let query = Variable(task.queryX)
                guard let weights else { return try loss(try inner.run(steps[innerSteps - 1], query, context), task.queryY) }
                var total: Variable?
                for (s, params) in steps.enumerated() {
                    let term = try loss(try inner.run(params, query, context), task.queryY) * weights[s]
                    total = try total.map { try $0 + term } ?? term
                }
                return total!
            }
            return (try v.item(), g.map(\.value))
        }
    }

    public func adapt(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int? = nil) throws -> [Tensor] {
        try adaptSteps(metaParams, x: x, y: y, steps: steps ?? innerSteps).last ?? Array(metaParams[0..<model.parameterCount])
    }

    public func adaptSteps(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int) throws -> [[Tensor]] {
        try checkMetaParameters(metaParams, finite: false)
        try Check.steps(steps, "steps", allowZero: true)
        return try unroll(metaParams.map { Variable($0) }, x: x, y: y, steps: steps, createGraph: false, context: nil)
            .map { $0.map(\.value) }
    }
}

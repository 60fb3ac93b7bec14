import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData

/// Meta-SGD (Li, Zhou, Chen & Li, 2017): MAML whose inner step size is a
/// learned tensor α of the same shape as each parameter, meta-trained jointly
/// with the initialisation: θ' = θ − α ⊙ ∇θ L_support(θ).
///
/// Meta-parameters are the model's parameters followed by one rate tensor per
/// parameter (named `lr.<name>`), initialised to `initialLR` everywhere
/// (the paper draws them from U[0.005, 0.1]; pass `initialRange` for that).
public struct MetaSGD: MetaLearner {
    public let model: any Model
    public let innerSteps: Int
    public let initialLR: Float
    public let initialRange: ClosedRange<Float>?
    public let firstOrder: Bool
    public let loss: TaskLoss
    public let pool: WorkerPool

    public init(model: any Model, initialLR: Float = 0.01, initialRange: ClosedRange<Float>? = nil,
                innerSteps: Int = 1, firstOrder: Bool = false, loss: TaskLoss = .mse, pool: WorkerPool = .shared) throws {
        try Check.rate(initialLR, "inner_lr")
        try Check.steps(innerSteps, "inner_steps", allowZero: true)
        if let r = initialRange { try Check.rate(r.lowerBound, "initial_range"); try Check.rate(r.upperBound, "initial_range") }
        self.model = model
        self.initialLR = initialLR
        self.initialRange = initialRange
        self.innerSteps = innerSteps
        self.firstOrder = firstOrder
        self.loss = loss
        self.pool = pool
    }

    public var metaParameterSpecs: [ParameterSpec] {
        let specs = model.parameterSpecs
        return specs + specs.map { ParameterSpec("lr.\($0.name)", $0.shape) }
    }

    public func initialMetaParameters(rng: inout RNG) throws -> [Tensor] {
        let theta = try model.initialParameters(rng: &rng)
        let rates = try theta.map { t -> Tensor in
            if let r = initialRange { return try Tensor.uniform(t.shape, low: r.lowerBound, high: r.upperBound, rng: &rng) }
            return try Tensor.full(t.shape, initialLR)
        }
        return theta + rates
    }

    var inner: InnerLoop { InnerLoop(model: model, loss: loss) }

    public func metaParts(_ metaParams: [Tensor], share: MetaBatchShare, seed: UInt64) throws -> [MetaPart] {
        try checkMetaParameters(metaParams)
        let n = model.parameterCount
        let (steps, graph) = (innerSteps, !firstOrder)
        let inner = self.inner
        // First order still learns the rates: they enter θ' directly.
        return try metaGradientParts(metaParams, share: share, pool: pool, seed: seed, perTask: { all, task, context in
            let adapted = try inner.adapt(Array(all[0..<n]), x: task.supportX, y: task.supportY, steps: steps,
                                          rates: .learned(Array(all[n...])), createGraph: graph, context: context)
            return try inner.loss(try inner.run(adapted, Variable(task.queryX), context), task.queryY)
        }, batched: { all, st, bm in
            // The rates are shared by all tasks: they broadcast against the tiled gradients.
            let adapted = try inner.adaptBatched(bm, try inner.tile(Array(all[0..<n]), tasks: st.count),
                                                 x: st.supportX, y: st.supportY, steps: steps,
                                                 rates: .learned(Array(all[n...])), createGraph: graph)
            return try inner.batchedLoss(bm, adapted, x: st.queryX, y: st.queryY)
        })
    }

    public func adapt(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int? = nil) throws -> [Tensor] {
        try checkMetaParameters(metaParams, finite: false)
        let n = model.parameterCount
        let k = steps ?? innerSteps
        try Check.steps(k, "steps", allowZero: true)
        let vars = metaParams.map { Variable($0) }
        return try inner.adapt(Array(vars[0..<n]), x: x, y: y, steps: k, rates: .learned(Array(vars[n...])),
                               createGraph: false).map(\.value)
    }
}

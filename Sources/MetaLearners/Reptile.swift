import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData

/// Reptile (Nichol, Achiam & Schulman, "On First-Order Meta-Learning
/// Algorithms", 2018).
///
/// Inner loop: `innerSteps` steps of SGD on the task's support set, from θ to
/// θ̃ᵢ. Outer update: θ ← θ + ε · mean(θ̃ᵢ − θ). `metaLossAndGrad` returns the
/// update direction θ − mean(θ̃ᵢ) in place of a gradient, so an outer SGD
/// optimizer with learning rate ε performs exactly Reptile's update (and any
/// other optimizer, such as Adam, can be used instead). The loss it reports is
/// the mean query loss after adaptation.
public struct Reptile: MetaLearner {
    public let model: any Model
    public let innerLR: Float
    public let innerSteps: Int
    public let loss: TaskLoss
    public let pool: WorkerPool

    public init(model: any Model, innerLR: Float = 0.01, innerSteps: Int = 5, loss: TaskLoss = .mse,
                pool: WorkerPool = .shared) throws {
        try Check.rate(innerLR, "inner_lr")
        try Check.steps(innerSteps, "inner_steps")
        self.model = model
        self.innerLR = innerLR
        self.innerSteps = innerSteps
        self.loss = loss
        self.pool = pool
    }

    public var metaParameterSpecs: [ParameterSpec] { model.parameterSpecs }

    public func initialMetaParameters(rng: inout RNG) throws -> [Tensor] { try model.initialParameters(rng: &rng) }

    var inner: InnerLoop { InnerLoop(model: model, loss: loss) }

    public func metaParts(_ metaParams: [Tensor], share: MetaBatchShare, seed: UInt64) throws -> [MetaPart] {
        try checkMetaParameters(metaParams)
        let (lr, steps, inner) = (innerLR, innerSteps, self.inner)
        return try parts(share, pool: pool, seed: seed, perTask: { task, context in
            let adapted = try inner.adapt(metaParams.map { Variable($0) }, x: task.supportX, y: task.supportY,
                                          steps: steps, rates: .shared(lr), createGraph: false, context: context).map(\.value)
            let (queryLoss, _) = try inner.evaluate(adapted.map { Variable($0) }, x: task.queryX, y: task.queryY)
            let direction = try zip(metaParams, adapted).map { try $0.zip($1, .sub) }
            return (queryLoss, direction)
        }, perChunk: { st, bm in
            let theta = metaParams.map { Variable($0) }
            let adapted = try inner.adaptBatched(bm, try inner.tile(theta, tasks: st.count), x: st.supportX,
                                                 y: st.supportY, steps: steps, rates: .shared(lr), createGraph: false)
            let queryLoss = try inner.batchedLoss(bm, adapted, x: st.queryX, y: st.queryY).item()
            // θ − mean over the chunk's tasks of θ̃ₜ.
            let direction = try zip(theta, adapted).map { try ($0.0 - $0.1.mean(axes: [0])).value }
            return (queryLoss, direction)
        })
    }

    public func adapt(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int? = nil) throws -> [Tensor] {
        let k = steps ?? innerSteps
        try Check.steps(k, "steps", allowZero: true)
        return try inner.adapt(metaParams.map { Variable($0) }, x: x, y: y, steps: k,
                               rates: .shared(innerLR), createGraph: false).map(\.value)
    }
}

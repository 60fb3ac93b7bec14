import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData

/// Almost No Inner Loop (Raghu, Raghu, Bengio & Vinyals, ICLR 2020): MAML
/// whose inner loop adapts only the head (by default the final layer's
/// parameters); the body is meta-learned in the outer loop only. The
/// meta-gradient stays exact (second order through the head's updates) and
/// costs far less than MAML's.
public struct ANIL: MetaLearner {
    public let model: any Model
    public let innerLR: Float
    public let innerSteps: Int
    public let firstOrder: Bool
    public let loss: TaskLoss
    /// Indices of the parameters the inner loop adapts.
    public let head: [Int]
    public let pool: WorkerPool

    /// `headParameters` counts from the end of the parameter list (2: the last
    /// layer's weight and bias).
    public init(model: any Model, innerLR: Float = 0.01, innerSteps: Int = 1, firstOrder: Bool = false,
                loss: TaskLoss = .mse, headParameters: Int = 2, pool: WorkerPool = .shared) throws {
        try Check.rate(innerLR, "inner_lr")
        try Check.steps(innerSteps, "inner_steps", allowZero: true)
        let n = model.parameterCount
        guard headParameters > 0, headParameters <= n else {
            throw MetaError.argument("head_parameters must be in 1...\(n), got \(headParameters)")
        }
        self.model = model
        self.innerLR = innerLR
        self.innerSteps = innerSteps
        self.firstOrder = firstOrder
        self.loss = loss
        self.head = Array((n - headParameters)..<n)
        self.pool = pool
    }

    public var metaParameterSpecs: [ParameterSpec] { model.parameterSpecs }

    public func initialMetaParameters(rng: inout RNG) throws -> [Tensor] { try model.initialParameters(rng: &rng) }

    var mask: [Bool] { (0..<model.parameterCount).map { head.contains($0) } }
    var inner: InnerLoop { InnerLoop(model: model, loss: loss) }

    public func metaParts(_ metaParams: [Tensor], share: MetaBatchShare, seed: UInt64) throws -> [MetaPart] {
        try checkMetaParameters(metaParams)
        let (mask, lr, steps, graph) = (self.mask, innerLR, innerSteps, !firstOrder)
        let inner = self.inner
        return try metaGradientParts(metaParams, share: share, pool: pool, seed: seed, perTask: { theta, task, context in
            let adapted = try inner.adapt(theta, x: task.supportX, y: task.supportY, steps: steps,
                                          rates: .shared(lr), adapted: mask, createGraph: graph, context: context)
            return try inner.loss(try inner.run(adapted, Variable(task.queryX), context), task.queryY)
        }, batched: { theta, st, bm in
            let adapted = try inner.adaptBatched(bm, try inner.tile(theta, tasks: st.count), x: st.supportX, y: st.supportY,
                                                 steps: steps, rates: .shared(lr), adapted: mask, createGraph: graph)
            return try inner.batchedLoss(bm, adapted, x: st.queryX, y: st.queryY)
        })
    }

    public func adapt(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int? = nil) throws -> [Tensor] {
        try checkMetaParameters(metaParams, finite: false)
        let k = steps ?? innerSteps
        try Check.steps(k, "steps", allowZero: true)
        return try inner.adapt(metaParams.map { Variable($0) }, x: x, y: y, steps: k, rates: .shared(innerLR),
                               adapted: mask, createGraph: false).map(\.value)
    }
}

import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData

/// Model-Agnostic Meta-Learning (Finn, Abbeel & Levine, ICML 2017).
///
/// Inner loop: θ'ᵢ = θ − α ∇θ L_support(θ), repeated `innerSteps` times per task.
/// Meta-objective: the mean over tasks of L_query(θ'ᵢ). The meta-gradient is
/// exact, through the inner gradients (second order), unless `firstOrder` is
/// set (FOMAML, §5.2 of the paper), which treats each inner gradient as a
/// constant.
///
/// `innerOptimizer` replaces the inner loop's gradient descent with AdaGrad,
/// RMSprop or Adam (learning rate `innerLR`), whose state starts at zero for
/// every task and is differentiated through like the steps themselves
/// (Grefenstette et al. 2019, "Generalized Inner Loop Meta-Learning").
///
///     let maml = try MAML(model: MLP(sizes: [1, 40, 40, 1]), innerLR: 0.01, innerSteps: 1)
///     let (loss, grads) = try maml.metaLossAndGrad(params, tasks: tasks)
public struct MAML: MetaLearner {
    public let model: any Model
    public let innerLR: Float
    public let innerSteps: Int
    public let firstOrder: Bool
    public let loss: TaskLoss
    public let innerOptimizer: InnerOptimizer
    public let pool: WorkerPool

    public init(model: any Model, innerLR: Float = 0.01, innerSteps: Int = 1, firstOrder: Bool = false,
                loss: TaskLoss = .mse, innerOptimizer: InnerOptimizer = .sgd, pool: WorkerPool = .shared) throws {
        try Check.rate(innerLR, "inner_lr")
        try Check.steps(innerSteps, "inner_steps", allowZero: true)
        _ = try innerOptimizer.rates(innerLR)  // checks its hyper-parameters
        self.innerOptimizer = innerOptimizer
        self.model = model
        self.innerLR = innerLR
        self.innerSteps = innerSteps
        self.firstOrder = firstOrder
        self.loss = loss
        self.pool = pool
    }

    public var metaParameterSpecs: [ParameterSpec] { model.parameterSpecs }

    public func initialMetaParameters(rng: inout RNG) throws -> [Tensor] { try model.initialParameters(rng: &rng) }

    var inner: InnerLoop { InnerLoop(model: model, loss: loss) }

    public func metaParts(_ metaParams: [Tensor], share: MetaBatchShare, seed: UInt64) throws -> [MetaPart] {
        try checkMetaParameters(metaParams)
        let (rates, steps, graph) = (try innerOptimizer.rates(innerLR), innerSteps, !firstOrder)
        let inner = self.inner
        return try metaGradientParts(metaParams, share: share, pool: pool, seed: seed, perTask: { theta, task, context in
            let adapted = try inner.adapt(theta, x: task.supportX, y: task.supportY, steps: steps,
                                          rates: rates, createGraph: graph, context: context)
            return try inner.loss(try inner.run(adapted, Variable(task.queryX), context), task.queryY)
        }, batched: { theta, st, bm in
            let adapted = try inner.adaptBatched(bm, try inner.tile(theta, tasks: st.count), x: st.supportX, y: st.supportY,
                                                 steps: steps, rates: rates, createGraph: graph)
            return try inner.batchedLoss(bm, adapted, x: st.queryX, y: st.queryY)
        })
    }

    public func adapt(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int? = nil) throws -> [Tensor] {
        try checkMetaParameters(metaParams, finite: false)
        let n = steps ?? innerSteps
        try Check.steps(n, "steps", allowZero: true)
        return try inner.adapt(metaParams.map { Variable($0) }, x: x, y: y, steps: n,
                               rates: try innerOptimizer.rates(innerLR), createGraph: false).map(\.value)
    }

    public func adaptSteps(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int) throws -> [[Tensor]] {
        try checkMetaParameters(metaParams, finite: false)
        try Check.steps(steps, "steps", allowZero: true)
        return try inner.adaptSteps(metaParams.map { Variable($0) }, x: x, y: y, steps: steps,
                                    rates: try innerOptimizer.rates(innerLR), createGraph: false).map { $0.map(\.value) }
    }
}

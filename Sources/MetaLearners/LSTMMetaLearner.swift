import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData

/// The LSTM meta-learner of Ravi & Larochelle (ICLR 2017, "Optimization as
/// a model for few-shot learning"): the learner's parameters are the cell
/// state of a coordinate-wise recurrent network (`MetaLSTMUpdate`) that
/// reads each inner step's gradient and loss and writes the next
/// parameters, θ_t = f_t ⊙ θ_{t−1} − i_t ⊙ ∇_t. The cell state's start c₀
/// is the model's initial parameters (a learned initialisation, as MAML's);
/// the network's weights are meta-learned with it.
///
/// `firstOrder` (the paper's choice, the default) treats every inner
/// gradient and loss as constants: the meta-gradient still flows through
/// the update's dependence on θ (the f_t ⊙ θ_{t−1} term and the gates'
/// θ input) and into the network's weights, but not through ∇ and L. With
/// `firstOrder` false nothing is cut: the meta-gradient is exact, through
/// the gradients (second order) and the preprocessed inputs too.
///
/// The meta-parameters are the model's, then "metalstm.<name>" for each of
/// the network's (`MetaLSTMUpdate.parameterSpecs`). Every parameter tensor
/// of the model is adapted (batch norm's too), as in the paper. Steps past
/// `innerSteps` at evaluation run the same network further.
public struct LSTMMetaLearner: MetaLearner {
    public let model: any Model
    public let innerSteps: Int
    public let firstOrder: Bool
    public let loss: TaskLoss
    public let update: MetaLSTMUpdate
    public let pool: WorkerPool

    public init(model: any Model, innerSteps: Int = 5, firstOrder: Bool = true, loss: TaskLoss = .crossEntropy,
                update: MetaLSTMUpdate? = nil, pool: WorkerPool = .shared) throws {
        try Check.steps(innerSteps, "inner_steps")
        guard model.parameterCount > 0 else {
            throw MetaError.argument("model: the LSTM meta-learner needs a model with parameters")
        }
        self.model = model
        self.innerSteps = innerSteps
        self.firstOrder = firstOrder
        self.loss = loss
        self.update = try update ?? MetaLSTMUpdate()
        self.pool = pool
    }

    var layers: Int { model.parameterCount }

    public var metaParameterSpecs: [ParameterSpec] {
        model.parameterSpecs + update.parameterSpecs.map { ParameterSpec("metalstm.\($0.name)", $0.shape) }
    }

    public func initialMetaParameters(rng: inout RNG) throws -> [Tensor] {
        try model.initialParameters(rng: &rng) + update.initialParameters(rng: &rng)
    }


    var inner: InnerLoop { InnerLoop(model: model, loss: loss) }

    /// The inner rule of the meta-parameters `meta`: every adaptation starts
    /// the network's state afresh, flattens the parameters and gradients
    /// into one vector of coordinates, steps and splits them back. Tasks run
    /// batched (T = the losses the rule is given, parameters tiled (T, ...))
    /// are flattened task-major: each task's coordinates in the order of one.
    func rates(_ meta: [Variable]) -> InnerLoop.Rates {
        let weights = Array(meta[layers...]), update = self.update, cut = firstOrder
        return .rule {
            var state: MetaLSTMUpdate.State?
            return { _, _, params, grads, loss in
                let tasks = loss.count
                func flat(_ tensors: [Variable]) throws -> Variable {
                    try Variable.concat(try tensors.map { try $0.reshaped([tasks, $0.count / tasks]) }, axis: 1)
                        .reshaped([-1])
                }
                let theta = try flat(params), gradient = try flat(grads)
                let (next, after) = try update.step(weights, theta: theta, gradient: cut ? gradient.detached : gradient,
                                                    loss: cut ? loss.detached : loss,
                                                    state: try state ?? update.start(coordinates: theta.count))
                state = after
                let rows = try next.reshaped([tasks, theta.count / tasks])
                var offset = 0
                return try params.map { p in
                    let width = p.count / tasks
                    defer { offset += width }
                    return try rows.slice(axis: 1, range: offset..<(offset + width)).reshaped(p.shape)
                }
            }
        }
    }

    /// Tasks of an MLP run batched in chunks, as MAML's: the rule reads each
    /// task's own loss (`adaptBatched(perTaskLosses:)`).
    public func metaParts(_ metaParams: [Tensor], share: MetaBatchShare, seed: UInt64) throws -> [MetaPart] {
        try checkMetaParameters(metaParams)
        let (n, steps, graph, inner) = (layers, innerSteps, !firstOrder, self.inner)
        return try metaGradientParts(metaParams, share: share, pool: pool, seed: seed, perTask: { all, task, context in
            let adapted = try inner.adapt(Array(all[0..<n]), x: task.supportX, y: task.supportY, steps: steps,
                                          rates: rates(all), createGraph: graph, context: context)
            return try inner.loss(try inner.run(adapted, Variable(task.queryX), context), task.queryY)
        }, batched: { all, st, bm in
            let adapted = try inner.adaptBatched(bm, try inner.tile(Array(all[0..<n]), tasks: st.count), x: st.supportX,
                                                 y: st.supportY, steps: steps, rates: rates(all), createGraph: graph,
                                                 perTaskLosses: true)
            return try inner.batchedLoss(bm, adapted, x: st.queryX, y: st.queryY)
        })
    }

    public func adapt(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int? = nil) throws -> [Tensor] {
        try adaptSteps(metaParams, x: x, y: y, steps: steps ?? innerSteps).last ?? Array(metaParams[0..<layers])
    }

    public func adaptSteps(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int) throws -> [[Tensor]] {
        try checkMetaParameters(metaParams, finite: false)
        return try inner.ruleSteps(metaParams, adapting: layers, x: x, y: y, steps: steps, rates: rates)
    }
}

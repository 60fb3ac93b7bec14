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

    public var batchesTasks: Bool { false }

    var inner: InnerLoop { InnerLoop(model: model, loss: loss) }

    /// The inner rule of the meta-parameters `meta`: every adaptation starts
    /// the network's state afresh, flattens the parameters and gradients
    /// into one vector of coordinates, steps and splits them back.
    func rates(_ meta: [Variable]) -> InnerLoop.Rates {
        let weights = Array(meta[layers...]), update = self.update, cut = firstOrder
        return .rule {
            var state: MetaLSTMUpdate.State?
            return { _, _, params, grads, loss in
                let theta = try Variable.concat(try params.map { try $0.reshaped([$0.count]) }, axis: 0)
                let gradient = try Variable.concat(try grads.map { try $0.reshaped([$0.count]) }, axis: 0)
                let (next, after) = try update.step(weights, theta: theta, gradient: cut ? gradient.detached : gradient,
                                                    loss: cut ? loss.detached : loss,
                                                    state: try state ?? update.start(coordinates: theta.count))
                state = after
                var offset = 0
                return try params.map { p in
                    defer { offset += p.count }
                    return try next.slice(axis: 0, range: offset..<(offset + p.count)).reshaped(p.shape)
                }
            }
        }
    }

    public func metaParts(_ metaParams: [Tensor], share: MetaBatchShare, seed: UInt64) throws -> [MetaPart] {
        try checkMetaParameters(metaParams)
        let (n, steps, graph, inner) = (layers, innerSteps, !firstOrder, self.inner)
        return try parts(share, pool: pool, seed: seed) { task, context in
            let (v, g) = try Autodiff.valueAndGrad(at: metaParams.map { Variable($0) }) { all in
                let adapted = try inner.adapt(Array(all[0..<n]), x: task.supportX, y: task.supportY, steps: steps,
                                              rates: rates(all), createGraph: graph, context: context)
                return try inner.loss(try inner.run(adapted, Variable(task.queryX), context), task.queryY)
            }
            return (try v.item(), g.map(\.value))
        }
    }

    public func adapt(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int? = nil) throws -> [Tensor] {
        try adaptSteps(metaParams, x: x, y: y, steps: steps ?? innerSteps).last ?? Array(metaParams[0..<layers])
    }

    public func adaptSteps(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int) throws -> [[Tensor]] {
        try checkMetaParameters(metaParams, finite: false)
        try Check.steps(steps, "steps", allowZero: true)
        let all = metaParams.map { Variable($0) }
        return try inner.adaptSteps(Array(all[0..<layers]), x: x, y: y, steps: steps, rates: rates(all),
                                    createGraph: false).map { $0.map(\.value) }
    }
}

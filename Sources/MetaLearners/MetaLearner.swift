import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData

/// What every gradient-based meta-learner offers. Meta-parameters are the
/// model's parameters, followed by any parameters of the learner itself
/// (Meta-SGD's learned rates).
public protocol MetaLearner {
    var model: any Model { get }
    var loss: TaskLoss { get }
    /// Inner steps per task during meta-training (and by default when adapting).
    var innerSteps: Int { get }

    /// Names and shapes of the meta-parameters, in order.
    var metaParameterSpecs: [ParameterSpec] { get }

    /// Initial meta-parameters: the model's, then the learner's own.
    func initialMetaParameters(rng: inout RNG) throws -> [Tensor]

    /// The meta-loss on `tasks` (mean over tasks of the post-adaptation query
    /// loss) and its gradient with respect to the meta-parameters. Reptile
    /// returns its update direction in place of a gradient.
    ///
    /// Tasks run the model in training mode, task k with a forward context
    /// seeded by `ForwardContext.taskSeed(seed, k)`: the seed only matters to
    /// a model with stochastic layers (`Dropout`).
    func metaLossAndGrad(_ metaParams: [Tensor], tasks: [Task], seed: UInt64) throws -> (loss: Float, grads: [Tensor])

    /// The results of the parts `share.parts` of a meta-batch planned by
    /// `metaBatchPlan`, one per part, in order: what `metaLossAndGrad`
    /// combines (`MetaBatchPlan.combine`), and what processes that share a
    /// meta-batch exchange. Task k of the meta-batch runs with the context
    /// seeded by `ForwardContext.taskSeed(seed, k)`, whichever process runs it.
    func metaParts(_ metaParams: [Tensor], share: MetaBatchShare, seed: UInt64) throws -> [MetaPart]

    /// Whether this learner runs tasks of equal shapes batched (in chunks),
    /// when its model allows; ProtoNet does not.
    var batchesTasks: Bool { get }

    /// The model's parameters adapted to a support set, after `steps` inner
    /// steps (the learner's own number when nil).
    func adapt(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int?) throws -> [Tensor]

    /// The model's parameters after each of `steps` inner steps on a support
    /// set, in order (the last is `adapt`'s). The default takes `adapt` one
    /// step at a time, which is the same for an update without state; a
    /// learner whose steps depend on earlier ones (an adaptive optimizer,
    /// rates per step) gives its own.
    func adaptSteps(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int) throws -> [[Tensor]]
}

extension MetaLearner {
    /// `metaLossAndGrad(_:tasks:seed:)` with seed 0.
    public func metaLossAndGrad(_ metaParams: [Tensor], tasks: [Task]) throws -> (loss: Float, grads: [Tensor]) {
        try metaLossAndGrad(metaParams, tasks: tasks, seed: 0)
    }

    /// Checks meta-parameters against `metaParameterSpecs`, and (unless
    /// `finite` is false) that they hold no NaN or infinity. Adaptation skips
    /// the latter: an evaluation that steps past where the learned rates are
    /// stable must report the diverged loss, not stop.
    func checkMetaParameters(_ p: [Tensor], finite: Bool = true) throws {
        let specs = metaParameterSpecs
        guard p.count == specs.count else {
            throw MetaError.argument("meta-parameters: expected \(specs.count) tensors (\(specs)), got \(p.count)")
        }
        for (t, s) in zip(p, specs) where t.shape != s.shape {
            throw MetaError.shape("meta-parameter \(s.name): expected shape \(s.shape), got \(t.shape)")
        }
        for (t, s) in zip(p, specs) where finite && !t.isFinite {
            throw MetaError.argument("meta-parameter \(s.name) holds NaN or infinity")
        }
    }

    /// The meta-batch plan for `count` tasks: chunks when this learner
    /// batches tasks, its model runs them batched and they `stack`, else one
    /// part per task.
    public func metaBatchPlan(tasks count: Int, stack: Bool) throws -> MetaBatchPlan {
        batchesTasks && stack && model is any TaskBatchedModel && !model.usesContext
            ? try .chunked(count) : try .perTask(count)
    }
}

extension MetaLearner {
    public var batchesTasks: Bool { true }

    public func adaptSteps(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int) throws -> [[Tensor]] {
        try Check.steps(steps, "steps", allowZero: true)
        let n = model.parameterCount
        var params = metaParams
        var all: [[Tensor]] = []
        for _ in 0..<steps {
            let adapted = try adapt(params, x: x, y: y, steps: 1)
            params = adapted + params[n...]
            all.append(adapted)
        }
        return all
    }

    /// All parts of a meta-batch of `tasks`, combined.
    public func metaLossAndGrad(_ metaParams: [Tensor], tasks: [Task], seed: UInt64) throws -> (loss: Float, grads: [Tensor]) {
        let plan = try metaBatchPlan(tasks: tasks.count, stack: StackedTasks.canStack(tasks[...]))
        return try plan.combine(try metaParts(metaParams, share: try MetaBatchShare(whole: tasks, plan: plan), seed: seed))
    }

    /// The share's parts on the worker pool: `perChunk` on each chunk of a
    /// chunked plan, else `perTask` on each task with a training context
    /// seeded from (`seed`, the task's index in the meta-batch).
    func parts(_ share: MetaBatchShare, pool: WorkerPool, seed: UInt64,
               perTask: (Task, ForwardContext) throws -> (Float, [Tensor]),
               perChunk: ((StackedTasks, any TaskBatchedModel) throws -> (Float, [Tensor]))? = nil) throws -> [MetaPart] {
        if share.plan.weighted {
            guard let perChunk, let bm = model as? any TaskBatchedModel else {
                throw MetaError.argument("\(Self.self) does not run tasks in batched chunks")
            }
            let first = share.plan.bounds[share.parts.lowerBound]
            return try pool.map(share.parts.count) { i in
                let r = share.plan.tasks(of: (share.parts.lowerBound + i)..<(share.parts.lowerBound + i + 1))
                guard let stacked = try StackedTasks(share.tasks[(r.lowerBound - first)..<(r.upperBound - first)]) else {
                    throw MetaError.shape("tasks: a batched chunk needs tasks of one shape")
                }
                let (loss, grads) = try perChunk(stacked, bm)
                return MetaPart(loss: loss, grads: grads)
            }
        }
        return try pool.map(share.tasks.count) { i in
            let (loss, grads) = try perTask(share.tasks[i],
                                            ForwardContext(mode: .training, seed: ForwardContext.taskSeed(seed, share.taskIndex(i))))
            return MetaPart(loss: loss, grads: grads)
        }
    }

    /// The parts of a meta-batch whose objective per task (`perTask`) or per
    /// chunk (`batched`, the mean over the chunk's tasks) is differentiated
    /// with respect to the meta-parameters.
    func metaGradientParts(_ metaParams: [Tensor], share: MetaBatchShare, pool: WorkerPool, seed: UInt64,
                           perTask: @escaping ([Variable], Task, ForwardContext) throws -> Variable,
                           batched: @escaping ([Variable], StackedTasks, any TaskBatchedModel) throws -> Variable)
        throws -> [MetaPart] {
        try parts(share, pool: pool, seed: seed, perTask: { task, context in
            let (v, g) = try Autodiff.valueAndGrad(at: metaParams.map { Variable($0) }) { try perTask($0, task, context) }
            return (try v.item(), g.map(\.value))
        }, perChunk: { stacked, bm in
            let (v, g) = try Autodiff.valueAndGrad(at: metaParams.map { Variable($0) }) { try batched($0, stacked, bm) }
            return (try v.item(), g.map(\.value))
        })
    }
}

/// Tasks per batched chunk: large enough to amortise per-operation cost, small
/// enough that a meta-batch of 25 still splits across two cores.
let batchedChunk = 16

/// Validation of hyper-parameters shared by the learners' initialisers.
enum Check {
    static func rate(_ value: Float, _ name: String) throws {
        guard value.isFinite, value >= 0 else {
            throw MetaError.argument("\(name) must be a finite number >= 0, got \(value)")
        }
    }
    static func steps(_ value: Int, _ name: String, allowZero: Bool = false) throws {
        guard allowZero ? value >= 0 : value > 0 else {
            throw MetaError.argument("\(name) must be \(allowZero ? ">= 0" : "> 0"), got \(value)")
        }
    }
}

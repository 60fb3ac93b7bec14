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

    /// The model's parameters adapted to a support set, after `steps` inner
    /// steps (the learner's own number when nil).
    func adapt(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int?) throws -> [Tensor]
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

    /// Runs `perTask` for each task on the worker pool, task k with a training
    /// context seeded from (`seed`, k), and averages the losses and gradients
    /// in task order, so the result does not depend on scheduling.
    func averaged(_ tasks: [Task], pool: WorkerPool, seed: UInt64,
                  _ perTask: (Task, ForwardContext) throws -> (Float, [Tensor])) throws -> (loss: Float, grads: [Tensor]) {
        guard !tasks.isEmpty else { throw MetaError.argument("tasks: need at least one task") }
        let results = try pool.map(tasks.count) {
            try perTask(tasks[$0], ForwardContext(mode: .training, seed: ForwardContext.taskSeed(seed, $0)))
        }
        let scale = 1 / Float(tasks.count)
        var loss: Float = 0
        var sums = results[0].1
        for (k, r) in results.enumerated() {
            loss += r.0
            if k > 0 { sums = try zip(sums, r.1).map { try $0.zip($1, .add) } }
        }
        return (loss * scale, try sums.map { try $0.affine(scale: scale, shift: 0) })
    }
}

extension MetaLearner {
    /// The meta-loss (mean over tasks of `objective`) and its gradient with
    /// respect to the meta-parameters.
    ///
    /// Batched by chunks of tasks when the model allows (`batchedChunks`),
    /// otherwise each task on its own.
    func metaGradient(_ metaParams: [Tensor], tasks: [Task], pool: WorkerPool, seed: UInt64,
                      perTask: @escaping ([Variable], Task, ForwardContext) throws -> Variable,
                      batched: @escaping ([Variable], StackedTasks, any TaskBatchedModel) throws -> Variable)
        throws -> (loss: Float, grads: [Tensor]) {
        guard !tasks.isEmpty else { throw MetaError.argument("tasks: need at least one task") }
        if let result = try batchedChunks(tasks, pool: pool, { stacked, bm in
            let (v, g) = try Autodiff.valueAndGrad(at: metaParams.map { Variable($0) }) { try batched($0, stacked, bm) }
            return (try v.item(), g.map(\.value))
        }) {
            return result
        }
        return try averaged(tasks, pool: pool, seed: seed) { task, context in
            let (v, g) = try Autodiff.valueAndGrad(at: metaParams.map { Variable($0) }) { try perTask($0, task, context) }
            return (try v.item(), g.map(\.value))
        }
    }
}

extension MetaLearner {
    /// When the model runs tasks batched and the tasks have equal shapes: cuts
    /// them into chunks of at most `batchedChunk` (a rule that does not depend
    /// on the number of threads, so neither do the results), runs `perChunk`
    /// on each chunk on the pool, and weights each chunk's mean loss and
    /// gradient by its share of the tasks. nil when the tasks cannot be batched.
    func batchedChunks(_ tasks: [Task], pool: WorkerPool,
                       _ perChunk: @escaping (StackedTasks, any TaskBatchedModel) throws -> (Float, [Tensor]))
        throws -> (loss: Float, grads: [Tensor])? {
        guard let bm = model as? any TaskBatchedModel, !model.usesContext, StackedTasks.canStack(tasks[...]) else { return nil }
        let chunks = (tasks.count + batchedChunk - 1) / batchedChunk
        let bounds = (0...chunks).map { $0 * tasks.count / chunks }
        let parts = try pool.map(chunks) { c in try perChunk(try StackedTasks(tasks[bounds[c]..<bounds[c + 1]])!, bm) }
        var loss: Float = 0
        var grads: [Tensor] = []
        for (c, part) in parts.enumerated() {
            let w = Float(bounds[c + 1] - bounds[c]) / Float(tasks.count)
            loss += part.0 * w
            let scaled = try part.1.map { try $0.affine(scale: w, shift: 0) }
            grads = c == 0 ? scaled : try zip(grads, scaled).map { try $0.zip($1, .add) }
        }
        return (loss, grads)
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

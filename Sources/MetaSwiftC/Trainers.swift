import MetaSwift

/// What an `ms_trainer` points to: MetaLearners' `MetaTrainer` (generator,
/// optimizer state, meta-parameters) for one learner and one taskset.
///
/// A run starts from the learner's current meta-parameters: the trainer's
/// own, unless the caller set the model's parameters (or the learner's)
/// since the last run, in which case it continues from those with its
/// optimizer state kept. After a run the trained values are written back to
/// the model and the learner. Runs on one trainer are serialised.
final class TrainerObject: Bridged {
    static let kind = HandleKind.trainer

    let learner: LearnerObject
    let taskset: TasksetObject
    /// The rule it updates with (its recipe goes into checkpoints).
    let optimizer: OptimizerObject
    private let lock = Lock()
    private var trainer: MetaTrainer
    /// The meta-losses of a run restored from a checkpoint, up to where it stopped.
    let restoredLosses: [Float]

    init(learner: LearnerObject, taskset: TasksetObject, optimizer: OptimizerObject, metaBatchSize: Int, seed: UInt64) throws {
        self.learner = learner
        self.taskset = taskset
        self.optimizer = optimizer
        trainer = try MetaTrainer(learner: learner.learner, metaParameters: learner.metaParameters,
                                  optimizer: optimizer.transformation, metaBatchSize: metaBatchSize, seed: seed)
        restoredLosses = []
    }

    /// The run a checkpoint holds, continued for `learner` and `optimizer`,
    /// which must be made as the run's were (their recipes are compared);
    /// the learner's model and own meta-parameters take the checkpoint's values.
    init(restoring checkpoint: Checkpoint, path: String, learner: LearnerObject, taskset: TasksetObject,
         optimizer: OptimizerObject) throws {
        try Self.check("learner", try inFile(path) { try checkpoint.learnerSpec() }, learner.spec, learner.spec.json,
                       checkpoint, path)
        let spec = try optimizer.recipe("optimizer", for: "resuming from a checkpoint")
        try Self.check("optimizer", try inFile(path) { try checkpoint.optimizerSpec() }, spec, spec.json, checkpoint, path)
        self.learner = learner
        self.taskset = taskset
        self.optimizer = optimizer
        trainer = try checkpoint.trainer(learner: learner.learner, optimizer: optimizer.transformation)
        try inFile(path) { try learner.model.model.checkBuffers(checkpoint.model.buffers.map(\.shape)) }
        learner.setMetaParameters(trainer.metaParameters)
        for (i, b) in checkpoint.model.buffers.enumerated() { learner.model.setBuffer(i, b) }
        restoredLosses = checkpoint.losses
    }

    /// Throws unless the run's `key` (the spec its checkpoint describes) is `mine`.
    private static func check<T: Equatable>(_ key: String, _ stored: T?, _ mine: T, _ json: JSON, _ checkpoint: Checkpoint,
                                            _ path: String) throws {
        guard let stored else {
            throw StoreFormat.fileError(path, "no \(key) recipe: the checkpoint does not say how the run's \(key) was made")
        }
        guard stored == mine else {
            let text = checkpoint.descriptions.first { $0.0 == key }?.1 ?? ""
            throw StoreFormat.fileError(path, "the run's \(key) was \(text); this \(key) is \(try json.serialized). "
                                        + "Resume with the \(key) the run was made with")
        }
    }

    /// A trainer for `previous`'s learner that carries on with its optimizer
    /// state (moments, update count, schedule position).
    init(continuing previous: TrainerObject, taskset: TasksetObject, metaBatchSize: Int, seed: UInt64) throws {
        self.learner = previous.learner
        self.taskset = taskset
        self.optimizer = previous.optimizer
        self.restoredLosses = []
        let optimizer = previous.lock.withLock { previous.trainer.optimizer }
        trainer = try MetaTrainer(learner: learner.learner, metaParameters: learner.metaParameters,
                                  continuing: optimizer, metaBatchSize: metaBatchSize, seed: seed)
    }

    var steps: Int { lock.withLock { trainer.steps } }

    /// The plan of a shared step whose first half ran and second has not.
    private var pending: MetaBatchPlan?

    /// The first half of a step shared by `ranks` processes (`MetaTrainer.sampleShare`):
    /// this process's parts as rows (`partRows`). The generator stays advanced
    /// if the step is abandoned, as after a failed step.
    func shareStep(rank: Int, ranks: Int) throws -> (parts: Int, first: Int, rows: Tensor) {
        try lock.withLock {
            pending = nil
            try resumeFromLearner()
            let (share, seed) = try trainer.sampleShare(taskset.distribution, rank: rank, of: ranks)
            let parts = try learner.learner.metaParts(trainer.metaParameters, share: share, seed: seed)
            let rows = try partRows(parts.map { ($0.loss, $0.grads) }, width: partWidth)
            pending = share.plan
            return (share.plan.partCount, share.parts.lowerBound, rows)
        }
    }

    /// The second half: every part's row in order; combines, updates, writes
    /// the meta-parameters back and returns the meta-loss.
    func finishStep(rows: Tensor) throws -> Float {
        try lock.withLock {
            guard let plan = pending else {
                throw BridgeError.argument("rows: no shared step is pending; call share_step first")
            }
            pending = nil
            let shapes = learner.learner.metaParameterSpecs.map(\.shape)
            let parts = try partsFromRows(rows, count: plan.partCount, shapes: shapes, "rows")
            let loss = try trainer.finishStep(plan, results: parts.map { MetaPart(loss: $0.loss, grads: $0.tensors) })
            learner.setMetaParameters(trainer.metaParameters)
            return loss
        }
    }

    func abandonPending() { lock.withLock { pending = nil } }

    /// Continues from the learner's meta-parameters when the caller set them
    /// since the last step (keeping the optimizer state).
    private func resumeFromLearner() throws {
        let current = learner.metaParameters
        if zip(current, trainer.metaParameters).contains(where: { $0.storage !== $1.storage }) {
            try trainer.resume(from: current)
        }
    }

    /// The meta-losses of the last run's steps, done in full (a failed run's
    /// steps before the failure).
    private(set) var lastRun: [Float] = []

    /// Runs `count` meta-steps, writing each meta-loss to `losses`. On a
    /// failure (a non-finite meta-loss) the steps done so far are kept and
    /// written back, and the error is rethrown.
    func run(_ count: Int, losses: inout [Float]) throws {
        try lock.withLock {
            pending = nil
            try resumeFromLearner()
            defer {
                learner.setMetaParameters(trainer.metaParameters)
                lastRun = losses
            }
            for _ in 0..<count {
                losses.append(try trainer.step(taskset.distribution))
            }
        }
    }
}

extension Kinds {
    /// A trainer for `learner` on `taskset` with `optimizer`, or one that
    /// carries on from `previous` (its learner and optimizer state).
    static let trainers: [String: (Arguments) throws -> any Bridged] = [
        "trainer": { args in
            let previous = try args.optionalObject("previous", as: TrainerObject.self)
            let learner = try args.optionalObject("learner", as: LearnerObject.self)
            let optimizer = try args.optionalObject("optimizer", as: OptimizerObject.self)
            let ts = try args.object("taskset", as: TasksetObject.self)
            let batch = try args.count("meta_batch_size", minimum: 1)
            let seed = try args.seed("seed")
            let resume = try args.optionalString("resume_from")
            try args.done()
            try Check.fitsInMemory(batch, times: ts.distribution.floatsPerTask, "meta_batch_size")
            if let resume {
                guard previous == nil, let learner, let optimizer else {
                    throw BridgeError.argument("resume_from: give the learner and the optimizer the run was made with, "
                                               + "and no previous trainer")
                }
                try learner.checkTaskset(ts, "taskset")
                let checkpoint = try Checkpoint.read(path: resume)
                guard checkpoint.metaBatchSize == batch else {
                    throw StoreFormat.fileError(resume, "the run's meta_batch_size was \(checkpoint.metaBatchSize), "
                                                + "this one is \(batch)")
                }
                return try TrainerObject(restoring: checkpoint, path: resume, learner: learner, taskset: ts,
                                         optimizer: optimizer)
            }
            if let previous {
                guard learner == nil, optimizer == nil else {
                    throw BridgeError.argument("previous: carries on with its own learner and optimizer; give neither")
                }
                try previous.learner.checkTaskset(ts, "taskset")
                return try TrainerObject(continuing: previous, taskset: ts, metaBatchSize: batch, seed: seed)
            }
            guard let learner else { throw BridgeError.argument("learner: required") }
            guard let optimizer else { throw BridgeError.argument("optimizer: required") }
            try learner.checkTaskset(ts, "taskset")
            return try TrainerObject(learner: learner, taskset: ts, optimizer: optimizer, metaBatchSize: batch, seed: seed)
        },
    ]
}

extension TrainerObject {
    static let methods: [String: Method<TrainerObject>] = [
        "run": TrainerObject.run,
        "steps": TrainerObject.stepCount,
        "last_run": TrainerObject.lastRunLosses,
        "checkpoint": TrainerObject.checkpoint,
        "restored_losses": TrainerObject.restoredLossesMethod,
        "share_step": TrainerObject.shareStepMethod,
        "finish_step": TrainerObject.finishStepMethod,
        "abandon_step": TrainerObject.abandonStepMethod,
    ]

    /// Writes where the run is (meta-parameters, the model's buffers, the
    /// optimizer state, the generator, the step count, `losses` so far, and
    /// the learner's and optimizer's recipes) to `path`, atomically.
    func checkpoint(_ args: Arguments, _ out: Results) throws {
        let path = try args.string("path")
        let losses = try args.optionalTensor("losses", finite: false)?.scalars ?? []
        try args.done()
        let spec = try optimizer.recipe("optimizer", for: "a checkpoint")
        let model = learner.model
        let snapshot = lock.withLock { trainer }
        try Checkpoint(snapshot, model: model.model, buffers: model.buffers, inputShape: model.inputShape, losses: losses,
                       descriptions: try Checkpoint.descriptions(learner: learner.spec, optimizer: spec))
            .write(to: path)
    }

    /// The meta-losses a restored run had before its checkpoint (empty otherwise).
    func restoredLossesMethod(_ args: Arguments, _ out: Results) throws {
        try args.done()
        out.set("losses", try Tensor(shape: [restoredLosses.count], scalars: restoredLosses))
    }

    /// The meta-losses of the last run's completed steps (all of them, or
    /// those before the step that failed).
    func lastRunLosses(_ args: Arguments, _ out: Results) throws {
        try args.done()
        let losses = lock.withLock { lastRun }
        out.set("losses", try Tensor(shape: [losses.count], scalars: losses))
    }

    /// `steps` meta-steps; returns their meta-losses.
    func run(_ args: Arguments, _ out: Results) throws {
        args.charge = "meta_batch_size"
        try runSteps(args, out, run)
    }

    func stepCount(_ args: Arguments, _ out: Results) throws {
        try args.done()
        out.set("steps", steps)
    }
}

/// A trainer's "run" method: reads `steps`, runs `body` for that many steps
/// (each appends its loss) and returns the losses.
func runSteps(_ args: Arguments, _ out: Results, _ body: (Int, inout [Float]) throws -> Void) throws {
    let n = try args.count("steps")
    try args.done()
    try Check.fitsInMemory(elements: n, "steps")
    var losses: [Float] = []
    losses.reserveCapacity(n)
    try body(n, &losses)
    out.set("losses", try Tensor(shape: [n], scalars: losses))
}

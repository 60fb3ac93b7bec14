import MetaSwift

/// What an `ms_trainer` points to: MetaLearners' `MetaTrainer` (generator,
/// optimizer state, meta-parameters) for one learner and one taskset.
///
/// A run starts from the learner's current meta-parameters: the trainer's
/// own, unless the caller set the model's parameters (or the learner's)
/// since the last run, in which case it continues from those with its
/// optimizer state kept. After a run the trained values are written back to
/// the model and the learner. Runs on one trainer are serialised.
final class TrainerObject: Handled {
    static let kind = HandleKind.trainer

    let learner: LearnerObject
    let taskset: TasksetObject
    private let lock = Lock()
    private var trainer: MetaTrainer

    init(learner: LearnerObject, taskset: TasksetObject, optimizer: OptimizerObject, metaBatchSize: Int, seed: UInt64) throws {
        self.learner = learner
        self.taskset = taskset
        trainer = try MetaTrainer(learner: learner.learner, metaParameters: learner.metaParameters,
                                  optimizer: optimizer.transformation, metaBatchSize: metaBatchSize, seed: seed)
    }

    /// A trainer for `previous`'s learner that carries on with its optimizer
    /// state (moments, update count, schedule position).
    init(continuing previous: TrainerObject, taskset: TasksetObject, metaBatchSize: Int, seed: UInt64) throws {
        self.learner = previous.learner
        self.taskset = taskset
        let optimizer = previous.lock.withLock { previous.trainer.optimizer }
        trainer = try MetaTrainer(learner: learner.learner, metaParameters: learner.metaParameters,
                                  continuing: optimizer, metaBatchSize: metaBatchSize, seed: seed)
    }

    var steps: Int { lock.withLock { trainer.steps } }

    /// Runs `count` meta-steps, writing each meta-loss to `losses`. On a
    /// failure (a non-finite meta-loss) the steps done so far are kept and
    /// written back, and the error is rethrown.
    func run(_ count: Int, losses: UnsafeMutablePointer<Float>) throws {
        try lock.withLock {
            let current = learner.metaParameters
            if zip(current, trainer.metaParameters).contains(where: { $0.storage !== $1.storage }) {
                try trainer.resume(from: current)
            }
            defer { learner.setMetaParameters(trainer.metaParameters) }
            for i in 0..<count {
                losses[i] = try trainer.step(taskset.distribution)
            }
        }
    }
}

@_cdecl("ms_trainer_new")
public func ms_trainer_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ learner: OpaquePointer?,
                           _ taskset: OpaquePointer?, _ optimizer: OpaquePointer?, _ metaBatchSize: Int64,
                           _ seed: UInt64) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        let l = try Handles.resolve(learner, as: LearnerObject.self, "learner")
        let ts = try Handles.resolve(taskset, as: TasksetObject.self, "taskset")
        let opt = try Handles.resolve(optimizer, as: OptimizerObject.self, "optimizer")
        guard metaBatchSize > 0 else { throw BridgeError.argument("meta_batch_size: must be > 0, got \(metaBatchSize)") }
        try Check.fitsInMemory(Int(metaBatchSize), times: ts.distribution.floatsPerTask, "meta_batch_size")
        try l.checkTaskset(ts, "taskset")
        out.pointee = Handles.publish(try TrainerObject(learner: l, taskset: ts, optimizer: opt,
                                                        metaBatchSize: Int(metaBatchSize), seed: seed))
    }
}

@_cdecl("ms_trainer_continue")
public func ms_trainer_continue(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ previous: OpaquePointer?,
                                _ taskset: OpaquePointer?, _ metaBatchSize: Int64, _ seed: UInt64) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        let p = try Handles.resolve(previous, as: TrainerObject.self, "previous")
        let ts = try Handles.resolve(taskset, as: TasksetObject.self, "taskset")
        guard metaBatchSize > 0 else { throw BridgeError.argument("meta_batch_size: must be > 0, got \(metaBatchSize)") }
        try Check.fitsInMemory(Int(metaBatchSize), times: ts.distribution.floatsPerTask, "meta_batch_size")
        try p.learner.checkTaskset(ts, "taskset")
        out.pointee = Handles.publish(try TrainerObject(continuing: p, taskset: ts, metaBatchSize: Int(metaBatchSize),
                                                        seed: seed))
    }
}

@_cdecl("ms_trainer_free")
public func ms_trainer_free(_ trainer: OpaquePointer?) -> Int32 {
    guarded { try Handles.free(trainer, as: TrainerObject.self, "trainer") }
}

@_cdecl("ms_trainer_run")
public func ms_trainer_run(_ outLosses: UnsafeMutablePointer<Float>?, _ capacity: Int64, _ trainer: OpaquePointer?,
                           _ steps: Int64) -> Int32 {
    guarded(memory: "meta_batch_size") {
        let t = try Handles.resolve(trainer, as: TrainerObject.self, "trainer")
        let n = try Check.count(steps, "steps")
        let cap = try Check.count(capacity, "capacity")
        guard cap >= n else { throw BridgeError.argument("capacity: \(cap) is less than steps (\(n))") }
        guard n > 0 else { return }
        let losses = try Check.out(outLosses, "out_losses")
        guard Int(bitPattern: losses) % MemoryLayout<Float>.alignment == 0 else {
            throw BridgeError.argument("out_losses: not aligned to \(MemoryLayout<Float>.alignment) bytes")
        }
        try t.run(n, losses: losses)
    }
}

@_cdecl("ms_trainer_steps")
public func ms_trainer_steps(_ out: UnsafeMutablePointer<Int64>?, _ trainer: OpaquePointer?) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        out.pointee = Int64(try Handles.resolve(trainer, as: TrainerObject.self, "trainer").steps)
    }
}

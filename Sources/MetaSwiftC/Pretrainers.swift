import MetaSwift

extension HandleKind {
    static let pretrainer = HandleKind(rawValue: "pretrainer")
}

/// What a "pretrainer" object points to: MetaLearners' `SupervisedTrainer`
/// for an encoder model object followed by a head model object, on a
/// labelled array dataset.
///
/// The network is the two models in sequence ("encoder.", then "head."). A
/// run starts from the models' current parameters and buffers and writes the
/// trained ones back to both objects, so the encoder's handle holds the
/// pre-trained encoder. Runs on one pretrainer are serialised.
final class PretrainerObject: Bridged, SharedStepping {
    static let kind = HandleKind.pretrainer

    let encoder: ModelObject
    let head: ModelObject
    let optimizer: OptimizerObject
    private let lock = Lock()
    private var trainer: SupervisedTrainer
    /// The losses of the last run's completed steps (a failed run's before the failure).
    private(set) var lastRun: [Float] = []

    init(encoder: ModelObject, head: ModelObject, images: Tensor, labels: [Int], optimizer: OptimizerObject,
         batchSize: Int, dropLast: Bool, microBatches: Int, seed: UInt64) throws {
        guard encoder !== head else { throw BridgeError.argument("head: must be another model than the encoder") }
        self.encoder = encoder
        self.head = head
        self.optimizer = optimizer
        let network = try Sequential(named: [("encoder", encoder.model), ("head", head.model)])
        trainer = try SupervisedTrainer(model: network, parameters: encoder.parameters + head.parameters,
                                        buffers: encoder.buffers + head.buffers, images: images, labels: labels,
                                        optimizer: optimizer.transformation, batchSize: batchSize, dropLast: dropLast,
                                        microBatches: microBatches, seed: seed)
    }

    /// Runs `count` mini-batch steps from the models' current values, appending
    /// each loss to `losses`; writes the trained values back (those of the
    /// last step done, on a failure, which is rethrown).
    func run(_ count: Int, losses: inout [Float]) throws {
        try lock.withLock {
            pending = nil
            defer {
                lastRun = losses
                writeBack()
            }
            try resumeFromModels()
            for _ in 0..<count { losses.append(try trainer.step()) }
        }
    }

    /// The trainer's parameters and buffers into the encoder and head objects.
    private func writeBack() {
        let (e, h) = (encoder.specs.count, encoder.model.bufferSpecs.count)
        encoder.setParameters(Array(trainer.parameters[0..<e]))
        head.setParameters(Array(trainer.parameters[e...]))
        for (i, b) in trainer.buffers.enumerated() {
            if i < h { encoder.setBuffer(i, b) } else { head.setBuffer(i - h, b) }
        }
    }

    private func resumeFromModels() throws {
        try trainer.resume(parameters: encoder.parameters + head.parameters, buffers: encoder.buffers + head.buffers)
    }

    /// The micro-batches of a shared step whose first half ran.
    private var pending: MicroBatchShare?

    func abandonPending() {
        lock.withLock {
            if let share = pending { trainer.abandon(share) }
            pending = nil
        }
    }

    /// Shapes of a micro-batch's row after its loss: the gradients, then the buffers.
    private var rowShapes: [[Int]] {
        trainer.model.parameterSpecs.map(\.shape) + trainer.model.bufferSpecs.map(\.shape)
    }

    /// The first half of a step shared by `ranks` processes: this process's
    /// micro-batches as rows (loss, gradients, buffers).
    func shareStep(rank: Int, ranks: Int) throws -> (parts: Int, first: Int, rows: Tensor) {
        try lock.withLock {
            pending = nil
            try resumeFromModels()
            let share = try trainer.sampleShare(rank: rank, of: ranks)
            let parts: [MicroBatchPart]
            do {
                parts = try trainer.microParts(share)
            } catch {
                trainer.abandon(share)
                throw error
            }
            pending = share
            let width = 1 + rowShapes.reduce(0) { $0 + $1.reduce(1, *) }
            return (share.bounds.count - 1, share.parts.lowerBound,
                    try partRows(parts.map { ($0.loss, $0.grads + $0.buffers) }, width: width))
        }
    }

    /// The second half: every micro-batch's row in order; updates, writes
    /// the trained values back to the models and returns the loss.
    func finishStep(rows: Tensor) throws -> Float {
        try lock.withLock {
            guard let share = pending else {
                throw BridgeError.argument("rows: no shared step is pending; call share_step first")
            }
            pending = nil
            let p = trainer.model.parameterSpecs.count
            defer { writeBack() }
            do {
                let parts = try partsFromRows(rows, count: share.bounds.count - 1, shapes: rowShapes, "rows")
                return try trainer.finishStep(share, results: parts.map {
                    MicroBatchPart(loss: $0.loss, grads: Array($0.tensors[0..<p]), buffers: Array($0.tensors[p...]))
                })
            } catch {
                trainer.abandon(share)
                throw error
            }
        }
    }
}

extension Kinds {
    static let pretrainers: [String: (Arguments) throws -> any Bridged] = [
        "pretrainer": { args in
            let encoder = try args.object("encoder", as: ModelObject.self)
            let head = try args.object("head", as: ModelObject.self)
            // The trainer keeps the images: a view is copied, a tensor shared.
            let images = try args.scope.owned(try args.tensor("images"))
            let labels = try args.ints("labels")
            let optimizer = try args.object("optimizer", as: OptimizerObject.self)
            let batch = try args.count("batch_size", minimum: 1)
            let dropLast = try args.bool("drop_last", default: false)
            let seed = try args.seed("seed")
            let micro = try args.count("micro_batches", default: 1, minimum: 1)
            try args.done()
            guard micro <= batch else {
                throw BridgeError.argument("micro_batches: must be in 1...\(batch) (batch_size), got \(micro)")
            }
            for (i, l) in labels.enumerated() where l < 0 {
                throw BridgeError.argument("labels[\(i)]: \(l) is negative; class labels must be >= 0")
            }
            guard labels.count == images.shape.first ?? 0 else {
                throw BridgeError.argument("labels: has \(labels.count) entries but images has \(images.shape.first ?? 0) examples")
            }
            // One example's shape: the model's own check of a whole dataset would count the memory of
            // a forward pass over all of it, which training never takes.
            guard images.rank >= 1 else { throw BridgeError.argument("images: expected a batch (n, ...), got a scalar") }
            _ = try encoder.checkInput([min(images.shape[0], batch)] + images.shape.dropFirst(), "images")
            return try PretrainerObject(encoder: encoder, head: head, images: images, labels: labels.map { Int($0) },
                                        optimizer: optimizer, batchSize: batch, dropLast: dropLast, microBatches: micro,
                                        seed: seed)
        },
    ]
}

extension PretrainerObject {
    static let methods: [String: Method<PretrainerObject>] = [
        "run": PretrainerObject.run,
        "steps": PretrainerObject.stepCount,
        "batches_per_epoch": PretrainerObject.batchesPerEpoch,
        "last_run": PretrainerObject.lastRunLosses,
        "share_step": PretrainerObject.shareStepMethod,
        "finish_step": PretrainerObject.finishStepMethod,
        "abandon_step": PretrainerObject.abandonStepMethod,
    ]

    func lastRunLosses(_ args: Arguments, _ out: Results) throws {
        try args.done()
        let losses = lock.withLock { lastRun }
        out.set("losses", try Tensor(shape: [losses.count], scalars: losses))
    }

    /// `steps` mini-batch steps; returns their losses.
    func run(_ args: Arguments, _ out: Results) throws {
        try runSteps(args, out, run)
    }

    func stepCount(_ args: Arguments, _ out: Results) throws {
        try args.done()
        out.set("steps", lock.withLock { trainer.steps })
    }

    func batchesPerEpoch(_ args: Arguments, _ out: Results) throws {
        try args.done()
        out.set("batches", lock.withLock { trainer.batchesPerEpoch })
    }
}

import MetaTensor
import MetaAutodiff
import MetaNN
import MetaOptim

/// Supervised training of a network on a labelled dataset, all its classes
/// at once: the pre-training of transfer learning (Chen et al., ICLR 2019,
/// "A Closer Look at Few-shot Classification"; Tian et al., ECCV 2020).
///
/// The network is an encoder followed by a head (a `Linear` for Baseline, a
/// `CosineLinear` for Baseline++), run as one model whose parameters and
/// buffers are the encoder's, then the head's. Each step takes the next
/// mini-batch of `batchSize` examples, runs the network in training mode
/// (batch norm with running statistics updates them, dropout draws from the
/// step's stream), takes the mean softmax cross-entropy of the labels and its
/// gradient, and lets the optimizer update the parameters.
///
/// Epochs: every epoch visits the examples in a new order, a permutation
/// drawn from the trainer's generator when the epoch starts (PyTorch's
/// `DataLoader(shuffle=True)`); the last, smaller batch is kept unless
/// `dropLast`. The same seed, data and model give the same parameters bit
/// for bit.
///
///     var trainer = try SupervisedTrainer(model: network, parameters: p, buffers: b, images: x, labels: y,
///                                         optimizer: .adam(learningRate: 1e-3), batchSize: 16, seed: 0)
///     for _ in 0..<trainer.batchesPerEpoch * 5 { try trainer.step() }   // 5 epochs
public struct SupervisedTrainer {
    public let model: any Model
    /// The examples (n, ...), one per label.
    public let images: Tensor
    public let labels: [Int]
    public let batchSize: Int
    public let dropLast: Bool
    public private(set) var parameters: [Tensor]
    public private(set) var buffers: [Tensor]
    public private(set) var optimizer: Optimizer
    public private(set) var rng: RNG
    /// Mini-batches done, over all epochs.
    public internal(set) var steps = 0
    /// The current epoch's order of the examples.
    private var order: [Int] = []
    /// Micro-batches per mini-batch (at most one per example): each runs its
    /// own forward (batch norm takes its statistics), and their gradients
    /// are averaged. Processes that share a step split them.
    public let microBatches: Int
    /// The generator and order before a shared step's first half, while its
    /// second is pending.
    private var pendingStart: (RNG, [Int])?

    public init(model: any Model, parameters: [Tensor], buffers: [Tensor], images: Tensor, labels: [Int],
                optimizer: GradientTransformation, batchSize: Int, dropLast: Bool = false, microBatches: Int = 1,
                seed: UInt64) throws {
        try model.checkParameters(parameters.map(\.shape))
        try model.checkBuffers(buffers.map(\.shape))
        guard images.rank >= 1, images.shape[0] > 0 else {
            throw MetaError.shape("images: expected a non-empty batch (n, ...), got shape \(images.shape)")
        }
        guard labels.count == images.shape[0] else {
            throw MetaError.shape("labels: \(labels.count) labels for \(images.shape[0]) images")
        }
        if let bad = labels.firstIndex(where: { $0 < 0 }) {
            throw MetaError.index("labels[\(bad)] = \(labels[bad]) is not a class index (>= 0)")
        }
        guard batchSize > 0 else { throw MetaError.argument("batch_size must be > 0, got \(batchSize)") }
        guard (1...batchSize).contains(microBatches) else {
            throw MetaError.argument("micro_batches must be in 1...\(batchSize) (batch_size), got \(microBatches)")
        }
        guard !dropLast || batchSize <= images.shape[0] else {
            throw MetaError.argument("batch_size: \(batchSize) is more than the \(images.shape[0]) examples, and "
                                     + "drop_last leaves no batch")
        }
        self.model = model
        self.images = images
        self.labels = labels
        self.batchSize = batchSize
        self.dropLast = dropLast
        self.microBatches = microBatches
        self.parameters = parameters
        self.buffers = buffers
        self.optimizer = try Optimizer(optimizer, params: parameters)
        self.rng = RNG(seed: seed)
    }

    /// Carries on from `parameters` and `buffers` (set from outside since the
    /// last step), keeping the optimizer state and the epoch's order.
    public mutating func resume(parameters: [Tensor], buffers: [Tensor]) throws {
        try model.checkParameters(parameters.map(\.shape))
        try model.checkBuffers(buffers.map(\.shape))
        self.parameters = parameters
        self.buffers = buffers
    }

    public var examples: Int { images.shape[0] }

    /// Mini-batches per epoch.
    public var batchesPerEpoch: Int { dropLast ? examples / batchSize : (examples + batchSize - 1) / batchSize }

    /// Epochs completed.
    public var epochs: Int { steps / batchesPerEpoch }

    /// The next mini-batch's example indices; draws a new order at an epoch's start.
    mutating func nextBatch() throws -> [Int] {
        let k = steps % batchesPerEpoch
        if k == 0 || order.isEmpty { order = try rng.permutation(examples) }
        return Array(order[(k * batchSize)..<min((k + 1) * batchSize, examples)])
    }

    /// One mini-batch step; returns its loss (before the update). A loss, a
    /// gradient or parameters that are not finite, or a failing forward,
    /// stop training with an error and leave the trainer as it was before
    /// the step.
    @discardableResult
    public mutating func step() throws -> Float {
        let saved = (rng, order)
        do {
            let share = try sampleShare(rank: 0, of: 1)
            return try finishStep(share, results: try microParts(share))
        } catch {
            (rng, order) = saved
            throw error
        }
    }

    /// A step shared by `ranks` processes, first half: the next mini-batch
    /// (each process draws the same order from its own copy of the
    /// generator) cut into `microBatches` micro-batches, and the ones this
    /// process (`rank`) computes, a contiguous block.
    public mutating func sampleShare(rank: Int, of ranks: Int) throws -> MicroBatchShare {
        guard ranks > 0, (0..<ranks).contains(rank) else {
            throw MetaError.argument("rank must be in 0..<\(ranks), got \(rank)")
        }
        let saved = (rng, order)
        let batch = try nextBatch()
        let seed = model.isStochastic ? rng.nextUInt64() : 0
        let m = min(microBatches, batch.count)
        pendingStart = saved
        return MicroBatchShare(batch: batch, bounds: (0...m).map { $0 * batch.count / m },
                               parts: (rank * m / ranks)..<((rank + 1) * m / ranks), seed: seed, step: steps)
    }

    /// The share's micro-batches: each one's mean loss, its gradient and the
    /// buffers its training forward leaves (running statistics moved toward
    /// its batch statistics, from the step's). Micro-batch m draws dropout
    /// from the step's seed (m = 0) or from (seed, m).
    public func microParts(_ share: MicroBatchShare) throws -> [MicroBatchPart] {
        try checkPending(share)
        let (model, parameters, buffers) = (self.model, self.parameters, self.buffers)
        return try share.parts.map { m in
            let rows = Array(share.batch[share.bounds[m]..<share.bounds[m + 1]])
            let x = try images.gather(indices: rows, axis: 0)
            let y = rows.map { labels[$0] }
            let context = ForwardContext(mode: .training, seed: m == 0 ? share.seed : ForwardContext.taskSeed(share.seed, m),
                                         buffers: buffers)
            let (loss, grads) = try Autodiff.valueAndGrad(at: parameters.map { Variable($0) }) {
                try softmaxCrossEntropy(logits: try model($0, Variable(x), context: context), labels: y)
            }
            return MicroBatchPart(loss: try loss.item(), grads: grads.map(\.value), buffers: context.buffers ?? buffers)
        }
    }

    /// A shared step's second half: every micro-batch's result (from all
    /// processes, in order) weighted by its share of the batch and added in
    /// order: the loss, the gradient the optimizer steps with, and the new
    /// buffers. One micro-batch is taken as it is. Returns the loss; on a
    /// failure the trainer is as before the first half.
    @discardableResult
    public mutating func finishStep(_ share: MicroBatchShare, results: [MicroBatchPart]) throws -> Float {
        try checkPending(share)
        guard results.count == share.bounds.count - 1 else {
            throw MetaError.argument("micro-batches: expected \(share.bounds.count - 1) results, got \(results.count)")
        }
        var value: Float = 0
        var g: [Tensor] = [], b: [Tensor] = []
        if results.count == 1 {
            (value, g, b) = (results[0].loss, results[0].grads, results[0].buffers)
        } else {
            let n = Float(share.batch.count)
            for (m, part) in results.enumerated() {
                let w = Float(share.bounds[m + 1] - share.bounds[m]) / n
                value += part.loss * w
                let sg = try part.grads.map { try $0.affine(scale: w, shift: 0) }
                let sb = try part.buffers.map { try $0.affine(scale: w, shift: 0) }
                g = m == 0 ? sg : try zip(g, sg).map { try $0.zip($1, .add) }
                b = m == 0 ? sb : try zip(b, sb).map { try $0.zip($1, .add) }
            }
        }
        func fail(_ what: String) -> MetaError {
            if let start = pendingStart { (rng, order) = start }
            pendingStart = nil
            return MetaError.argument("\(what) at step \(steps + 1) (epoch \(steps / batchesPerEpoch + 1)); lower the "
                                      + "learning rate. The parameters are those after step \(steps), unchanged")
        }
        guard value.isFinite else { throw fail("the loss became \(value)") }
        guard g.allSatisfy(\.isFinite) else { throw fail("the gradient became NaN or infinite") }
        var next = optimizer
        let updated = try next.step(params: parameters, grads: g)
        guard updated.allSatisfy(\.isFinite) else { throw fail("the parameters became NaN or infinite") }
        try model.checkBuffers(b.map(\.shape))
        parameters = updated
        optimizer = next
        buffers = b
        steps += 1
        pendingStart = nil
        return value
    }

    /// Drops a shared step whose second half will not come (another
    /// process failed): the trainer is as before its first half.
    public mutating func abandon(_ share: MicroBatchShare) {
        guard share.step == steps, let start = pendingStart else { return }
        (rng, order) = start
        pendingStart = nil
    }

    private func checkPending(_ share: MicroBatchShare) throws {
        guard pendingStart != nil, share.step == steps else {
            throw MetaError.argument("micro-batches: not the pending step of this trainer (call sampleShare first)")
        }
    }

    /// Top-1 accuracy of `model` with `parameters` and `buffers` on (images,
    /// labels) in inference mode (running statistics where the model keeps
    /// them), in batches of `batchSize`.
    public static func accuracy(model: any Model, parameters: [Tensor], buffers: [Tensor], images: Tensor,
                                labels: [Int], batchSize: Int = 256) throws -> Float {
        guard images.rank >= 1, labels.count == images.shape[0], images.shape[0] > 0 else {
            throw MetaError.shape("labels: \(labels.count) labels for images of shape \(images.shape)")
        }
        var correct = 0
        let p = parameters.map { Variable($0) }
        for start in stride(from: 0, to: labels.count, by: batchSize) {
            let rows = Array(start..<min(start + batchSize, labels.count))
            let context = ForwardContext(mode: .inference, buffers: buffers)
            let logits = try model(p, Variable(try images.gather(indices: rows, axis: 0)), context: context).value
            guard logits.rank == 2 else {
                throw MetaError.shape("accuracy: the model must output logits (n, classes), got \(logits.shape)")
            }
            for (i, c) in try argmax(logits: logits).enumerated() where c == labels[rows[i]] { correct += 1 }
        }
        return Float(correct) / Float(labels.count)
    }
}

/// The micro-batches of one mini-batch step that one process computes.
public struct MicroBatchShare: Sendable {
    /// The mini-batch's example indices.
    public let batch: [Int]
    /// Micro-batch m is `batch[bounds[m] ..< bounds[m + 1]]`.
    public let bounds: [Int]
    /// The micro-batches this process computes.
    public let parts: Range<Int>
    /// The step's seed for dropout.
    public let seed: UInt64
    /// The trainer's step count when the share was drawn.
    let step: Int
}

/// One micro-batch's result.
public struct MicroBatchPart {
    public let loss: Float
    public let grads: [Tensor]
    public let buffers: [Tensor]

    public init(loss: Float, grads: [Tensor], buffers: [Tensor]) {
        self.loss = loss
        self.grads = grads
        self.buffers = buffers
    }
}

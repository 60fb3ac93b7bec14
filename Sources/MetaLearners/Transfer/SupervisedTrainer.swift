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

    public init(model: any Model, parameters: [Tensor], buffers: [Tensor], images: Tensor, labels: [Int],
                optimizer: GradientTransformation, batchSize: Int, dropLast: Bool = false, seed: UInt64) throws {
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
        guard !dropLast || batchSize <= images.shape[0] else {
            throw MetaError.argument("batch_size: \(batchSize) is more than the \(images.shape[0]) examples, and "
                                     + "drop_last leaves no batch")
        }
        self.model = model
        self.images = images
        self.labels = labels
        self.batchSize = batchSize
        self.dropLast = dropLast
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
    /// gradient or parameters that are not finite stop training with an error
    /// and leave the trainer as it was before the step.
    @discardableResult
    public mutating func step() throws -> Float {
        let saved = (rng, order)
        let batch = try nextBatch()
        let x = try images.gather(indices: batch, axis: 0)
        let y = batch.map { labels[$0] }
        let seed = model.isStochastic ? rng.nextUInt64() : 0
        let context = ForwardContext(mode: .training, seed: seed, buffers: buffers)
        let model = self.model
        let (loss, grads) = try Autodiff.valueAndGrad(at: parameters.map { Variable($0) }) {
            try softmaxCrossEntropy(logits: try model($0, Variable(x), context: context), labels: y)
        }
        let value = try loss.item()
        func fail(_ what: String) -> MetaError {
            (rng, order) = saved
            return MetaError.argument("\(what) at step \(steps + 1) (epoch \(steps / batchesPerEpoch + 1)); lower the "
                                      + "learning rate. The parameters are those after step \(steps), unchanged")
        }
        guard value.isFinite else { throw fail("the loss became \(value)") }
        let g = grads.map(\.value)
        guard g.allSatisfy(\.isFinite) else { throw fail("the gradient became NaN or infinite") }
        var next = optimizer
        let updated = try next.step(params: parameters, grads: g)
        guard updated.allSatisfy(\.isFinite) else { throw fail("the parameters became NaN or infinite") }
        parameters = updated
        optimizer = next
        buffers = context.buffers ?? buffers
        steps += 1
        return value
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

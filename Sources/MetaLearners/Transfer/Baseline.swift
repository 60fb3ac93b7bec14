import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData

/// Baseline and Baseline++ (Chen, Liu, Kira, Wang & Huang, "A Closer Look
/// at Few-shot Classification", ICLR 2019): a pre-trained encoder, frozen;
/// per episode a NEW head trained on the support embeddings, whose query
/// logits classify the episode.
///
/// Per episode: the encoder embeds support and query in one inference
/// forward (with the model's running statistics when `buffers` are given,
/// PyTorch's `model.eval()`, as the paper extracts features; batch statistics
/// otherwise). A head (`TransferHead`: `linear` for Baseline, `cosine` for
/// Baseline++) drawn from `RNG(seed: seed)` is trained with PyTorch's SGD
/// (`TorchSGD`: momentum, dampening, weight decay on every head parameter)
/// for `epochs` epochs; each epoch visits the support examples in a
/// permutation drawn from the same generator, in mini-batches of `batchSize`
/// (the last partial one kept), minimising the mean softmax cross-entropy.
/// Defaults are the official code's (`methods/baselinefinetune.py`): lr 0.01,
/// momentum 0.9, dampening 0.9, weight decay 1e-3, 100 epochs, batch 4.
///
/// The head loop runs over Float buffers with closed-form gradients
/// (`FrozenHead`), one native call per episode. Every episode starts from the
/// same seed, so the same episode gives the same logits bit for bit, alone or
/// in an evaluation, whatever the number of threads.
///
/// It does not meta-train (`metaLossAndGrad` throws): pre-train the encoder
/// with supervised pre-training. Its meta-parameters are the encoder's,
/// `adapt` returns them unchanged and `innerSteps` is 0.
///
///     let baseline = try Baseline(encoder: conv4, head: .cosine(scale: 2))
///     let logits = try baseline.episodeLogits(params, supportX: xs, supportY: ys, queryX: xq, buffers: buffers)
public struct Baseline: FrozenEncoderClassifier {
    public let encoder: any Model
    public let head: TransferHead
    public let optimizer: TorchSGD
    public let epochs: Int
    public let batchSize: Int
    public let seed: UInt64
    public let pool: WorkerPool

    public init(encoder: any Model, head: TransferHead = .linear, lr: Float = 0.01, momentum: Float = 0.9,
                dampening: Float = 0.9, weightDecay: Float = 1e-3, epochs: Int = 100, batchSize: Int = 4,
                seed: UInt64 = 0, pool: WorkerPool = .shared) throws {
        try Check.rate(lr, "lr")
        try Check.rate(dampening, "dampening")
        try checkHeadTraining(head: head, momentum: momentum, weightDecay: weightDecay, epochs: epochs, batchSize: batchSize)
        self.encoder = encoder
        self.head = head
        self.optimizer = TorchSGD(lr: lr, momentum: momentum, dampening: dampening, weightDecay: weightDecay)
        self.epochs = epochs
        self.batchSize = batchSize
        self.seed = seed
        self.pool = pool
    }

    public func fitHead(_ z: Tensor, labels: [Int], ways: Int) throws -> (initial: [Tensor], fitted: [Tensor]) {
        try trainHead(z, labels: labels, ways: ways)
    }

    /// The head's initial and trained parameters (W and b, or v and g) for a
    /// support set of embeddings `z` (S, d) with labels 0..<`ways`.
    public func trainHead(_ z: Tensor, labels: [Int], ways: Int) throws -> (initial: [Tensor], fitted: [Tensor]) {
        let (s, d) = (z.shape[0], z.shape[1])
        var rng = RNG(seed: seed)
        let initial = try head.initialParameters(features: d, classes: ways, rng: &rng)
        var p = initial.map(\.scalars)
        var buffers = p.map { _ in [Float]() }
        let frozen = FrozenHead(head: head, d: d, n: ways)
        let x = frozen.prepare(z.scalars, count: s)
        try x.withUnsafeBufferPointer { x in
            for _ in 0..<epochs {
                let order = try rng.permutation(s)
                for start in stride(from: 0, to: s, by: batchSize) {
                    let (_, grads) = frozen.lossAndGrad(p, x, rows: order[start..<min(start + batchSize, s)], labels: labels)
                    for k in p.indices { optimizer.step(&p[k], grads[k], &buffers[k]) }
                }
            }
        }
        return (initial, try zip(initial, p).map { try Tensor(shape: $0.shape, scalars: $1) })
    }

    public func episodeLogits(_ metaParams: [Tensor], supportX: Tensor, supportY: Tensor, queryX: Tensor,
                              buffers: [Tensor]?) throws -> Tensor {
        let (labels, ways, zs, zq) = try embeddedEpisode(metaParams, supportX: supportX, supportY: supportY,
                                                         queryX: queryX, buffers: buffers)
        let trained = try trainHead(zs, labels: labels, ways: ways).fitted
        let m = zq.shape[0], d = zq.shape[1]
        let frozen = FrozenHead(head: head, d: d, n: ways)
        let q = frozen.prepare(zq.scalars, count: m)
        let logits = q.withUnsafeBufferPointer { frozen.logits(trained.map(\.scalars), $0, rows: 0..<m) }
        return try Tensor(shape: [m, ways], scalars: logits)
    }
}

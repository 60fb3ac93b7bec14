import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData

/// Fine-tuning the whole network per episode: the pre-trained encoder and a
/// new head (`TransferHead`, linear or cosine) trained together on the
/// support set, the common transfer protocol of the few-shot benchmarks that
/// followed Chen et al. (ICLR 2019) and Tian et al. (ECCV 2020).
///
/// PyTorch's SGD (`TorchSGD`: momentum, dampening 0, weight decay on every
/// parameter) with separate learning rates for the backbone and the head
/// (timm's parameter groups), for `epochs` epochs over mini-batches of
/// `batchSize` in a permutation per epoch drawn, after the head's initial
/// parameters, from `RNG(seed: seed)`; loss: mean softmax cross-entropy. The
/// defaults (backbone 1e-3, head 1e-2, momentum 0.9, weight decay 1e-3, 50
/// epochs, batch 4) are ours, not a paper's.
///
/// Gradients come from Autodiff through the whole network. The encoder runs in
/// inference mode: with the model's running statistics (`buffers`), batch norm
/// stays at the pre-trained values (with mini-batches of 4, batch statistics
/// would be noise, and they would move the running averages too); without
/// buffers it normalises with each batch's statistics. Dropout is off.
///
/// The model is never changed: `episodeLogits` and `adapt` work on copies of
/// the parameters; `adapt` returns the fine-tuned encoder parameters. It does
/// not meta-train.
public struct FineTune: TransferLearner {
    public let encoder: any Model
    public let head: TransferHead
    public let backboneLR: Float
    public let headLR: Float
    public let optimizer: TorchSGD
    public let epochs: Int
    public let batchSize: Int
    public let seed: UInt64
    public let pool: WorkerPool

    public init(encoder: any Model, head: TransferHead = .linear, backboneLR: Float = 1e-3, headLR: Float = 1e-2,
                momentum: Float = 0.9, weightDecay: Float = 1e-3, epochs: Int = 50, batchSize: Int = 4,
                seed: UInt64 = 0, pool: WorkerPool = .shared) throws {
        try Check.rate(backboneLR, "backbone_lr")
        try Check.rate(headLR, "head_lr")
        try checkHeadTraining(head: head, momentum: momentum, weightDecay: weightDecay, epochs: epochs, batchSize: batchSize)
        self.encoder = encoder
        self.head = head
        self.backboneLR = backboneLR
        self.headLR = headLR
        self.optimizer = TorchSGD(lr: headLR, momentum: momentum, dampening: 0, weightDecay: weightDecay)
        self.epochs = epochs
        self.batchSize = batchSize
        self.seed = seed
        self.pool = pool
    }

    /// The encoder's and the head's parameters fine-tuned on the support set
    /// (x, labels 0..<ways), with `buffers` for batch norm (nil: batch statistics).
    public func fineTune(_ metaParams: [Tensor], x: Tensor, labels: [Int], ways: Int,
                         buffers: [Tensor]?) throws -> (encoder: [Tensor], head: [Tensor]) {
        let s = x.shape[0], n = encoder.parameterCount
        let d = try encoder(metaParams.map { Variable($0) }, Variable(try x.gather(indices: [0], axis: 0)),
                            context: try inferenceContext(encoder, buffers: buffers)).value.count
        var rng = RNG(seed: seed)
        let initialHead = try head.initialParameters(features: d, classes: ways, rng: &rng)
        let shapes = (metaParams + initialHead).map(\.shape)
        var p = (metaParams + initialHead).map(\.scalars)
        var momenta = p.map { _ in [Float]() }
        for _ in 0..<epochs {
            let order = try rng.permutation(s)
            for start in stride(from: 0, to: s, by: batchSize) {
                let rows = order[start..<min(start + batchSize, s)]
                let xb = Variable(try x.gather(indices: Array(rows), axis: 0))
                let yb = rows.map { labels[$0] }
                let at = try zip(shapes, p).map { Variable(try Tensor(shape: $0, scalars: $1)) }
                let (_, grads) = try Autodiff.valueAndGrad(at: at) { all in
                    let context = try inferenceContext(encoder, buffers: buffers)
                    let z = try encoder(Array(all[0..<n]), xb, context: context).reshaped([rows.count, -1])
                    return try softmaxCrossEntropy(logits: try head.logits(Array(all[n...]), z), labels: yb)
                }
                for k in p.indices {
                    optimizer.step(&p[k], grads[k].value.scalars, &momenta[k], lr: k < n ? backboneLR : headLR)
                }
            }
        }
        let tensors = try zip(shapes, p).map { try Tensor(shape: $0, scalars: $1) }
        return (Array(tensors[0..<n]), Array(tensors[n...]))
    }

    /// The encoder's parameters fine-tuned on the support set (x, y) with batch
    /// statistics; `steps` is ignored (the learner's `epochs` apply).
    public func adapt(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int? = nil) throws -> [Tensor] {
        try adapt(metaParams, x: x, y: y, buffers: nil)
    }

    /// The encoder's parameters fine-tuned on the support set (x, y), batch norm
    /// with `buffers` (nil: batch statistics).
    public func adapt(_ metaParams: [Tensor], x: Tensor, y: Tensor, buffers: [Tensor]?) throws -> [Tensor] {
        try checkMetaParameters(metaParams)
        let (labels, ways) = try transferEpisode("FineTune", supportX: x, supportY: y, queryX: x)
        return try fineTune(metaParams, x: x, labels: labels, ways: ways, buffers: buffers).encoder
    }

    public func episodeLogits(_ metaParams: [Tensor], supportX: Tensor, supportY: Tensor, queryX: Tensor,
                              buffers: [Tensor]?) throws -> Tensor {
        try checkMetaParameters(metaParams)
        let (labels, ways) = try transferEpisode("FineTune", supportX: supportX, supportY: supportY, queryX: queryX)
        let tuned = try fineTune(metaParams, x: supportX, labels: labels, ways: ways, buffers: buffers)
        let (_, zq) = try embedEpisode(encoder, tuned.encoder.map { Variable($0) }, supportX: supportX, queryX: queryX,
                                       buffers: buffers)
        return try head.logits(tuned.head.map { Variable($0) }, zq).value
    }
}

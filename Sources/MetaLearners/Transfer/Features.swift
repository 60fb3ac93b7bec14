import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData

// What the transfer learners (Baseline, LogisticProbe, FineTune) share: the
// episode's checks and the encoder's embeddings.

/// The checked support labels of an episode and its number of classes N
/// (labels must cover 0..<N), with the query examples shaped like the support's.
func transferEpisode(_ who: String, supportX: Tensor, supportY: Tensor, queryX: Tensor) throws -> (labels: [Int], ways: Int) {
    guard supportX.rank >= 1, supportX.shape[0] > 0 else {
        throw MetaError.shape("\(who): x_support must be a non-empty batch (n, ...), got shape \(supportX.shape)")
    }
    let s = supportX.shape[0]
    let labels = try episodeLabels(supportY, name: "y_support", bound: s, examples: s)
    let ways = (labels.max() ?? -1) + 1
    var seen = [Bool](repeating: false, count: ways)
    for l in labels { seen[l] = true }
    if let missing = seen.firstIndex(of: false) {
        throw MetaError.argument("\(who): y_support has no example of class \(missing); labels must cover 0..<\(ways)")
    }
    guard queryX.rank >= 1, supportX.shape.dropFirst() == queryX.shape.dropFirst() else {
        throw MetaError.shape("\(who): x_query examples \(Array(queryX.shape.dropFirst())) differ from x_support examples \(Array(supportX.shape.dropFirst()))")
    }
    guard queryX.shape[0] > 0 else { throw MetaError.shape("\(who): x_query is empty") }
    return (labels, ways)
}

/// The checks of a head's training loop shared by Baseline and FineTune.
func checkHeadTraining(head: TransferHead, momentum: Float, weightDecay: Float, epochs: Int, batchSize: Int) throws {
    try Check.rate(momentum, "momentum")
    try Check.rate(weightDecay, "weight_decay")
    try Check.steps(epochs, "epochs")
    try Check.steps(batchSize, "batch_size")
    if case .cosine(let s) = head, !(s.isFinite && s > 0) {
        throw MetaError.argument("scale must be finite and > 0, got \(s)")
    }
}

/// An inference context holding `buffers` (running statistics; nil or empty:
/// batch statistics), checked against the encoder's buffer specs.
func inferenceContext(_ encoder: any Model, buffers: [Tensor]?) throws -> ForwardContext {
    guard let buffers, !buffers.isEmpty else { return ForwardContext(mode: .inference) }
    let specs = encoder.bufferSpecs
    guard buffers.count == specs.count else {
        throw MetaError.argument("buffers: the encoder has \(specs.count) buffers, got \(buffers.count)")
    }
    for (b, s) in zip(buffers, specs) where b.shape != s.shape {
        throw MetaError.shape("buffers: \(s.name) has shape \(s.shape), got \(b.shape)")
    }
    return ForwardContext(mode: .inference, buffers: buffers)
}

/// The embeddings (S, d) of the support and (M, d) of the query examples:
/// one inference forward of both as ONE batch, with the model's running
/// statistics when `buffers` are given (PyTorch's `model.eval()`; then the
/// batch does not matter) and with the batch's statistics otherwise (then the
/// query shares the support's, as in ProtoNet).
func embedEpisode(_ encoder: any Model, _ params: [Variable], supportX: Tensor, queryX: Tensor,
                  buffers: [Tensor]?) throws -> (support: Variable, query: Variable) {
    let s = supportX.shape[0], m = queryX.shape[0]
    let inputs = Variable(try Tensor.concat([supportX, queryX], axis: 0))
    let both = try encoder(params, inputs, context: try inferenceContext(encoder, buffers: buffers)).reshaped([s + m, -1])
    return (try both.slice(axis: 0, range: 0..<s), try both.slice(axis: 0, range: s..<(s + m)))
}

/// A fine-tuning protocol over a pre-trained encoder (Baseline, LogisticProbe,
/// FineTune): a learner whose meta-parameters are the encoder's, which
/// classifies episodes by its own rule and does not meta-train.
public protocol TransferLearner: MetaLearner, EpisodeClassifier {
    var encoder: any Model { get }
}

extension TransferLearner {
    public var model: any Model { encoder }
    public var loss: TaskLoss { .crossEntropy }
    public var innerSteps: Int { 0 }
    public var metaParameterSpecs: [ParameterSpec] { encoder.parameterSpecs }
    public func initialMetaParameters(rng: inout RNG) throws -> [Tensor] { try encoder.initialParameters(rng: &rng) }

    /// Throws: the encoder is pre-trained elsewhere (supervised pre-training).
    public func metaParts(_ metaParams: [Tensor], share: MetaBatchShare, seed: UInt64) throws -> [MetaPart] {
        throw MetaError.argument("\(Self.self) does not meta-train: it is a fine-tuning protocol over a pre-trained "
                                 + "encoder; pre-train the encoder with the Pretrainer (supervised pre-training), then evaluate")
    }
}

/// The embeddings (n, d) of a batch `x` in one inference forward, with the
/// model's running statistics when `buffers` are given, else the batch's.
public func transferEmbeddings(_ encoder: any Model, _ params: [Tensor], _ x: Tensor, buffers: [Tensor]?) throws -> Tensor {
    guard x.rank >= 1, x.shape[0] > 0 else { throw MetaError.shape("x: needs at least one example, got shape \(x.shape)") }
    return try encoder(params.map { Variable($0) }, Variable(x),
                       context: try inferenceContext(encoder, buffers: buffers)).reshaped([x.shape[0], -1]).value
}

/// A transfer learner whose encoder stays frozen and whose per-episode
/// classifier can be looked at: the head it fits to a support set.
public protocol FrozenEncoderClassifier: TransferLearner {
    /// The head's initial and fitted parameters for support embeddings `z`
    /// (S, d) with labels 0..<`ways` (Baseline: W, b or v, g; LogisticProbe: W, b).
    func fitHead(_ z: Tensor, labels: [Int], ways: Int) throws -> (initial: [Tensor], fitted: [Tensor])
}

extension FrozenEncoderClassifier {
    /// An episode checked, and its support and query embedded (see `embedEpisode`).
    func embeddedEpisode(_ metaParams: [Tensor], supportX: Tensor, supportY: Tensor, queryX: Tensor,
                         buffers: [Tensor]?) throws -> (labels: [Int], ways: Int, support: Tensor, query: Tensor) {
        try checkMetaParameters(metaParams)
        let (labels, ways) = try transferEpisode("\(Self.self)", supportX: supportX, supportY: supportY, queryX: queryX)
        let (zs, zq) = try embedEpisode(encoder, metaParams.map { Variable($0) }, supportX: supportX, queryX: queryX,
                                        buffers: buffers)
        return (labels, ways, zs.value, zq.value)
    }

    /// The encoder's parameters unchanged: the encoder is frozen.
    public func adapt(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int? = nil) throws -> [Tensor] {
        try checkMetaParameters(metaParams)
        return metaParams
    }

    /// The support set's embeddings (embedded alone, see `transferEmbeddings`)
    /// and the head fitted to them, from its initial parameters.
    public func supportHead(_ metaParams: [Tensor], supportX: Tensor, supportY: Tensor,
                            buffers: [Tensor]?) throws -> (features: Tensor, initial: [Tensor], fitted: [Tensor]) {
        let (labels, ways) = try transferEpisode("\(Self.self)", supportX: supportX, supportY: supportY, queryX: supportX)
        let z = try transferEmbeddings(model, metaParams, supportX, buffers: buffers)
        let (initial, fitted) = try fitHead(z, labels: labels, ways: ways)
        return (z, initial, fitted)
    }
}

import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData

/// Prototypical Networks (Snell, Swersky & Zemel, NeurIPS 2017).
///
/// An encoder f_φ embeds every example. The prototype of class c is the mean
/// embedding of its support examples, p_c = (1/|S_c|) Σ_{x∈S_c} f_φ(x). A query
/// q is scored against every prototype, and its class distribution is
/// softmax over classes of
///
///     squaredEuclidean:  logit_c = −‖f_φ(q) − p_c‖²          (the paper's choice, §2.4)
///     cosine:            logit_c = cos(f_φ(q), p_c) ∈ [−1, 1]
///
/// The episode loss is the mean softmax cross-entropy of the query labels.
/// Nothing is fine-tuned per task: the meta-parameters are the encoder's
/// parameters, meta-trained by gradient descent on the episode loss
/// (`metaLossAndGrad`), `adapt` returns them unchanged and `innerSteps` is 0.
/// A query is classified by its nearest prototype (`predict` in Predict.swift).
///
/// Meta-Baseline's option (Chen, Liu, Xu, Darrell & Wang, ICCV 2021): with
/// `temperature` τ₀ set, the logits are multiplied by a learned scalar τ, the
/// learner's own meta-parameter "temperature" of shape [1] after the encoder's
/// (as Meta-SGD's rates), initialised to τ₀ (the paper: cosine distance, τ₀ =
/// 10) and meta-trained with the exact gradient. Without it (nil) there is no
/// such parameter and the logits are the plain ones.
///
/// The squared distances of M queries to N prototypes come from one GEMM:
/// ‖q − p‖² = ‖q‖² − 2 q·p + ‖p‖². Trap: for embeddings of large norm the
/// expansion loses digits to cancellation (a distance can come out slightly
/// negative); logits only feed a softmax, which is unaffected by that.
///
/// Support and query examples go through the encoder as ONE batch, as in the
/// reference code: with batch-statistics BatchNorm (`Conv4`) the query set then
/// shares the support set's statistics, and the embedding of an example
/// depends on the rest of its episode (transductive, as in MAML).
///
///     let proto = ProtoNet(encoder: try Conv4(inChannels: 1, hidden: 64))  // no head: 64-d embeddings
///     var trainer = try MetaTrainer(learner: proto, metaParameters: try proto.initialMetaParameters(rng: &rng),
///                                   optimizer: .adam(learningRate: 1e-3), metaBatchSize: 1, seed: 0)
///     try trainer.step(taskset)
public struct ProtoNet: MetaLearner, EpisodeClassifier {
    public enum Distance: String, Sendable, CaseIterable {
        case squaredEuclidean = "squared_euclidean"
        case cosine
    }

    /// Maps an input batch (n, ...) to embeddings; outputs of any rank are
    /// flattened to (n, d).
    public let encoder: any Model
    public let distance: Distance
    /// The initial value of the learned logit scale τ (Meta-Baseline), or nil for none.
    public let temperature: Float?
    public let pool: WorkerPool

    public init(encoder: any Model, distance: Distance = .squaredEuclidean, temperature: Float? = nil,
                pool: WorkerPool = .shared) {
        self.encoder = encoder
        self.distance = distance
        self.temperature = temperature
        self.pool = pool
    }

    public var model: any Model { encoder }
    public var loss: TaskLoss { .crossEntropy }
    public var innerSteps: Int { 0 }
    public var metaParameterSpecs: [ParameterSpec] {
        encoder.parameterSpecs + (temperature == nil ? [] : [ParameterSpec("temperature", [1])])
    }

    public func initialMetaParameters(rng: inout RNG) throws -> [Tensor] {
        try encoder.initialParameters(rng: &rng) + (try temperature.map { [try Tensor.full([1], $0)] } ?? [])
    }

    /// Query logits (M, N) for an episode whose support labels are 0..<N
    /// (floats, shape (S,) or (S, 1)), every class with at least one example.
    /// `context`: the episode's forward context (training mode in meta-training), or nil.
    /// `params` are the meta-parameters: the encoder's, then τ when `temperature` is set.
    public func logits(_ params: [Variable], supportX: Tensor, supportY: Tensor, queryX: Tensor,
                       context: ForwardContext? = nil) throws -> Variable {
        let n = encoder.parameterCount
        let plain = try plainLogits(Array(params[0..<n]), supportX: supportX, supportY: supportY, queryX: queryX,
                                    context: context)
        guard temperature != nil, params.count > n else { return plain }
        return try plain * params[n].reshaped([1, 1])
    }

    /// The logits before Meta-Baseline's temperature; `params` are the encoder's.
    func plainLogits(_ params: [Variable], supportX: Tensor, supportY: Tensor, queryX: Tensor,
                     context: ForwardContext?) throws -> Variable {
        guard supportX.rank >= 1, supportX.shape[0] > 0 else {
            throw MetaError.shape("ProtoNet: x_support must be a non-empty batch (n, ...), got shape \(supportX.shape)")
        }
        let s = supportX.shape[0]
        let labels = try episodeLabels(supportY, name: "y_support", bound: s, examples: s)
        let ways = (labels.max() ?? -1) + 1
        var counts = [Int](repeating: 0, count: ways)
        for l in labels { counts[l] += 1 }
        if let missing = counts.firstIndex(of: 0) {
            throw MetaError.argument("ProtoNet: y_support has no example of class \(missing); labels must cover 0..<\(ways)")
        }
        guard queryX.rank >= 1, supportX.shape.dropFirst() == queryX.shape.dropFirst() else {
            throw MetaError.shape("ProtoNet: x_query examples \(Array(queryX.shape.dropFirst())) differ from x_support examples \(Array(supportX.shape.dropFirst()))")
        }
        let m = queryX.shape[0]
        guard m > 0 else { throw MetaError.shape("ProtoNet: x_query is empty") }
        let inputs = Variable(try Tensor.concat([supportX, queryX], axis: 0))
        let both = try context.map { try encoder(params, inputs, context: $0) } ?? encoder(params, inputs)
        let embedded = try both.reshaped([s + m, -1])
        let support = try embedded.slice(axis: 0, range: 0..<s)
        let query = try embedded.slice(axis: 0, range: s..<(s + m))
        // Prototypes as one product with the constant class-averaging matrix A (N, S),
        // A[c, i] = 1/|S_c| when example i has class c: any support order works.
        let average = try Tensor.make(shape: [ways, s]) { p, n in
            p.update(repeating: 0, count: n)
            for (i, l) in labels.enumerated() { p[l &* s &+ i] = 1 / Float(counts[l]) }
        }
        let protos = try Variable.matmul(Variable(average), support)                           // (N, d)
        switch distance {
        case .squaredEuclidean:
            let cross = try Variable.matmul(query, protos, transposeB: true)                     // (M, N)
            let qq = try query.square().sum(axes: [1], keepDims: true)                           // (M, 1)
            let pp = try protos.square().sum(axes: [1]).reshaped([1, ways])                      // (1, N)
            return try cross * 2 - qq - pp
        case .cosine:
            // The prototype is the mean of the raw embeddings, normalised afterwards.
            return try Variable.matmul(try unitRows(query), try unitRows(protos), transposeB: true)
        }
    }

    /// Rows divided by √(‖row‖² + ε): ε keeps the derivative finite at a zero
    /// embedding (a ReLU encoder can output one).
    func unitRows(_ x: Variable) throws -> Variable {
        try x / (x.square().sum(axes: [1], keepDims: true) + 1e-8).sqrt()
    }

    /// The episode loss: mean cross-entropy of the query labels under `logits`.
    public func episodeLoss(_ params: [Variable], _ task: Task, context: ForwardContext? = nil) throws -> Variable {
        let z = try logits(params, supportX: task.supportX, supportY: task.supportY, queryX: task.queryX, context: context)
        let labels = try episodeLabels(task.queryY, name: "y_query", bound: z.shape[1], examples: z.shape[0])
        return try softmaxCrossEntropy(logits: z, labels: labels)
    }

    /// Episodes are never batched: each is a part.
    public var batchesTasks: Bool { false }

    /// Each episode's loss and its gradient with respect to the encoder's
    /// parameters (and the temperature); the tasks run on the worker pool.
    public func metaParts(_ metaParams: [Tensor], share: MetaBatchShare, seed: UInt64) throws -> [MetaPart] {
        try checkMetaParameters(metaParams)
        return try parts(share, pool: pool, seed: seed) { task, context in
            let (v, g) = try Autodiff.valueAndGrad(at: metaParams.map { Variable($0) }) { try episodeLoss($0, task, context: context) }
            return (try v.item(), g.map(\.value))
        }
    }

    /// The parameters unchanged: ProtoNet learns nothing per task beyond the
    /// prototypes, which `logits` computes from the support set.
    public func adapt(_ metaParams: [Tensor], x: Tensor, y: Tensor, steps: Int? = nil) throws -> [Tensor] {
        try checkMetaParameters(metaParams)
        if let k = steps { try Check.steps(k, "steps", allowZero: true) }
        return metaParams
    }

    /// The query logits; `buffers` are ignored: an episodic learner keeps
    /// batch statistics, as it was meta-trained with.
    public func episodeLogits(_ metaParams: [Tensor], supportX: Tensor, supportY: Tensor, queryX: Tensor,
                              buffers: [Tensor]?) throws -> Tensor {
        try checkMetaParameters(metaParams)
        return try logits(metaParams.map { Variable($0) }, supportX: supportX, supportY: supportY, queryX: queryX).value
    }
}

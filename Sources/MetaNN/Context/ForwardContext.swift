import MetaTensor
import MetaAutodiff

/// How one forward pass runs: in training or in inference, with which random
/// stream for stochastic layers (`Dropout`), and with which running statistics
/// for batch normalisation that tracks them.
///
/// A model stays a pure function: a context is the rest of its input. Layers
/// that need none ignore it, and `model(params, x)` runs with a fresh
/// inference context (dropout off, batch statistics), as every model did
/// before contexts existed.
///
///     let context = ForwardContext(mode: .training, seed: 7, buffers: try model.initialBuffers())
///     let y = try model(params, x, context: context)   // dropout on; batch norm updates its statistics
///     let statistics = context.buffers!                 // the running averages after this batch
///
/// - `mode == .training`: dropout draws a mask from `rng`; batch norm
///   normalises with the batch's statistics and, when the context holds
///   buffers, blends them into its running averages (PyTorch's update).
/// - `mode == .inference`: dropout is the identity; batch norm that tracks
///   running statistics normalises with them when the context holds buffers,
///   and with the batch's otherwise.
///
/// A context is used by one forward at a time (it is a class so that the
/// layers of a model share it); give each task of a meta-batch its own,
/// seeded from the task's position, and the results do not depend on the
/// order tasks run in. Buffers never carry gradients.
public final class ForwardContext {
    public enum Mode: String, Sendable { case training, inference }

    public let mode: Mode
    /// The stream stochastic layers draw from, in the order they run.
    public var rng: RNG
    /// The model's buffers in `bufferSpecs` order (updated in place by
    /// training forwards), or nil to use batch statistics throughout.
    public private(set) var buffers: [Tensor]?
    /// Where the running layer's buffers start in `buffers`: composites set it
    /// around each part, as they slice the parameter list.
    public var bufferOffset = 0

    public init(mode: Mode, seed: UInt64 = 0, buffers: [Tensor]? = nil) {
        self.mode = mode
        self.rng = RNG(seed: seed)
        self.buffers = buffers
    }

    /// A fresh inference context without buffers: what `model(params, x)` uses.
    public static var inference: ForwardContext { ForwardContext(mode: .inference) }

    public var isTraining: Bool { mode == .training }

    /// The running layer's buffer `i` (its own numbering), or nil without buffers.
    public func buffer(_ i: Int) throws -> Tensor? {
        guard let buffers else { return nil }
        let k = bufferOffset + i
        guard k >= 0, k < buffers.count else {
            throw MetaError.index("ForwardContext: buffer \(k) out of range for \(buffers.count) buffers")
        }
        return buffers[k]
    }

    /// Replaces the running layer's buffer `i` (same shape).
    public func setBuffer(_ i: Int, _ value: Tensor) throws {
        guard let current = try buffer(i) else { return }
        guard current.shape == value.shape else {
            throw MetaError.shape("ForwardContext: buffer \(bufferOffset + i) has shape \(current.shape), got \(value.shape)")
        }
        buffers![bufferOffset + i] = value
    }

    /// Puts back buffers saved before a forward that failed part-way.
    func restoreBuffers(_ saved: [Tensor]?) { buffers = saved }

    /// Runs `body` with the buffers offset by `offset` more (a part of a composite).
    public func within<T>(offset: Int, _ body: () throws -> T) rethrows -> T {
        let saved = bufferOffset
        bufferOffset += offset
        defer { bufferOffset = saved }
        return try body()
    }

    /// A seed for task `index` of a meta-batch drawn with `seed`: SplitMix64
    /// of both, so neighbouring tasks get unrelated streams.
    public static func taskSeed(_ seed: UInt64, _ index: Int) -> UInt64 {
        var z = seed &+ 0x9E37_79B9_7F4A_7C15 &* (UInt64(truncatingIfNeeded: index) &+ 1)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Model {
    /// No buffers: the default for every layer but batch norm that tracks
    /// running statistics (and composites holding one).
    public var bufferSpecs: [ParameterSpec] { [] }
    /// Deterministic: the default for every layer but `Dropout` (and composites holding one).
    public var isStochastic: Bool { false }
    /// Initial buffers, one per `bufferSpecs` entry.
    public func initialBuffers() throws -> [Tensor] { [] }
    /// The forward pass under `context`; layers that need no context run `forward(params, x)`.
    public func forward(_ params: ArraySlice<Variable>, _ x: Variable, context: ForwardContext) throws -> Variable {
        try forward(params, x)
    }

    /// True when `context` can change what the model computes: buffers or randomness.
    public var usesContext: Bool { isStochastic || !bufferSpecs.isEmpty }

    /// Checks the parameter list (and the context's buffers) and runs `forward(_:_:context:)`.
    public func callAsFunction(_ params: [Variable], _ x: Variable, context: ForwardContext) throws -> Variable {
        try checkParameters(params.map(\.shape))
        if let buffers = context.buffers { try checkBuffers(buffers.map(\.shape)) }
        context.bufferOffset = 0
        return try forward(params[...], x, context: context)
    }

    /// Throws unless `shapes` match `bufferSpecs` one for one.
    public func checkBuffers(_ shapes: [[Int]]) throws {
        try checkShapes(shapes, against: bufferSpecs, list: "buffers", item: "buffer")
    }
}

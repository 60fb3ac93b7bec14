import MetaTensor
import MetaAutodiff

/// A model built from layers that runs a preset's fast forward: what
/// `Recognition.optimized` returns when it recognises the layers as a preset
/// (`Conv4`, `MLP`).
///
/// Everything that makes the model *this* model stays the original's:
/// `parameterSpecs` (its names, e.g. Sequential's "0.W", "1.gamma"),
/// `initialParameters` (its own initializers and RNG draws), its description
/// (so it round-trips through `ModelBuilder` to the same layers) and its shape
/// inference. Only `forward` is the preset's, which computes the same function
/// on a parameter list of the same shapes in the same order. When `Fast` runs
/// tasks batched (`MLP`), so does the wrapper, and MAML takes its batched path
/// (`model as? any TaskBatchedModel`).
///
/// Trap: the two forwards are the same function, not the same float
/// operations. Values agree to rounding (the fused convolution sums in
/// another order); the wrapper agrees bit for bit with the preset, not with
/// the layers it replaces.
///
/// An input the fast forward refuses is run through the original layers, so
/// the error names them ("Conv2d(1, 64): input x must be NCHW …", not
/// "Conv4: …"); an input both accept is never run twice.
public struct FastPath<Fast: Model>: Model, Describable, ShapeInferring {
    /// The model this one stands for: its parameters, description and shapes.
    public let original: any Layer
    /// The preset whose forward runs.
    public let fast: Fast

    /// `fast` must take `original`'s parameter shapes in the same order and
    /// compute the same function (`Recognition` proves that by structure);
    /// only the shapes are checked here.
    init(original: any Layer, fast: Fast) throws {
        guard original.parameterSpecs.map(\.shape) == fast.parameterSpecs.map(\.shape) else {
            throw MetaError.argument("FastPath: \(fast.parameterSpecs) do not have the shapes of \(original.parameterSpecs)")
        }
        self.original = original
        self.fast = fast
    }

    public var parameterSpecs: [ParameterSpec] { original.parameterSpecs }

    public func initialParameters(rng: inout RNG) throws -> [Tensor] { try original.initialParameters(rng: &rng) }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        do {
            return try fast.forward(params, x)
        } catch {
            // The original's own error, in the user's terms.
            return try original.forward(params, x)
        }
    }

    // Buffers (Conv4's running statistics) are the original's, in its order,
    // which is the preset's too (block by block).
    public var bufferSpecs: [ParameterSpec] { original.bufferSpecs }

    public func initialBuffers() throws -> [Tensor] { try original.initialBuffers() }

    public var isStochastic: Bool { original.isStochastic }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable, context: ForwardContext) throws -> Variable {
        let saved = context.buffers
        do {
            return try fast.forward(params, x, context: context)
        } catch {
            // The original's own error, in the user's terms, from the buffers as they were.
            context.restoreBuffers(saved)
            return try original.forward(params, x, context: context)
        }
    }

    public var layerType: String { original.layerType }
    public var layerDescription: JSON { original.layerDescription }

    public func outputShape(for input: [Int]) throws -> [Int] { try original.outputShape(for: input) }
}

extension FastPath: TaskBatchedModel where Fast: TaskBatchedModel {
    /// The preset's batched forward: parameters (T, ...spec shape), input (T, n, ...).
    public func forwardBatched(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        try fast.forwardBatched(params, x)
    }
}

import MetaTensor
import MetaAutodiff

/// Batch normalisation of (N, C) or (N, C, L) inputs, as PyTorch's
/// `nn.BatchNorm1d`: `BatchNorm` with the input's rank checked. Statistics
/// per feature c are over N, or over (N, L). Parameters: "gamma" (C, ones),
/// "beta" (C, zeros); with `trackRunningStats`, buffers "running_mean" and
/// "running_var" (see `BatchNorm` for the two modes).
public struct BatchNorm1d: Model, Sendable {
    public let norm: BatchNorm
    public var features: Int { norm.features }
    public var eps: Float { norm.eps }

    public init(features: Int, eps: Float = 1e-5, momentum: Float = 0.1, trackRunningStats: Bool = false) throws {
        norm = try BatchNorm.renamed("BatchNorm1d") {
            try BatchNorm(features: features, eps: eps, momentum: momentum, trackRunningStats: trackRunningStats)
        }
    }

    public var parameterSpecs: [ParameterSpec] { norm.parameterSpecs }
    public func initialParameters(rng: inout RNG) throws -> [Tensor] { try norm.initialParameters(rng: &rng) }
    public var bufferSpecs: [ParameterSpec] { norm.bufferSpecs }
    public func initialBuffers() throws -> [Tensor] { try norm.initialBuffers() }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        try forward(params, x, context: .inference)
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable, context: ForwardContext) throws -> Variable {
        guard x.rank == 2 || x.rank == 3 else {
            throw MetaError.shape("BatchNorm1d(\(features)): input x must be (N, \(features)) or (N, \(features), L), got \(x.shape)")
        }
        return try norm.forward(params, x, context: context)
    }
}

/// Batch normalisation of NCHW images, as PyTorch's `nn.BatchNorm2d`:
/// `BatchNorm` with the input's rank checked. Statistics per channel over
/// (N, H, W). Parameters: "gamma" (C, ones), "beta" (C, zeros); with
/// `trackRunningStats`, buffers "running_mean" and "running_var" (see
/// `BatchNorm` for the two modes).
public struct BatchNorm2d: Model, Sendable {
    public let norm: BatchNorm
    public var features: Int { norm.features }
    public var eps: Float { norm.eps }

    public init(features: Int, eps: Float = 1e-5, momentum: Float = 0.1, trackRunningStats: Bool = false) throws {
        norm = try BatchNorm.renamed("BatchNorm2d") {
            try BatchNorm(features: features, eps: eps, momentum: momentum, trackRunningStats: trackRunningStats)
        }
    }

    public var parameterSpecs: [ParameterSpec] { norm.parameterSpecs }
    public func initialParameters(rng: inout RNG) throws -> [Tensor] { try norm.initialParameters(rng: &rng) }
    public var bufferSpecs: [ParameterSpec] { norm.bufferSpecs }
    public func initialBuffers() throws -> [Tensor] { try norm.initialBuffers() }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        try forward(params, x, context: .inference)
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable, context: ForwardContext) throws -> Variable {
        guard x.rank == 4 else {
            throw MetaError.shape("BatchNorm2d(\(features)): input x must be NCHW (N, \(features), H, W), got \(x.shape)")
        }
        return try norm.forward(params, x, context: context)
    }
}

extension BatchNorm {
    /// `make()`, with a construction error naming the wrapping layer.
    static func renamed(_ name: String, _ make: () throws -> BatchNorm) throws -> BatchNorm {
        do { return try make() } catch let e as MetaError {
            throw MetaError(e.kind, e.message.replacingPrefix("BatchNorm", with: name))
        }
    }
}

import MetaTensor
import MetaAutodiff

/// A residual block (He et al. 2016): y = body(x) + shortcut(x), with the
/// identity as the shortcut when there is none. A shortcut (a 1x1
/// convolution and batch norm, say) is needed when the body changes the
/// shape; otherwise the two outputs must have the same shape.
///
/// Parameters: the body's, named "body." + its names, then the shortcut's,
/// "shortcut." + its names: `Residual(body: Sequential([conv, bn]))` has
/// "body.0.W", "body.0.b", "body.1.gamma", ... (PyTorch's prefixes for a
/// module with attributes `body` and `shortcut`).
public struct Residual: Model {
    public let body: any Model
    public let shortcut: (any Model)?

    public init(body: any Model, shortcut: (any Model)? = nil) {
        self.body = body
        self.shortcut = shortcut
    }

    public var parameterSpecs: [ParameterSpec] {
        body.parameterSpecs.map { ParameterSpec("body.\($0.name)", $0.shape) }
            + (shortcut?.parameterSpecs ?? []).map { ParameterSpec("shortcut.\($0.name)", $0.shape) }
    }

    public func initialParameters(rng: inout RNG) throws -> [Tensor] {
        try body.initialParameters(rng: &rng) + (shortcut?.initialParameters(rng: &rng) ?? [])
    }

    public var bufferSpecs: [ParameterSpec] {
        body.bufferSpecs.map { ParameterSpec("body.\($0.name)", $0.shape) }
            + (shortcut?.bufferSpecs ?? []).map { ParameterSpec("shortcut.\($0.name)", $0.shape) }
    }

    public var isStochastic: Bool { body.isStochastic || (shortcut?.isStochastic ?? false) }

    public func initialBuffers() throws -> [Tensor] {
        try body.initialBuffers() + (shortcut?.initialBuffers() ?? [])
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        try forward(params, x, context: nil)
    }

    public func forward(_ params: ArraySlice<Variable>, _ x: Variable, context: ForwardContext) throws -> Variable {
        try forward(params, x, context: Optional(context))
    }

    private func forward(_ params: ArraySlice<Variable>, _ x: Variable, context: ForwardContext?) throws -> Variable {
        let bodyCount = body.parameterCount, shortcutCount = shortcut?.parameterCount ?? 0
        guard params.count == bodyCount + shortcutCount else {
            throw MetaError.argument("Residual: expected \(bodyCount + shortcutCount) parameter tensors "
                                     + "(\(bodyCount) for the body, \(shortcutCount) for the shortcut), got \(params.count)")
        }
        let split = params.startIndex + bodyCount
        let y: Variable, skip: Variable
        if let context {
            y = try body.forward(params[params.startIndex..<split], x, context: context)
            skip = try shortcut.map { s in
                try context.within(offset: body.bufferSpecs.count) { try s.forward(params[split...], x, context: context) }
            } ?? x
        } else {
            y = try body.forward(params[params.startIndex..<split], x)
            skip = try shortcut.map { try $0.forward(params[split...], x) } ?? x
        }
        guard y.shape == skip.shape else {
            throw MetaError.shape("Residual: the body's output \(y.shape) and the \(shortcut == nil ? "identity" : "shortcut")'s "
                                  + "\(skip.shape) differ; a body that changes the shape needs a shortcut that does too")
        }
        return try y + skip
    }
}

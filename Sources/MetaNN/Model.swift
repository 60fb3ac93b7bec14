import MetaTensor
import MetaAutodiff

/// The name and shape of one parameter a model expects.
public struct ParameterSpec: Equatable, Sendable, CustomStringConvertible {
    public let name: String
    public let shape: [Int]
    public init(_ name: String, _ shape: [Int]) { self.name = name; self.shape = shape }
    public var description: String { "\(name)\(shape)" }
}

/// A model is a pure function of (parameters, input). It owns no weights: its
/// parameters are an ordered list of tensors, described by `parameterSpecs`,
/// that the caller creates, adapts and passes in. An inner loop of
/// meta-learning is then just a function, and the outer gradient flows
/// through the adapted list.
///
/// Composite models (`Sequential`) hand each part its own slice of the list,
/// in order.
public protocol Model {
    /// The parameters `forward` consumes, in order.
    var parameterSpecs: [ParameterSpec] { get }
    /// Fresh initial values, one per spec, drawn from `rng`.
    func initialParameters(rng: inout RNG) throws -> [Tensor]
    /// The forward pass. `params` has exactly `parameterSpecs.count` elements of
    /// the declared shapes (checked by `callAsFunction`).
    func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable

    // Context (ForwardContext.swift): defaults for layers that need none.
    /// Names and shapes of the model's buffers (running statistics), in order.
    var bufferSpecs: [ParameterSpec] { get }
    /// Whether a forward in training mode draws random numbers.
    var isStochastic: Bool { get }
    /// Initial buffers, one per `bufferSpecs` entry.
    func initialBuffers() throws -> [Tensor]
    /// The forward pass under a context (training or inference mode, a random
    /// stream, running statistics).
    func forward(_ params: ArraySlice<Variable>, _ x: Variable, context: ForwardContext) throws -> Variable
}

extension Model {
    public var parameterCount: Int { parameterSpecs.count }

    /// Checks the parameter list against `parameterSpecs`, then runs `forward`.
    public func callAsFunction(_ params: [Variable], _ x: Variable) throws -> Variable {
        try checkParameters(params.map(\.shape))
        return try forward(params[...], x)
    }

    public func callAsFunction(_ params: Parameters, _ x: Variable) throws -> Variable {
        try callAsFunction(params.values, x)
    }

    /// Throws unless `shapes` match `parameterSpecs` one for one.
    public func checkParameters(_ shapes: [[Int]]) throws {
        try checkShapes(shapes, against: parameterSpecs, list: "parameters", item: "parameter")
    }

    /// Fresh parameters with their names.
    public func initialize(rng: inout RNG) throws -> Parameters {
        let values = try initialParameters(rng: &rng)
        return try Parameters(names: parameterSpecs.map(\.name), values: values.map { Variable($0) })
    }
}

/// An ordered list of named parameters. Adapting one produces a new list;
/// nothing is mutated in place.
public struct Parameters: Sendable, CustomStringConvertible {
    public let names: [String]
    public let values: [Variable]

    public init(names: [String], values: [Variable]) throws {
        guard names.count == values.count else {
            throw MetaError.argument("Parameters: \(names.count) names for \(values.count) values")
        }
        self.names = names
        self.values = values
    }

    public var count: Int { values.count }
    public var shapes: [[Int]] { values.map(\.shape) }

    public subscript(name: String) -> Variable? {
        names.firstIndex(of: name).map { values[$0] }
    }

    /// The same names with new values (e.g. adapted ones).
    public func with(values newValues: [Variable]) throws -> Parameters {
        guard newValues.count == values.count else {
            throw MetaError.argument("Parameters: expected \(values.count) values, got \(newValues.count)")
        }
        return try Parameters(names: names, values: newValues)
    }

    public var description: String {
        "Parameters(" + zip(names, values).map { "\($0.0)\($0.1.shape)" }.joined(separator: ", ") + ")"
    }
}

/// Throws unless `shapes` match `specs` one for one: "parameters: expected 2
/// tensors ...", "parameter W: expected shape ...".
func checkShapes(_ shapes: [[Int]], against specs: [ParameterSpec], list: String, item: String) throws {
    guard shapes.count == specs.count else {
        throw MetaError.argument("\(list): expected \(specs.count) tensors (\(specs)), got \(shapes.count)")
    }
    for (s, spec) in zip(shapes, specs) where s != spec.shape {
        throw MetaError.shape("\(item) \(spec.name): expected shape \(spec.shape), got \(s)")
    }
}

import MetaTensor

/// An optimizer as a pair of pure functions, in the spirit of optax's
/// `GradientTransformation` (Babuschkin et al. 2020, "The DeepMind JAX Ecosystem"):
///
///     state₀              = initialize(params)
///     (updates, stateₜ₊₁) = update(grads, stateₜ, params)
///     params'             = applyUpdates(params, updates)        // params + updates
///
/// Updates are *added* to the parameters, so a descent step carries its own
/// minus sign (`scaleByLearningRate` multiplies by −η). Nothing is mutated: the
/// state is a plain value, so running `update` twice from one state gives the
/// same result bit for bit, and a state can be saved, copied or discarded.
///
/// Transformations compose with `chain`: `chain(.clipByGlobalNorm(1), .scaleByAdam(),
/// .scaleByLearningRate(1e-3))` clips, rescales, then scales, and its state is
/// the list of the three states. Hyper-parameters are checked once, when a
/// transformation is made, and live in its closures; a value of this type is
/// therefore all an engine (or the C ABI) needs to hold to drive an outer loop.
///
/// `update` throws, never traps, when the gradients, parameters and state do not
/// agree in count or shape, or when the state was made by another transformation.
public struct GradientTransformation: Sendable, CustomStringConvertible {
    public typealias Initialize = @Sendable (_ params: [Tensor]) throws -> OptimizerState
    public typealias Update = @Sendable (_ grads: [Tensor], _ state: OptimizerState, _ params: [Tensor]) throws
        -> (updates: [Tensor], state: OptimizerState)

    /// What the transformation is, with its hyper-parameters, e.g.
    /// `adam(learningRate: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-08)`.
    public let description: String
    private let initializeBody: Initialize
    private let updateBody: Update

    /// A custom transformation. `update` receives gradients and parameters
    /// already checked to agree; it must check the state itself.
    public init(description: String, initialize: @escaping Initialize, update: @escaping Update) {
        self.description = description
        self.initializeBody = initialize
        self.updateBody = update
    }

    /// The initial state for `params` (buffers of zeros shaped like them, a zero count).
    public func initialize(_ params: [Tensor]) throws -> OptimizerState {
        try initializeBody(params)
    }

    /// The updates for `grads` and the next state. `grads`, `params` and the
    /// state's buffers must have one tensor per parameter, of the same shapes.
    public func update(_ grads: [Tensor], state: OptimizerState, params: [Tensor]) throws
        -> (updates: [Tensor], state: OptimizerState) {
        try checkAgreement(grads, params, op: description)
        return try updateBody(grads, state, params)
    }

    /// The same transformation under another description (named optimizers are
    /// chains that present themselves by their own name).
    public func named(_ description: String) -> GradientTransformation {
        GradientTransformation(description: description, initialize: initializeBody, update: updateBody)
    }
}

/// The state of a transformation: a plain value.
///
/// `kind` names the transformation that made it, so a state handed to the
/// wrong transformation is rejected instead of misread. `count` is the number
/// of updates taken (Adam's bias correction uses it). `buffers` are named lists
/// with one tensor per parameter (Adam's "mu" and "nu", momentum's "trace").
/// `children` are the states of a chain's members, in order.
public struct OptimizerState: Sendable, CustomStringConvertible {
    public struct Buffer: Sendable {
        public let name: String
        public let tensors: [Tensor]
        public init(name: String, tensors: [Tensor]) { self.name = name; self.tensors = tensors }
    }

    public let kind: String
    public let count: Int
    public let buffers: [Buffer]
    public let children: [OptimizerState]

    public init(kind: String, count: Int = 0, buffers: [Buffer] = [], children: [OptimizerState] = []) {
        self.kind = kind
        self.count = count
        self.buffers = buffers
        self.children = children
    }

    /// The tensors of the buffer called `name`, if there is one.
    public func buffer(_ name: String) -> [Tensor]? {
        buffers.first { $0.name == name }?.tensors
    }

    public var description: String {
        var parts = ["count: \(count)"]
        parts += buffers.map { "\($0.name): \($0.tensors.count) tensors" }
        if !children.isEmpty { parts.append("children: [" + children.map(\.description).joined(separator: ", ") + "]") }
        return "\(kind)(" + parts.joined(separator: ", ") + ")"
    }
}

/// params + updates, one tensor per parameter, shapes equal.
public func applyUpdates(_ params: [Tensor], _ updates: [Tensor]) throws -> [Tensor] {
    guard params.count == updates.count else {
        throw MetaError.argument("applyUpdates: \(params.count) parameters but \(updates.count) updates")
    }
    var out: [Tensor] = []
    out.reserveCapacity(params.count)
    for i in 0..<params.count {
        guard params[i].shape == updates[i].shape else {
            throw MetaError.shape("applyUpdates: parameter \(i) has shape \(params[i].shape) but its update has shape \(updates[i].shape)")
        }
        out.append(try params[i].zip(updates[i], .add))
    }
    return out
}

/// Applies `transformations` in order, each to the updates of the one before.
/// The state is a `chain` state whose children are the members' states.
public func chain(_ transformations: GradientTransformation...) -> GradientTransformation {
    chain(transformations)
}

public func chain(_ transformations: [GradientTransformation]) -> GradientTransformation {
    GradientTransformation(
        description: "chain(" + transformations.map(\.description).joined(separator: ", ") + ")",
        initialize: { params in
            OptimizerState(kind: "chain", children: try transformations.map { try $0.initialize(params) })
        },
        update: { grads, state, params in
            guard state.kind == "chain", state.children.count == transformations.count else {
                throw MetaError.argument("chain of \(transformations.count): state \(state.kind) with \(state.children.count) children was not made by it")
            }
            var updates = grads
            var next: [OptimizerState] = []
            next.reserveCapacity(transformations.count)
            for (t, s) in zip(transformations, state.children) {
                let r = try t.update(updates, state: s, params: params)
                updates = r.updates
                next.append(r.state)
            }
            return (updates, OptimizerState(kind: "chain", count: state.count &+ 1, children: next))
        })
}

/// A transformation together with its current state, for whoever drives an
/// outer loop (a learner, the C ABI). It is a value: `step` replaces the
/// state, and a copy taken before a step still holds the old one.
public struct Optimizer: Sendable, CustomStringConvertible {
    public let transformation: GradientTransformation
    public private(set) var state: OptimizerState

    public init(_ transformation: GradientTransformation, params: [Tensor]) throws {
        self.transformation = transformation
        self.state = try transformation.initialize(params)
    }

    /// Resumes from a saved state (checked against the transformation on the next step).
    public init(_ transformation: GradientTransformation, state: OptimizerState) {
        self.transformation = transformation
        self.state = state
    }

    /// One update: returns the new parameters and keeps the new state. On a
    /// throw the state is unchanged.
    public mutating func step(params: [Tensor], grads: [Tensor]) throws -> [Tensor] {
        let r = try transformation.update(grads, state: state, params: params)
        let newParams = try applyUpdates(params, r.updates)
        state = r.state
        return newParams
    }

    public var description: String { "Optimizer(\(transformation), step \(state.count))" }
}

/// grads and params: same count, same shapes.
func checkAgreement(_ grads: [Tensor], _ params: [Tensor], op: String) throws {
    guard grads.count == params.count else {
        throw MetaError.argument("\(op): \(grads.count) gradients for \(params.count) parameters")
    }
    for i in 0..<grads.count where grads[i].shape != params[i].shape {
        throw MetaError.shape("\(op): gradient \(i) has shape \(grads[i].shape) but parameter \(i) has shape \(params[i].shape)")
    }
}

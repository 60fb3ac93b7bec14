import MetaTensor

/// A tensor that may be tracked for differentiation.
///
/// An untracked variable (`node == nil`) is a constant. Applying a primitive to
/// any tracked input records a `Node` that remembers the inputs and the
/// primitive's vector-Jacobian product, so the result is tracked too. Nothing
/// global is involved: a graph is just the nodes reachable from a result, which
/// makes recording thread-safe and lets tasks of a meta-batch run on different
/// threads.
public struct Variable: @unchecked Sendable, CustomStringConvertible {
    public let value: Tensor
    public let node: Node?
    /// Whether the differentiation running a VJP needs this input's cotangent.
    /// Outside a VJP it is `isTracked`. Inside one, inputs that are constants or
    /// lead to no requested gradient say false, so a VJP may skip computing
    /// their cotangent (returning nil); with `createGraph: false` the inputs it
    /// sees are detached, yet still say true where a cotangent is wanted.
    public let needsGradient: Bool

    /// A constant.
    public init(_ value: Tensor) {
        self.value = value
        self.node = nil
        self.needsGradient = false
    }

    public init(_ value: Tensor, node: Node?) {
        self.value = value
        self.node = node
        self.needsGradient = node != nil
    }

    init(_ value: Tensor, node: Node?, needsGradient: Bool) {
        self.value = value
        self.node = node
        self.needsGradient = needsGradient
    }

    /// A rank-0 constant.
    public init(_ scalar: Float) throws { self.init(try Tensor(scalar)) }

    /// A constant from values and a shape.
    public init(shape: [Int], scalars: [Float]) throws { self.init(try Tensor(shape: shape, scalars: scalars)) }

    /// The same value, cut off from the graph (gradients do not flow through it).
    public var detached: Variable { Variable(value) }

    public var isTracked: Bool { node != nil }
    public var shape: [Int] { value.shape }
    public var rank: Int { value.rank }
    public var count: Int { value.count }
    public var scalars: [Float] { value.scalars }
    public func item() throws -> Float { try value.item() }

    public var description: String { "Variable(\(value)\(isTracked ? ", tracked by \(node!.name)" : ""))" }
}

/// A vector-Jacobian product: given the cotangent of the output, the primal
/// inputs and the output itself (tracked when a graph of the gradient is being
/// built), return one cotangent per input, or nil where an input receives none.
/// It must be written with differentiable `Variable` operations only.
public typealias VJP = (_ cotangent: Variable, _ inputs: [Variable], _ output: Variable) throws -> [Variable?]

/// One recorded application of a primitive.
public final class Node: @unchecked Sendable {
    public let name: String
    public let inputs: [Variable]
    /// The output value; the output `Variable` is rebuilt from it on demand so
    /// that a node never holds itself.
    public let value: Tensor
    let vjp: VJP?
    /// One more than the deepest tracked input (leaves are 0). A node can lead
    /// to a target only if it is deeper than that target, which lets the
    /// backward walk stop early instead of visiting a whole enclosing graph.
    public let depth: Int

    init(name: String, inputs: [Variable], value: Tensor, vjp: VJP?) {
        self.name = name
        self.inputs = inputs
        self.value = value
        self.vjp = vjp
        var d = -1
        for i in inputs { if let n = i.node, n.depth > d { d = n.depth } }
        self.depth = d + 1
    }

    /// A leaf: a variable we differentiate with respect to.
    static func leaf(_ value: Tensor) -> Node { Node(name: "leaf", inputs: [], value: value, vjp: nil) }
}

/// Records `value` as the output of a primitive when any input is tracked.
@inline(__always)
public func record(_ name: String, _ value: Tensor, _ a: Variable, vjp: @escaping VJP) -> Variable {
    guard a.node != nil else { return Variable(value) }
    return Variable(value, node: Node(name: name, inputs: [a], value: value, vjp: vjp))
}

@inline(__always)
public func record(_ name: String, _ value: Tensor, _ a: Variable, _ b: Variable, vjp: @escaping VJP) -> Variable {
    guard a.node != nil || b.node != nil else { return Variable(value) }
    return Variable(value, node: Node(name: name, inputs: [a, b], value: value, vjp: vjp))
}

public func record(_ name: String, _ value: Tensor, _ inputs: [Variable], vjp: @escaping VJP) -> Variable {
    guard inputs.contains(where: { $0.node != nil }) else { return Variable(value) }
    return Variable(value, node: Node(name: name, inputs: inputs, value: value, vjp: vjp))
}

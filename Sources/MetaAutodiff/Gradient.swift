import MetaTensor

/// Reverse-mode differentiation.
///
/// `createGraph: true` runs every VJP on tracked variables, so the gradients
/// are themselves differentiable (gradients of gradients: exact second-order
/// MAML, Hessian-vector products). With `false`, VJPs run on constants and
/// nothing is recorded, which is faster.
public enum Autodiff {
    /// Value of `f` at `xs` and its gradient with respect to each of `xs`.
    /// `f` must return a one-element variable. Inputs that are already tracked
    /// (by an enclosing differentiation) stay connected to it.
    public static func valueAndGrad(at xs: [Variable], createGraph: Bool = false,
                                    _ f: ([Variable]) throws -> Variable) throws -> (value: Variable, grads: [Variable]) {
        let inputs = xs.map { $0.isTracked ? $0 : Variable($0.value, node: .leaf($0.value)) }
        let y = try f(inputs)
        let grads = try gradients(of: y, withRespectTo: inputs, createGraph: createGraph)
        return (y, grads)
    }

    /// Gradient of `f` at `xs`.
    public static func grad(at xs: [Variable], createGraph: Bool = false,
                            _ f: ([Variable]) throws -> Variable) throws -> [Variable] {
        try valueAndGrad(at: xs, createGraph: createGraph, f).grads
    }

    /// Vector-Jacobian product of `y` with `seed` (ones when nil; `y` must then
    /// hold one element) with respect to `targets`. Targets `y` does not depend
    /// on get zeros.
    public static func gradients(of y: Variable, withRespectTo targets: [Variable], seed: Variable? = nil,
                                 createGraph: Bool = false) throws -> [Variable] {
        let seedValue: Variable
        if let seed {
            guard seed.shape == y.shape else {
                throw MetaError.shape("gradients: seed shape \(seed.shape) differs from output shape \(y.shape)")
            }
            seedValue = createGraph ? seed : seed.detached
        } else {
            guard y.count == 1 else {
                throw MetaError.shape("gradients: output of shape \(y.shape) is not a scalar; pass a seed")
            }
            seedValue = Variable(try Tensor.ones(y.shape))
        }
        func zeros(_ t: Variable) throws -> Variable { Variable(try Tensor.zeros(t.shape)) }
        guard let root = y.node else { return try targets.map(zeros) }

        var targetIDs = Set<ObjectIdentifier>()
        var minDepth = Int.max
        for t in targets {
            if let n = t.node { targetIDs.insert(ObjectIdentifier(n)); minDepth = min(minDepth, n.depth) }
        }

        // Iterative post-order DFS: `order` lists every node after its inputs.
        // A node is relevant when it is a target or leads to one; only those
        // are visited backwards.
        var order: [Node] = []
        var state: [ObjectIdentifier: Bool] = [:]   // false: on the stack, true: done
        var relevant = Set<ObjectIdentifier>()
        var stack: [(Node, Int)] = [(root, 0)]
        state[ObjectIdentifier(root)] = false
        while !stack.isEmpty {
            let (node, next) = stack[stack.count - 1]
            let id = ObjectIdentifier(node)
            if next < node.inputs.count {
                stack[stack.count - 1].1 = next + 1
                // Nodes shallower than every target cannot lead to one.
                if let child = node.inputs[next].node, child.depth >= minDepth {
                    let cid = ObjectIdentifier(child)
                    if state[cid] == nil { state[cid] = false; stack.append((child, 0)) }
                }
                continue
            }
            stack.removeLast()
            state[id] = true
            if targetIDs.contains(id) || node.inputs.contains(where: { $0.node.map { relevant.contains(ObjectIdentifier($0)) } ?? false }) {
                relevant.insert(id)
            }
            order.append(node)
        }

        var cotangents: [ObjectIdentifier: Variable] = [ObjectIdentifier(root): seedValue]
        var results: [ObjectIdentifier: Variable] = [:]
        for node in order.reversed() {
            let id = ObjectIdentifier(node)
            guard relevant.contains(id), let g = cotangents.removeValue(forKey: id) else { continue }
            if targetIDs.contains(id) { results[id] = g }
            guard let vjp = node.vjp else { continue }
            let live = node.inputs.contains { $0.node.map { relevant.contains(ObjectIdentifier($0)) } ?? false }
            guard live else { continue }
            let ins = node.inputs.map { input -> Variable in
                let wanted = input.node.map { relevant.contains(ObjectIdentifier($0)) } ?? false
                return Variable(input.value, node: createGraph ? input.node : nil, needsGradient: wanted)
            }
            let out = createGraph ? Variable(node.value, node: node) : Variable(node.value)
            let gs = try vjp(g, ins, out)
            for (i, input) in node.inputs.enumerated() {
                guard let inode = input.node, relevant.contains(ObjectIdentifier(inode)), i < gs.count, let gi = gs[i] else { continue }
                guard gi.shape == input.shape else {
                    throw MetaError.shape("internal: VJP of \(node.name) gave a cotangent of shape \(gi.shape) for input \(i) of shape \(input.shape)")
                }
                let iid = ObjectIdentifier(inode)
                if let prev = cotangents[iid] { cotangents[iid] = try prev + gi } else { cotangents[iid] = gi }
            }
        }
        return try targets.map { t in
            if let n = t.node, let g = results[ObjectIdentifier(n)] { return g }
            return try zeros(t)
        }
    }
}

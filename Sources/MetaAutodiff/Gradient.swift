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

        var minDepth = Int.max
        for t in targets { if let n = t.node { minDepth = min(minDepth, n.depth) } }

        // Iterative post-order DFS over the nodes that can lead to a target
        // (nodes shallower than every target cannot). Each node gets a dense
        // index on first sight; `order` lists indices with every node after
        // its inputs. A node is relevant when it is a target or leads to one;
        // only those are visited backwards.
        var table = NodeTable()
        var nodes: [Node] = [root]
        var relevant: [Bool] = [false]
        var order: [Int] = []
        var isTarget: [Bool] = [false]
        table.insert(root, 0)
        var stack: [(Int, Int)] = [(0, 0)]
        while let (index, next) = stack.last {
            let node = nodes[index]
            if next < node.inputs.count {
                stack[stack.count - 1].1 = next + 1
                if let child = node.inputs[next].node, child.depth >= minDepth, table.index(of: child) == nil {
                    table.insert(child, nodes.count)
                    stack.append((nodes.count, 0))
                    nodes.append(child)
                    relevant.append(false)
                    isTarget.append(false)
                }
                continue
            }
            stack.removeLast()
            order.append(index)
        }
        // Mark targets, then relevance in post-order (inputs come first).
        for t in targets { if let n = t.node, let i = table.index(of: n) { isTarget[i] = true } }
        // Input indices of each node (-1 for constants and pruned nodes).
        func inputIndex(_ input: Variable) -> Int { input.node.flatMap { table.index(of: $0) } ?? -1 }
        var inputIndices = [[Int]](repeating: [], count: nodes.count)
        for i in order {
            let ins = nodes[i].inputs.map(inputIndex)
            inputIndices[i] = ins
            relevant[i] = isTarget[i] || ins.contains { $0 >= 0 && relevant[$0] }
        }

        var cotangents = [Variable?](repeating: nil, count: nodes.count)
        cotangents[0] = seedValue
        var results = [Variable?](repeating: nil, count: nodes.count)
        for i in order.reversed() {
            guard relevant[i], let g = cotangents[i] else { continue }
            cotangents[i] = nil
            if isTarget[i] { results[i] = g }
            let node = nodes[i]
            guard let vjp = node.vjp else { continue }
            let ins = inputIndices[i]
            guard ins.contains(where: { $0 >= 0 && relevant[$0] }) else { continue }
            let args = zip(node.inputs, ins).map { input, j -> Variable in
                Variable(input.value, node: createGraph ? input.node : nil, needsGradient: j >= 0 && relevant[j])
            }
            let out = createGraph ? Variable(node.value, node: node) : Variable(node.value)
            let gs = try vjp(g, args, out)
            for (k, j) in ins.enumerated() where j >= 0 && relevant[j] && k < gs.count {
                guard let gk = gs[k] else { continue }
                guard gk.shape == node.inputs[k].shape else {
                    throw MetaError.shape("internal: VJP of \(node.name) gave a cotangent of shape \(gk.shape) for input \(k) of shape \(node.inputs[k].shape)")
                }
                if let prev = cotangents[j] { cotangents[j] = try prev + gk } else { cotangents[j] = gk }
            }
        }
        return try targets.map { t in
            if let n = t.node, let i = table.index(of: n), let g = results[i] { return g }
            return try zeros(t)
        }
    }
}

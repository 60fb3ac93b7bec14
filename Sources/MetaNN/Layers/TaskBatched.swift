import MetaTensor
import MetaAutodiff

/// A model that runs T tasks at once, each with its own parameters, as one
/// batched computation: every parameter carries a leading task axis
/// (T, ...spec shape) and the input is (T, n, ...).
///
/// This is what a per-task loop of a meta-batch computes, with T times fewer
/// recorded operations: the inner loops of MAML on small networks are
/// dominated by per-operation cost, not arithmetic. Task t's output depends
/// only on task t's parameters, so the gradient of a sum of per-task losses
/// with respect to the batched parameters is the stack of per-task gradients.
public protocol TaskBatchedModel: Model {
    func forwardBatched(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable
}

extension TaskBatchedModel {
    /// Checks that `params` are the specs with one leading task axis of size
    /// `tasks`, and that `x` has a leading axis of that size.
    func checkBatched(_ params: ArraySlice<Variable>, _ x: Variable, layer: @autoclosure () -> String) throws -> [Variable] {
        let specs = parameterSpecs
        guard x.rank >= 2 else {
            throw MetaError.shape("\(layer()): batched input must be (tasks, n, ...), got \(x.shape)")
        }
        let t = x.shape[0]
        return try unpack(params, specs.map { [t] + $0.shape }, layer: layer())
    }
}

extension Linear: TaskBatchedModel {
    /// x (T, n, in) · W (T, in, out) + b (T, 1, out).
    public func forwardBatched(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        let p = try checkBatched(params, x, layer: "Linear(\(inputs), \(outputs)) batched")
        guard x.rank == 3, x.shape[2] == inputs else {
            throw MetaError.shape("Linear(\(inputs), \(outputs)) batched: input must be (tasks, n, \(inputs)), got \(x.shape)")
        }
        let y = try Variable.matmul(x, p[0])
        return bias ? try y + p[1].reshaped([x.shape[0], 1, outputs]) : y
    }
}

extension Activation: TaskBatchedModel {
    public func forwardBatched(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        try forward(params, x)
    }
}

extension MLP: TaskBatchedModel {
    public func forwardBatched(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        _ = try checkBatched(params, x, layer: "MLP\(sizes) batched")
        let per = layers.first?.bias == false ? 1 : 2
        var h = x
        var start = params.startIndex
        for (k, layer) in layers.enumerated() {
            h = try layer.forwardBatched(params[start..<(start + per)], h)
            start += per
            if k < layers.count - 1 { h = try activation.apply(h) }
        }
        return h
    }
}

import MetaTensor
import MetaAutodiff
import MetaOptim

extension LearnedOptimizer {
    /// The trained optimizer as an optimizer of any model: a MetaOptim
    /// `GradientTransformation`, so it drives the engine's trainers exactly
    /// like Adam. All the model's coordinates (every parameter tensor,
    /// flattened and joined in order) form the network's batch; its updates
    /// are the network's outputs, added to the parameters.
    ///
    /// The state holds each coordinate's hidden and cell states: buffers
    /// "lstm{l}.h" and "lstm{l}.c" (a GRU's: "gru{l}.h"), one tensor per parameter of shape
    /// (parameter.shape..., H). It is not a recipe: a run with it cannot be
    /// checkpointed by `Checkpoint`, whose files expect buffers shaped like
    /// the parameters.
    ///
    /// The update runs on constants (nothing is recorded); it computes the
    /// same numbers as `step` in meta-training.
    public func transformation(parameters: [Tensor]) throws -> GradientTransformation {
        try check(parameters)
        let weights = parameters.map { Variable($0) }
        let names = stateNames
        let h = hiddenSize, me = self
        return GradientTransformation(
            description: "learned(\(description))",
            initialize: { params in
                let zeros = try params.map { try Tensor.zeros($0.shape + [h]) }
                return OptimizerState(kind: "learned", buffers: names.map { .init(name: $0, tensors: zeros) })
            },
            update: { grads, state, params in
                guard state.kind == "learned", state.buffers.map(\.name) == names else {
                    throw MetaError.argument("learned optimizer: state \(state.kind) was not made by it")
                }
                let counts = params.map(\.count)
                for b in state.buffers {
                    for (i, t) in b.tensors.enumerated() where i >= params.count || t.shape != params[i].shape + [h] {
                        throw MetaError.shape("learned optimizer: state buffer \(b.name) does not fit parameter \(i)")
                    }
                    guard b.tensors.count == params.count else {
                        throw MetaError.argument("learned optimizer: state buffer \(b.name) has \(b.tensors.count) tensors for \(params.count) parameters")
                    }
                }
                let gradient = try Variable.concat(grads.map { try Variable($0).reshaped([$0.count]) }, axis: 0)
                let packed: LearnedOptimizer.State = try state.buffers.map { b in
                    try Variable.concat(zip(b.tensors, counts).map { try Variable($0.0).reshaped([$0.1, h]) }, axis: 0)
                }
                let (update, next) = try me.step(weights, gradient: gradient, state: packed)
                var updates: [Tensor] = [], offset = 0
                var buffers: [[Tensor]] = Array(repeating: [], count: names.count)
                for (i, n) in counts.enumerated() {
                    updates.append(try update.slice(axis: 0, range: offset..<(offset + n)).value.reshaped(params[i].shape))
                    for k in 0..<names.count {
                        buffers[k].append(try next[k].slice(axis: 0, range: offset..<(offset + n)).value.reshaped(params[i].shape + [h]))
                    }
                    offset += n
                }
                let newState = OptimizerState(kind: "learned", count: state.count &+ 1,
                                              buffers: zip(names, buffers).map { .init(name: $0.0, tensors: $0.1) })
                return (updates, newState)
            })
    }
}

import MetaTensor
import MetaAutodiff

/// Runs a recurrent cell over a sequence whose input projections are already
/// computed for every step in one GEMM: `projected` is (T, N, G), step t's
/// slice (N, G) goes to `cell` with the state, and the (N, H) outputs of all
/// steps are stacked into (T, N, H). Shared by LSTMCell and GRUCell.
func unroll<State>(_ projected: Variable, from initial: State, output: (State) -> Variable,
                   _ cell: (Variable, State) throws -> State) throws -> Variable {
    let (steps, batch, width) = (projected.shape[0], projected.shape[1], projected.shape[2])
    var state = initial
    var outputs: [Variable] = []
    outputs.reserveCapacity(steps)
    for t in 0..<steps {
        let xt = try projected.slice(axis: 0, range: t..<(t + 1)).reshaped([batch, width])
        state = try cell(xt, state)
        outputs.append(output(state))
    }
    return try Variable.stack(outputs, axis: 0)
}

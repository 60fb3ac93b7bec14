import MetaTensor
import MetaAutodiff

/// Runs a recurrent cell over a sequence whose input projections are already
/// computed for every step in one GEMM: `projected` is (T, N, G) with time on
/// axis 0 (the cells' layout) or (N, T, G) with time on axis 1 (`LSTM`,
/// `GRU`); step t's slice (N, G) goes to `cell` with the state, and the
/// (N, H) outputs of all steps are stacked on the same time axis. Returns the
/// stacked outputs and the final state.
func unrollKeepingState<State>(_ projected: Variable, timeAxis: Int = 0, from initial: State,
                               output: (State) -> Variable,
                               _ cell: (Variable, State) throws -> State) throws -> (Variable, State) {
    let steps = projected.shape[timeAxis], batch = projected.shape[1 - timeAxis], width = projected.shape[2]
    var state = initial
    var outputs: [Variable] = []
    outputs.reserveCapacity(steps)
    for t in 0..<steps {
        let xt = try projected.slice(axis: timeAxis, range: t..<(t + 1)).reshaped([batch, width])
        state = try cell(xt, state)
        outputs.append(output(state))
    }
    return (try Variable.stack(outputs, axis: timeAxis), state)
}

/// The stacked outputs of `unrollKeepingState` over (T, N, G). Shared by
/// LSTMCell and GRUCell.
func unroll<State>(_ projected: Variable, from initial: State, output: (State) -> Variable,
                   _ cell: (Variable, State) throws -> State) throws -> Variable {
    try unrollKeepingState(projected, from: initial, output: output, cell).0
}

import MetaTensor
import MetaAutodiff
import MetaNN

/// The recurrence of a coordinate-wise learned update (the learned
/// optimizer's layers, the LSTM meta-learner's first layer): an LSTM cell
/// (the papers') or a GRU cell (Cho et al. 2014; three gates, no cell
/// state, a quarter fewer weights).
public enum RecurrentCell: String, Sendable, CaseIterable {
    case lstm, gru

    /// Weight tensors per layer: "Wx", "Wh", "b" for an LSTM; "Wx", "Wh", "bx", "bh" for a GRU.
    var weightCount: Int { self == .lstm ? 3 : 4 }
    /// State tensors per layer: h and c for an LSTM, h for a GRU.
    var stateCount: Int { self == .lstm ? 2 : 1 }
    /// The state tensors' names, for buffers: "h", "c" or "h".
    var stateNames: [String] { self == .lstm ? ["h", "c"] : ["h"] }

    /// The cell's weight specs and initial weights for `inputs` → `hidden`.
    func specs(inputs: Int, hidden: Int) throws -> [ParameterSpec] {
        self == .lstm ? try LSTMCell(inputSize: inputs, hiddenSize: hidden).parameterSpecs
            : try GRUCell(inputSize: inputs, hiddenSize: hidden).parameterSpecs
    }

    func initialParameters(inputs: Int, hidden: Int, rng: inout RNG) throws -> [Tensor] {
        self == .lstm ? try LSTMCell(inputSize: inputs, hiddenSize: hidden).initialParameters(rng: &rng)
            : try GRUCell(inputSize: inputs, hiddenSize: hidden).initialParameters(rng: &rng)
    }

    /// One step of the cell: `weights` its `weightCount` tensors, `state`
    /// its `stateCount`; the output h and the next state.
    func step(_ weights: ArraySlice<Variable>, inputs: Int, hidden: Int, x: Variable,
              state: ArraySlice<Variable>) throws -> (h: Variable, state: [Variable]) {
        let s = Array(state)
        switch self {
        case .lstm:
            let next = try LSTMCell(inputSize: inputs, hiddenSize: hidden).step(weights, x: x, state: (s[0], s[1]))
            return (next.h, [next.h, next.c])
        case .gru:
            let h = try GRUCell(inputSize: inputs, hiddenSize: hidden).step(weights, x: x, state: s[0])
            return (h, [h])
        }
    }
}

import MetaTensor
import MetaNN
import MetaIO

/// PyTorch's names and layouts for an engine model's parameters and buffers,
/// both ways, so weights pass between the engine and `torch.nn` modules
/// through `state_dict()` / `load_state_dict(strict=True)` (and safetensors
/// files of either side).
///
///     let entries = try TorchLayout.export(model, parameters: values, buffers: buffers)
///     try SafeTensors(entries: entries).write(to: "model.safetensors")
///     // Python: model.load_state_dict(safetensors.torch.load_file("model.safetensors"))
///     let (values, buffers) = try TorchLayout.import(model, entries: try SafeTensors.read(path: p).entries)
///
/// The rule: a leaf layer's own names and layouts become PyTorch's, and the
/// path above it is kept. So any `Sequential` of layers is the
/// `torch.nn.Sequential` of the same layers ("0.W" → "0.weight", "1.gamma" →
/// "1.weight", "1.running_mean" → "1.running_mean"), a named one a module
/// with those attributes, and a `Residual` a module with attributes `body`
/// and `shortcut`. A `FastPath` (what `Recognition.optimized` and
/// `ModelBuilder.build(_:inputShape:)` return) is its original's layers.
///
/// Leaves (engine → PyTorch):
/// - `Linear`: W (in, out) → `weight` (out, in) = Wᵀ; b → `bias`.
/// - `Conv2d`: W (out, in, kH, kW) → `weight`, the same layout; b → `bias`.
/// - `BatchNorm`, `BatchNorm1d`, `BatchNorm2d`: gamma → `weight`, beta →
///   `bias`; buffers `running_mean`, `running_var`, plus PyTorch's
///   `num_batches_tracked` (an I64 scalar, exported as 0 and ignored on
///   import). Trap: the engine's batch norm does not track running
///   statistics by default (the episodic convention), PyTorch's does; the
///   PyTorch module must be built with `track_running_stats=False` to match
///   one that does not, or its `running_*` entries are refused as extra.
/// - `LayerNorm`: gamma → `weight`, beta → `bias` (normalized_shape).
/// - `LSTM` ≡ `nn.LSTM(in, H, batch_first=True)`: Wx (in, 4H) →
///   `weight_ih_l0` (4H, in) = Wxᵀ, Wh (H, 4H) → `weight_hh_l0` (4H, H) =
///   Whᵀ, b → `bias_ih_l0` with `bias_hh_l0` = 0; on import b = `bias_ih_l0` +
///   `bias_hh_l0` (PyTorch adds both in every gate; the engine has one). Gates
///   i, f, g, o in both.
/// - `GRU` ≡ `nn.GRU(in, H, batch_first=True)`: Wx → `weight_ih_l0` = Wxᵀ,
///   Wh → `weight_hh_l0` = Whᵀ, bx → `bias_ih_l0`, bh → `bias_hh_l0` (both
///   biases are PyTorch's: r multiplies h·Whn + bhn). Gates r, z, n in both.
/// - `LSTMCell` ≡ `nn.LSTMCell`, `GRUCell` ≡ `nn.GRUCell`: the same without
///   "_l0" (`weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`).
/// - Layers without parameters or buffers (activations, pooling, dropout,
///   flatten, ...) have no entries, as in PyTorch; they still count in a
///   Sequential's positions.
///
/// Presets, and the PyTorch modules whose state_dict they match:
/// - `MLP(sizes: [i, h, ..., o])` ≡ `nn.Sequential(nn.Linear(i, h), act,
///   nn.Linear(h, ...), act, ..., nn.Linear(..., o))`: "Wk", "bk" →
///   "{2(k−1)}.weight", "{2(k−1)}.bias" ("W1" → "0.weight", "W2" → "2.weight").
/// - `Conv4` ≡ a module with attributes `block1` … `blockN`, each an
///   `nn.Sequential` of named children `conv` (Conv2d 3x3, padding 1, bias),
///   `bn` (BatchNorm2d, `track_running_stats=False`), `relu`, `pool`, then
///   `flatten` and, with `outputs`, `head` (Linear): "block1.conv.weight",
///   "block1.conv.bias", "block1.bn.weight", "block1.bn.bias", ...,
///   "head.weight", "head.bias".
/// - `ResNet12` ≡ a module with attributes `block1` … `block4`, each a module
///   with `body` = `nn.Sequential` of named children conv1, bn1, relu1, conv2,
///   bn2, relu2, conv3, bn3 and `shortcut` = `nn.Sequential` of conv, bn
///   (convolutions without bias, BatchNorm2d with `track_running_stats=False`),
///   then `pool` and, with `outputs`, `head`: "block1.body.conv1.weight",
///   "block1.body.bn1.weight", ..., "block1.shortcut.conv.weight",
///   "block1.shortcut.bn.bias", ..., "head.weight", "head.bias".
/// Each preset is mapped through these modules spelled in engine layers, and
/// the mapping checks that they have the preset's parameters (names and
/// shapes), so a preset that changes fails loudly rather than mapping wrongly.
///
/// Any other model type with parameters or buffers is refused with a
/// `MetaError` naming it: never a silent wrong mapping.
public enum TorchLayout {
    /// PyTorch's step counter of a batch norm that tracks running statistics.
    public static let batchCounter = "num_batches_tracked"

    /// The PyTorch state_dict of `model` holding `parameters` and `buffers`
    /// (engine order and layout, as `parameterSpecs` and `bufferSpecs`), in
    /// PyTorch's order (module by module: parameters, then buffers), as
    /// safetensors entries: F32 tensors, and I64 scalars for
    /// `num_batches_tracked`. Throws when a count or shape differs from the
    /// specs, or when a part of the model has no PyTorch layout.
    public static func export(_ model: any Model, parameters: [Tensor], buffers: [Tensor] = []) throws -> [SafeTensors.Entry] {
        let plan = try Plan.of(model)
        try check(parameters, against: plan.parameters, what: "parameters")
        try check(buffers, against: plan.buffers, what: "buffers")
        return try plan.slots.map { slot in
            switch slot.source {
            case .counter: return try SafeTensors.Entry(name: slot.name, shape: [], int64s: [0])
            case .zeros: return try SafeTensors.Entry(name: slot.name, tensor: try Tensor.zeros(slot.shape))
            case .same(let ref), .transposed(let ref):
                let t = ref.isBuffer ? buffers[ref.index] : parameters[ref.index]
                let value: Tensor
                if case .transposed = slot.source { value = try t.transposedLast2() } else { value = t }
                return try SafeTensors.Entry(name: slot.name, tensor: value)
            }
        }
    }

    /// The engine parameters and buffers of `model` (engine order and
    /// layout) from PyTorch-layout entries, strictly as PyTorch's
    /// `load_state_dict(strict=True)`: every entry the model needs must be
    /// there, F32 and of PyTorch's shape, and nothing else may be, except
    /// `num_batches_tracked` of a batch norm (ignored). Errors name the
    /// entries at fault: `fc.weight: expected shape [5, 64] (PyTorch's (out,
    /// in) for this Linear(64, 5)), got [64, 5]`.
    public static func `import`(_ model: any Model, entries: [SafeTensors.Entry]) throws
        -> (parameters: [Tensor], buffers: [Tensor]) {
        try load(model, entries.map { e in (e.name, e.dtype == .f32 ? .f32 { try e.tensor() } : .other(e.dtype.rawValue)) })
    }

    /// `import(_:entries:)` from F32 tensors by name (a state_dict already in memory).
    public static func `import`(_ model: any Model, tensors: [String: Tensor]) throws
        -> (parameters: [Tensor], buffers: [Tensor]) {
        try load(model, tensors.sorted { $0.key < $1.key }.map { kv in (kv.key, .f32 { kv.value }) })
    }

    /// Engine name → PyTorch name for every parameter, then every buffer, in
    /// engine order. An LSTM's "b" has two rows ("bias_ih_l0" and
    /// "bias_hh_l0", whose sum it is); `num_batches_tracked` has no engine
    /// tensor and no row.
    public static func names(_ model: any Model) throws -> [(engine: String, torch: String)] {
        let plan = try Plan.of(model)
        return (plan.parameters + plan.buffers).flatMap { t in t.recovery.slots.map { (t.name, plan.slots[$0].name) } }
    }

    // MARK: - Implementation

    static func check(_ tensors: [Tensor], against specs: [EngineTensor], what: String) throws {
        guard tensors.count == specs.count else {
            throw MetaError.argument("TorchLayout: \(what): expected \(specs.count) tensors "
                                     + "(\(specs.map { "\($0.name)\($0.shape)" }.joined(separator: ", "))), got \(tensors.count)")
        }
        for (t, spec) in zip(tensors, specs) where t.shape != spec.shape {
            throw MetaError.shape("TorchLayout: \(what): \(spec.name): expected shape \(spec.shape), got \(t.shape)")
        }
    }

    enum Found {
        case f32(() throws -> Tensor)
        case other(String)
    }

    static func load(_ model: any Model, _ found: [(String, Found)]) throws -> (parameters: [Tensor], buffers: [Tensor]) {
        let plan = try Plan.of(model)
        var byName: [String: Found] = [:]
        for (name, value) in found {
            guard byName.updateValue(value, forKey: name) == nil else {
                throw MetaError.argument("TorchLayout: the entry \(quoted(name)) appears twice")
            }
        }
        let wanted = plan.slots.filter { if case .counter = $0.source { return false } else { return true } }
        let counters = Set(plan.counterPlaces)
        let known = Set(plan.slots.map(\.name))
        let missing = wanted.filter { byName[$0.name] == nil }
        let extra = byName.keys.filter { !known.contains($0) && !counters.contains($0) }.sorted()
        if !missing.isEmpty || !extra.isEmpty {
            var parts: [String] = []
            if !missing.isEmpty {
                parts.append("missing \(missing.count == 1 ? "entry" : "entries") "
                             + missing.map { "\(quoted($0.name)) (\($0.layout))" }.joined(separator: ", "))
            }
            if !extra.isEmpty {
                parts.append("unexpected \(extra.count == 1 ? "entry" : "entries") " + extra.map(quoted).joined(separator: ", ")
                             + (extra.contains { $0.hasSuffix(".running_mean") || $0.hasSuffix(".running_var") }
                                ? " (running statistics of a batch norm that does not track them here: build it with "
                                  + "trackRunningStats: true, or the PyTorch one with track_running_stats=False)" : ""))
            }
            throw MetaError.argument("TorchLayout: " + parts.joined(separator: "; "))
        }
        var values: [Tensor?] = Array(repeating: nil, count: plan.slots.count)
        for (i, slot) in plan.slots.enumerated() {
            guard let f = byName[slot.name] else { continue }
            switch f {
            case .other(let dtype):
                if case .counter = slot.source { continue }
                throw MetaError.argument("TorchLayout: \(slot.name): expected F32 (\(slot.layout)), got \(dtype)")
            case .f32(let read):
                if case .counter = slot.source { continue }
                let t = try read()
                guard t.shape == slot.shape else {
                    throw MetaError.shape("TorchLayout: \(slot.name): expected shape \(slot.shape) (\(slot.layout)), got \(t.shape)")
                }
                values[i] = t
            }
        }
        // Every slot a recovery reads was checked present above; a failure here is the plan's own.
        func value(_ s: Int) throws -> Tensor {
            guard let v = values[s] else { throw MetaError.argument("TorchLayout: no value for \(plan.slots[s].name)") }
            return v
        }
        func recover(_ t: EngineTensor) throws -> Tensor {
            switch t.recovery {
            case .same(let s): return try value(s)
            case .transposed(let s): return try value(s).transposedLast2()
            case .sum(let a, let b):
                // Our own export's zero bias_hh gives back b bit for bit (b + 0 would turn −0 into +0).
                let (first, second) = (try value(a), try value(b))
                return second.scalars.allSatisfy { $0 == 0 } ? first : try first.zip(second, .add)
            }
        }
        return (try plan.parameters.map(recover), try plan.buffers.map(recover))
    }
}

private func quoted(_ s: String) -> String { "\"\(s)\"" }

// MARK: - The plan: every tensor of the state_dict and where it comes from

/// An engine tensor: a parameter or a buffer, by its position in its list.
struct EngineRef {
    let isBuffer: Bool
    let index: Int
}

/// One entry of the PyTorch state_dict.
struct Slot {
    enum Source {
        case same(EngineRef)
        case transposed(EngineRef)
        /// PyTorch's second bias where the engine has one (LSTM's bias_hh).
        case zeros
        /// `num_batches_tracked`.
        case counter
    }
    var name: String
    let shape: [Int]
    let source: Source
    /// PyTorch's layout in words, for error messages.
    let layout: String
}

/// One engine tensor and how import rebuilds it from slots.
struct EngineTensor {
    enum Recovery {
        case same(Int), transposed(Int), sum(Int, Int)
        var slots: [Int] {
            switch self {
            case .same(let s), .transposed(let s): return [s]
            case .sum(let a, let b): return [a, b]
            }
        }
        func shifted(by k: Int) -> Recovery {
            switch self {
            case .same(let s): return .same(s + k)
            case .transposed(let s): return .transposed(s + k)
            case .sum(let a, let b): return .sum(a + k, b + k)
            }
        }
    }
    var name: String
    let shape: [Int]
    var recovery: Recovery
}

/// The state_dict of a model: its slots in PyTorch's order, and its engine
/// parameters and buffers in engine order.
struct Plan {
    var slots: [Slot] = []
    var parameters: [EngineTensor] = []
    var buffers: [EngineTensor] = []
    /// Where a batch norm's `num_batches_tracked` may stand (accepted and ignored on import).
    var counterPlaces: [String] = []

    /// The plan of `model`, checked against its own specs.
    static func of(_ model: any Model) throws -> Plan {
        let plan = try walk(model)
        let want = (model.parameterSpecs, model.bufferSpecs)
        guard plan.parameters.map(\.name) == want.0.map(\.name), plan.parameters.map(\.shape) == want.0.map(\.shape),
              plan.buffers.map(\.name) == want.1.map(\.name), plan.buffers.map(\.shape) == want.1.map(\.shape) else {
            throw MetaError.argument("TorchLayout: \(type(of: model))'s parameters \(want.0) and buffers \(want.1) "
                                     + "are not those of its parts; no PyTorch layout for it")
        }
        return plan
    }

    /// `other`'s tensors after this plan's, under `prefix`.
    mutating func append(_ other: Plan, prefix: String) {
        let (k, p, b) = (slots.count, parameters.count, buffers.count)
        func ref(_ r: EngineRef) -> EngineRef { EngineRef(isBuffer: r.isBuffer, index: r.index + (r.isBuffer ? b : p)) }
        for var s in other.slots {
            s.name = prefix + s.name
            switch s.source {
            case .same(let r): s = Slot(name: s.name, shape: s.shape, source: .same(ref(r)), layout: s.layout)
            case .transposed(let r): s = Slot(name: s.name, shape: s.shape, source: .transposed(ref(r)), layout: s.layout)
            case .zeros, .counter: break
            }
            slots.append(s)
        }
        func moved(_ t: EngineTensor) -> EngineTensor {
            EngineTensor(name: prefix + t.name, shape: t.shape, recovery: t.recovery.shifted(by: k))
        }
        parameters += other.parameters.map(moved)
        buffers += other.buffers.map(moved)
        counterPlaces += other.counterPlaces.map { prefix + $0 }
    }

    /// The plan of a part, its names relative to it.
    static func walk(_ model: any Model) throws -> Plan {
        var plan = Plan()
        switch model {
        case let s as Sequential:
            for (name, layer) in zip(s.names, s.layers) { plan.append(try walk(layer), prefix: name + ".") }
        case let r as Residual:
            plan.append(try walk(r.body), prefix: "body.")
            if let s = r.shortcut { plan.append(try walk(s), prefix: "shortcut.") }
        case let w as any WrapsOriginal:
            plan = try walk(w.originalModel)
        case let m as MLP:
            plan = try preset(m, as: try mlpModules(m), sameNames: false)
        case let c as Conv4:
            plan = try preset(c, as: try Sequential(named: Array(zip(c.body.names, c.body.layers))
                                                    + (c.head.map { [("head", $0 as any Model)] } ?? [])), sameNames: true)
        case let r as ResNet12:
            plan = try preset(r, as: try resNet12Modules(r), sameNames: true)
        case let l as Linear:
            let kind = "Linear(\(l.inputs), \(l.outputs))"
            plan = try leaf(l, [("weight", [l.outputs, l.inputs], .transposed(0), "PyTorch's (out, in) for this \(kind)")]
                            + (l.bias ? [("bias", [l.outputs], .same(1), "(out) for this \(kind)")] : []))
        case let l as CosineLinear:
            // torch.nn.utils.weight_norm(nn.Linear(in, out, bias=False)): weight_g (out, 1), weight_v (out, in).
            let kind = "CosineLinear(\(l.inputs), \(l.outputs))"
            plan = try leaf(l, (l.learnedNorm ? [("weight_g", [l.outputs, 1], .same(1), "weight_norm's (out, 1) for this \(kind)")]
                                              : [])
                            + [("weight_v", [l.outputs, l.inputs], .transposed(0), "PyTorch's (out, in) for this \(kind)")])
        case let c as Conv2d:
            let kind = "Conv2d(\(c.inChannels), \(c.outChannels))"
            plan = try leaf(c, [("weight", [c.outChannels, c.inChannels, c.kernelSize.0, c.kernelSize.1], .same(0),
                                 "PyTorch's (out, in, kH, kW) for this \(kind)")]
                            + (c.bias ? [("bias", [c.outChannels], .same(1), "(out) for this \(kind)")] : []))
        case let n as BatchNorm:
            plan = try batchNorm(n, n, "BatchNorm")
        case let n as BatchNorm1d:
            plan = try batchNorm(n, n.norm, "BatchNorm1d")
        case let n as BatchNorm2d:
            plan = try batchNorm(n, n.norm, "BatchNorm2d")
        case let n as LayerNorm where n.elementwiseAffine:
            let layout = "normalized_shape for this LayerNorm(\(n.normalizedShape))"
            plan = try leaf(n, [("weight", n.normalizedShape, .same(0), layout), ("bias", n.normalizedShape, .same(1), layout)])
        case let l as LSTM:
            plan = try lstm(l, l.cell, suffix: "_l0", kind: "LSTM")
        case let l as LSTMCell:
            plan = try lstm(l, l, suffix: "", kind: "LSTMCell")
        case let g as GRU:
            plan = try gru(g, g.cell, suffix: "_l0", kind: "GRU")
        case let g as GRUCell:
            plan = try gru(g, g, suffix: "", kind: "GRUCell")
        default:
            // Nothing to name, so nothing to get wrong (activations, pooling, dropout, flatten...).
            guard model.parameterSpecs.isEmpty, model.bufferSpecs.isEmpty else {
                throw MetaError.argument("TorchLayout: no PyTorch layout for \(type(of: model)) "
                                         + "(parameters \(model.parameterSpecs))")
            }
        }
        return plan
    }

    /// Where a PyTorch entry of a leaf comes from: the leaf's engine tensor r
    /// (its parameters 0..<p, then its buffers p..<p+b).
    enum LocalSource {
        case same(Int), transposed(Int)
        /// PyTorch's second bias, zero on export; engine tensor r is the sum
        /// of the leaf's entry `first` and this one.
        case sumWith(Int, first: Int)
        case counter
    }

    /// The plan of a leaf layer from its PyTorch entries in state_dict order;
    /// every engine tensor of `model` must be recovered by one of them.
    static func leaf(_ model: any Model, _ entries: [(String, [Int], LocalSource, String)]) throws -> Plan {
        let params = model.parameterSpecs, buffers = model.bufferSpecs, p = params.count
        var plan = Plan()
        var recovered: [Int: EngineTensor.Recovery] = [:]
        func ref(_ r: Int) -> EngineRef { EngineRef(isBuffer: r >= p, index: r >= p ? r - p : r) }
        for (i, (name, shape, source, layout)) in entries.enumerated() {
            let slot: Slot.Source
            switch source {
            case .same(let r): slot = .same(ref(r)); recovered[r] = .same(i)
            case .transposed(let r): slot = .transposed(ref(r)); recovered[r] = .transposed(i)
            case .sumWith(let r, let first): slot = .zeros; recovered[r] = .sum(first, i)
            case .counter: slot = .counter; plan.counterPlaces.append(name)
            }
            plan.slots.append(Slot(name: name, shape: shape, source: slot, layout: layout))
        }
        func tensor(_ spec: ParameterSpec, _ r: Int) throws -> EngineTensor {
            guard let recovery = recovered[r] else {
                throw MetaError.argument("TorchLayout: \(type(of: model))'s \(spec.name) has no PyTorch entry")
            }
            return EngineTensor(name: spec.name, shape: spec.shape, recovery: recovery)
        }
        plan.parameters = try params.enumerated().map { try tensor($1, $0) }
        plan.buffers = try buffers.enumerated().map { try tensor($1, p + $0) }
        return plan
    }

    static func batchNorm(_ model: any Model, _ n: BatchNorm, _ kind: String) throws -> Plan {
        let layout = "(features) for this \(kind)(\(n.features))", c = [n.features]
        var entries: [(String, [Int], LocalSource, String)] = [("weight", c, .same(0), layout), ("bias", c, .same(1), layout)]
        if n.trackRunningStats {
            entries += [("running_mean", c, .same(2), layout), ("running_var", c, .same(3), layout),
                        (TorchLayout.batchCounter, [], .counter, "I64 scalar")]
        }
        var plan = try leaf(model, entries)
        // PyTorch's file may carry the counter even where the running statistics are refused.
        if !n.trackRunningStats { plan.counterPlaces.append(TorchLayout.batchCounter) }
        return plan
    }

    /// nn.LSTM / nn.LSTMCell: gates i, f, g, o as rows of the transposed weights; one engine bias, two of PyTorch's.
    static func lstm(_ model: any Model, _ cell: LSTMCell, suffix: String, kind: String) throws -> Plan {
        let (i, h) = (cell.inputSize, cell.hiddenSize), name = "\(kind)(\(i), \(h))"
        return try leaf(model, [
            ("weight_ih" + suffix, [4 * h, i], .transposed(0), "PyTorch's (4·hidden, input), gates i, f, g, o, for this \(name)"),
            ("weight_hh" + suffix, [4 * h, h], .transposed(1), "PyTorch's (4·hidden, hidden), gates i, f, g, o, for this \(name)"),
            ("bias_ih" + suffix, [4 * h], .same(2), "(4·hidden) for this \(name)"),
            ("bias_hh" + suffix, [4 * h], .sumWith(2, first: 2), "(4·hidden) for this \(name), added to bias_ih\(suffix)"),
        ])
    }

    /// nn.GRU / nn.GRUCell: gates r, z, n as rows of the transposed weights; PyTorch's two biases.
    static func gru(_ model: any Model, _ cell: GRUCell, suffix: String, kind: String) throws -> Plan {
        let (i, h) = (cell.inputSize, cell.hiddenSize), name = "\(kind)(\(i), \(h))"
        return try leaf(model, [
            ("weight_ih" + suffix, [3 * h, i], .transposed(0), "PyTorch's (3·hidden, input), gates r, z, n, for this \(name)"),
            ("weight_hh" + suffix, [3 * h, h], .transposed(1), "PyTorch's (3·hidden, hidden), gates r, z, n, for this \(name)"),
            ("bias_ih" + suffix, [3 * h], .same(2), "(3·hidden) for this \(name)"),
            ("bias_hh" + suffix, [3 * h], .same(3), "(3·hidden) for this \(name)"),
        ])
    }

    // MARK: Presets

    /// The plan of `equivalent` (the preset's PyTorch modules spelled in
    /// engine layers) for `preset`, after checking that it has the preset's
    /// parameters and buffers: the same shapes, and the same names when
    /// `sameNames` (otherwise the preset's names replace them, in order).
    static func preset(_ preset: any Model, as equivalent: any Model, sameNames: Bool) throws -> Plan {
        var plan = try walk(equivalent)
        let (want, wantBuffers) = (preset.parameterSpecs, preset.bufferSpecs)
        let (have, haveBuffers) = (equivalent.parameterSpecs, equivalent.bufferSpecs)
        guard have.map(\.shape) == want.map(\.shape), haveBuffers == wantBuffers,
              !sameNames || have.map(\.name) == want.map(\.name) else {
            throw MetaError.argument("TorchLayout: \(type(of: preset))'s parameters \(want) are no longer those of "
                                     + "its documented PyTorch modules (\(have)); no PyTorch layout for it")
        }
        for k in plan.parameters.indices { plan.parameters[k].name = want[k].name }
        return plan
    }

    /// nn.Sequential(Linear, act, Linear, ..., Linear).
    static func mlpModules(_ m: MLP) throws -> Sequential {
        Sequential(m.layers.enumerated().flatMap { k, l in k == 0 ? [l as any Model] : [m.activation, l] })
    }

    /// block1...block4 (each a module with body and shortcut), pool, head.
    static func resNet12Modules(_ r: ResNet12) throws -> Sequential {
        try r.parameterLayout()
    }
}

/// A model that stands for another's layers (`FastPath`): mapped as those layers.
protocol WrapsOriginal {
    var originalModel: any Model { get }
}

extension FastPath: WrapsOriginal {
    var originalModel: any Model { original }
}

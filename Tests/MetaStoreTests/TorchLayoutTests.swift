import XCTest
#if canImport(Glibc)
import Glibc
#endif
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaIO
import MetaStore
import _TestSupport

/// Engine models speak PyTorch's state_dict: the names torch.nn gives the
/// same modules, its layouts (Linear's (out, in), the LSTM's stacked gates),
/// the same function when the PyTorch equations run on the exported tensors,
/// and a strict import that gives back every engine tensor bit for bit.
final class TorchLayoutTests: XCTestCase {
    var rng = TestRandom(seed: 41)

    /// Random values for `specs`, with a −0.0 in each, so a round trip that
    /// passed through arithmetic (b + 0) would show.
    func values(_ specs: [ParameterSpec]) -> [Tensor] {
        specs.map { spec in
            var s = rng.tensor(spec.shape).scalars
            if !s.isEmpty { s[0] = -0.0 }
            return try! Tensor(shape: spec.shape, scalars: s)
        }
    }

    func torchNames(_ model: any Model, buffers: [Tensor]? = nil) throws -> [String] {
        try TorchLayout.export(model, parameters: values(model.parameterSpecs),
                               buffers: buffers ?? values(model.bufferSpecs)).map(\.name)
    }

    func entries(_ model: any Model) throws -> (params: [Tensor], buffers: [Tensor], entries: [SafeTensors.Entry]) {
        let p = values(model.parameterSpecs), b = values(model.bufferSpecs)
        return (p, b, try TorchLayout.export(model, parameters: p, buffers: b))
    }

    func dictionary(_ entries: [SafeTensors.Entry]) throws -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: try entries.filter { $0.dtype == .f32 }.map { ($0.name, try $0.tensor()) })
    }

    func assertBitsEqual(_ a: [Tensor], _ b: [Tensor], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.map(\.shape), b.map(\.shape), what, file: file, line: line)
        XCTAssertEqual(a.map { $0.scalars.map(\.bitPattern) }, b.map { $0.scalars.map(\.bitPattern) }, what, file: file, line: line)
    }

    func assertThrows(_ expression: @autoclosure () throws -> Any, containing parts: [String],
                      file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try expression(), file: file, line: line) { error in
            let message = "\(error)"
            for part in parts { XCTAssertTrue(message.contains(part), "\(message) lacks \(part)", file: file, line: line) }
        }
    }

    // MARK: - Names and shapes

    func testLeafLayersTakePyTorchsNamesAndShapes() throws {
        let cases: [(any Model, [(String, [Int])])] = [
            (try Linear(inputs: 3, outputs: 5), [("weight", [5, 3]), ("bias", [5])]),
            (try Linear(inputs: 3, outputs: 5, bias: false), [("weight", [5, 3])]),
            (try Conv2d(inChannels: 2, outChannels: 4, kernelSize: (3, 5)), [("weight", [4, 2, 3, 5]), ("bias", [4])]),
            (try BatchNorm2d(features: 4), [("weight", [4]), ("bias", [4])]),
            (try BatchNorm1d(features: 4, trackRunningStats: true),
             [("weight", [4]), ("bias", [4]), ("running_mean", [4]), ("running_var", [4]), ("num_batches_tracked", [])]),
            (try BatchNorm(features: 2, trackRunningStats: true),
             [("weight", [2]), ("bias", [2]), ("running_mean", [2]), ("running_var", [2]), ("num_batches_tracked", [])]),
            (try LayerNorm(normalizedShape: [2, 3]), [("weight", [2, 3]), ("bias", [2, 3])]),
            (try LayerNorm(4, elementwiseAffine: false), []),
            (try LSTM(inputSize: 3, hiddenSize: 2),
             [("weight_ih_l0", [8, 3]), ("weight_hh_l0", [8, 2]), ("bias_ih_l0", [8]), ("bias_hh_l0", [8])]),
            (try GRU(inputSize: 3, hiddenSize: 2),
             [("weight_ih_l0", [6, 3]), ("weight_hh_l0", [6, 2]), ("bias_ih_l0", [6]), ("bias_hh_l0", [6])]),
            (try LSTMCell(inputSize: 3, hiddenSize: 2),
             [("weight_ih", [8, 3]), ("weight_hh", [8, 2]), ("bias_ih", [8]), ("bias_hh", [8])]),
            (try GRUCell(inputSize: 3, hiddenSize: 2),
             [("weight_ih", [6, 3]), ("weight_hh", [6, 2]), ("bias_ih", [6]), ("bias_hh", [6])]),
            (Activation.relu, []), (try Dropout(p: 0.2), []), (Flatten(), []), (try MaxPool2d(kernelSize: 2), []),
        ]
        for (model, expected) in cases {
            let exported = try entries(model).entries
            XCTAssertEqual(exported.map(\.name), expected.map(\.0), "\(model)")
            XCTAssertEqual(exported.map(\.shape), expected.map(\.1), "\(model)")
            XCTAssertEqual(exported.map(\.dtype), exported.map { $0.name == "num_batches_tracked" ? .i64 : .f32 })
        }
        // The counter is PyTorch's fresh one.
        let counter = try entries(try BatchNorm(features: 2, trackRunningStats: true)).entries.last!
        XCTAssertEqual(try counter.int64s(), [0])
    }

    func testASequentialHasTheNamesOfTorchNNSequential() throws {
        // Conv4 spelled from layers, with running statistics, as torch.nn.Sequential builds it by default.
        var layers: [any Model] = []
        for c in [1, 3] {
            layers += [try Conv2d(inChannels: c, outChannels: 3, kernelSize: 3, padding: 1),
                       try BatchNorm2d(features: 3, trackRunningStats: true), Activation.relu, try MaxPool2d(kernelSize: 2)]
        }
        layers += [Flatten(), try Linear(inputs: 3, outputs: 5)]
        let names = try torchNames(Sequential(layers))
        XCTAssertEqual(names, [
            "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
            "4.weight", "4.bias", "5.weight", "5.bias", "5.running_mean", "5.running_var", "5.num_batches_tracked",
            "9.weight", "9.bias",
        ])
        // Named parts and residual blocks keep their paths; only the leaf's own names change.
        let block = Residual(body: Sequential([try Conv2d(inChannels: 2, outChannels: 2, kernelSize: 3, padding: 1, bias: false),
                                               try BatchNorm2d(features: 2)]),
                             shortcut: try Conv2d(inChannels: 2, outChannels: 2, kernelSize: 1))
        let named = try Sequential(named: [("stem", try Linear(inputs: 2, outputs: 2)), ("res", block),
                                           ("rnn", try LSTM(inputSize: 2, hiddenSize: 1))])
        XCTAssertEqual(try torchNames(named), [
            "stem.weight", "stem.bias", "res.body.0.weight", "res.body.1.weight", "res.body.1.bias",
            "res.shortcut.weight", "res.shortcut.bias",
            "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
        ])
        // names(): engine → PyTorch, parameters then buffers; the LSTM's one bias is both of PyTorch's.
        let pairs = try TorchLayout.names(named)
        XCTAssertEqual(pairs.map(\.engine), ["stem.W", "stem.b", "res.body.0.W", "res.body.1.gamma", "res.body.1.beta",
                                             "res.shortcut.W", "res.shortcut.b", "rnn.Wx", "rnn.Wh", "rnn.b", "rnn.b"])
        XCTAssertEqual(pairs.map(\.torch).suffix(2), ["rnn.bias_ih_l0", "rnn.bias_hh_l0"])
        let tracked = Sequential([try BatchNorm1d(features: 2, trackRunningStats: true)])
        XCTAssertEqual(try TorchLayout.names(tracked).map { "\($0.engine)=\($0.torch)" },
                       ["0.gamma=0.weight", "0.beta=0.bias", "0.running_mean=0.running_mean", "0.running_var=0.running_var"])
    }

    func testPresetsTakeTheirDocumentedPyTorchModulesNames() throws {
        let mlp = try MLP(sizes: [1, 4, 4, 2])
        XCTAssertEqual(try TorchLayout.names(mlp).map { "\($0.engine)=\($0.torch)" },
                       ["W1=0.weight", "b1=0.bias", "W2=2.weight", "b2=2.bias", "W3=4.weight", "b3=4.bias"])
        XCTAssertEqual(try entries(mlp).entries.map(\.shape), [[4, 1], [4], [4, 4], [4], [2, 4], [2]])

        let conv4 = try Conv4(inChannels: 1, hidden: 3, blocks: 2, outputs: 5, imageSize: 8)
        XCTAssertEqual(try torchNames(conv4), [
            "block1.conv.weight", "block1.conv.bias", "block1.bn.weight", "block1.bn.bias",
            "block2.conv.weight", "block2.conv.bias", "block2.bn.weight", "block2.bn.bias", "head.weight", "head.bias",
        ])
        XCTAssertEqual(try entries(conv4).entries.last(where: { $0.name == "head.weight" })?.shape, [5, 12])

        let resnet = try ResNet12(inChannels: 3, widths: [2, 3, 4, 5], outputs: 6)
        let names = try torchNames(resnet)
        XCTAssertEqual(Array(names.prefix(11)), [
            "block1.body.conv1.weight", "block1.body.bn1.weight", "block1.body.bn1.bias",
            "block1.body.conv2.weight", "block1.body.bn2.weight", "block1.body.bn2.bias",
            "block1.body.conv3.weight", "block1.body.bn3.weight", "block1.body.bn3.bias",
            "block1.shortcut.conv.weight", "block1.shortcut.bn.weight",
        ])
        XCTAssertEqual(Array(names.suffix(3)), ["block4.shortcut.bn.bias", "head.weight", "head.bias"])
        XCTAssertEqual(names.count, resnet.parameterSpecs.count)
    }

    // MARK: - Values: PyTorch's equations on the exported tensors

    func testLinearExportsTheTransposeAndComputesPyTorchsForward() throws {
        let linear = try Linear(inputs: 3, outputs: 4)
        let (params, _, exported) = try entries(linear)
        let t = try dictionary(exported)
        let (weight, bias) = (t["weight"]!.scalars, t["bias"]!.scalars)
        let w = params[0].scalars
        for o in 0..<4 { for i in 0..<3 { XCTAssertEqual(weight[o * 3 + i].bitPattern, w[i * 4 + o].bitPattern) } }
        // y = x·weightᵀ + bias, as torch.nn.functional.linear.
        let x = rng.tensor([2, 3]), xs = x.scalars
        var y = [Float](repeating: 0, count: 8)
        for n in 0..<2 { for o in 0..<4 {
            var s: Float = bias[o]
            for i in 0..<3 { s += xs[n * 3 + i] * weight[o * 3 + i] }
            y[n * 4 + o] = s
        } }
        assertClose(try linear(params.map { Variable($0) }, Variable(x)).value, try Tensor(shape: [2, 4], scalars: y))
    }

    /// One step of nn.LSTM / nn.LSTMCell from PyTorch's documentation:
    /// gates = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh, split i, f, g, o;
    /// c' = σ(f)·c + σ(i)·tanh(g); h' = σ(o)·tanh(c').
    func torchLSTMStep(_ t: [String: Tensor], suffix: String, x: [Float], h: [Float], c: [Float],
                       batch: Int, input: Int, hidden: Int) -> (h: [Float], c: [Float]) {
        let (wi, wh) = (t["weight_ih" + suffix]!.scalars, t["weight_hh" + suffix]!.scalars)
        let (bi, bh) = (t["bias_ih" + suffix]!.scalars, t["bias_hh" + suffix]!.scalars)
        func sigmoid(_ v: Float) -> Float { 1 / (1 + expf(-v)) }
        var hOut = [Float](), cOut = [Float]()
        for n in 0..<batch {
            var gates = [Float](repeating: 0, count: 4 * hidden)
            for r in 0..<(4 * hidden) {
                var s = bi[r] + bh[r]
                for k in 0..<input { s += x[n * input + k] * wi[r * input + k] }
                for k in 0..<hidden { s += h[n * hidden + k] * wh[r * hidden + k] }
                gates[r] = s
            }
            for j in 0..<hidden {
                let (i, f) = (sigmoid(gates[j]), sigmoid(gates[hidden + j]))
                let (g, o) = (tanhf(gates[2 * hidden + j]), sigmoid(gates[3 * hidden + j]))
                let cNew = f * c[n * hidden + j] + i * g
                cOut.append(cNew)
                hOut.append(o * tanhf(cNew))
            }
        }
        return (hOut, cOut)
    }

    func testLSTMExportComputesPyTorchsStep() throws {
        let (batch, input, hidden) = (2, 3, 4)
        let lstm = try LSTM(inputSize: input, hiddenSize: hidden)
        let (params, _, exported) = try entries(lstm)
        let (x, h0, c0) = (rng.tensor([batch, 1, input]), rng.tensor([batch, hidden]), rng.tensor([batch, hidden]))
        let expected = torchLSTMStep(try dictionary(exported), suffix: "_l0", x: x.scalars, h: h0.scalars, c: c0.scalars,
                                     batch: batch, input: input, hidden: hidden)
        let (_, final) = try lstm.run(params.map { Variable($0) }, Variable(x), from: (Variable(h0), Variable(c0)))
        assertClose(final.h.value, try Tensor(shape: [batch, hidden], scalars: expected.h))
        assertClose(final.c.value, try Tensor(shape: [batch, hidden], scalars: expected.c))

        // From PyTorch: any two biases (the engine holds their sum) give PyTorch's step.
        var t: [String: Tensor] = [:]
        for (name, shape) in [("weight_ih", [4 * hidden, input]), ("weight_hh", [4 * hidden, hidden]),
                              ("bias_ih", [4 * hidden]), ("bias_hh", [4 * hidden])] { t[name] = rng.tensor(shape) }
        let cell = try LSTMCell(inputSize: input, hiddenSize: hidden)
        let imported = try TorchLayout.import(cell, tensors: t).parameters
        let x1 = rng.tensor([batch, input])
        let step = torchLSTMStep(t, suffix: "", x: x1.scalars, h: h0.scalars, c: c0.scalars,
                                 batch: batch, input: input, hidden: hidden)
        let state = try cell.step(imported.map { Variable($0) }, x: Variable(x1), state: (Variable(h0), Variable(c0)))
        assertClose(state.h.value, try Tensor(shape: [batch, hidden], scalars: step.h))
        assertClose(state.c.value, try Tensor(shape: [batch, hidden], scalars: step.c))
    }

    /// nn.GRU's documented step: r = σ(W_ir x + b_ir + W_hr h + b_hr), z likewise,
    /// n = tanh(W_in x + b_in + r·(W_hn h + b_hn)), h' = (1 − z)·n + z·h.
    func testGRUExportComputesPyTorchsStep() throws {
        let (batch, input, hidden) = (2, 3, 2)
        let gru = try GRU(inputSize: input, hiddenSize: hidden)
        let (params, _, exported) = try entries(gru)
        let t = try dictionary(exported)
        let (wi, wh) = (t["weight_ih_l0"]!.scalars, t["weight_hh_l0"]!.scalars)
        let (bi, bh) = (t["bias_ih_l0"]!.scalars, t["bias_hh_l0"]!.scalars)
        let (x, h0) = (rng.tensor([batch, 1, input]), rng.tensor([batch, hidden]))
        let (xs, hs) = (x.scalars, h0.scalars)
        func sigmoid(_ v: Float) -> Float { 1 / (1 + expf(-v)) }
        var expected: [Float] = []
        for n in 0..<batch {
            func a(_ r: Int) -> Float { (0..<input).reduce(bi[r]) { $0 + xs[n * input + $1] * wi[r * input + $1] } }
            func b(_ r: Int) -> Float { (0..<hidden).reduce(bh[r]) { $0 + hs[n * hidden + $1] * wh[r * hidden + $1] } }
            for j in 0..<hidden {
                let r = sigmoid(a(j) + b(j)), z = sigmoid(a(hidden + j) + b(hidden + j))
                let candidate = tanhf(a(2 * hidden + j) + r * b(2 * hidden + j))
                expected.append((1 - z) * candidate + z * hs[n * hidden + j])
            }
        }
        let (_, final) = try gru.run(params.map { Variable($0) }, Variable(x), from: Variable(h0))
        assertClose(final.value, try Tensor(shape: [batch, hidden], scalars: expected))
    }

    // MARK: - Round trips

    /// Export, through the bytes of a safetensors file, then import: the same engine tensors, bit for bit.
    func assertRoundTrip(_ model: any Model, file: StaticString = #filePath, line: UInt = #line) throws {
        let (params, buffers, exported) = try entries(model)
        let bytes = try SafeTensors(entries: exported).serialized()
        let back = try TorchLayout.import(model, entries: try SafeTensors.parse(bytes: bytes).entries)
        assertBitsEqual(back.parameters, params, "\(type(of: model)) parameters", file: file, line: line)
        assertBitsEqual(back.buffers, buffers, "\(type(of: model)) buffers", file: file, line: line)
        // And from F32 tensors by name (the counter left out, as a state_dict may be given).
        let again = try TorchLayout.import(model, tensors: try dictionary(exported))
        assertBitsEqual(again.parameters, params, "\(type(of: model)) parameters", file: file, line: line)
        assertBitsEqual(again.buffers, buffers, "\(type(of: model)) buffers", file: file, line: line)
    }

    func testEveryLayerAndPresetRoundTripsBitForBit() throws {
        let models: [any Model] = [
            try Linear(inputs: 3, outputs: 5), try Linear(inputs: 3, outputs: 5, bias: false),
            try Conv2d(inChannels: 2, outChannels: 3, kernelSize: 3), try Conv2d(inChannels: 2, outChannels: 3, kernelSize: 1, bias: false),
            try BatchNorm(features: 3, trackRunningStats: true), try BatchNorm1d(features: 3),
            try BatchNorm2d(features: 3, trackRunningStats: true), try LayerNorm(normalizedShape: [2, 3]),
            try LSTM(inputSize: 3, hiddenSize: 2), try GRU(inputSize: 3, hiddenSize: 2),
            try LSTMCell(inputSize: 2, hiddenSize: 3), try GRUCell(inputSize: 2, hiddenSize: 3),
            try MLP(sizes: [2, 5, 3]), try MLP(sizes: [2, 5, 3], bias: false),
            try Conv4(inChannels: 3, hidden: 4, blocks: 4, outputs: 5, imageSize: 16), try Conv4(hidden: 2, blocks: 1),
            try ResNet12(inChannels: 3, width: 0.05, outputs: 5), try ResNet12(inChannels: 1, widths: [1, 2, 3, 4]),
            Sequential([try LSTM(inputSize: 2, hiddenSize: 3), LastStep(), try BatchNorm1d(features: 3, trackRunningStats: true),
                        try Linear(inputs: 3, outputs: 2)]),
            Sequential([try MLP(sizes: [2, 3]), try Conv4(hidden: 2, blocks: 1)]),
        ]
        for model in models { try assertRoundTrip(model) }
    }

    func testModelsBuiltFromDescriptionsMapAsTheirLayers() throws {
        func conv(_ i: Int, _ o: Int, _ k: Int, bias: Bool = true) -> String {
            #"{"type":"Conv2d","in_channels":\#(i),"out_channels":\#(o),"kernel_size":\#(k),"stride":1,"padding":\#(k / 2),"bias":\#(bias)}"#
        }
        let block = #"\#(conv(1, 4, 3)),{"type":"BatchNorm2d","num_features":4},{"type":"ReLU"},{"type":"MaxPool2d","kernel_size":2}"#
        let cases: [(String, [Int], String)] = [
            (#"{"type":"Sequential","layers":[\#(block),{"type":"Flatten"},{"type":"Linear","in_features":64,"out_features":5,"bias":true}]}"#,
             [1, 8, 8], "Conv4"),
            (#"{"type":"Sequential","layers":[{"type":"Linear","in_features":1,"out_features":8,"bias":true},{"type":"ReLU"},{"type":"Linear","in_features":8,"out_features":1,"bias":true}]}"#,
             [1], "MLP"),
            (#"{"type":"Sequential","layers":[\#(conv(1, 4, 3, bias: false)),{"type":"BatchNorm2d","num_features":4},{"type":"ReLU"},{"type":"Residual","body":\#(conv(4, 4, 3)),"shortcut":null},{"type":"GlobalAvgPool2d"},{"type":"Linear","in_features":4,"out_features":3,"bias":true}]}"#,
             [1, 8, 8], "ChannelsLastNetwork"),
        ]
        for (json, shape, fast) in cases {
            let layers = try ModelBuilder.build(json: json)
            let model = try ModelBuilder.build(json: json, inputShape: shape)
            XCTAssertTrue("\(type(of: model))".contains("FastPath<\(fast)>"), "\(type(of: model))")
            XCTAssertEqual(try TorchLayout.names(model).map(\.torch), try TorchLayout.names(layers).map(\.torch))
            try assertRoundTrip(model)
        }
        XCTAssertEqual(try TorchLayout.names(try ModelBuilder.build(json: cases[0].0, inputShape: [1, 8, 8])).map(\.torch),
                       ["0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias"])
    }

    // MARK: - Errors

    func testImportRefusesMissingExtraAndMisshapedEntriesNamingThem() throws {
        let model = try Sequential(named: [("body", try Conv2d(inChannels: 1, outChannels: 2, kernelSize: 3)),
                                           ("flatten", Flatten()), ("fc", try Linear(inputs: 64, outputs: 5))])
        var t = try dictionary(try entries(model).entries)
        XCTAssertNoThrow(try TorchLayout.import(model, tensors: t))

        var missing = t
        missing["fc.bias"] = nil
        missing["body.weight"] = nil
        assertThrows(try TorchLayout.import(model, tensors: missing),
                     containing: ["missing entries", "\"body.weight\"", "\"fc.bias\"", "(out) for this Linear(64, 5)"])

        var extra = t
        extra["fc.scale"] = try Tensor.ones([5])
        extra["head.weight"] = try Tensor.ones([5, 64])
        assertThrows(try TorchLayout.import(model, tensors: extra), containing: ["unexpected entries \"fc.scale\", \"head.weight\""])

        t["fc.weight"] = try Tensor.zeros([64, 5])
        assertThrows(try TorchLayout.import(model, tensors: t),
                     containing: ["fc.weight: expected shape [5, 64] (PyTorch's (out, in) for this Linear(64, 5)), got [64, 5]"])

        // A file: a duplicate name, and an entry of another dtype.
        var file = try entries(model).entries
        file.append(file[0])
        assertThrows(try TorchLayout.import(model, entries: file), containing: ["\"body.weight\" appears twice"])
        file.removeLast()
        file[0] = try SafeTensors.Entry(name: "body.weight", dtype: .f64, shape: [2, 1, 3, 3], bytes: Array(repeating: 0, count: 144))
        assertThrows(try TorchLayout.import(model, entries: file), containing: ["body.weight: expected F32", "got F64"])
    }

    func testBatchCountersAreAcceptedAndIgnoredRunningStatisticsAreNotInvented() throws {
        let counter = try SafeTensors.Entry(name: "0.num_batches_tracked", shape: [], int64s: [123])
        let tracking = Sequential([try BatchNorm1d(features: 2, trackRunningStats: true)])
        var file = try entries(tracking).entries
        XCTAssertEqual(file.map(\.name).last, "0.num_batches_tracked")
        file[file.count - 1] = counter
        XCTAssertEqual(try TorchLayout.import(tracking, entries: file).buffers.count, 2)
        // A PyTorch BatchNorm with track_running_stats=False has no counter; the same file without it loads too.
        XCTAssertNoThrow(try TorchLayout.import(tracking, entries: Array(file.dropLast())))

        // The engine's default batch norm keeps no statistics: the counter is ignored, PyTorch's running ones refused.
        let episodic = Sequential([try BatchNorm1d(features: 2)])
        XCTAssertNoThrow(try TorchLayout.import(episodic, entries: Array(file.prefix(2)) + [counter]))
        assertThrows(try TorchLayout.import(episodic, entries: file),
                     containing: ["unexpected entries \"0.running_mean\", \"0.running_var\"", "track_running_stats=False"])
        // A counter anywhere else is an unknown entry.
        let stray = try SafeTensors.Entry(name: "1.num_batches_tracked", shape: [], int64s: [0])
        assertThrows(try TorchLayout.import(episodic, entries: Array(file.prefix(2)) + [stray]),
                     containing: ["unexpected entry \"1.num_batches_tracked\""])
    }

    struct Unknown: Model {
        var parameterSpecs: [ParameterSpec] { [ParameterSpec("W", [2])] }
        func initialParameters(rng: inout RNG) throws -> [Tensor] { [try Tensor.zeros([2])] }
        func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable { x }
    }

    func testUnknownModelsAndWrongEngineTensorsAreRefused() throws {
        let model = Sequential([try Linear(inputs: 2, outputs: 2), Unknown()])
        assertThrows(try TorchLayout.names(model), containing: ["TorchLayout: no PyTorch layout for Unknown"])
        assertThrows(try TorchLayout.import(model, tensors: [:]), containing: ["no PyTorch layout for Unknown"])

        let linear = try Linear(inputs: 2, outputs: 3)
        assertThrows(try TorchLayout.export(linear, parameters: [try Tensor.zeros([2, 3])]),
                     containing: ["parameters: expected 2 tensors", "got 1"])
        assertThrows(try TorchLayout.export(linear, parameters: [try Tensor.zeros([3, 2]), try Tensor.zeros([3])]),
                     containing: ["parameters: W: expected shape [2, 3], got [3, 2]"])
        let norm = try BatchNorm(features: 2, trackRunningStats: true)
        assertThrows(try TorchLayout.export(norm, parameters: values(norm.parameterSpecs)),
                     containing: ["buffers: expected 2 tensors (running_mean[2], running_var[2]), got 0"])
    }
}

import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import _TestSupport

/// Every layer and preset describes itself, is rebuilt from its description
/// to the same JSON and parameters, and knows its output shape.
final class DescriptionTests: XCTestCase {
    /// One model of every type `ModelBuilder` knows (some twice, with other
    /// settings), each with an input shape it accepts.
    func examples() throws -> [(any Layer, [Int])] {
        let conv = try Conv2d(inChannels: 3, outChannels: 4, kernelSize: 3, padding: 1)
        return [
            (try Linear(inputs: 4, outputs: 2), [5, 4]),
            (try Linear(inputs: 4, outputs: 2, bias: false), [3, 5, 4]),
            (conv, [2, 3, 6, 6]),
            (try Conv2d(inChannels: 2, outChannels: 3, kernelSize: (3, 1), stride: (2, 1), padding: (1, 0), bias: false),
             [2, 2, 7, 5]),
            (try BatchNorm(features: 3, eps: 1e-3), [4, 3]),
            (try BatchNorm1d(features: 3), [4, 3, 5]),
            (try BatchNorm1d(features: 3, momentum: 0.25, trackRunningStats: true), [4, 3]),
            (try Dropout(p: 0.2), [2, 7]),
            (try BatchNorm2d(features: 3, eps: 0.001), [2, 3, 4, 4]),
            (try LayerNorm(normalizedShape: [2, 3], eps: 1e-6), [4, 2, 3]),
            (try LayerNorm(5, elementwiseAffine: false), [4, 5]),
            (Activation.identity, [2, 3]), (Activation.relu, [2, 3]), (Activation.tanh, [2, 3]),
            (Activation.sigmoid, [2, 3]), (Activation.gelu, [2, 3]), (Activation.softplus, [2, 3]),
            (try LeakyReLU(negativeSlope: 0.1), [2, 3]),
            (try MaxPool2d(kernelSize: 3, stride: 2), [2, 3, 7, 7]),
            (try AvgPool2d(kernelSize: 3, stride: 1, padding: 1), [2, 3, 5, 4]),
            (GlobalAvgPool2d(), [2, 3, 4, 5]),
            (Flatten(), [2, 3, 4, 5]),
            (LastStep(), [2, 3, 4]),
            (try LSTM(inputSize: 3, hiddenSize: 4), [2, 5, 3]),
            (try GRU(inputSize: 3, hiddenSize: 4), [2, 5, 3]),
            (try LSTMCell(inputSize: 3, hiddenSize: 4), [5, 2, 3]),
            (try GRUCell(inputSize: 3, hiddenSize: 4), [2, 3]),
            (Residual(body: Sequential([conv, Activation.relu, try Conv2d(inChannels: 4, outChannels: 4, kernelSize: 3, padding: 1)]),
                      shortcut: try Conv2d(inChannels: 3, outChannels: 4, kernelSize: 1)), [2, 3, 5, 5]),
            (Residual(body: try Linear(inputs: 3, outputs: 3)), [4, 3]),
            (Sequential([try LSTM(inputSize: 2, hiddenSize: 3), LastStep(), try Linear(inputs: 3, outputs: 2)]), [4, 6, 2]),
            (try Sequential(named: [("features", Sequential([conv, try BatchNorm2d(features: 4), Activation.relu,
                                                             try MaxPool2d(kernelSize: 2), Flatten()])),
                                    ("head", try Linear(inputs: 36, outputs: 5))]), [2, 3, 6, 6]),
            (Sequential([]), [2, 3]),
            (try MLP(sizes: [1, 40, 40, 1]), [10, 1]),
            (try MLP(sizes: [3, 5, 2], activation: .tanh, bias: false), [4, 3]),
            (try Conv4(inChannels: 1, hidden: 4, blocks: 4, outputs: 5, imageSize: 28), [2, 1, 28, 28]),
            (try Conv4(inChannels: 3, hidden: 2, blocks: 2, imageSize: 10, eps: 1e-3), [2, 3, 10, 12]),
            (try Conv4(inChannels: 1, hidden: 2, blocks: 2, imageSize: 8, momentum: 0.2, trackRunningStats: true), [2, 1, 8, 8]),
            (try CosineLinear(inputs: 6, outputs: 3, scale: 4), [5, 6]),
            (try CosineLinear(inputs: 6, outputs: 3, scale: 2, learnedNorm: false), [5, 6]),
            (try ResNet12(inChannels: 3, widths: [2, 3, 4, 5], outputs: 4), [2, 3, 16, 16]),
            (try ResNet12(inChannels: 1, widths: [2, 2, 2, 3]), [2, 1, 17, 16]),
        ]
    }

    func testEveryLayerRoundTripsThroughItsDescription() throws {
        var types = Set<String>()
        for (model, _) in try examples() {
            let d = model.layerDescription
            let text = try d.serialized
            XCTAssertEqual(d["type"]?.string, model.layerType, text)
            let rebuilt = try ModelBuilder.build(d)
            XCTAssertEqual(rebuilt.layerDescription, d, text)
            XCTAssertEqual(rebuilt.parameterSpecs, model.parameterSpecs, text)
            // Through text, as Python and safetensors metadata carry it.
            let fromText = try ModelBuilder.build(json: text)
            XCTAssertEqual(try fromText.layerDescription.serialized, text)
            XCTAssertEqual(fromText.parameterSpecs, model.parameterSpecs, text)
            types.formUnion(Self.types(in: d))
        }
        XCTAssertEqual(types, Set(ModelBuilder.layerTypes), "every buildable type has an example")
    }

    static func types(in d: JSON) -> Set<String> {
        var found = Set<String>()
        if let t = d["type"]?.string { found.insert(t) }
        for part in (d["layers"]?.array ?? []) + [d["body"], d["shortcut"]].compactMap({ $0 }) {
            found.formUnion(types(in: part))
        }
        return found
    }

    /// What shape inference says is what `forward` returns.
    func testOutputShapeIsTheForwardShape() throws {
        var rng = RNG(seed: 11)
        var test = TestRandom(seed: 5)
        for (model, input) in try examples() {
            let params = try model.initialParameters(rng: &rng).map { Variable($0) }
            let y = try model(params, Variable(test.tensor(input)))
            let text = try model.layerDescription.serialized
            XCTAssertEqual(try model.outputShape(for: input), y.shape, text)
            // The batch size never makes a shape fail.
            XCTAssertEqual(try model.outputShape(for: [1] + input.dropFirst()).dropFirst(), y.shape.dropFirst())
        }
    }

    func testDescriptionTextIsPyTorchsVocabulary() throws {
        XCTAssertEqual(try (try Linear(inputs: 4, outputs: 2)).layerDescription.serialized,
                       #"{"type":"Linear","in_features":4,"out_features":2,"bias":true}"#)
        XCTAssertEqual(try (try Conv4(inChannels: 1, hidden: 64, blocks: 4, outputs: 5, imageSize: 28)).layerDescription.serialized,
                       #"{"type":"Conv4","in_channels":1,"hidden":64,"blocks":4,"outputs":5,"image_size":28,"eps":1e-05}"#)
        XCTAssertEqual(try (try Conv2d(inChannels: 1, outChannels: 8, kernelSize: (3, 1), padding: (1, 0))).layerDescription.serialized,
                       #"{"type":"Conv2d","in_channels":1,"out_channels":8,"kernel_size":[3,1],"stride":1,"padding":[1,0],"bias":true}"#)
        XCTAssertEqual(try Sequential([Activation.relu, try LeakyReLU(negativeSlope: 0.1)]).layerDescription.serialized,
                       #"{"type":"Sequential","layers":[{"type":"ReLU"},{"type":"LeakyReLU","negative_slope":0.1}]}"#)
        XCTAssertEqual(try Residual(body: Activation.tanh).layerDescription.serialized,
                       #"{"type":"Residual","body":{"type":"Tanh"},"shortcut":null}"#)
        XCTAssertEqual(try (try LSTM(inputSize: 2, hiddenSize: 3)).layerDescription.serialized,
                       #"{"type":"LSTM","input_size":2,"hidden_size":3,"batch_first":true}"#)
    }

    /// What Python's ms.nn.Sequential(...) sends, with PyTorch's defaults left out.
    func testPythonStyleDescriptionWithDefaults() throws {
        let model = try ModelBuilder.build(json: """
            {"type": "Sequential", "layers": [
              {"type": "Conv2d", "in_channels": 1, "out_channels": 8, "kernel_size": 3, "padding": 1},
              {"type": "BatchNorm2d", "num_features": 8}, {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2},
              {"type": "Conv2d", "in_channels": 8, "out_channels": 8, "kernel_size": [3, 3], "stride": 1.0, "padding": 1},
              {"type": "BatchNorm2d", "num_features": 8, "eps": 1e-05}, {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2},
              {"type": "Flatten"}, {"type": "Linear", "in_features": 392, "out_features": 5}]}
            """)
        XCTAssertEqual(model.parameterSpecs.map(\.description),
                       ["0.W[8, 1, 3, 3]", "0.b[8]", "1.gamma[8]", "1.beta[8]", "4.W[8, 8, 3, 3]", "4.b[8]",
                        "5.gamma[8]", "5.beta[8]", "9.W[392, 5]", "9.b[5]"])
        XCTAssertEqual(try model.outputShape(for: [25, 1, 28, 28]), [25, 5])
        // Defaults are written out when it describes itself.
        XCTAssertEqual(model.layerDescription["layers"]?[3],
                       ["type": "MaxPool2d", "kernel_size": 2, "stride": 2])
        XCTAssertEqual(model.layerDescription["layers"]?[1], ["type": "BatchNorm2d", "num_features": 8, "eps": 1e-05,
                                                              "momentum": 0.1, "track_running_stats": false])
    }

    // MARK: - Builder errors

    /// `build(json:)` throws a `MetaError.argument` whose message starts with `prefix`.
    func assertBuildFails(_ text: String, _ prefix: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ModelBuilder.build(json: text), text, file: file, line: line) { error in
            XCTAssertEqual((error as? MetaError)?.kind, .invalidArgument, "\(error)", file: file, line: line)
            XCTAssertTrue("\(error)".hasPrefix(prefix), "\(error)\n  expected to start with: \(prefix)", file: file, line: line)
        }
    }

    func sequential(_ layers: String...) -> String {
        #"{"type": "Sequential", "layers": ["# + layers.joined(separator: ", ") + "]}"
    }

    func testBuilderErrorsNameThePathAndTheArgument() {
        let relu = #"{"type": "ReLU"}"#
        assertBuildFails(sequential(relu, relu, relu, #"{"type": "Conv2d", "in_channels": -2, "out_channels": 3, "kernel_size": 3}"#),
                         "layers[3] (Conv2d).in_channels: must be >= 1, got -2")
        assertBuildFails(sequential(relu, relu, relu, relu, relu, relu, relu, #"{"type": "Conv3d"}"#),
                         "layers[7]: unknown layer type 'Conv3d'; expected one of Sequential, Linear, CosineLinear, Conv2d")
        assertBuildFails(sequential(#"{"type": "Linear", "in_feature": 3, "out_features": 2}"#),
                         "layers[0] (Linear): unknown argument 'in_feature'; expected in_features, out_features, bias")
        assertBuildFails(#"{"type": "ReLU", "inplace": true}"#, "ReLU: unknown argument 'inplace'; it takes no arguments")
        assertBuildFails(#"{"type": "Linear", "in_features": "4", "out_features": 2}"#, "Linear.in_features: must be an integer, got a string")
        assertBuildFails(#"{"type": "Linear", "in_features": 2.5, "out_features": 2}"#, "Linear.in_features: must be an integer, got 2.5")
        assertBuildFails(#"{"type": "Linear", "in_features": 4}"#, "Linear.out_features: required argument missing")
        assertBuildFails(#"{"type": "Linear", "in_features": 4, "out_features": 2, "bias": 1}"#, "Linear.bias: must be true or false, got a number")
        assertBuildFails(#"{"type": "Linear", "in_features": 1099511627776, "out_features": 2}"#,
                         "Linear.in_features: must be <= 2147483647, got 1099511627776")
        assertBuildFails(#"{"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": [3]}"#,
                         "Conv2d.kernel_size: must be an integer or a pair [height, width], got 1 values")
        assertBuildFails(#"{"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": [3, 0]}"#,
                         "Conv2d.kernel_size[1]: must be >= 1, got 0")
        assertBuildFails(#"{"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": -1}"#,
                         "Conv2d.padding: must be >= 0, got -1")
        assertBuildFails(#"{"type": "BatchNorm2d", "num_features": 4, "eps": 0}"#, "BatchNorm2d.eps: must be > 0, got 0.0")
        assertBuildFails(#"{"type": "BatchNorm1d", "num_features": 4, "eps": 1e300}"#, "BatchNorm1d.eps: must be finite as a float32")
        assertBuildFails(#"{"type": "BatchNorm2d", "num_features": 4, "momentum": 2}"#, "BatchNorm2d: momentum must be in [0, 1], got 2.0")
        assertBuildFails(#"{"type": "BatchNorm2d", "num_features": 4, "track_running_stats": 1}"#, "BatchNorm2d.track_running_stats: must be true or false")
        assertBuildFails(#"{"type": "Dropout", "p": -0.5}"#, "Dropout: p must be a probability in [0, 1], got -0.5")
        assertBuildFails(#"{"type": "LeakyReLU", "negative_slope": "0.1"}"#, "LeakyReLU.negative_slope: must be a number, got a string")
        assertBuildFails(#"{"type": "LayerNorm", "normalized_shape": []}"#, "LayerNorm.normalized_shape: must not be empty")
        assertBuildFails(#"{"type": "AvgPool2d", "kernel_size": 2, "padding": 2}"#, "AvgPool2d.padding: must be at most kernel_size / 2")
        assertBuildFails(#"{"type": "LSTM", "input_size": 2, "hidden_size": 3, "batch_first": false}"#,
                         "LSTM.batch_first: only true is supported")
        assertBuildFails(#"{"type": "MLP", "sizes": [4]}"#, "MLP.sizes: needs at least an input and an output size")
        assertBuildFails(#"{"type": "MLP", "sizes": [4, 2], "activation": "swish"}"#, "MLP.activation: unknown activation 'swish'")
        assertBuildFails(#"{"type": "ResNet12", "widths": [64, 160, 320]}"#, "ResNet12.widths: must have 4 entries, got 3")
        assertBuildFails(#"{"type": "Conv4", "blocks": 4, "image_size": 8, "outputs": 5}"#, "Conv4.image_size: 8 is too small for 4 2x2 poolings")
        // Nested paths.
        assertBuildFails(sequential(relu, #"{"type": "Residual", "body": {"type": "Sequential", "layers": [{"type": "Conv2d", "in_channels": 1, "out_channels": 1, "kernel_size": 0}]}}"#),
                         "layers[1] (Residual).body (Sequential).layers[0] (Conv2d).kernel_size: must be >= 1, got 0")
        assertBuildFails(#"{"type": "Residual", "body": {"type": "ReLU"}, "shortcut": {"type": "Linear"}}"#,
                         "shortcut (Linear).in_features: required argument missing")
        assertBuildFails(#"{"type": "Residual"}"#, "Residual.body: required argument missing")
        // The description's own structure.
        assertBuildFails("[1]", "description: a layer description must be an object")
        assertBuildFails(#"{"in_features": 3}"#, "description: missing \"type\"")
        assertBuildFails(#"{"type": 3}"#, "description.type: must be a string, got a number")
        assertBuildFails(sequential("3"), "layers[0]: a layer description must be an object")
        assertBuildFails(#"{"type": "Sequential"}"#, "Sequential.layers: required argument missing")
        assertBuildFails(#"{"type": "Sequential", "layers": {}}"#, "Sequential.layers: must be a list of layer descriptions, got an object")
        assertBuildFails(#"{"type": "Sequential", "layers": [{"type": "ReLU"}], "names": ["a", "b"]}"#,
                         "Sequential.names: must have one name per layer (1), got 2")
        assertBuildFails(#"{"type": "Sequential", "layers": [{"type": "ReLU"}, {"type": "ReLU"}], "names": ["a", "a"]}"#,
                         "Sequential.names[1]: must be non-empty and distinct, got 'a'")
        assertBuildFails(#"{"type": "Linear", "in_features": 4, "in_features": 4}"#, "JSON: duplicate key")
    }

    /// Sizes no machine could hold are refused, never trapped on.
    func testHugeDescriptionsThrowInsteadOfTrapping() {
        let big = ModelBuilder.maxSize
        assertBuildFails(#"{"type": "Linear", "in_features": \#(big), "out_features": \#(big)}"#, "Linear: too many parameters")
        assertBuildFails(#"{"type": "Conv2d", "in_channels": \#(big), "out_channels": \#(big), "kernel_size": \#(big)}"#,
                         "Conv2d: too many parameters")
        assertBuildFails(#"{"type": "LSTM", "input_size": \#(big), "hidden_size": \#(big)}"#, "LSTM: too many parameters")
        assertBuildFails(#"{"type": "Conv4", "hidden": \#(big), "blocks": 1, "image_size": \#(big), "outputs": 2}"#,
                         "Conv4: the embedding of")
        assertBuildFails(sequential(#"{"type": "Conv4", "hidden": \#(big), "blocks": 1, "image_size": \#(big), "outputs": 2}"#),
                         "layers[0] (Conv4): the embedding of")
        assertBuildFails(#"{"type": "MLP", "sizes": [\#(big), \#(big), \#(big)]}"#, "MLP: too many parameters")
        // Shape inference with huge inputs and sizes.
        XCTAssertThrowsError(try (try Conv2d(inChannels: 1, outChannels: 1, kernelSize: 1, padding: Int.max / 2))
                                .outputShape(for: [1, 1, 3, 3]))
        XCTAssertThrowsError(try Flatten().outputShape(for: [1, Int.max, Int.max]))
        XCTAssertThrowsError(try Sequential([]).outputShape(for: [-1, 3])) {
            XCTAssertTrue("\($0)".contains("dimensions must be >= 0"), "\($0)")
        }
    }

    func testNestingIsLimited() throws {
        var d: JSON = ["type": "ReLU"]
        for _ in 0..<(ModelBuilder.maxNesting + 1) { d = ["type": "Residual", "body": d] }
        XCTAssertThrowsError(try ModelBuilder.build(d)) { XCTAssertTrue("\($0)".contains("nested more than"), "\($0)") }
        var ok: JSON = ["type": "ReLU"]
        for _ in 0..<ModelBuilder.maxNesting { ok = ["type": "Residual", "body": ok, "shortcut": nil] }
        XCTAssertEqual(try ModelBuilder.build(ok).layerDescription, ok)
    }

    // MARK: - Shape inference errors

    func assertShapeFails(_ model: any Layer, _ input: [Int], _ prefix: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try model.outputShape(for: input), file: file, line: line) { error in
            XCTAssertTrue("\(error)".hasPrefix(prefix), "\(error)\n  expected to start with: \(prefix)", file: file, line: line)
        }
    }

    func testShapeErrorsNameTheLayerThatDoesNotFit() throws {
        let net = try ModelBuilder.build(json: sequential(
            #"{"type": "Conv2d", "in_channels": 1, "out_channels": 64, "kernel_size": 3, "padding": 1}"#,
            #"{"type": "BatchNorm2d", "num_features": 64}"#, #"{"type": "ReLU"}"#, #"{"type": "MaxPool2d", "kernel_size": 2}"#,
            #"{"type": "Conv2d", "in_channels": 32, "out_channels": 32, "kernel_size": 3}"#))
        assertShapeFails(net, [2, 1, 28, 28], "layers[4] (Conv2d).in_channels: 32, but its input has 64 channels")
        assertShapeFails(net, [2, 3, 28, 28], "layers[0] (Conv2d).in_channels: 1, but its input has 3 channels")
        assertShapeFails(net, [2, 1, 28], "layers[0] (Conv2d): input must be NCHW images (rank 4), got shape [2, 1, 28]")

        let small = Sequential([try Conv2d(inChannels: 1, outChannels: 2, kernelSize: 3), try MaxPool2d(kernelSize: 2)])
        XCTAssertEqual(try small.outputShape(for: [2, 1, 4, 5]), [2, 2, 1, 1])
        assertShapeFails(small, [2, 1, 5, 3], "layers[1] (MaxPool2d).kernel_size: 2, but its input images are 3x1")
        assertShapeFails(small, [2, 1, 3, 3], "layers[1] (MaxPool2d).kernel_size: 2, but its input images are 1x1")
        assertShapeFails(small, [2, 1, 2, 9], "layers[0] (Conv2d): input of spatial size 2x9")

        let mlp = Sequential([Flatten(), try Linear(inputs: 100, outputs: 5)])
        assertShapeFails(mlp, [2, 1, 28, 28], "layers[1] (Linear).in_features: 100, but its input has 784 features")
        assertShapeFails(Sequential([try BatchNorm1d(features: 3)]), [4, 5], "layers[0] (BatchNorm1d).num_features: 3, but its input has 5 channels")
        assertShapeFails(Sequential([try BatchNorm1d(features: 3)]), [4, 3, 2, 2], "layers[0] (BatchNorm1d): input must be (N, C) or (N, C, L)")
        assertShapeFails(try LayerNorm(normalizedShape: [3, 4]), [2, 4, 3], "LayerNorm.normalized_shape: [3, 4], but its input")

        // Composites inside composites.
        let residual = Sequential([Activation.relu, Residual(body: Sequential([try Conv2d(inChannels: 2, outChannels: 4, kernelSize: 1)]))])
        assertShapeFails(residual, [1, 3, 4, 4], "layers[1] (Residual).body (Sequential).layers[0] (Conv2d).in_channels: 2, but its input has 3 channels")
        assertShapeFails(residual, [1, 2, 4, 4], "layers[1] (Residual).body: the body's output [1, 4, 4, 4] and the identity's [1, 2, 4, 4] differ")
        let shortcut = Residual(body: try Linear(inputs: 3, outputs: 4), shortcut: try Linear(inputs: 2, outputs: 4))
        assertShapeFails(shortcut, [5, 3], "shortcut (Linear).in_features: 2, but its input has 3 features")

        // Sequences.
        let classifier = Sequential([try LSTM(inputSize: 2, hiddenSize: 3), LastStep(), try Linear(inputs: 3, outputs: 2)])
        XCTAssertEqual(try classifier.outputShape(for: [4, 5, 2]), [4, 2])
        assertShapeFails(classifier, [4, 5, 3], "layers[0] (LSTM).input_size: 2, but its input has 3 features per step")
        assertShapeFails(classifier, [4, 2], "layers[0] (LSTM): input must be sequences (N, T, 2)")
        assertShapeFails(classifier, [4, 0, 2], "layers[0] (LSTM): input must be sequences")
        assertShapeFails(Sequential([try GRU(inputSize: 2, hiddenSize: 3), try Linear(inputs: 2, outputs: 2)]), [1, 4, 2],
                         "layers[1] (Linear).in_features: 2, but its input has 3 features")

        // Presets.
        let conv4 = try Conv4(inChannels: 1, hidden: 8, outputs: 5, imageSize: 28)
        XCTAssertEqual(try conv4.outputShape(for: [3, 1, 28, 28]), [3, 5])
        assertShapeFails(conv4, [3, 1, 84, 84], "Conv4.image_size: 28, but its input images are 84x84: the head takes 8 features and the blocks give 200")
        assertShapeFails(conv4, [3, 1, 8, 8], "Conv4.blocks: 4 2x2 poolings, but its input images of 8x8 are too small")
        assertShapeFails(conv4, [3, 3, 28, 28], "Conv4.in_channels: 1, but its input has 3 channels")
        assertShapeFails(Sequential([conv4]), [3, 3, 28, 28], "layers[0] (Conv4).in_channels: 1, but its input has 3 channels")
        assertShapeFails(try ResNet12(inChannels: 3, widths: [2, 2, 2, 2]), [1, 3, 15, 16], "ResNet12: input images must be at least 16x16")
        assertShapeFails(try MLP(sizes: [3, 4]), [2, 2], "MLP.sizes: [3, 4] starts with 3, but its input has 2 features")
    }
}

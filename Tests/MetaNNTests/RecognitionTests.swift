import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import _TestSupport

/// Models built from layers, as Python describes them, run the presets' fast
/// forwards (`Recognition`): same names, initial values and description as
/// the layers; values and gradients bit for bit those of the preset, and
/// within rounding of the layers' own forward.
final class RecognitionTests: XCTestCase {
    var rng = TestRandom(seed: 17)

    // MARK: - Descriptions, as Python writes them

    func conv(_ i: Int, _ o: Int, kernel: Int = 3, padding: Int = 1, bias: Bool = true) -> JSON {
        ["type": "Conv2d", "in_channels": JSON(i), "out_channels": JSON(o), "kernel_size": JSON(kernel),
         "padding": JSON(padding), "bias": JSON(bias)]
    }
    func bn(_ f: Int, eps: Float = 1e-5, type: String = "BatchNorm2d") -> JSON {
        ["type": .string(type), "num_features": JSON(f), "eps": JSON(eps)]
    }
    func pool(_ k: Int = 2, stride: Int? = nil, type: String = "MaxPool2d") -> JSON {
        ["type": .string(type), "kernel_size": JSON(k), "stride": JSON(stride ?? k)]
    }
    func linear(_ i: Int, _ o: Int, bias: Bool = true) -> JSON {
        ["type": "Linear", "in_features": JSON(i), "out_features": JSON(o), "bias": JSON(bias)]
    }
    func layer(_ type: String) -> JSON { ["type": .string(type)] }
    func sequential(_ layers: [JSON]) -> JSON { ["type": "Sequential", "layers": .array(layers)] }

    /// Conv4's layers, in PyTorch's order (conv, bn, ReLU, pool).
    func conv4Layers(channels: Int, hidden: Int, blocks: Int, outputs: Int?, side: Int) -> [JSON] {
        var layers: [JSON] = []
        for b in 0..<blocks { layers += [conv(b == 0 ? channels : hidden, hidden), bn(hidden), layer("ReLU"), pool()] }
        layers.append(layer("Flatten"))
        let last = side >> blocks
        if let outputs { layers.append(linear(hidden * last * last, outputs)) }
        return layers
    }

    func mlpLayers(_ sizes: [Int], _ activation: String, bias: Bool = true) -> [JSON] {
        var layers: [JSON] = []
        for k in 1..<sizes.count {
            if k > 1 { layers.append(layer(activation)) }
            layers.append(linear(sizes[k - 1], sizes[k], bias: bias))
        }
        return layers
    }

    struct Conv4Case {
        let channels: Int, hidden: Int, blocks: Int, outputs: Int?, side: Int, batch: Int
        var preset: Conv4 {
            try! Conv4(inChannels: channels, hidden: hidden, blocks: blocks, outputs: outputs, imageSize: side)
        }
        var inputShape: [Int] { [channels, side, side] }
    }

    let conv4Cases = [
        Conv4Case(channels: 1, hidden: 8, blocks: 4, outputs: 5, side: 28, batch: 6),
        Conv4Case(channels: 1, hidden: 16, blocks: 4, outputs: nil, side: 28, batch: 5),
        Conv4Case(channels: 3, hidden: 8, blocks: 2, outputs: 3, side: 9, batch: 3),
    ]

    struct MLPCase { let sizes: [Int], activation: Activation, bias: Bool }
    let mlpCases = [
        MLPCase(sizes: [1, 40, 40, 1], activation: .relu, bias: true),
        MLPCase(sizes: [1, 40, 40, 1], activation: .tanh, bias: true),
        MLPCase(sizes: [3, 7, 2], activation: .gelu, bias: false),
    ]

    func userConv4(_ c: Conv4Case) throws -> any Layer {
        try ModelBuilder.build(sequential(conv4Layers(channels: c.channels, hidden: c.hidden, blocks: c.blocks,
                                                      outputs: c.outputs, side: c.side)))
    }

    func userMLP(_ c: MLPCase) throws -> any Layer {
        try ModelBuilder.build(sequential(mlpLayers(c.sizes, c.activation.layerType, bias: c.bias)))
    }

    // MARK: - Helpers

    func assertIdentical(_ a: Tensor, _ b: Tensor, _ message: @autoclosure () -> String = "",
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, message(), file: file, line: line)
        let (x, y) = (a.scalars, b.scalars)
        let differ = (0..<min(x.count, y.count)).filter { x[$0].bitPattern != y[$0].bitPattern }
        if let i = differ.first {
            XCTFail("not bit for bit: \(differ.count) of \(x.count) values differ, first [\(i)] \(x[i]) vs \(y[i]) \(message())",
                    file: file, line: line)
        }
    }

    func assertIdentical(_ a: [Tensor], _ b: [Tensor], _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, message, file: file, line: line)
        for (i, (x, y)) in zip(a, b).enumerated() { assertIdentical(x, y, "\(message) [\(i)]", file: file, line: line) }
    }

    /// Initial parameters with non-trivial γ and β (the initial ones are 1 and 0).
    func params(_ model: any Model, seed: UInt64) throws -> [Variable] {
        var r = RNG(seed: seed)
        return try model.initialParameters(rng: &r).enumerated().map { i, t in
            let name = model.parameterSpecs[i].name
            if name.hasSuffix("gamma") || name.hasSuffix("beta") { return Variable(rng.tensor(t.shape, 0.5, 1.5)) }
            return Variable(t)
        }
    }

    func recognisedConv4(_ c: Conv4Case) throws -> (user: any Layer, fast: FastPath<Conv4>) {
        let user = try userConv4(c)
        let optimized = Recognition.optimized(user, inputShape: c.inputShape)
        let fast = try XCTUnwrap(optimized as? FastPath<Conv4>, "\(type(of: optimized))")
        return (user, fast)
    }

    func recognisedMLP(_ c: MLPCase) throws -> (user: any Layer, fast: FastPath<MLP>) {
        let user = try userMLP(c)
        let optimized = Recognition.optimized(user, inputShape: [c.sizes[0]])
        let fast = try XCTUnwrap(optimized as? FastPath<MLP>, "\(type(of: optimized))")
        return (user, fast)
    }

    /// First-order gradients of a fixed scalar function of the output.
    func gradients(_ f: @escaping ([Variable]) throws -> Variable, at p: [Variable], weights w: Variable) throws -> [Tensor] {
        try Autodiff.grad(at: p) { v in try (f(v).tanh() * w).sum() }.map(\.value)
    }

    /// What second-order MAML differentiates: ⟨∇θ L(θ), u⟩ differentiated again.
    func hessianVectorProducts(_ f: @escaping ([Variable]) throws -> Variable, at p: [Variable], _ u: [Variable]) throws -> [Tensor] {
        try Autodiff.grad(at: p) { v in
            let gs = try Autodiff.grad(at: v, createGraph: true) { q in try f(q).square().sum() }
            return try zip(gs, u).map { try ($0 * $1).sum() }.reduce(Variable(Float(0))) { try $0 + $1 }
        }.map(\.value)
    }

    // MARK: - Conv4

    func testUserConv4IsRecognisedAndKeepsItsIdentity() throws {
        for c in conv4Cases {
            let (user, fast) = try recognisedConv4(c)
            XCTAssertEqual(fast.fast.inChannels, c.channels)
            XCTAssertEqual(fast.fast.hidden, c.hidden)
            XCTAssertEqual(fast.fast.blocks, c.blocks)
            XCTAssertEqual(fast.fast.outputs, c.outputs)
            XCTAssertEqual(fast.fast.eps, 1e-5)
            XCTAssertEqual(fast.parameterSpecs, user.parameterSpecs)
            XCTAssertEqual(fast.parameterSpecs.prefix(4).map(\.name), ["0.W", "0.b", "1.gamma", "1.beta"])
            XCTAssertEqual(fast.parameterSpecs.map(\.shape), c.preset.parameterSpecs.map(\.shape))
            XCTAssertEqual(fast.layerType, "Sequential")
            XCTAssertEqual(fast.layerDescription, user.layerDescription)
            XCTAssertEqual(try ModelBuilder.build(fast.layerDescription).layerDescription, user.layerDescription)
            let shape = [c.batch] + c.inputShape
            XCTAssertEqual(try fast.outputShape(for: shape), try user.outputShape(for: shape))
            XCTAssertEqual(try fast.outputShape(for: shape), try c.preset.outputShape(for: shape))
        }
    }

    func testInitialParametersAreTheLayersAndThePresets() throws {
        for c in conv4Cases {
            let (user, fast) = try recognisedConv4(c)
            var (r1, r2, r3) = (RNG(seed: 3), RNG(seed: 3), RNG(seed: 3))
            let values = try fast.initialParameters(rng: &r1)
            assertIdentical(values, try user.initialParameters(rng: &r2), "Conv4 \(c.hidden) vs layers")
            assertIdentical(values, try c.preset.initialParameters(rng: &r3), "Conv4 \(c.hidden) vs preset")
            XCTAssertEqual(r1, r3)
        }
        for c in mlpCases {
            let (user, fast) = try recognisedMLP(c)
            let preset = try MLP(sizes: c.sizes, activation: c.activation, bias: c.bias)
            var (r1, r2, r3) = (RNG(seed: 4), RNG(seed: 4), RNG(seed: 4))
            let values = try fast.initialParameters(rng: &r1)
            assertIdentical(values, try user.initialParameters(rng: &r2), "MLP \(c.sizes) vs layers")
            assertIdentical(values, try preset.initialParameters(rng: &r3), "MLP \(c.sizes) vs preset")
            XCTAssertEqual(r1, r3)
        }
    }

    func testConv4ForwardAndGradientsArePresetsBitForBit() throws {
        for c in conv4Cases {
            let (user, fast) = try recognisedConv4(c)
            let preset = c.preset
            let p = try params(user, seed: 5)
            let x = Variable(rng.tensor([c.batch] + c.inputShape))
            let out = try fast(p, x)
            assertIdentical(out.value, try preset(p, x).value, "forward \(c.hidden)")
            // The layers compute the same function (in another order of sums).
            assertClose(out.value, try user(p, x).value, rtol: 1e-4, atol: 1e-5, "layers \(c.hidden)")

            let w = Variable(rng.tensor(out.shape))
            let g = try gradients({ try fast($0, x) }, at: p, weights: w)
            assertIdentical(g, try gradients({ try preset($0, x) }, at: p, weights: w), "gradients \(c.hidden)")
            let layers = try gradients({ try user($0, x) }, at: p, weights: w)
            for (i, (a, b)) in zip(g, layers).enumerated() {
                assertClose(a, b, rtol: 2e-3, atol: 2e-4, "layers' gradient \(c.hidden) \(user.parameterSpecs[i].name)")
            }
        }
    }

    func testConv4SecondOrderIsPresetsBitForBit() throws {
        let c = conv4Cases[2]
        let (user, fast) = try recognisedConv4(c)
        let p = try params(user, seed: 6)
        let x = Variable(rng.tensor([c.batch] + c.inputShape))
        let u = p.map { Variable(rng.tensor($0.shape)) }
        let h = try hessianVectorProducts({ try fast($0, x) }, at: p, u)
        assertIdentical(h, try hessianVectorProducts({ try c.preset($0, x) }, at: p, u), "Conv4 Hessian-vector products")
        let layers = try hessianVectorProducts({ try user($0, x) }, at: p, u)
        for (i, (a, b)) in zip(h, layers).enumerated() {
            assertClose(a, b, rtol: 5e-3, atol: 1e-3, "layers' Hessian-vector product \(user.parameterSpecs[i].name)")
        }
    }

    /// Blocks written as nested Sequentials (PyTorch's ConvBlock style), and
    /// the pool before the ReLU (the same function), are Conv4 too.
    func testNestedBlocksAndPoolBeforeReLUAreConv4() throws {
        let c = conv4Cases[0]
        var blocks: [JSON] = []
        for b in 0..<c.blocks {
            let act = b % 2 == 0 ? [layer("ReLU"), pool()] : [pool(), layer("ReLU")]
            blocks.append(sequential([conv(b == 0 ? 1 : c.hidden, c.hidden), bn(c.hidden, type: "BatchNorm")] + act))
        }
        let user = try ModelBuilder.build(sequential(blocks + [layer("Flatten"), linear(c.hidden, 5)]))
        let fast = try XCTUnwrap(Recognition.optimized(user, inputShape: c.inputShape) as? FastPath<Conv4>)
        XCTAssertEqual(fast.parameterSpecs.first?.name, "0.0.W")
        let p = try params(user, seed: 7)
        let x = Variable(rng.tensor([4] + c.inputShape))
        assertIdentical(try fast(p, x).value, try c.preset(p, x).value, "nested")
        assertClose(try fast(p, x).value, try user(p, x).value, rtol: 1e-4, atol: 1e-5, "nested layers")
    }

    /// Without an input shape the structure decides: the head's size says the
    /// last map's side.
    func testConv4WithoutInputShapeAndNonSquareImages() throws {
        let c = conv4Cases[0]
        let user = try userConv4(c)
        let fast = try XCTUnwrap(Recognition.optimized(user) as? FastPath<Conv4>)
        XCTAssertEqual(fast.fast.head?.inputs, c.hidden)
        let p = try params(user, seed: 8)
        // 28x29 and 29x28 pool to a 1x1 map, like 28x28.
        for shape in [[3, 1, 28, 28], [3, 1, 28, 29], [2, 1, 29, 28]] {
            let x = Variable(rng.tensor(shape))
            assertIdentical(try fast(p, x).value, try c.preset(p, x).value, "\(shape)")
            assertClose(try fast(p, x).value, try user(p, x).value, rtol: 1e-4, atol: 1e-5, "\(shape) layers")
        }
        XCTAssertTrue(Recognition.optimized(user, inputShape: [1, 28, 29]) is FastPath<Conv4>)
        // Body only, non-square input.
        let body = try userConv4(conv4Cases[1])
        XCTAssertTrue(Recognition.optimized(body, inputShape: [1, 20, 33]) is FastPath<Conv4>)
        // A head that no square map fits (8·2 features: a 1x2 map) is not Conv4's.
        var layers = conv4Layers(channels: 1, hidden: 8, blocks: 2, outputs: nil, side: 4)
        layers.append(linear(16, 3))
        let oblong = try ModelBuilder.build(sequential(layers))
        XCTAssertFalse(Recognition.optimized(oblong) is FastPath<Conv4>)
        XCTAssertFalse(Recognition.optimized(oblong, inputShape: [1, 4, 8]) is FastPath<Conv4>)
    }

    /// An input the preset refuses goes through the user's layers, whose
    /// errors name them.
    func testErrorsNameTheUsersLayers() throws {
        let (user, fast) = try recognisedConv4(conv4Cases[0])
        let p = try params(user, seed: 9)
        XCTAssertThrowsError(try fast(p, Variable(rng.tensor([2, 3, 28, 28])))) { e in
            XCTAssertTrue("\(e)".contains("Conv2d"), "\(e)")
            XCTAssertFalse("\(e)".contains("Conv4"), "\(e)")
        }
        XCTAssertThrowsError(try fast(p, Variable(rng.tensor([2, 1, 8, 8])))) { e in
            XCTAssertTrue("\(e)".contains("MaxPool2d"), "\(e)")
        }
        XCTAssertThrowsError(try fast(Array(p.dropLast()), Variable(rng.tensor([2, 1, 28, 28])))) { e in
            XCTAssertTrue("\(e)".contains("parameters"), "\(e)")
        }
    }

    // MARK: - MLP

    func testUserMLPIsRecognisedAndTaskBatched() throws {
        for c in mlpCases {
            let (user, fast) = try recognisedMLP(c)
            XCTAssertEqual(fast.fast.sizes, c.sizes)
            XCTAssertEqual(fast.fast.activation, c.activation)
            XCTAssertEqual(fast.parameterSpecs, user.parameterSpecs)
            XCTAssertEqual(fast.parameterSpecs.first?.name, "0.W")
            XCTAssertEqual(fast.layerDescription, user.layerDescription)
            XCTAssertEqual(try ModelBuilder.build(fast.layerDescription).layerDescription, user.layerDescription)
            XCTAssertEqual(try fast.outputShape(for: [10, c.sizes[0]]), try user.outputShape(for: [10, c.sizes[0]]))
            // What MAML asks before taking its batched path.
            XCTAssertNotNil((fast as any Model) as? any TaskBatchedModel)
            XCTAssertNil((user as any Model) as? any TaskBatchedModel)
        }
    }

    func testMLPForwardAndGradientsToSecondOrderArePresetsBitForBit() throws {
        for c in mlpCases {
            let (user, fast) = try recognisedMLP(c)
            let preset = try MLP(sizes: c.sizes, activation: c.activation, bias: c.bias)
            let p = try params(user, seed: 10)
            let x = Variable(rng.tensor([10, c.sizes[0]], -3, 3))
            let out = try fast(p, x)
            assertIdentical(out.value, try preset(p, x).value, "forward \(c.sizes) \(c.activation)")
            assertClose(out.value, try user(p, x).value, rtol: 1e-5, atol: 1e-6, "layers \(c.activation)")

            let w = Variable(rng.tensor(out.shape))
            assertIdentical(try gradients({ try fast($0, x) }, at: p, weights: w),
                            try gradients({ try preset($0, x) }, at: p, weights: w), "gradients \(c.activation)")
            let u = p.map { Variable(rng.tensor($0.shape)) }
            let h = try hessianVectorProducts({ try fast($0, x) }, at: p, u)
            assertIdentical(h, try hessianVectorProducts({ try preset($0, x) }, at: p, u), "second order \(c.activation)")
            let layers = try hessianVectorProducts({ try user($0, x) }, at: p, u)
            for (a, b) in zip(h, layers) { assertClose(a, b, rtol: 1e-4, atol: 1e-5, "layers' second order \(c.activation)") }
        }
    }

    func testMLPForwardBatchedIsPresetsBitForBit() throws {
        let tasks = 3
        for c in mlpCases {
            let (user, fast) = try recognisedMLP(c)
            let preset = try MLP(sizes: c.sizes, activation: c.activation, bias: c.bias)
            let perTask = try (0..<tasks).map { t in try params(user, seed: 20 + UInt64(t)) }
            let stacked = try (0..<perTask[0].count).map { i in
                Variable(try Tensor(shape: [tasks] + perTask[0][i].shape, scalars: perTask.flatMap { $0[i].scalars }))
            }
            let x = rng.tensor([tasks, 6, c.sizes[0]], -3, 3)
            let batched = try fast.forwardBatched(stacked[...], Variable(x))
            assertIdentical(batched.value, try preset.forwardBatched(stacked[...], Variable(x)).value, "batched \(c.activation)")
            // Task t's slice is what the layers give with task t's parameters.
            for t in 0..<tasks {
                let xt = try Variable(x).slice(axis: 0, range: t..<(t + 1)).reshaped([6, c.sizes[0]])
                let yt = try batched.slice(axis: 0, range: t..<(t + 1)).reshaped([6, c.sizes.last!])
                assertClose(yt.value, try user(perTask[t], xt).value, rtol: 1e-5, atol: 1e-6, "task \(t)")
            }
        }
    }

    // MARK: - What is not recognised

    func testNearMissesAreLeftAlone() throws {
        func blocks(_ edit: (inout [JSON], Int) -> Void) -> [JSON] {
            var all: [JSON] = []
            for b in 0..<4 {
                var block = [conv(b == 0 ? 1 : 8, 8), bn(8), layer("ReLU"), pool()]
                edit(&block, b)
                all += block
            }
            return all + [layer("Flatten"), linear(8, 5)]
        }
        let nearMisses: [(String, [JSON], [Int])] = [
            ("padding 0", [conv(1, 8, padding: 0), bn(8), layer("ReLU"), pool(), layer("Flatten")], [1, 28, 28]),
            ("kernel 5", [conv(1, 8, kernel: 5, padding: 2), bn(8), layer("ReLU"), pool(), layer("Flatten")], [1, 28, 28]),
            ("AvgPool2d", blocks { block, b in if b == 3 { block[3] = self.pool(type: "AvgPool2d") } }, [1, 28, 28]),
            ("MaxPool2d 3", [conv(1, 8), bn(8), layer("ReLU"), pool(3), layer("Flatten")], [1, 28, 28]),
            ("MaxPool2d stride 1", [conv(1, 8), bn(8), layer("ReLU"), pool(2, stride: 1), layer("Flatten")], [1, 28, 28]),
            ("conv without bias", blocks { block, b in if b == 1 { block[0] = self.conv(8, 8, bias: false) } }, [1, 28, 28]),
            ("Tanh in a block", blocks { block, b in if b == 2 { block[2] = self.layer("Tanh") } }, [1, 28, 28]),
            ("eps differs", blocks { block, b in if b == 2 { block[1] = self.bn(8, eps: 1e-3) } }, [1, 28, 28]),
            ("no batch norm", [conv(1, 8), layer("ReLU"), pool(), layer("Flatten")], [1, 28, 28]),
            ("no flatten", [conv(1, 8), bn(8), layer("ReLU"), pool()], [1, 28, 28]),
            ("hidden differs", [conv(1, 8), bn(8), layer("ReLU"), pool(), conv(8, 4), bn(4), layer("ReLU"), pool(),
                                layer("Flatten")], [1, 28, 28]),
            ("head without bias", Array(blocks { _, _ in }.dropLast()) + [linear(8, 5, bias: false)], [1, 28, 28]),
            ("two heads", blocks { _, _ in } + [layer("ReLU"), linear(5, 5)], [1, 28, 28]),
            ("does not fit the input", blocks { _, _ in }, [1, 32, 32]),
            ("mixed activations", [linear(1, 40), layer("ReLU"), linear(40, 40), layer("Tanh"), linear(40, 1)], [1]),
            ("LeakyReLU", [linear(1, 40), ["type": "LeakyReLU", "negative_slope": 0.1], linear(40, 1)], [1]),
            ("one Linear without bias", [linear(1, 40), layer("ReLU"), linear(40, 40, bias: false), layer("ReLU"),
                                         linear(40, 1)], [1]),
            ("two activations in a row", [linear(1, 40), layer("ReLU"), layer("ReLU"), linear(40, 1)], [1]),
            ("ends in an activation", [linear(1, 40), layer("ReLU"), linear(40, 1), layer("ReLU")], [1]),
            ("starts with an activation", [layer("ReLU"), linear(1, 40), layer("ReLU"), linear(40, 1)], [1]),
            ("empty", [], [1]),
        ]
        for (name, layers, shape) in nearMisses {
            let user = try ModelBuilder.build(sequential(layers))
            // Not a preset; an image network may still run channels-last (ChannelsLastTests).
            func preset(_ m: any Layer) -> Bool { m is FastPath<Conv4> || m is FastPath<MLP> }
            let result = Recognition.optimized(user, inputShape: shape)
            XCTAssertFalse(preset(result), "\(name): \(type(of: result))")
            if shape != [1, 32, 32] { XCTAssertFalse(preset(Recognition.optimized(user)), "\(name), no input shape") }
        }
        // The same models without the defect are recognised (the list tests the defects).
        XCTAssertTrue(Recognition.optimized(try ModelBuilder.build(sequential(blocks { _, _ in })), inputShape: [1, 28, 28])
                      is FastPath<Conv4>)
        XCTAssertTrue(Recognition.optimized(try ModelBuilder.build(sequential(mlpLayers([1, 40, 40, 1], "ReLU"))))
                      is FastPath<MLP>)
        XCTAssertTrue(Recognition.optimized(try ModelBuilder.build(sequential([linear(3, 2)]))) is FastPath<MLP>)
        // A model that is not a Sequential, and the presets themselves, stay what they are.
        let others: [any Layer] = [try Linear(inputs: 2, outputs: 3), try MLP(sizes: [1, 4, 1]), conv4Cases[0].preset]
        for m in others { XCTAssertEqual("\(type(of: Recognition.optimized(m)))", "\(type(of: m))") }
        let once = Recognition.optimized(try userMLP(mlpCases[0]))
        XCTAssertTrue(Recognition.optimized(once) is FastPath<MLP>)
    }

    func testModelBuilderBuildsWithInputShape() throws {
        let text = try sequential(conv4Layers(channels: 1, hidden: 8, blocks: 4, outputs: 5, side: 28)).serialized
        XCTAssertTrue(try ModelBuilder.build(json: text, inputShape: [1, 28, 28]) is FastPath<Conv4>)
        XCTAssertTrue(try ModelBuilder.build(json: text, inputShape: nil) is FastPath<Conv4>)
        XCTAssertThrowsError(try ModelBuilder.build(json: text, inputShape: [3, 28, 28])) { e in
            XCTAssertTrue("\(e)".contains("layers[0] (Conv2d).in_channels"), "\(e)")
        }
        let mlp = try sequential(mlpLayers([1, 40, 40, 1], "Tanh")).serialized
        XCTAssertTrue(try ModelBuilder.build(json: mlp, inputShape: [1]) is FastPath<MLP>)
    }
}

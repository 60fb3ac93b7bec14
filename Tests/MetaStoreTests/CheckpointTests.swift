import XCTest
import Foundation
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaOptim
import MetaData
import MetaLearners
import MetaIO
import MetaStore
import _TestSupport

/// Checkpoints: N meta-steps in one go equal k steps, a file, a trainer built
/// from scratch around what it holds, and N − k more steps, bit for bit; a
/// file that does not fit is refused, naming the file.
final class CheckpointTests: XCTestCase {
    var path: String { "/tmp/metaswift-checkpoint-\(getpid())-\(name.filter(\.isLetter)).safetensors" }

    override func tearDown() { unlink(path) }

    // MARK: - Resuming gives the same bits

    func testMAMLOnSinusoidsWithAdamResumesBitForBit() throws {
        try checkResume(
            learner: { try MAML(model: Sequential([try Linear(inputs: 1, outputs: 16), Activation.relu,
                                                   try Linear(inputs: 16, outputs: 1)]), innerLR: 0.01, innerSteps: 2) },
            optimizer: { try .adam(learningRate: 1e-2) },
            tasks: { try Sinusoid(shots: 5, queries: 5) })
    }

    func testProtoNetOnImagesWithMomentumResumesBitForBit() throws {
        var trng = TestRandom(seed: 31)
        let images = trng.tensor([24, 1, 8, 8])
        try checkResume(
            learner: {
                ProtoNet(encoder: Sequential([try Conv2d(inChannels: 1, outChannels: 4, kernelSize: 3, padding: 1),
                                              try BatchNorm2d(features: 4), Activation.relu, GlobalAvgPool2d()]))
            },
            optimizer: { try .sgd(learningRate: 0.1, momentum: 0.9) },
            tasks: { try Taskset(images: images, labels: (0..<24).map { $0 % 4 }, ways: 3, shots: 1, queries: 2) })
    }

    /// Meta-SGD's rates are meta-parameters of the learner, stored beside the
    /// model's; dropout makes the trainer draw a step seed from its generator
    /// (two words a step, so after three steps the checkpoint falls inside a
    /// block); the schedule depends on the stored update count.
    func testMetaSGDWithItsRatesDropoutAndAScheduleResumesBitForBit() throws {
        let checkpoint = try checkResume(
            learner: { try MetaSGD(model: Sequential([try Linear(inputs: 1, outputs: 8), Activation.tanh, try Dropout(p: 0.25),
                                                      try Linear(inputs: 8, outputs: 1)]), initialLR: 0.02) },
            optimizer: { chain(try .clipByGlobalNorm(1), try .adam(learningRate: try .exponentialDecay(initial: 0.01, rate: 0.5))) },
            tasks: { try Sinusoid(shots: 4, queries: 4) },
            learnerTensors: 4, k: 3)
        XCTAssertEqual(checkpoint.rng.used, 2)
        XCTAssertEqual(checkpoint.rng.position, 2)
    }

    /// N steps in one trainer, against k steps + checkpoint file + a new
    /// learner, rule and trainer + N − k steps.
    @discardableResult
    func checkResume<D: TaskDistribution>(learner makeLearner: () throws -> any MetaLearner,
                                          optimizer makeOptimizer: () throws -> GradientTransformation,
                                          tasks makeTasks: () throws -> D, learnerTensors: Int = 0,
                                          n: Int = 5, k: Int = 2, file: StaticString = #filePath, line: UInt = #line)
        throws -> Checkpoint {
        func started() throws -> MetaTrainer {
            let learner = try makeLearner()
            var rng = RNG(seed: 3)
            return try MetaTrainer(learner: learner, metaParameters: try learner.initialMetaParameters(rng: &rng),
                                   optimizer: try makeOptimizer(), metaBatchSize: 2, seed: 4)
        }
        let tasks = try makeTasks()
        var whole = try started()
        let start = whole.metaParameters
        var wholeLosses: [Float] = []
        for _ in 0..<n { wholeLosses.append(try whole.step(tasks)) }

        var first = try started()
        var losses: [Float] = []
        for _ in 0..<k { losses.append(try first.step(tasks)) }
        try Checkpoint(first, losses: losses, descriptions: [("learner", "{\"type\": \"test\"}"), ("optimizer", "{}")])
            .write(to: path)

        let checkpoint = try Checkpoint.read(path: path)
        XCTAssertEqual(checkpoint.steps, k, file: file, line: line)
        XCTAssertEqual(checkpoint.learnerParameters.count, learnerTensors, file: file, line: line)
        XCTAssertEqual(checkpoint.modelParameterCount + learnerTensors, start.count, file: file, line: line)
        XCTAssertEqual(bits(checkpoint.metaParameters), bits(first.metaParameters), file: file, line: line)
        XCTAssertEqual(checkpoint.descriptions.map(\.0), ["learner", "optimizer"], file: file, line: line)
        XCTAssertEqual(checkpoint.descriptions.first?.1, "{\"type\": \"test\"}", file: file, line: line)
        var resumed = try checkpoint.trainer(learner: try makeLearner(), optimizer: try makeOptimizer())
        var resumedLosses = checkpoint.losses
        let resumedTasks = try makeTasks()
        for _ in k..<n { resumedLosses.append(try resumed.step(resumedTasks)) }

        XCTAssertEqual(resumed.steps, n, file: file, line: line)
        XCTAssertEqual(resumed.rng, whole.rng, file: file, line: line)
        XCTAssertEqual(resumedLosses.map(\.bitPattern), wholeLosses.map(\.bitPattern), file: file, line: line)
        XCTAssertEqual(bits(resumed.metaParameters), bits(whole.metaParameters), file: file, line: line)
        XCTAssertEqual(flattened(resumed.optimizer.state), flattened(whole.optimizer.state), file: file, line: line)
        XCTAssertNotEqual(bits(whole.metaParameters), bits(start), "the run must move", file: file, line: line)
        XCTAssertEqual(whole.optimizer.state.count, n, file: file, line: line)
        return checkpoint
    }

    // MARK: - Files that do not fit are refused, naming the file

    /// A MAML + Adam checkpoint of an MLP with 4 meta-parameters, after 2 steps.
    func writtenMAML() throws -> (MAML, SafeTensors) {
        let maml = try MAML(model: try MLP(sizes: [1, 8, 1]))
        var rng = RNG(seed: 0)
        var trainer = try MetaTrainer(learner: maml, metaParameters: try maml.initialMetaParameters(rng: &rng),
                                      optimizer: try .adam(learningRate: 1e-3), metaBatchSize: 2, seed: 1)
        let tasks = try Sinusoid(shots: 3, queries: 3)
        let losses = [try trainer.step(tasks), try trainer.step(tasks)]
        try Checkpoint(trainer, losses: losses).write(to: path)
        return (maml, try SafeTensors.read(path: path))
    }

    func refused(_ expected: String..., file: StaticString = #filePath, line: UInt = #line,
                 _ body: () throws -> Any) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix(self.path + ":"), "does not name the file: \(message)", file: file, line: line)
            for part in expected {
                XCTAssertTrue(message.contains(part), "\(message)\n  lacks: \(part)", file: file, line: line)
            }
        }
    }

    func testAStateForAnotherOptimizerOrLearnerIsRefused() throws {
        let (maml, _) = try writtenMAML()
        let checkpoint = try Checkpoint.read(path: path)
        XCTAssertNoThrow(try checkpoint.trainer(learner: maml, optimizer: try .adam(learningRate: 1e-3)))
        // Adam's state into SGD with momentum (a chain of the same length) and into plain SGD.
        refused("optimizer state does not fit", "trace") {
            try checkpoint.trainer(learner: maml, optimizer: try .sgd(learningRate: 0.1, momentum: 0.9))
        }
        refused("optimizer state does not fit", "chain of 1") {
            try checkpoint.trainer(learner: maml, optimizer: try .sgd(learningRate: 0.1))
        }
        // A learner with parameters of its own expects more meta-parameters.
        refused("meta-parameters: expected 8 tensors", "got 4") {
            try checkpoint.trainer(learner: try MetaSGD(model: try MLP(sizes: [1, 8, 1])), optimizer: try .adam())
        }
        // Another model: its description differs.
        refused("the learner's model is", "the checkpoint's") {
            try checkpoint.trainer(learner: try MAML(model: try MLP(sizes: [1, 8, 8, 1])), optimizer: try .adam())
        }
        // A model without a description: the parameter count still decides.
        refused("the learner's model has 1 parameters, the checkpoint's 4") {
            try checkpoint.trainer(learner: try MAML(model: Bare(shapes: [[1, 8]])), optimizer: try .adam())
        }
    }

    func testDamagedFilesAreRefusedNamingTheFault() throws {
        let (_, original) = try writtenMAML()
        XCTAssertEqual(original.names.filter { $0.hasPrefix("optimizer.") }.sorted(),
                       ["optimizer.0.mu.0", "optimizer.0.mu.1", "optimizer.0.mu.2", "optimizer.0.mu.3",
                        "optimizer.0.nu.0", "optimizer.0.nu.1", "optimizer.0.nu.2", "optimizer.0.nu.3"])
        func rewritten(dropping dropped: String? = nil, adding added: [SafeTensors.Entry] = [], removing removed: String? = nil,
                       metadata edit: (String, String) -> String = { $1 }) throws -> String {
            let entries = original.entries.filter { $0.name != dropped } + added
            let metadata = original.metadata.filter { $0.0 != removed }.map { ($0.0, edit($0.0, $0.1)) }
            try SafeTensors(entries: entries, metadata: metadata).write(to: path)
            return path
        }
        func replacing(_ key: String, _ old: String, _ new: String) -> (String, String) -> String {
            { k, v in
                guard k == key else { return v }
                XCTAssertTrue(v.contains(old), "\(key) has no \(old): \(v)")
                return v.replacingOccurrences(of: old, with: new)
            }
        }
        XCTAssertNoThrow(try Checkpoint.read(path: try rewritten()))

        refused("format version 2, newer") {
            try Checkpoint.read(path: try rewritten(metadata: { k, v in k == "format_version" ? "2" : v }))
        }
        refused("holds a \"model\", expected \"checkpoint\"") {
            try Checkpoint.read(path: try rewritten(metadata: { k, v in k == "kind" ? "model" : v }))
        }
        refused("missing tensor \"optimizer.0.nu.2\"", "buffer \"nu\"") {
            try Checkpoint.read(path: try rewritten(dropping: "optimizer.0.nu.2"))
        }
        refused("missing tensor \"history.losses\"") { try Checkpoint.read(path: try rewritten(dropping: "history.losses")) }
        refused("0.weight") { try Checkpoint.read(path: try rewritten(dropping: "model.0.weight")) }
        refused("tensor 1 of buffer \"mu\" has shape [8, 1] but parameter 1 has shape [8]") {
            try Checkpoint.read(path: try rewritten(dropping: "optimizer.0.mu.1",
                                                    adding: [try SafeTensors.Entry(name: "optimizer.0.mu.1", tensor: try Tensor.zeros([8, 1]))]))
        }
        refused("\"optimizer.0.mu.1\" is I64, expected F32") {
            try Checkpoint.read(path: try rewritten(dropping: "optimizer.0.mu.1",
                                                    adding: [try SafeTensors.Entry(name: "optimizer.0.mu.1", shape: [8], int64s: Array(repeating: 0, count: 8))]))
        }
        refused("tensor \"optimizer.2.mu.0\" is not part of the optimizer state") {
            try Checkpoint.read(path: try rewritten(adding: [try SafeTensors.Entry(name: "optimizer.2.mu.0", tensor: try Tensor(1))]))
        }
        refused("tensor \"stray\" is not part of a checkpoint") {
            try Checkpoint.read(path: try rewritten(adding: [try SafeTensors.Entry(name: "stray", tensor: try Tensor(1))]))
        }
        refused("optimizer state child 0: count must be a whole number >= 0, got 2.5") {
            try Checkpoint.read(path: try rewritten(metadata: replacing("optimizer_state", "\"kind\":\"scaleByAdam\",\"count\":2",
                                                                        "\"kind\":\"scaleByAdam\",\"count\":2.5")))
        }
        refused("optimizer state: unknown field \"extra\"") {
            try Checkpoint.read(path: try rewritten(metadata: replacing("optimizer_state", "{\"kind\":\"chain\"",
                                                                        "{\"extra\":1,\"kind\":\"chain\"")))
        }
        refused("missing tensor \"optimizer.0.mu.4\"") {
            try Checkpoint.read(path: try rewritten(metadata: replacing("optimizer_state", "\"tensors\":4", "\"tensors\":5")))
        }
        refused("missing tensor \"learner.0\"") {
            try Checkpoint.read(path: try rewritten(metadata: replacing("trainer", "\"learner_parameters\":0", "\"learner_parameters\":1")))
        }
        refused("trainer steps must be a whole number >= 0, got -1") {
            try Checkpoint.read(path: try rewritten(metadata: replacing("trainer", "\"steps\":2", "\"steps\":-1")))
        }
        refused("used must be in 0...4") {
            try Checkpoint.read(path: try rewritten(metadata: { k, v in
                k == "trainer" ? v.replacingOccurrences(of: #""used":\d"#, with: "\"used\":7", options: .regularExpression) : v
            }))
        }
        refused("trainer rng key must be a string of decimal digits") {
            try Checkpoint.read(path: try rewritten(metadata: replacing("trainer", "\"key\":\"1\"", "\"key\":1")))
        }
        refused("no \"optimizer_state\"") { try Checkpoint.read(path: try rewritten(removing: "optimizer_state")) }
        refused("no \"model\"") { try Checkpoint.read(path: try rewritten(removing: "model")) }
    }

    func testCheckpointsRefuseWhatCannotBeStored() throws {
        let maml = try MAML(model: try MLP(sizes: [1, 4, 1]))
        var rng = RNG(seed: 0)
        let trainer = try MetaTrainer(learner: maml, metaParameters: try maml.initialMetaParameters(rng: &rng),
                                      optimizer: try .adam(), metaBatchSize: 2, seed: 1)
        for key in ["model", "trainer", "format"] {
            XCTAssertThrowsError(try Checkpoint(trainer, descriptions: [(key, "{}")])) {
                XCTAssertTrue("\($0)".contains("is one the checkpoint uses itself"), "\($0)")
            }
        }
        XCTAssertThrowsError(try Checkpoint(trainer, descriptions: [("a", "1"), ("a", "2")])) {
            XCTAssertTrue("\($0)".contains("appears twice"), "\($0)")
        }
        // An optimizer state for other parameters.
        XCTAssertThrowsError(try Checkpoint(model: maml.model, metaParameters: trainer.metaParameters,
                                            optimizerState: try GradientTransformation.adam().initialize([try Tensor.zeros([3])]),
                                            rng: trainer.rng.state, steps: 0, metaBatchSize: 2)) {
            XCTAssertTrue("\($0)".contains("holds 1 tensors for 4 parameters"), "\($0)")
        }
        // A model file is not a checkpoint, and a checkpoint is not a model file.
        try Checkpoint(trainer).write(to: path)
        XCTAssertThrowsError(try StoredModel.read(path: path)) {
            XCTAssertTrue("\($0)".contains("holds a \"checkpoint\", expected \"model\""), "\($0)")
        }
        XCTAssertEqual(try Checkpoint.read(path: path).losses, [])
    }

    // MARK: - Optimizer states

    func testAnOptimizerStateWithNestedChildrenRoundTrips() throws {
        var trng = TestRandom(seed: 5)
        let params = [trng.tensor([3, 2]), trng.tensor([2]), trng.tensor([])]
        let rule = chain(try .clipByGlobalNorm(1),
                         chain(try .scaleByAdam(), try .trace(decay: 0.9, nesterov: true)),
                         try .sgd(learningRate: try .cosineDecay(peak: 0.1, steps: 10)))
        var optimizer = try Optimizer(rule, params: params)
        var current = params
        for _ in 0..<3 { current = try optimizer.step(params: current, grads: params.map { trng.tensor($0.shape) }) }

        let (json, entries) = try StoredOptimizerState.encode(optimizer.state, prefix: "opt.")
        XCTAssertTrue(entries.map(\.name).contains("opt.1.0.mu.2"), "\(entries.map(\.name))")
        XCTAssertTrue(entries.map(\.name).contains("opt.1.1.trace.0"), "\(entries.map(\.name))")
        // Through bytes, beside tensors of other prefixes, which are left alone.
        let bytes = try SafeTensors(entries: entries + [try SafeTensors.Entry(name: "other", tensor: try Tensor(2))],
                                    metadata: [("state", try json.serialized)]).serialized()
        let file = try SafeTensors.parse(bytes: bytes, source: "state.safetensors")
        let back = try StoredOptimizerState.decode(json: try JSON.parse(file.metadataValue(forKey: "state")!), file: file,
                                                   prefix: "opt.", path: "state.safetensors")
        XCTAssertEqual(flattened(back), flattened(optimizer.state))
        XCTAssertEqual(back.description, optimizer.state.description)
        // The restored state takes the same next step.
        let grads = params.map { trng.tensor($0.shape) }
        var restored = Optimizer(rule, state: back)
        XCTAssertEqual(bits(try restored.step(params: current, grads: grads)), bits(try optimizer.step(params: current, grads: grads)))
        XCTAssertEqual(flattened(restored.state), flattened(optimizer.state))

        // Strict decoding names the file.
        XCTAssertThrowsError(try StoredOptimizerState.decode(json: json, file: try SafeTensors(entries: Array(entries.dropFirst())),
                                                             prefix: "opt.", path: "state.safetensors")) {
            XCTAssertTrue("\($0)".hasPrefix("state.safetensors: optimizer state child 1.0: missing tensor \"opt.1.0.mu.0\""), "\($0)")
        }
        XCTAssertThrowsError(try StoredOptimizerState.decode(json: ["kind": "chain", "count": 0, "buffers": []], file: file,
                                                             prefix: "none.", path: "state.safetensors")) {
            XCTAssertTrue("\($0)".contains("state.safetensors: optimizer state: no \"children\""), "\($0)")
        }
        XCTAssertThrowsError(try StoredOptimizerState.encode(OptimizerState(kind: "x", count: -1), prefix: "")) {
            XCTAssertTrue("\($0)".contains("count -1 cannot be stored"), "\($0)")
        }
        XCTAssertThrowsError(try StoredOptimizerState.encode(
            OptimizerState(kind: "x", buffers: [.init(name: "0.b", tensors: [try Tensor(1)])],
                           children: [OptimizerState(kind: "y", buffers: [.init(name: "b", tensors: [try Tensor(1)])])]),
            prefix: "")) {
            XCTAssertTrue("\($0)".contains("would both be named \"0.b.0\""), "\($0)")
        }
    }
}

/// The bit patterns of each tensor.
func bits(_ tensors: [Tensor]) -> [[UInt32]] { tensors.map { $0.scalars.map(\.bitPattern) } }

/// A state as comparable text: kind, count, buffer names and bit patterns, depth first.
func flattened(_ s: OptimizerState) -> [String] {
    ["\(s.kind) \(s.count)"] + s.buffers.map { "\($0.name) \($0.tensors.map(\.shape)) \(bits($0.tensors))" }
        + s.children.flatMap { ["("] + flattened($0) + [")"] }
}

/// A model with parameters and no description.
private struct Bare: Model {
    let shapes: [[Int]]
    var parameterSpecs: [ParameterSpec] { shapes.enumerated().map { ParameterSpec("p\($0.offset)", $0.element) } }
    func initialParameters(rng: inout RNG) throws -> [Tensor] { try shapes.map { try Tensor.zeros($0) } }
    func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable { x }
}

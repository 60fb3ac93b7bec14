import XCTest
import Foundation
import MetaTensor
import MetaNN
import MetaOptim
import MetaData
import MetaLearners
import MetaIO
import MetaStore
import _TestSupport

/// Learner and optimizer files from Swift: a learner written and read back
/// makes a learner that computes the same bits; an optimizer file rebuilds
/// the same updates; the layout is the one the Python package writes;
/// damaged files are refused naming the file; checkpoints carry the specs.
final class LearnerFileTests: XCTestCase {
    var path: String { "/tmp/metaswift-learnerfile-\(getpid())-\(name.filter(\.isLetter)).safetensors" }

    override func tearDown() { unlink(path) }

    func sinusoidTasks(_ n: Int, seed: UInt64) throws -> [Task] {
        var rng = RNG(seed: seed)
        return try Sinusoid(shots: 5, queries: 5).sample(n, rng: &rng)
    }

    /// Writes `spec` around `model` with meta-parameters from a seed (the
    /// learner's own ones, Meta-SGD's rates, drawn per element so that
    /// only the file can carry them), reads the file back, and checks that
    /// the rebuilt learner's meta-loss and meta-gradient are the original's
    /// bit for bit.
    @discardableResult
    func checkRoundTrip(_ spec: LearnerSpec, model: any Model, tasks: [Task], inputShape: [Int] = [1],
                        file: StaticString = #filePath, line: UInt = #line) throws -> StoredLearner {
        let learner = try spec.make(model: model)
        var rng = RNG(seed: 1)
        var meta = try learner.initialMetaParameters(rng: &rng)
        var trng = TestRandom(seed: 9)
        for i in model.parameterCount..<meta.count { meta[i] = trng.tensor(meta[i].shape, 0.001, 0.1) }
        try StoredLearner(spec, model: model, metaParameters: meta, inputShape: inputShape,
                          attributes: #"{"epsilon": 0.25}"#).write(to: path)

        let back = try StoredLearner.read(path: path)
        XCTAssertEqual(back.spec, spec, file: file, line: line)
        XCTAssertEqual(back.attributes, #"{"epsilon": 0.25}"#, file: file, line: line)
        XCTAssertEqual(back.learnerParameters.count, meta.count - model.parameterCount, file: file, line: line)
        XCTAssertEqual(bits(back.metaParameters), bits(meta), file: file, line: line)
        XCTAssertEqual(back.model.inputShape, inputShape, file: file, line: line)
        let rebuilt = try back.learner()
        XCTAssertEqual(rebuilt.metaParameterSpecs.map(\.name), learner.metaParameterSpecs.map(\.name), file: file, line: line)
        let (loss, grads) = try learner.metaLossAndGrad(meta, tasks: tasks, seed: 3)
        let (loss2, grads2) = try rebuilt.metaLossAndGrad(back.metaParameters, tasks: tasks, seed: 3)
        XCTAssertEqual(loss2.bitPattern, loss.bitPattern, file: file, line: line)
        XCTAssertEqual(bits(grads2), bits(grads), file: file, line: line)
        XCTAssertTrue(grads.contains { $0.scalars.contains { $0 != 0 } }, "a meta-gradient to compare", file: file, line: line)
        return back
    }

    func mlp() throws -> any Model {
        Sequential([try Linear(inputs: 1, outputs: 16), Activation.tanh, try Linear(inputs: 16, outputs: 1)])
    }

    func testMAMLOnSinusoidsComputesTheSameBitsAfterAFile() throws {
        try checkRoundTrip(try LearnerSpec(.maml, innerLR: 0.4, innerSteps: 2, loss: .mse), model: try mlp(),
                           tasks: try sinusoidTasks(4, seed: 1))
    }

    func testMetaSGDKeepsItsLearnedRatesInTheFile() throws {
        let back = try checkRoundTrip(try LearnerSpec(.metaSGD, innerLR: 0.02, loss: .mse), model: try mlp(),
                                      tasks: try sinusoidTasks(4, seed: 2))
        XCTAssertEqual(back.learnerParameters.map(\.shape), [[1, 16], [16], [16, 1], [1]])
        XCTAssertTrue(back.learnerParameters[0].scalars.allSatisfy { $0 != 0.02 }, "the rates are the file's, not the initial ones")
        let file = try SafeTensors.read(path: path)
        XCTAssertEqual(file.names.filter { $0.hasPrefix("learner.") },
                       try back.learner().metaParameterSpecs.dropFirst(4).map { "learner." + $0.name })
    }

    func testANILReptileAndProtoNetComputeTheSameBitsAfterAFile() throws {
        let tasks = try sinusoidTasks(3, seed: 3)
        try checkRoundTrip(try LearnerSpec(.anil, innerLR: 0.1, innerSteps: 3, loss: .mse, headParameters: 2), model: try mlp(),
                           tasks: tasks)
        try checkRoundTrip(try LearnerSpec(.reptile, innerLR: 0.01, innerSteps: 4, loss: .mse), model: try mlp(), tasks: tasks)
        var trng = TestRandom(seed: 4)
        var rng = RNG(seed: 5)
        let images = try Taskset(images: trng.tensor([24, 3]), labels: (0..<24).map { $0 % 4 }, ways: 3, shots: 2, queries: 2)
        try checkRoundTrip(try LearnerSpec(.protoNet, distance: .cosine),
                           model: Sequential([try Linear(inputs: 3, outputs: 8), Activation.relu]),
                           tasks: try images.sample(2, rng: &rng), inputShape: [3])
    }

    /// The layout Python's `ms.save(learner)` writes (Sources/MetaSwiftC
    /// writes through this type): metadata keys in order, the recipe's
    /// text, the model's tensors under "model." and the rates under "learner.".
    func testALearnerFileHasTheLayoutThePythonPackageWrites() throws {
        let model = try MLP(sizes: [1, 8, 1])
        let spec = try LearnerSpec(.metaSGD, innerLR: 0.4, loss: .mse)
        var rng = RNG(seed: 0)
        let meta = try spec.make(model: model).initialMetaParameters(rng: &rng)
        try StoredLearner(spec, model: model, metaParameters: meta, inputShape: [1], attributes: "{}").write(to: path)
        let file = try SafeTensors.read(path: path)
        XCTAssertEqual(file.metadata.map(\.0), ["format", "format_version", "kind", "learner", "attributes", "model", "input_shape"])
        XCTAssertEqual(file.metadataValue(forKey: "kind"), "learner.MetaSGD")
        XCTAssertEqual(file.metadataValue(forKey: "learner"),
                       #"{"kind":"learner.MetaSGD","arguments":{"model":{"model":null},"inner_lr":{"float":0.4},"inner_steps":{"int":1},"first_order":{"int":0},"loss":{"string":"mse"}}}"#)
        XCTAssertEqual(Set(file.names), Set(["model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias",
                                             "learner.lr.W1", "learner.lr.b1", "learner.lr.W2", "learner.lr.b2"]))
        XCTAssertEqual(try file.tensor(named: "learner.lr.W1").shape, [1, 8], "the engine's layout, not PyTorch's")
    }

    // MARK: - Optimizers

    func testAnOptimizerFileRebuildsTheSameUpdates() throws {
        var trng = TestRandom(seed: 6)
        let params = [trng.tensor([4, 3]), trng.tensor([3])]
        let grads = (0..<8).map { _ in [trng.tensor([4, 3]), trng.tensor([3])] }
        for spec in [
            try OptimizerSpec(.sgd, lr: 0.1, momentum: 0.9, nesterov: true),
            try OptimizerSpec(.adam, lr: 0.01, beta1: 0.8, beta2: 0.99,
                              schedule: try ScheduleSpec(.cosine, lr: 0.01, steps: 5, final: 0.001, warmup: 2)),
            try OptimizerSpec(.adamW, lr: 0.1, weightDecay: 0.05,
                              schedule: try ScheduleSpec(.exponential, lr: 0.1, rate: 0.5, every: 3, staircase: true)),
            try OptimizerSpec(.adagrad, lr: 0.02, initialAccumulator: 0.1),
            try OptimizerSpec(.rmsprop, lr: 0.5, alpha: 0.9,
                              schedule: try ScheduleSpec(.piecewise, lr: 0.5, boundaries: [2, 4], values: [0.25, 0.1])),
        ] {
            try StoredOptimizer.write(spec, to: path)
            let file = try SafeTensors.read(path: path)
            XCTAssertEqual(file.metadata.map(\.0), ["format", "format_version", "kind", "optimizer"])
            XCTAssertEqual(file.metadataValue(forKey: "kind"), spec.kind)
            XCTAssertEqual(file.metadataValue(forKey: "optimizer"), try spec.json.serialized)
            XCTAssertTrue(file.entries.isEmpty)
            let back = try StoredOptimizer.read(path: path)
            XCTAssertEqual(back, spec)
            XCTAssertEqual(try updates(try back.make(), params, grads), try updates(try spec.make(), params, grads), spec.kind)
            XCTAssertEqual((0..<8).map(try back.makeSchedule().callAsFunction), (0..<8).map(try spec.makeSchedule().callAsFunction))
        }
    }

    // MARK: - Damaged files

    func refused(_ expected: String..., file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Any) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix(self.path + ":"), "does not name the file: \(message)", file: file, line: line)
            for part in expected {
                XCTAssertTrue(message.contains(part), "\(message)\n  lacks: \(part)", file: file, line: line)
            }
        }
    }

    /// `file` with its entries and metadata changed, written to `path`.
    func rewritten(_ file: SafeTensors, entries: ([SafeTensors.Entry]) throws -> [SafeTensors.Entry] = { $0 },
                   metadata: [String: String] = [:]) throws {
        let kept = file.metadata.map { ($0.0, metadata[$0.0] ?? $0.1) } + metadata.filter { key, _ in
            !file.metadata.contains { $0.0 == key } }.map { ($0.key, $0.value) }
        try SafeTensors(entries: try entries(file.entries), metadata: kept).write(to: path)
    }

    func testDamagedLearnerFilesAreRefusedNamingTheFile() throws {
        let model = try MLP(sizes: [1, 8, 1])
        let spec = try LearnerSpec(.metaSGD, innerLR: 0.4)
        var rng = RNG(seed: 0)
        let meta = try spec.make(model: model).initialMetaParameters(rng: &rng)
        try StoredLearner(spec, model: model, metaParameters: meta).write(to: path)
        let good = try SafeTensors.read(path: path)

        try rewritten(good, entries: { $0.filter { $0.name != "learner.lr.b2" } })
        refused(#"missing tensor "learner.lr.b2""#) { try StoredLearner.read(path: self.path) }
        try rewritten(good, entries: { $0 + [try SafeTensors.Entry(name: "junk", tensor: try Tensor(1))] })
        refused(#"tensor "junk" is not part of a learner file"#) { try StoredLearner.read(path: self.path) }
        try rewritten(good, entries: { try $0.map { $0.name == "learner.lr.W1" ? try SafeTensors.Entry(name: $0.name, tensor: try Tensor.zeros([8, 1])) : $0 } })
        refused(#"tensor "learner.lr.W1": expected shape [1, 8], got [8, 1]"#) { try StoredLearner.read(path: self.path) }
        try rewritten(good, metadata: ["kind": "learner.MAML"])
        refused(#"holds a "learner.MAML", but its learner is a learner.MetaSGD"#) { try StoredLearner.read(path: self.path) }
        try rewritten(good, metadata: ["kind": "optimizer.Adam"])
        refused(#"holds a "optimizer.Adam", expected "learner.MAML" or"#) { try StoredLearner.read(path: self.path) }
        try rewritten(good, metadata: ["learner": #"{"kind":"learner.MetaSGD","arguments":{"model":{"model":null},"inner_lr":{"float":-1}}}"#])
        refused("learner: inner_lr: must be finite and >= 0, got -1.0") { try StoredLearner.read(path: self.path) }
        try rewritten(good, metadata: ["learner": "{"])
        refused(#"metadata "learner" is not JSON"#) { try StoredLearner.read(path: self.path) }
        try rewritten(good, metadata: ["attributes": "[1]"])
        refused("attributes: expected a JSON object") { try StoredLearner.read(path: self.path) }

        XCTAssertThrowsError(try StoredLearner(spec, model: model, metaParameters: Array(meta.dropLast()))) {
            XCTAssertTrue("\($0)".contains("learner: a learner.MetaSGD has 4 meta-parameters of its own"), "\($0)")
        }
        XCTAssertThrowsError(try StoredLearner(spec, model: model, metaParameters: meta, attributes: "epsilon")) {
            XCTAssertEqual("\($0)", #"attributes: expected a JSON object, got "epsilon""#)
        }
    }

    func testDamagedOptimizerFilesAreRefusedNamingTheFile() throws {
        let spec = try OptimizerSpec(.adam, lr: 1e-3, schedule: try ScheduleSpec(.cosine, lr: 1e-3, steps: 10))
        try StoredOptimizer.write(spec, to: path)
        let good = try SafeTensors.read(path: path)
        try rewritten(good, entries: { _ in [try SafeTensors.Entry(name: "m", tensor: try Tensor(1))] })
        refused(#"tensor "m" is not part of an optimizer file"#) { try StoredOptimizer.read(path: self.path) }
        try rewritten(good, metadata: ["kind": "optimizer.Adam"])
        refused(#"holds a "optimizer.Adam", but its optimizer is a schedule.Cosine"#) { try StoredOptimizer.read(path: self.path) }
        try rewritten(good, metadata: ["kind": "learner.MAML"])
        refused(#"holds a "learner.MAML", expected "optimizer.SGD" or"#) { try StoredOptimizer.read(path: self.path) }
        try rewritten(good, metadata: ["optimizer": #"{"kind":"schedule.Cosine","arguments":{"lr":{"float":0.1},"steps":{"int":5}}}"#])
        refused("optimizer: base: required") { try StoredOptimizer.read(path: self.path) }
    }

    // MARK: - Checkpoints

    /// A run checkpointed with its specs (as the bridge's trainers write
    /// them) resumes from nothing but the file: the learner and optimizer
    /// are made from the specs the checkpoint describes.
    func testACheckpointCarriesTheSpecsARunResumesFrom() throws {
        let spec = try LearnerSpec(.maml, innerLR: 0.05, innerSteps: 2, loss: .mse)
        let rule = try OptimizerSpec(.adam, lr: 0.01, schedule: try ScheduleSpec(.cosine, lr: 0.01, steps: 6, warmup: 1))
        func started() throws -> MetaTrainer {
            let learner = try spec.make(model: try mlp())
            var rng = RNG(seed: 2)
            return try MetaTrainer(learner: learner, metaParameters: try learner.initialMetaParameters(rng: &rng),
                                   optimizer: try rule.make(), metaBatchSize: 2, seed: 7)
        }
        let tasks = try Sinusoid(shots: 4, queries: 4)
        var whole = try started()
        for _ in 0..<5 { _ = try whole.step(tasks) }
        var first = try started()
        for _ in 0..<2 { _ = try first.step(tasks) }
        try Checkpoint(first, descriptions: try Checkpoint.descriptions(learner: spec, optimizer: rule)).write(to: path)

        let checkpoint = try Checkpoint.read(path: path)
        XCTAssertEqual(checkpoint.descriptions.map(\.0), ["learner", "optimizer"])
        XCTAssertEqual(checkpoint.descriptions[0].1, try spec.json.serialized)
        XCTAssertEqual(checkpoint.descriptions[1].1, try rule.json.serialized)
        let learnerSpec = try XCTUnwrap(try checkpoint.learnerSpec())
        let optimizerSpec = try XCTUnwrap(try checkpoint.optimizerSpec())
        XCTAssertEqual(learnerSpec, spec)
        XCTAssertEqual(optimizerSpec, rule)
        var resumed = try checkpoint.trainer(learner: try learnerSpec.make(model: checkpoint.model.layer),
                                             optimizer: try optimizerSpec.make())
        for _ in 0..<3 { _ = try resumed.step(tasks) }
        XCTAssertEqual(bits(resumed.metaParameters), bits(whole.metaParameters))
        XCTAssertEqual(flattened(resumed.optimizer.state), flattened(whole.optimizer.state))

        try Checkpoint(first).write(to: path)
        XCTAssertNil(try Checkpoint.read(path: path).learnerSpec())
        XCTAssertNil(try Checkpoint.read(path: path).optimizerSpec())
        try Checkpoint(first, descriptions: [("learner", #"{"kind":"learner.MAML","arguments":{}}"#), ("optimizer", "nope")])
            .write(to: path)
        refused("learner: model: required") { try Checkpoint.read(path: self.path).learnerSpec() as Any }
        refused(#"metadata "optimizer" is not JSON"#) { try Checkpoint.read(path: self.path).optimizerSpec() as Any }
    }
}

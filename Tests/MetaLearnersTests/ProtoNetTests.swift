import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaOptim
import MetaData
import MetaEval
import MetaLearners
import _TestSupport

final class ProtoNetTests: XCTestCase {
    /// A 3-way episode with 3-d inputs; support labels interleaved and uneven
    /// (class 1 has three examples), so prototypes must average by label.
    func episode(_ trng: inout TestRandom, d: Int = 3) throws -> Task {
        try Task(supportX: trng.tensor([7, d], -2, 2), supportY: Tensor(shape: [7], scalars: [0, 1, 2, 1, 0, 2, 1]),
                 queryX: trng.tensor([5, d], -2, 2), queryY: Tensor(shape: [5], scalars: [2, 0, 1, 1, 0]))
    }

    func testLossAndGradientMatchHandWrittenReference() throws {
        var trng = TestRandom(seed: 21)
        let encoder = try Linear(inputs: 3, outputs: 2)
        var rng = RNG(seed: 2)
        let params = try encoder.initialParameters(rng: &rng)
        let tasks = try (0..<3).map { _ in try episode(&trng) }
        let proto = ProtoNet(encoder: encoder)
        XCTAssertEqual(proto.innerSteps, 0)
        XCTAssertEqual(proto.metaParameterSpecs, encoder.parameterSpecs)

        let ref = ProtoReference(params)
        var meanLoss = 0.0
        var dW = [Double](repeating: 0, count: 6), db = [0.0, 0.0]
        for task in tasks {
            let (logits, loss, w, b) = ref.lossAndGrad(supportX: task.supportX, supportY: task.supportY.scalars.map { Int($0) },
                                                       queryX: task.queryX, queryY: task.queryY.scalars.map { Int($0) })
            let mine = try proto.episodeLogits(params, supportX: task.supportX, supportY: task.supportY, queryX: task.queryX)
            XCTAssertEqual(mine.shape, [5, 3])
            for (a, e) in zip(mine.scalars, logits.flatMap { $0 }) { assertClose(Double(a), e, rtol: 1e-5, atol: 1e-5) }
            meanLoss += loss / 3
            for (k, v) in w.flatMap({ $0 }).enumerated() { dW[k] += v / 3 }
            for k in 0..<2 { db[k] += b[k] / 3 }
        }
        let (loss, grads) = try proto.metaLossAndGrad(params, tasks: tasks)
        assertClose(Double(loss), meanLoss, rtol: 1e-5)
        for (a, e) in zip(grads[0].scalars, dW) { assertClose(Double(a), e, rtol: 1e-4, atol: 1e-6, "dW") }
        for (a, e) in zip(grads[1].scalars, db) { assertClose(Double(a), e, rtol: 1e-4, atol: 1e-6, "db") }
        // The bias shifts every embedding equally, so distances and the loss ignore it.
        XCTAssertLessThan(grads[1].scalars.map { Swift.abs($0) }.max()!, 1e-5)
        XCTAssertGreaterThan(grads[0].scalars.map { Swift.abs($0) }.max()!, 1e-3)
    }

    func testSecondOrderGradientsThroughASmallEncoder() throws {
        var trng = TestRandom(seed: 22)
        let encoder = try MLP(sizes: [3, 5, 4], activation: .tanh)
        var rng = RNG(seed: 3)
        let params = try encoder.initialParameters(rng: &rng)
        let task = try episode(&trng)
        for distance in ProtoNet.Distance.allCases {
            let proto = ProtoNet(encoder: encoder, distance: distance)
            checkGradients(at: params, order: 2, eps: 1e-2) { vars in try proto.episodeLoss(vars, task) }
        }
    }

    func testCosineLogitsAreCosinesToTheMeanEmbedding() throws {
        var trng = TestRandom(seed: 23)
        let encoder = try Linear(inputs: 3, outputs: 2)
        var rng = RNG(seed: 4)
        let params = try encoder.initialParameters(rng: &rng)
        let task = try episode(&trng)
        let ref = ProtoReference(params)
        let es = ProtoReference.rows(task.supportX).map(ref.embed), eq = ProtoReference.rows(task.queryX).map(ref.embed)
        let y = task.supportY.scalars.map { Int($0) }
        let protos = (0..<3).map { c -> [Double] in
            let mine = zip(es, y).filter { $0.1 == c }.map(\.0)
            return (0..<2).map { j in mine.reduce(0) { $0 + $1[j] } / Double(mine.count) }
        }
        func cosine(_ a: [Double], _ b: [Double]) -> Double {
            zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } / (a.reduce(0) { $0 + $1 * $1 } * b.reduce(0) { $0 + $1 * $1 }).squareRoot()
        }
        let logits = try ProtoNet(encoder: encoder, distance: .cosine)
            .episodeLogits(params, supportX: task.supportX, supportY: task.supportY, queryX: task.queryX)
        let expected = eq.flatMap { q in protos.map { cosine(q, $0) } }
        for (a, e) in zip(logits.scalars, expected) { assertClose(Double(a), e, rtol: 1e-5, atol: 1e-5) }
    }

    /// Identity encoder: predictions are the nearest class mean of the raw inputs.
    func testPredictIsTheNearestPrototype() throws {
        var trng = TestRandom(seed: 24)
        let encoder = try Linear(inputs: 3, outputs: 3)
        let identity = [try Tensor(shape: [3, 3], scalars: [1, 0, 0, 0, 1, 0, 0, 0, 1]), try Tensor.zeros([3])]
        for _ in 0..<5 {
            let task = try episode(&trng)
            let xs = ProtoReference.rows(task.supportX), xq = ProtoReference.rows(task.queryX)
            let y = task.supportY.scalars.map { Int($0) }
            let means = (0..<3).map { c -> [Double] in
                let mine = zip(xs, y).filter { $0.1 == c }.map(\.0)
                return (0..<3).map { j in mine.reduce(0) { $0 + $1[j] } / Double(mine.count) }
            }
            let nearest = xq.map { q in
                (0..<3).min { a, b in
                    zip(q, means[a]).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
                        < zip(q, means[b]).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
                }!
            }
            let learner: any MetaLearner = ProtoNet(encoder: encoder)
            XCTAssertEqual(try learner.predict(identity, supportX: task.supportX, supportY: task.supportY, queryX: task.queryX), nearest)
        }
    }

    func testEvaluationUsesPrototypesThroughTheExistentialToo() throws {
        var trng = TestRandom(seed: 25)
        let encoder = try MLP(sizes: [3, 6, 4])
        var rng = RNG(seed: 5)
        let params = try encoder.initialParameters(rng: &rng)
        let tasks = try (0..<6).map { _ in try episode(&trng) }
        let proto = ProtoNet(encoder: encoder)
        let direct = try proto.evaluateEpisodes(params, tasks: tasks)
        let viaProtocol = try (proto as any MetaLearner).evaluateEpisodes(params, tasks: tasks)
        XCTAssertEqual(direct.accuracies, viaProtocol.accuracies)
        for (k, task) in tasks.enumerated() {
            let predicted = try proto.predict(params, supportX: task.supportX, supportY: task.supportY, queryX: task.queryX)
            let labels = task.queryY.scalars.map { Int($0) }
            XCTAssertEqual(direct.accuracies[k], try accuracy(predicted: predicted, labels: labels))
            XCTAssertEqual(direct.macroF1s[k], try macroF1(predicted: predicted, labels: labels, classes: 3))
            XCTAssertEqual(direct.losses[k], try proto.metaLossAndGrad(params, tasks: [task]).loss, accuracy: 1e-6)
        }
        XCTAssertEqual(direct.accuracy, try summarize(direct.accuracies))
        // ProtoNet's own `evaluate` (chosen over the generic one for the concrete type).
        let curve = try proto.evaluate(params, tasks: tasks)
        XCTAssertEqual(curve.finalAccuracies, direct.accuracies)
        XCTAssertEqual(curve.accuracy?.count, 1)
    }

    /// Class means live in 3 of 12 dimensions; the other 9 are loud noise
    /// shared by all classes. Nearest-prototype on a random embedding mixes
    /// the noise in; a trained encoder learns to ignore it. Test classes are
    /// never seen in training.
    func testTrainingAnMLPEncoderOnGaussianClustersBeatsChanceOnNewClasses() throws {
        var trng = TestRandom(seed: 26)
        let (classes, perClass, dims, informative) = (40, 15, 12, 3)
        var rows: [Float] = [], labels: [Int] = []
        for c in 0..<classes {
            let mean = (0..<informative).map { _ in trng.uniform(-2, 2) }
            for _ in 0..<perClass {
                rows += (0..<dims).map { j in j < informative ? mean[j] + 0.3 * trng.uniform() : 3 * trng.uniform() }
                labels.append(c)
            }
        }
        let images = try Tensor(shape: [classes * perClass, dims], scalars: rows)
        let split = try ClassSplit(classes: Array(0..<classes), train: 30, validation: 0, seed: 1)
        let train = try Taskset(images: images, labels: labels, ways: 5, shots: 5, queries: 5, classes: split.train)
        let test = try Taskset(images: images, labels: labels, ways: 5, shots: 5, queries: 5, classes: split.test)
        var rng = RNG(seed: 7)
        let testTasks = try test.sample(100, rng: &rng)

        let proto = ProtoNet(encoder: try MLP(sizes: [dims, 32, 8]))
        var trainer = try MetaTrainer(learner: proto, metaParameters: try proto.initialMetaParameters(rng: &rng),
                                      optimizer: try .adam(learningRate: 1e-2), metaBatchSize: 2, seed: 8)
        let before = try proto.evaluateEpisodes(trainer.metaParameters, tasks: testTasks)
        var losses: [Float] = []
        for _ in 0..<200 { losses.append(try trainer.step(train)) }
        let after = try proto.evaluateEpisodes(trainer.metaParameters, tasks: testTasks)
        XCTAssertLessThan(losses.suffix(20).reduce(0, +), losses.prefix(20).reduce(0, +) / 2)
        XCTAssertGreaterThan(after.accuracy.mean, 0.8, "before \(before.accuracy), after \(after.accuracy)")
        XCTAssertGreaterThan(after.accuracy.mean, before.accuracy.mean + 0.15, "before \(before.accuracy), after \(after.accuracy)")
        XCTAssertGreaterThan(after.macroF1.mean, 0.75)
    }

    func testConv4BodyAsEncoder() throws {
        let n = 24
        var trng = TestRandom(seed: 27)
        let images = trng.tensor([n, 1, 8, 8])
        let ts = try Taskset(images: images, labels: (0..<n).map { $0 % 4 }, ways: 3, shots: 2, queries: 2)
        var rng = RNG(seed: 9)
        let encoder = try Conv4(inChannels: 1, hidden: 4, blocks: 2, imageSize: 8)
        let proto = ProtoNet(encoder: encoder)
        let params = try proto.initialMetaParameters(rng: &rng)
        let tasks = try ts.sample(3, rng: &rng)
        let (loss, grads) = try proto.metaLossAndGrad(params, tasks: tasks)
        XCTAssertTrue(loss.isFinite && loss > 0)
        for (g, spec) in zip(grads, proto.metaParameterSpecs) {
            XCTAssertTrue(g.isFinite, spec.name)
            // Conv biases feed BatchNorm, which subtracts them: only rounding is left.
            if !spec.name.hasSuffix("conv.b") {
                XCTAssertGreaterThan(g.scalars.map { Swift.abs($0) }.max()!, 1e-6, "\(spec.name) got no gradient")
            }
        }
        XCTAssertEqual(try proto.predict(params, supportX: tasks[0].supportX, supportY: tasks[0].supportY,
                                         queryX: tasks[0].queryX).count, 6)
    }

    func testBadEpisodesThrowWithoutTrapping() throws {
        let encoder = try Linear(inputs: 2, outputs: 2)
        var rng = RNG(seed: 0)
        let params = try encoder.initialParameters(rng: &rng)
        let proto = ProtoNet(encoder: encoder)
        let x = try Tensor.zeros([4, 2]), q = try Tensor.zeros([2, 2])
        func episode(_ ys: [Float], _ yq: [Float] = [0, 1]) throws -> Task {
            try Task(supportX: x, supportY: Tensor(shape: [ys.count], scalars: ys), queryX: q,
                     queryY: Tensor(shape: [yq.count], scalars: yq))
        }
        func fails(_ needle: String, _ task: Task, line: UInt = #line) {
            XCTAssertThrowsError(try proto.metaLossAndGrad(params, tasks: [task]), line: line) { error in
                XCTAssertTrue("\(error)".contains(needle), "\(error) does not mention \(needle)", line: line)
            }
        }
        fails("class 1", try episode([0, 2, 2, 0]))          // class 1 has no support example
        fails("y_support", try episode([0, 1, 1, 1e30]))     // huge: an error, not a trapping Int conversion
        fails("y_support", try episode([0, 1, .nan, 0]))
        fails("y_support", try episode([0, 1, 0.5, 0]))
        fails("y_support", try episode([0, 1, -1, 0]))
        fails("y_query", try episode([0, 1, 1, 0], [0, 2]))  // 2 ways only
        XCTAssertThrowsError(try proto.metaLossAndGrad(Array(params.dropLast()), tasks: [try episode([0, 1, 1, 0])]))
        XCTAssertThrowsError(try proto.metaLossAndGrad(params, tasks: []))
        XCTAssertThrowsError(try proto.episodeLogits(params, supportX: x, supportY: Tensor(shape: [3], scalars: [0, 1, 0]), queryX: q))
        XCTAssertThrowsError(try proto.episodeLogits(params, supportX: x, supportY: Tensor(shape: [4], scalars: [0, 1, 0, 1]),
                                                     queryX: try Tensor.zeros([2, 3])))
        XCTAssertThrowsError(try proto.adapt(params, x: x, y: try Tensor.zeros([4]), steps: -1))
        XCTAssertEqual(try proto.adapt(params, x: x, y: try Tensor.zeros([4])).map(\.scalars), params.map(\.scalars))
    }
}

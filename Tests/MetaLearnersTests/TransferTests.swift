import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData
@testable import MetaLearners
import _TestSupport

/// The transfer protocols (Baseline, Baseline++, LogisticProbe, FineTune)
/// and Meta-Baseline's temperature on ProtoNet.
final class TransferTests: XCTestCase {
    let d = 4, ways = 3

    /// A Linear encoder with identity weights: embeddings are the inputs.
    func identity(_ d: Int) throws -> (any Model, [Tensor]) {
        let encoder = try Linear(inputs: d, outputs: d)
        let eye = try Tensor.make(shape: [d, d]) { p, n in
            p.update(repeating: 0, count: n)
            for i in 0..<d { p[i * d + i] = 1 }
        }
        return (encoder, [eye, try Tensor.zeros([d])])
    }

    /// Classes at 3·e_c with noise of `spread`.
    func separable(_ trng: inout TestRandom, shots: Int = 4, queries: Int = 3, spread: Float = 0.3) throws -> Task {
        func batch(_ n: Int) throws -> (Tensor, Tensor) {
            let labels = (0..<(n * ways)).map { $0 % ways }
            let x = try Tensor(shape: [n * ways, d], scalars: labels.flatMap { c in
                (0..<d).map { k in (k == c ? 3 : 0) + trng.uniform(-spread, spread) } })
            return (x, try Tensor(shape: [n * ways], scalars: labels.map(Float.init)))
        }
        let (xs, ys) = try batch(shots), (xq, yq) = try batch(queries)
        return try Task(supportX: xs, supportY: ys, queryX: xq, queryY: yq)
    }

    func learners(_ encoder: any Model) throws -> [any MetaLearner] {
        [try Baseline(encoder: encoder), try Baseline(encoder: encoder, head: .cosine(scale: 2)),
         try LogisticProbe(encoder: encoder), try FineTune(encoder: encoder, epochs: 10),
         try FineTune(encoder: encoder, head: .cosine(scale: 2), epochs: 10)]
    }

    func testSeparableEpisodesAreClassifiedPerfectly() throws {
        let (encoder, params) = try identity(d)
        var trng = TestRandom(seed: 3)
        let tasks = try (0..<3).map { _ in try separable(&trng) }
        for learner in try learners(encoder) {
            let e = try learner.evaluateEpisodes(params, tasks: tasks)
            XCTAssertEqual(e.accuracies, [1, 1, 1], "\(type(of: learner))")
        }
    }

    // MARK: - Heads

    func testClosedFormHeadGradientsEqualAutodiff() throws {
        var trng = TestRandom(seed: 5)
        let (b, n) = (5, 3)
        let z = trng.tensor([b, d], -2, 2)
        let labels = [0, 2, 1, 1, 0]
        for head in [TransferHead.linear, .cosine(scale: 2.5)] {
            var rng = RNG(seed: 1)
            var params = try head.initialParameters(features: d, classes: n, rng: &rng)
            if case .cosine = head { params[1] = trng.tensor([n], 0.5, 2) }  // g away from its initial ‖v‖
            let frozen = FrozenHead(head: head, d: d, n: n)
            let x = frozen.prepare(z.scalars, count: b)
            let (loss, grads) = x.withUnsafeBufferPointer {
                frozen.lossAndGrad(params.map(\.scalars), $0, rows: Array(0..<b)[...], labels: labels)
            }
            let logits = x.withUnsafeBufferPointer { frozen.logits(params.map(\.scalars), $0, rows: 0..<b) }
            let (v, g) = try Autodiff.valueAndGrad(at: params.map { Variable($0) }) {
                try softmaxCrossEntropy(logits: try head.logits($0, Variable(z)), labels: labels)
            }
            let reference = try head.logits(params.map { Variable($0) }, Variable(z)).value
            for (a, e) in zip(logits, reference.scalars) { assertClose(Double(a), Double(e), rtol: 1e-5, atol: 1e-6) }
            assertClose(Double(loss), Double(try v.item()), rtol: 1e-5, atol: 1e-6)
            for (mine, auto) in zip(grads, g) {
                for (a, e) in zip(mine, auto.value.scalars) { assertClose(Double(a), Double(e), rtol: 1e-4, atol: 1e-6) }
            }
            // The differentiable head itself against finite differences.
            checkGradients(at: params, order: 1, eps: 1e-2, rtol: 2e-2, atol: 1e-3) {
                try softmaxCrossEntropy(logits: try head.logits($0, Variable(z)), labels: labels)
            }
        }
    }

    func testCosineHeadStartsAtColumnNorms() throws {
        var rng = RNG(seed: 0)
        let p = try TransferHead.cosine(scale: 2).initialParameters(features: 9, classes: 4, rng: &rng)
        let v = p[0].scalars
        for c in 0..<4 {
            let norm = (0..<9).reduce(Float(0)) { $0 + v[$1 * 4 + c] * v[$1 * 4 + c] }.squareRoot()
            XCTAssertEqual(p[1].scalars[c], norm, accuracy: 1e-6)
        }
        XCTAssertLessThanOrEqual(v.map(abs).max()!, 1 / 3)  // U(±1/√d)
    }

    func testTorchSGDByHand() {
        let sgd = TorchSGD(lr: 0.1, momentum: 0.9, dampening: 0.5, weightDecay: 0.01)
        var p: [Float] = [1], buf: [Float] = []
        sgd.step(&p, [2], &buf)        // d = 2 + 0.01 = 2.01; buf = d
        XCTAssertEqual(p[0], 1 - 0.1 * 2.01, accuracy: 1e-7)
        let p1 = p[0]
        sgd.step(&p, [2], &buf)        // d = 2 + 0.01 p1; buf = 0.9·2.01 + 0.5·d
        XCTAssertEqual(p[0], p1 - 0.1 * (0.9 * 2.01 + 0.5 * (2 + 0.01 * p1)), accuracy: 1e-6)
        var q: [Float] = [1], none: [Float] = []
        TorchSGD(lr: 0.1).step(&q, [2], &none)
        XCTAssertEqual(q[0], 0.8, accuracy: 1e-7)
    }

    /// Baseline's mini-batch loop against a reference with Autodiff's
    /// gradients and the same draws: initial head, then one permutation per epoch.
    func testBaselineTrainingMatchesAutodiffReference() throws {
        var trng = TestRandom(seed: 8)
        let s = 7
        let z = trng.tensor([s, d], -2, 2)
        let labels = [0, 1, 2, 0, 1, 2, 2]
        for head in [TransferHead.linear, .cosine(scale: 2)] {
            let (encoder, _) = try identity(d)
            let baseline = try Baseline(encoder: encoder, head: head, lr: 0.05, momentum: 0.8, dampening: 0.3,
                                        weightDecay: 0.01, epochs: 6, batchSize: 3, seed: 11)
            let mine = try baseline.trainHead(z, labels: labels, ways: ways).fitted
            var rng = RNG(seed: 11)
            var p = try head.initialParameters(features: d, classes: ways, rng: &rng).map(\.scalars)
            let shapes = [[d, ways], [ways]]
            var bufs = p.map { _ in [Float]() }
            for _ in 0..<6 {
                let order = try rng.permutation(s)
                for start in stride(from: 0, to: s, by: 3) {
                    let rows = Array(order[start..<min(start + 3, s)])
                    let zb = try z.gather(indices: Array(rows), axis: 0)
                    let g = try Autodiff.grad(at: try zip(shapes, p).map { Variable(try Tensor(shape: $0, scalars: $1)) }) {
                        try softmaxCrossEntropy(logits: try head.logits($0, Variable(zb)), labels: rows.map { labels[$0] })
                    }
                    for k in p.indices { baseline.optimizer.step(&p[k], g[k].value.scalars, &bufs[k]) }
                }
            }
            for (a, e) in zip(mine, p) { assertClose(a, try Tensor(shape: a.shape, scalars: e), rtol: 1e-4, atol: 1e-5) }
        }
    }

    // MARK: - Logistic regression

    func testLogisticProbeIsAtTheObjectivesMinimum() throws {
        var trng = TestRandom(seed: 2)
        let (s, n, dim) = (12, 3, 5)
        let z = trng.tensor([s, dim], -1, 1)
        let labels = (0..<s).map { $0 % n }
        for c in [0.1, 1.0, 10.0] {
            let (encoder, _) = try identity(dim)
            let probe = try LogisticProbe(encoder: encoder, C: c)
            let (w, b) = try probe.fit(z, labels: labels, ways: n)
            let x = LogisticProbe.normalized(z)
            let (ws, bs) = (w.scalars.map(Double.init), b.scalars.map(Double.init))
            var gw = ws, gb = [Double](repeating: 0, count: n)
            for i in 0..<s {
                let logits = (0..<n).map { j in bs[j] + (0..<dim).reduce(0.0) { $0 + x[i * dim + $1] * ws[$1 * n + j] } }
                let top = logits.max()!, sum = logits.reduce(0.0) { $0 + exp($1 - top) }
                for j in 0..<n {
                    let delta = c * (exp(logits[j] - top) / sum - (j == labels[i] ? 1 : 0))
                    gb[j] += delta
                    for k in 0..<dim { gw[k * n + j] += delta * x[i * dim + k] }
                }
            }
            XCTAssertLessThan((gw + gb).map(abs).max()!, 1e-5, "C = \(c)")  // Float32 rounding of W and b
            XCTAssertEqual(bs.reduce(0, +), 0, accuracy: 1e-6)
        }
    }

    func testLBFGSMinimisesARosenbrockValley() throws {
        let r = try LBFGS(maxIterations: 500, gradientTolerance: 1e-10).minimize(from: [-1.2, 1]) { p in
            let (x, y) = (p[0], p[1])
            return (100 * (y - x * x) * (y - x * x) + (1 - x) * (1 - x),
                    [-400 * x * (y - x * x) - 2 * (1 - x), 200 * (y - x * x)])
        }
        XCTAssertTrue(r.converged)
        XCTAssertEqual(r.x[0], 1, accuracy: 1e-6)
        XCTAssertEqual(r.x[1], 1, accuracy: 1e-6)
    }

    // MARK: - Running statistics, frozen backbone, determinism

    func bnEncoder() throws -> (any Model, [Tensor], [Tensor]) {
        let encoder = Sequential([try Linear(inputs: 3, outputs: d), try BatchNorm1d(features: d, trackRunningStats: true)])
        var rng = RNG(seed: 4)
        let params = try encoder.initialParameters(rng: &rng)
        var trng = TestRandom(seed: 6)
        let buffers = try encoder.initialBuffers().enumerated().map { i, b -> Tensor in
            b.rank == 1 && b.count == d ? (i == 0 ? trng.tensor([d], -1, 1) : trng.tensor([d], 0.5, 2)) : b
        }
        return (encoder, params, buffers)
    }

    func testFrozenFeaturesUseRunningStatistics() throws {
        let (encoder, params, buffers) = try bnEncoder()
        XCTAssertEqual(encoder.bufferSpecs.count, buffers.count)
        var trng = TestRandom(seed: 9)
        let x = trng.tensor([6, 3], -1, 1)
        let running = try transferEmbeddings(encoder, params, x, buffers: buffers)
        let batch = try transferEmbeddings(encoder, params, x, buffers: nil)
        let linear = try Linear(inputs: 3, outputs: d)(Array(params[0..<2]).map { Variable($0) }, Variable(x)).value.scalars
        let (gamma, beta) = (params[2].scalars, params[3].scalars)
        let (mean, variance) = (buffers[0].scalars, buffers[1].scalars)
        for i in 0..<6 {
            for k in 0..<d {
                let expected = (linear[i * d + k] - mean[k]) / (variance[k] + 1e-5).squareRoot() * gamma[k] + beta[k]
                XCTAssertEqual(running.scalars[i * d + k], expected, accuracy: 1e-4)
            }
        }
        XCTAssertGreaterThan(zip(running.scalars, batch.scalars).map { abs($0 - $1) }.max()!, 0.05)
        // A learner's logits follow the buffers.
        let task = try Task(supportX: x, supportY: Tensor(shape: [6], scalars: [0, 1, 2, 0, 1, 2]),
                            queryX: trng.tensor([4, 3], -1, 1), queryY: Tensor(shape: [4], scalars: [0, 1, 2, 0]))
        let probe = try LogisticProbe(encoder: encoder)
        let with = try probe.queryLogits(params, supportX: task.supportX, supportY: task.supportY, queryX: task.queryX,
                                         buffers: buffers)
        let without = try probe.queryLogits(params, supportX: task.supportX, supportY: task.supportY, queryX: task.queryX)
        XCTAssertNotEqual(with.scalars, without.scalars)
    }

    func testFineTuneLeavesTheModelAndIsDeterministic() throws {
        let (encoder, params, buffers) = try bnEncoder()
        let before = params.map(\.scalars), buffersBefore = buffers.map(\.scalars)
        var trng = TestRandom(seed: 1)
        let tasks = try (0..<4).map { _ in
            try Task(supportX: trng.tensor([6, 3], -1, 1), supportY: Tensor(shape: [6], scalars: [0, 1, 2, 2, 1, 0]),
                     queryX: trng.tensor([5, 3], -1, 1), queryY: Tensor(shape: [5], scalars: [0, 1, 2, 1, 0]))
        }
        for learner in try learners(encoder) {
            let e = try learner.evaluateEpisodes(params, tasks: tasks, buffers: buffers)
            let again = try learner.evaluateEpisodes(params, tasks: tasks, buffers: buffers, pool: WorkerPool(threads: 1))
            XCTAssertEqual(e.losses, again.losses, "\(type(of: learner)): the thread count changes nothing")
            let one = try tasks.map { t -> Float in
                let p = try learner.predict(params, supportX: t.supportX, supportY: t.supportY, queryX: t.queryX, buffers: buffers)
                return Float(zip(p, t.queryY.scalars).filter { Float($0) == $1 }.count) / Float(p.count)
            }
            XCTAssertEqual(e.accuracies, one)
        }
        XCTAssertEqual(params.map(\.scalars), before)
        XCTAssertEqual(buffers.map(\.scalars), buffersBefore)
        let tuned = try FineTune(encoder: encoder, epochs: 3).adapt(params, x: tasks[0].supportX, y: tasks[0].supportY,
                                                                     buffers: buffers)
        XCTAssertNotEqual(tuned.map(\.scalars), before)
    }

    func testTransferLearnersDoNotMetaTrain() throws {
        let (encoder, params) = try identity(d)
        var trng = TestRandom(seed: 0)
        let task = try separable(&trng)
        for learner in try learners(encoder) {
            XCTAssertThrowsError(try learner.metaLossAndGrad(params, tasks: [task])) {
                XCTAssertTrue("\($0)".contains("does not meta-train"), "\($0)")
            }
        }
        XCTAssertThrowsError(try Baseline(encoder: encoder, lr: -1))
        XCTAssertThrowsError(try Baseline(encoder: encoder, epochs: 0))
        XCTAssertThrowsError(try LogisticProbe(encoder: encoder, C: 0))
    }

    // MARK: - Meta-Baseline's temperature

    func testProtoNetTemperatureScalesLogitsWithExactGradient() throws {
        var trng = TestRandom(seed: 12)
        let encoder = try Linear(inputs: 3, outputs: 2)
        var rng = RNG(seed: 2)
        let plain = ProtoNet(encoder: encoder, distance: .cosine)
        let warm = ProtoNet(encoder: encoder, distance: .cosine, temperature: 10)
        XCTAssertEqual(warm.metaParameterSpecs.map(\.name), encoder.parameterSpecs.map(\.name) + ["temperature"])
        XCTAssertEqual(plain.metaParameterSpecs, encoder.parameterSpecs)
        let params = try warm.initialMetaParameters(rng: &rng)
        XCTAssertEqual(params.last!.scalars, [10])
        let task = try Task(supportX: trng.tensor([6, 3], -2, 2), supportY: Tensor(shape: [6], scalars: [0, 1, 2, 0, 1, 2]),
                            queryX: trng.tensor([4, 3], -2, 2), queryY: Tensor(shape: [4], scalars: [2, 1, 0, 0]))
        let a = try warm.episodeLogits(params, supportX: task.supportX, supportY: task.supportY, queryX: task.queryX)
        let b = try plain.episodeLogits(Array(params.dropLast()), supportX: task.supportX, supportY: task.supportY,
                                        queryX: task.queryX)
        for (x, y) in zip(a.scalars, b.scalars) { XCTAssertEqual(x, 10 * y, accuracy: 1e-4) }
        var shifted = params
        shifted[shifted.count - 1] = try Tensor(shape: [1], scalars: [1.5])  // where the loss is not flat in τ
        checkGradients(at: shifted, order: 1, eps: 1e-2, rtol: 2e-2, atol: 1e-3) { try warm.episodeLoss($0, task) }
        let (_, grads) = try warm.metaLossAndGrad(shifted, tasks: [task])
        XCTAssertEqual(grads.count, shifted.count)
        XCTAssertNotEqual(grads.last!.scalars[0], 0)
    }
}

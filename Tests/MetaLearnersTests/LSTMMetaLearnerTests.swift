import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData
@testable import MetaLearners
import _TestSupport

/// The LSTM meta-learner: with its forget gate held open and its input gate
/// held at α it is gradient descent (FOMAML, or MAML without the cut); the
/// exact meta-gradient matches finite differences where the paper's first
/// order does not; its state carries across steps.
final class LSTMMetaLearnerTests: XCTestCase {
    func tasks(_ count: Int, seed: UInt64) throws -> [Task] {
        var r = TestRandom(seed: seed)
        return try (0..<count).map { _ in
            try Task(supportX: r.tensor([6, 2]), supportY: r.tensor([6, 1]), queryX: r.tensor([5, 2]), queryY: r.tensor([5, 1]))
        }
    }

    /// Meta-parameters whose gates are f = 1 and i = σ(`inputBias`) for any input.
    func gatesHeld(_ learner: LSTMMetaLearner, inputBias: Float, seed: UInt64 = 1) throws -> [Tensor] {
        var rng = RNG(seed: seed)
        var p = try learner.initialMetaParameters(rng: &rng)
        let k = p.count, gate = learner.update.hiddenSize + 2
        p[k - 4] = try Tensor.zeros([gate, 1]); p[k - 3] = try Tensor.full([1], 100)  // σ(100) is 1 in Float
        p[k - 2] = try Tensor.zeros([gate, 1]); p[k - 1] = try Tensor.full([1], inputBias)
        return p
    }

    func testWithItsGatesHeldItIsGradientDescent() throws {
        let model = try MLP(sizes: [2, 5, 1], activation: .tanh)
        let batch = try tasks(3, seed: 5)
        for recurrence in MetaLSTMUpdate.Recurrence.allCases {
            for firstOrder in [true, false] {
                let learner = try LSTMMetaLearner(model: model, innerSteps: 3, firstOrder: firstOrder, loss: .mse,
                                                  update: try MetaLSTMUpdate(hiddenSize: 6, recurrence: recurrence))
                let meta = try gatesHeld(learner, inputBias: -2)
                let n = model.parameterCount
                // The rate the input gate holds, as the engine's sigmoid computes it.
                let alpha = try Variable(try Tensor.full([n, 1], -2)).sigmoid().value.scalars[0]
                let maml = try MAML(model: model, innerLR: alpha, innerSteps: 3, firstOrder: firstOrder, loss: .mse)
                let t = batch[0]
                // Adaptation: bit for bit gradient descent (1·θ − α·∇).
                XCTAssertEqual(try learner.adapt(meta, x: t.supportX, y: t.supportY).map(\.scalars),
                               try maml.adapt(Array(meta[0..<n]), x: t.supportX, y: t.supportY).map(\.scalars),
                               "\(recurrence), first order \(firstOrder)")
                // Meta-training: the same loss and the same meta-gradient on the initialisation.
                let (loss, grads) = try learner.metaLossAndGrad(meta, tasks: batch)
                let (reference, referenceGrads) = try maml.metaLossAndGrad(Array(meta[0..<n]), tasks: batch)
                XCTAssertEqual(loss, reference, accuracy: 1e-6 * abs(reference))
                for (a, b) in zip(grads[0..<n], referenceGrads) { assertClose(a, b, rtol: 1e-5, atol: 1e-7) }
                // The input gate's bias moves α, so it has a gradient; the held forget bias is saturated (σ' = 0).
                XCTAssertGreaterThan(abs(grads[grads.count - 1].scalars[0]), 0)
                XCTAssertEqual(grads[grads.count - 3].scalars[0], 0)
            }
        }
    }

    /// Meta-parameters with gates well inside their range, so every weight matters.
    func moving(_ learner: LSTMMetaLearner, seed: UInt64) throws -> [Tensor] {
        var rng = RNG(seed: seed)
        var p = try learner.initialMetaParameters(rng: &rng)
        var r = TestRandom(seed: seed + 10)
        let k = p.count, gate = learner.update.hiddenSize + 2
        p[k - 4] = r.tensor([gate, 1], 0, 0.3); p[k - 3] = try Tensor.full([1], 2)
        p[k - 2] = r.tensor([gate, 1], 0, 0.3); p[k - 1] = try Tensor.full([1], -1)
        return p
    }

    func testTheExactMetaGradientMatchesFiniteDifferencesAndTheFirstOrderDoesNot() throws {
        let model = try MLP(sizes: [2, 4, 1], activation: .tanh)
        let batch = try tasks(2, seed: 9)
        for recurrence in MetaLSTMUpdate.Recurrence.allCases {
            let update = try MetaLSTMUpdate(hiddenSize: 5, recurrence: recurrence)
            let exact = try LSTMMetaLearner(model: model, innerSteps: 3, firstOrder: false, loss: .mse, update: update)
            let paper = try LSTMMetaLearner(model: model, innerSteps: 3, firstOrder: true, loss: .mse, update: update)
            let meta = try moving(exact, seed: 3)
            let differences = DirectionalDifferences(meta: meta, tasks: batch)
            try differences.check(exact, seeds: 60..<63)
            // The paper's cut: the same loss, a different gradient, off the differences by far more than their error.
            let (loss, grads) = try paper.metaLossAndGrad(meta, tasks: batch)
            XCTAssertEqual(loss, try exact.metaLossAndGrad(meta, tasks: batch).loss)
            var worst = 0.0
            for seed in UInt64(60)..<63 {
                let (dir, slope) = try differences.numeric(paper, seed: seed)
                worst = max(worst, abs(DirectionalDifferences.along(grads, dir) - slope) / abs(slope))
            }
            XCTAssertGreaterThan(worst, 0.1, "\(recurrence): the first-order gradient should miss the second-order terms")
            // Both reach every tensor of the network and of the model.
            for g in grads { XCTAssertGreaterThan(g.scalars.map(abs).max()!, 0) }
        }
    }

    func testTheStateCarriesAcrossStepsAndEachAdaptationStartsAfresh() throws {
        let model = try MLP(sizes: [2, 4, 1], activation: .tanh)
        let learner = try LSTMMetaLearner(model: model, innerSteps: 2, loss: .mse)
        let meta = try moving(learner, seed: 4)
        let n = model.parameterCount
        let t = try tasks(1, seed: 2)[0]
        let curve = try learner.adaptSteps(meta, x: t.supportX, y: t.supportY, steps: 4)
        XCTAssertEqual(curve.count, 4)
        XCTAssertEqual(curve[1].map(\.scalars), try learner.adapt(meta, x: t.supportX, y: t.supportY).map(\.scalars))
        XCTAssertEqual(curve[3].map(\.scalars), try learner.adapt(meta, x: t.supportX, y: t.supportY, steps: 4).map(\.scalars))
        // Restarting the network after one step (its h, c, f and i back to zero) lands elsewhere.
        let once = try learner.adapt(meta, x: t.supportX, y: t.supportY, steps: 1)
        let restarted = try learner.adapt(once + meta[n...], x: t.supportX, y: t.supportY, steps: 1)
        XCTAssertNotEqual(restarted.map(\.scalars), curve[1].map(\.scalars))
        // The support loss falls along the curve for these weights (a step of about σ(−1) ≈ 0.27).
        func loss(_ p: [Tensor]) throws -> Float {
            try TaskLoss.mse(try model(p.map { Variable($0) }, Variable(t.supportX)), t.supportY).item()
        }
        XCTAssertLessThan(try loss(curve[3]), try loss(Array(meta[0..<n])))
    }

    func testTasksRunBatchedGiveWhatTheyGiveOneByOne() throws {
        let model = try MLP(sizes: [2, 4, 1], activation: .tanh)
        let batch = try tasks(5, seed: 12)
        for firstOrder in [true, false] {
            let learner = try LSTMMetaLearner(model: model, innerSteps: 3, firstOrder: firstOrder, loss: .mse,
                                              update: try MetaLSTMUpdate(hiddenSize: 4))
            let meta = try moving(learner, seed: 6)
            let chunked = try learner.metaBatchPlan(tasks: batch.count, stack: true)
            XCTAssert(chunked.weighted, "an MLP's tasks run batched")
            let together = try chunked.combine(try learner.metaParts(meta, share: try MetaBatchShare(whole: batch, plan: chunked), seed: 0))
            let plan = try MetaBatchPlan.perTask(batch.count)
            let alone = try plan.combine(try learner.metaParts(meta, share: try MetaBatchShare(whole: batch, plan: plan), seed: 0))
            XCTAssertEqual(together.loss, alone.loss, accuracy: 1e-5 * abs(alone.loss))
            for (a, b) in zip(together.grads, alone.grads) { assertClose(a, b, rtol: 1e-4, atol: 1e-6) }
        }
    }

    func testParametersAndArguments() throws {
        let model = try MLP(sizes: [2, 4, 1], activation: .tanh)
        let learner = try LSTMMetaLearner(model: model, update: try MetaLSTMUpdate(hiddenSize: 3, recurrence: .gru))
        var rng = RNG(seed: 0)
        let meta = try learner.initialMetaParameters(rng: &rng)
        XCTAssertEqual(learner.metaParameterSpecs.map(\.shape), meta.map(\.shape))
        XCTAssertEqual(learner.metaParameterSpecs.suffix(8).map(\.name),
                       ["metalstm.gru.Wx", "metalstm.gru.Wh", "metalstm.gru.bx", "metalstm.gru.bh",
                        "metalstm.forget.W", "metalstm.forget.b", "metalstm.input.W", "metalstm.input.b"])
        let k = meta.count
        XCTAssert((4...5).contains(meta[k - 3].scalars[0]))
        XCTAssert((-5 ... -4).contains(meta[k - 1].scalars[0]))
        XCTAssert(meta[k - 4].scalars.allSatisfy { abs($0) <= 0.01 })
        XCTAssertEqual(try LSTMMetaLearner(model: model).metaParameterSpecs.suffix(7).first?.name, "metalstm.lstm.Wx")
        XCTAssertThrowsError(try LSTMMetaLearner(model: model, innerSteps: 0))
        XCTAssertThrowsError(try MetaLSTMUpdate(hiddenSize: 0))
        XCTAssertThrowsError(try learner.metaLossAndGrad(Array(meta.dropLast()), tasks: try tasks(1, seed: 1)))
    }
}

import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData
@testable import MetaLearners
import _TestSupport

/// MAML++: with one step and its rates frozen it is MAML; the multi-step
/// loss follows the paper's importance vector; derivative-order annealing
/// switches from first to second order at its epoch; the meta-gradient,
/// through the learned rates and the per-step normalisation weights,
/// matches finite differences.
final class MAMLPlusPlusTests: XCTestCase {
    func tasks(_ count: Int, seed: UInt64, inputs: Int = 3) throws -> [Task] {
        var r = TestRandom(seed: seed)
        return try (0..<count).map { _ in
            try Task(supportX: r.tensor([6, inputs]), supportY: r.tensor([6, 1]), queryX: r.tensor([5, inputs]),
                     queryY: r.tensor([5, 1]))
        }
    }

    /// A network with layer norm (its gamma and beta get per-step copies), smooth.
    func normed() throws -> any Model {
        try Sequential(named: [("fc1", try Linear(inputs: 3, outputs: 6)), ("ln", try LayerNorm(6)),
                               ("act", Activation.tanh), ("fc2", try Linear(inputs: 6, outputs: 1))])
    }

    func start(_ learner: any MetaLearner, seed: UInt64 = 1) throws -> [Tensor] {
        var rng = RNG(seed: seed)
        return try learner.initialMetaParameters(rng: &rng)
    }

    func testOneStepWithFrozenRatesIsMAML() throws {
        let model = try normed()
        let batch = try tasks(3, seed: 2)
        let plus = try MAMLPlusPlus(model: model, innerLR: 0.1, innerSteps: 1, loss: .mse, learnRates: false,
                                    adaptNormalization: true)
        let maml = try MAML(model: model, innerLR: 0.1, innerSteps: 1, loss: .mse)
        let params = try start(maml)
        XCTAssertEqual(plus.metaParameterSpecs.count, model.parameterCount)  // no rates, no copies with one step
        let a = try plus.metaLossAndGrad(params, tasks: batch), b = try maml.metaLossAndGrad(params, tasks: batch)
        XCTAssertEqual(a.loss, b.loss, accuracy: 1e-6)
        for (x, y) in zip(a.grads, b.grads) { assertClose(x, y, rtol: 1e-5, atol: 1e-7) }
        // The same with a convolutional model (batch norm) on images.
        var r = TestRandom(seed: 4)
        let images = try Taskset(images: r.tensor([24, 1, 8, 8]), labels: (0..<24).map { $0 / 4 }, ways: 3, shots: 1, queries: 2)
        var g = RNG(seed: 5)
        let episodes = try images.sample(2, rng: &g)
        let conv = try Conv4(inChannels: 1, hidden: 4, blocks: 2, outputs: 3, imageSize: 8)
        let convPlus = try MAMLPlusPlus(model: conv, innerLR: 0.1, innerSteps: 1, learnRates: false, adaptNormalization: true)
        let convMAML = try MAML(model: conv, innerLR: 0.1, innerSteps: 1, loss: .crossEntropy)
        let p = try start(convMAML)
        let c = try convPlus.metaLossAndGrad(p, tasks: episodes), d = try convMAML.metaLossAndGrad(p, tasks: episodes)
        XCTAssertEqual(c.loss, d.loss, accuracy: 1e-5)
        for (x, y) in zip(c.grads, d.grads) { assertClose(x, y, rtol: 1e-4, atol: 1e-6) }
    }

    func testTheImportanceVectorIsThePapers() throws {
        let plus = try MAMLPlusPlus(model: try normed(), innerSteps: 5, loss: .mse, mslEpochs: 10)
        XCTAssertEqual(plus.importance(epoch: 0), [0.2, 0.2, 0.2, 0.2, 0.2])
        // Each epoch takes 1/(5·10) = 0.02 from every non-final weight and gives it to the last.
        let five = plus.importance(epoch: 5)
        for w in five.prefix(4) { XCTAssertEqual(w, 0.1, accuracy: 1e-6) }
        XCTAssertEqual(five[4], 0.6, accuracy: 1e-6)
        let late = plus.importance(epoch: 60)  // floored at 0.03 / 5, the last capped at 1 − 4 · 0.006
        for w in late.prefix(4) { XCTAssertEqual(w, 0.006, accuracy: 1e-7) }
        XCTAssertEqual(late[4], 0.976, accuracy: 1e-6)
    }

    /// The meta-loss of the multi-step loss at epoch 0 is the mean of the
    /// query losses after each step (the uniform importance), and only the
    /// last step's once the epochs of the multi-step loss are over.
    func testTheMultiStepLossWeighsEveryStepsQueryLoss() throws {
        let model = try normed()
        let plus = try MAMLPlusPlus(model: model, innerLR: 0.05, innerSteps: 3, loss: .mse, mslEpochs: 2, iterationsPerEpoch: 4)
        let params = try start(plus)
        let t = try tasks(1, seed: 7)[0]
        let curve = try plus.adaptSteps(params, x: t.supportX, y: t.supportY, steps: 3)
        let losses = try curve.map { try plus.loss(try model($0.map { Variable($0) }, Variable(t.queryX)), t.queryY).item() }
        func metaLoss(step: Int) throws -> Float {
            let plan = try MetaBatchPlan.perTask(1)
            let share = try MetaBatchShare(plan: plan, parts: 0..<1, tasks: [t], step: step)
            return try plan.combine(try plus.metaParts(params, share: share, seed: 0)).loss
        }
        XCTAssertEqual(try metaLoss(step: 0), losses.reduce(0, +) / 3, accuracy: 1e-5)
        XCTAssertEqual(try metaLoss(step: 8), losses[2], accuracy: 1e-6)  // epoch 2: the last step alone
        XCTAssertNotEqual(losses[0], losses[2])
    }

    /// First order for the first epoch, exact after: the meta-gradient at
    /// step 3 (epoch 1) is a learner without annealing's, at step 1 that of
    /// one that stays first order.
    func testDerivativeOrderAnnealingSwitchesAtItsEpoch() throws {
        let model = try normed()
        func learner(_ firstOrderEpochs: Int) throws -> MAMLPlusPlus {
            try MAMLPlusPlus(model: model, innerLR: 0.05, innerSteps: 2, loss: .mse, multiStepLoss: false,
                             firstOrderEpochs: firstOrderEpochs, iterationsPerEpoch: 2)
        }
        let annealed = try learner(1), exact = try learner(0), first = try learner(Int.max)
        let params = try start(annealed)
        let batch = try tasks(2, seed: 8)
        func grads(_ l: MAMLPlusPlus, step: Int) throws -> [[Float]] {
            let plan = try MetaBatchPlan.perTask(batch.count)
            return try plan.combine(try l.metaParts(params, share: try MetaBatchShare(plan: plan, parts: 0..<batch.count,
                                                                                      tasks: batch, step: step), seed: 0))
                .grads.map(\.scalars)
        }
        XCTAssertEqual(try grads(annealed, step: 1), try grads(first, step: 1))
        XCTAssertEqual(try grads(annealed, step: 3), try grads(exact, step: 3))
        XCTAssertNotEqual(try grads(first, step: 3), try grads(exact, step: 3))
    }

    /// The exact meta-gradient, with learned per-step rates, per-step layer
    /// norm weights and the multi-step loss, against central differences.
    func testTheMetaGradientMatchesFiniteDifferences() throws {
        let plus = try MAMLPlusPlus(model: try normed(), innerLR: 0.05, innerSteps: 3, loss: .mse)
        var meta = try start(plus, seed: 3)
        let names = plus.metaParameterSpecs.map(\.name)
        XCTAssertEqual(names.filter { $0.hasPrefix("mamlpp.step") },
                       ["mamlpp.step1.ln.gamma", "mamlpp.step1.ln.beta", "mamlpp.step2.ln.gamma", "mamlpp.step2.ln.beta"])
        XCTAssertEqual(plus.metaParameterSpecs[names.firstIndex(of: "mamlpp.lr_scale")!].shape, [3, 4])  // 4 tensors adapted
        // Move the copies and rates off their starting values.
        var r = TestRandom(seed: 11)
        for i in plus.model.parameterCount..<meta.count { meta[i] = try meta[i].zip(r.tensor(meta[i].shape, -0.05, 0.05), .add) }
        let batch = try tasks(2, seed: 12)
        let (_, grads) = try plus.metaLossAndGrad(meta, tasks: batch)
        for i in plus.model.parameterCount..<meta.count {
            XCTAssertGreaterThan(grads[i].scalars.map(abs).max()!, 0, names[i])
        }
        try DirectionalDifferences(meta: meta, tasks: batch).check(plus, seeds: 70..<73)
    }

    /// The epoch comes from the meta-updates made so far, which a trainer
    /// carrying on another's optimizer (a resumed fit) continues.
    func testTheEpochCountsTheUpdatesAcrossResumedTrainers() throws {
        let plus = try MAMLPlusPlus(model: try MLP(sizes: [1, 4, 1], activation: .tanh), innerSteps: 2, loss: .mse,
                                    iterationsPerEpoch: 2)
        let tasks = try Sinusoid(shots: 3, queries: 3)
        var first = try MetaTrainer(learner: plus, metaParameters: try start(plus), optimizer: .adam(learningRate: 1e-3),
                                    metaBatchSize: 2, seed: 0)
        XCTAssertEqual(try first.sampleShare(tasks, rank: 0, of: 1).share.step, 0)
        for _ in 0..<3 { try first.step(tasks) }
        var resumed = try MetaTrainer(learner: plus, metaParameters: first.metaParameters, continuing: first.optimizer,
                                      metaBatchSize: 2, seed: 1)
        XCTAssertEqual(resumed.steps, 0)
        XCTAssertEqual(try resumed.sampleShare(tasks, rank: 0, of: 1).share.step, 3)
    }

    func testBadSettingsAreRefused() throws {
        let model = try normed()
        XCTAssertThrowsError(try MAMLPlusPlus(model: model, innerSteps: 0))
        XCTAssertThrowsError(try MAMLPlusPlus(model: model, iterationsPerEpoch: 0))
        XCTAssertThrowsError(try MAMLPlusPlus(model: try LayerNorm(3), loss: .mse)) { error in
            XCTAssertTrue("\(error)".contains("adapts no parameter"), "\(error)")
        }
    }
}

import XCTest
@testable import MetaTensor
import MetaAutodiff
import MetaNN
import MetaOptim
import MetaData
@testable import MetaLearners
import _TestSupport

/// Steps shared by processes: a meta-batch cut into parts computed apart
/// (here by several trainers standing for ranks) and combined in part order
/// gives the bits of one trainer running the whole meta-batch.
final class SharedStepTests: XCTestCase {
    func testPartsCoverTheMetaBatchInOrderForAnyNumberOfRanks() throws {
        for plan in [try MetaBatchPlan.perTask(7), try .chunked(40), try .chunked(3)] {
            for ranks in 1...9 {
                let blocks = try (0..<ranks).map { try plan.parts(rank: $0, of: ranks) }
                XCTAssertEqual(blocks.flatMap { Array($0) }, Array(0..<plan.partCount))
            }
            XCTAssertEqual(plan.bounds.first, 0)
            XCTAssertEqual(plan.bounds.last, plan.taskCount)
        }
        XCTAssertEqual(try MetaBatchPlan.chunked(40).bounds, [0, 13, 26, 40])
        XCTAssertThrowsError(try MetaBatchPlan.perTask(3).parts(rank: 3, of: 3))
    }

    /// A sample of some tasks of a meta-batch equals those tasks of the whole
    /// sample, and leaves the generator where the whole sample does.
    func testASharesTasksAreThoseOfTheWholeSample() throws {
        let tasks = try Sinusoid(shots: 3, queries: 2)
        var a = RNG(seed: 4), b = RNG(seed: 4)
        let whole = try tasks.sample(9, rng: &a)
        let part = try tasks.sample(9, range: 3..<7, rng: &b)
        XCTAssertEqual(part.map(\.supportX.scalars), whole[3..<7].map(\.supportX.scalars))
        XCTAssertEqual(part.map(\.queryY.scalars), whole[3..<7].map(\.queryY.scalars))
        XCTAssertEqual(a.nextUInt64(), b.nextUInt64())
    }

    /// Trainers standing for `ranks` processes: each computes its share, the
    /// shares' results are joined in order, and each finishes the step.
    func sharedRun(_ learner: any MetaLearner, _ tasks: some TaskDistribution, batch: Int, ranks: Int, steps: Int,
                   start: [Tensor]) throws -> [MetaTrainer] {
        var trainers = try (0..<ranks).map { _ in
            try MetaTrainer(learner: learner, metaParameters: start, optimizer: .adam(learningRate: 1e-2),
                            metaBatchSize: batch, seed: 3)
        }
        for _ in 0..<steps {
            var results: [MetaPart] = []
            var plans: [MetaBatchPlan] = []
            for r in 0..<ranks {
                let (share, seed) = try trainers[r].sampleShare(tasks, rank: r, of: ranks)
                results += try learner.metaParts(trainers[r].metaParameters, share: share, seed: seed)
                plans.append(share.plan)
            }
            XCTAssertTrue(plans.allSatisfy { $0 == plans[0] })
            for r in 0..<ranks { try trainers[r].finishStep(plans[0], results: results) }
        }
        return trainers
    }

    func checkSharedEqualsWhole(_ learner: any MetaLearner, _ tasks: some TaskDistribution, batch: Int) throws {
        var rng = RNG(seed: 1)
        let start = try learner.initialMetaParameters(rng: &rng)
        var whole = try MetaTrainer(learner: learner, metaParameters: start, optimizer: .adam(learningRate: 1e-2),
                                    metaBatchSize: batch, seed: 3)
        for _ in 0..<3 { try whole.step(tasks) }
        for ranks in [1, 2, 3, 5] {
            for trainer in try sharedRun(learner, tasks, batch: batch, ranks: ranks, steps: 3, start: start) {
                XCTAssertEqual(trainer.metaParameters.map(\.scalars), whole.metaParameters.map(\.scalars),
                               "\(type(of: learner)) on \(ranks) ranks")
                XCTAssertEqual(trainer.steps, 3)
            }
        }
        XCTAssertNotEqual(whole.metaParameters.map(\.scalars), start.map(\.scalars))
    }

    func testMAMLInBatchedChunksAndPerTaskSharesGiveTheWholeBatchsBits() throws {
        let sine = try Sinusoid(shots: 4, queries: 4)
        // 20 tasks in chunks of 10 (the batched path), exact second order.
        try checkSharedEqualsWhole(try MAML(model: try MLP(sizes: [1, 8, 8, 1]), innerLR: 0.01, innerSteps: 2), sine,
                                   batch: 20)
        // Meta-SGD and Reptile through the same parts.
        try checkSharedEqualsWhole(try MetaSGD(model: try MLP(sizes: [1, 8, 1])), sine, batch: 5)
        try checkSharedEqualsWhole(try Reptile(model: try MLP(sizes: [1, 8, 1]), innerLR: 0.01, innerSteps: 2), sine,
                                   batch: 4)
    }

    func testConvolutionalLearnersShareOneTaskPerPart() throws {
        var r = TestRandom(seed: 2)
        let images = r.tensor([24, 1, 8, 8])
        let tasks = try Taskset(images: images, labels: (0..<24).map { $0 / 4 }, ways: 3, shots: 1, queries: 2)
        let conv = try Conv4(inChannels: 1, hidden: 4, blocks: 2, outputs: 3, imageSize: 8)
        try checkSharedEqualsWhole(try MAML(model: conv, innerLR: 0.1, innerSteps: 1, loss: .crossEntropy), tasks, batch: 4)
        let encoder = try Conv4(inChannels: 1, hidden: 4, blocks: 2, imageSize: 8)
        try checkSharedEqualsWhole(try ProtoNet(encoder: encoder), tasks, batch: 3)
        XCTAssertEqual(try ProtoNet(encoder: encoder).metaBatchPlan(tasks: 3, stack: true), try .perTask(3))
    }

    func testFinishingWithTheWrongNumberOfPartsIsRefused() throws {
        let maml = try MAML(model: try MLP(sizes: [1, 4, 1]), innerLR: 0.01)
        var rng = RNG(seed: 0)
        var trainer = try MetaTrainer(learner: maml, metaParameters: try maml.initialMetaParameters(rng: &rng),
                                      optimizer: .sgd(learningRate: 0.1), metaBatchSize: 3, seed: 0)
        let (share, seed) = try trainer.sampleShare(try Sinusoid(shots: 2, queries: 2), rank: 0, of: 2)
        let mine = try maml.metaParts(trainer.metaParameters, share: share, seed: seed)
        XCTAssertThrowsError(try trainer.finishStep(share.plan, results: mine)) { error in
            XCTAssertTrue("\(error)".contains("expected"), "\(error)")
        }
        XCTAssertEqual(trainer.steps, 0)
    }
}

/// Pre-training in micro-batches: one micro-batch is the plain step; several,
/// computed apart and joined in order, give the same bits wherever computed.
final class MicroBatchTests: XCTestCase {
    func setup(micro: Int) throws -> SupervisedTrainer {
        var r = TestRandom(seed: 5)
        let x = r.tensor([20, 1, 8, 8])
        let encoder = try Conv4(inChannels: 1, hidden: 4, blocks: 2, imageSize: 8, trackRunningStats: true)
        let model = try Sequential(named: [("encoder", encoder), ("head", try Linear(inputs: encoder.embeddingSize, outputs: 4))])
        var g = RNG(seed: 9)
        return try SupervisedTrainer(model: model, parameters: try model.initialParameters(rng: &g),
                                     buffers: try model.initialBuffers(), images: x, labels: (0..<20).map { $0 % 4 },
                                     optimizer: .adam(learningRate: 1e-2), batchSize: 6, microBatches: micro, seed: 1)
    }

    func testOneMicroBatchIsTheWholeBatchsGradient() throws {
        var trainer = try setup(micro: 1)
        let before = trainer.parameters
        var probe = trainer
        let share = try probe.sampleShare(rank: 0, of: 1)
        let x = try trainer.images.gather(indices: share.batch, axis: 0)
        let context = ForwardContext(mode: .training, seed: 0, buffers: trainer.buffers)
        let (loss, _) = try Autodiff.valueAndGrad(at: before.map { Variable($0) }) {
            try softmaxCrossEntropy(logits: try trainer.model($0, Variable(x), context: context), labels: share.batch.map { $0 % 4 })
        }
        XCTAssertEqual(try trainer.step(), try loss.item())
        XCTAssertEqual(trainer.buffers.map(\.scalars), context.buffers!.map(\.scalars))
    }

    func testMicroBatchesComputedApartGiveTheBitsOfOneTrainer() throws {
        var whole = try setup(micro: 3)
        for _ in 0..<5 { try whole.step() }  // into the second epoch (4 batches per epoch, the last of 2)
        for ranks in [2, 3, 4] {
            var trainers = try (0..<ranks).map { _ in try setup(micro: 3) }
            for _ in 0..<5 {
                var results: [MicroBatchPart] = []
                var shares: [MicroBatchShare] = []
                for r in 0..<ranks {
                    let share = try trainers[r].sampleShare(rank: r, of: ranks)
                    results += try trainers[r].microParts(share)
                    shares.append(share)
                }
                for r in 0..<ranks { try trainers[r].finishStep(shares[r], results: results) }
            }
            for t in trainers {
                XCTAssertEqual(t.parameters.map(\.scalars), whole.parameters.map(\.scalars), "\(ranks) ranks")
                XCTAssertEqual(t.buffers.map(\.scalars), whole.buffers.map(\.scalars), "\(ranks) ranks")
            }
        }
        // Three micro-batches differ from one (batch norm takes each one's statistics).
        var one = try setup(micro: 1)
        for _ in 0..<5 { try one.step() }
        XCTAssertNotEqual(one.parameters.map(\.scalars), whole.parameters.map(\.scalars))
    }

    func testAnAbandonedShareLeavesTheTrainerAsBefore() throws {
        var trainer = try setup(micro: 2)
        var reference = trainer
        let share = try trainer.sampleShare(rank: 0, of: 2)
        trainer.abandon(share)
        try trainer.step()
        try reference.step()
        XCTAssertEqual(trainer.parameters.map(\.scalars), reference.parameters.map(\.scalars))
        XCTAssertThrowsError(try setup(micro: 7))  // more micro-batches than a batch of 6 holds
    }
}

final class EngineThreadsTests: XCTestCase {
    func testMETASWIFT_THREADSSetsThePoolsThreads() {
        XCTAssertEqual(WorkerPool.configuredThreads("1", cores: 8), 1)
        XCTAssertEqual(WorkerPool.configuredThreads(" 3 ", cores: 8), 3)
        for bad in [nil, "", "0", "-2", "two", "1.5"] as [String?] {
            XCTAssertEqual(WorkerPool.configuredThreads(bad, cores: 8), 8, "\(bad ?? "nil")")
        }
        XCTAssertEqual(WorkerPool.configuredThreads(nil, cores: 0), 1)
    }
}

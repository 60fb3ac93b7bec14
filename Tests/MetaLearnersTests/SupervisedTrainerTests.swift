import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaOptim
@testable import MetaLearners
import _TestSupport

/// Supervised pre-training: what the loop means (epochs visit every example
/// once, the loss goes down, running statistics move), and that it is
/// reproducible bit for bit.
final class SupervisedTrainerTests: XCTestCase {
    /// 6 classes of 8x8 images around class prototypes.
    func data(seed: UInt64 = 5) throws -> (Tensor, [Int]) {
        var r = TestRandom(seed: seed)
        let prototypes = r.tensor([6, 1, 8, 8])
        let labels = (0..<60).map { $0 % 6 }
        let noise = r.tensor([60, 1, 8, 8])
        let x = try Tensor.make(shape: [60, 1, 8, 8]) { p, _ in
            for i in 0..<60 { for j in 0..<64 { p[i * 64 + j] = prototypes.scalars[labels[i] * 64 + j] + 0.3 * noise.scalars[i * 64 + j] } }
        }
        return (x, labels)
    }

    func network(track: Bool) throws -> (any Model, [Tensor], [Tensor]) {
        let encoder = try Conv4(inChannels: 1, hidden: 8, blocks: 2, imageSize: 8, trackRunningStats: track)
        let head = try CosineLinear(inputs: encoder.embeddingSize, outputs: 6, scale: 10)
        let model = try Sequential(named: [("encoder", encoder), ("head", head)])
        var r = RNG(seed: 9)
        return (model, try model.initialParameters(rng: &r), try model.initialBuffers())
    }

    func testLossFallsAndTrainingFitsTheClasses() throws {
        let (x, y) = try data()
        let (model, p, b) = try network(track: true)
        var trainer = try SupervisedTrainer(model: model, parameters: p, buffers: b, images: x, labels: y,
                                            optimizer: .adam(learningRate: 3e-3), batchSize: 8, seed: 1)
        XCTAssertEqual(trainer.batchesPerEpoch, 8)  // 60 = 7·8 + 4: the last batch kept
        let before = try SupervisedTrainer.accuracy(model: model, parameters: p, buffers: trainer.buffers, images: x, labels: y)
        var losses: [Float] = []
        for _ in 0..<(trainer.batchesPerEpoch * 15) { losses.append(try trainer.step()) }
        XCTAssertEqual(trainer.epochs, 15)
        let first = losses.prefix(8).reduce(0, +) / 8, last = losses.suffix(8).reduce(0, +) / 8
        XCTAssertLessThan(last, first * 0.3, "losses \(first) → \(last)")
        let after = try SupervisedTrainer.accuracy(model: model, parameters: trainer.parameters, buffers: trainer.buffers,
                                                   images: x, labels: y)
        XCTAssertGreaterThan(after, 0.95)
        XCTAssertLessThan(before, 0.5)
        // The running statistics moved from their initial zeros and ones.
        XCTAssertNotEqual(trainer.buffers[0].scalars, b[0].scalars)
        XCTAssertNotEqual(trainer.buffers[1].scalars, b[1].scalars)
    }

    /// Each epoch visits every example once, in an order drawn when it starts.
    func testEpochsVisitEveryExampleOnce() throws {
        let (x, y) = try data()
        let (model, p, b) = try network(track: false)
        for dropLast in [false, true] {
            var trainer = try SupervisedTrainer(model: model, parameters: p, buffers: b, images: x, labels: y,
                                                optimizer: .sgd(learningRate: 0), batchSize: 8, dropLast: dropLast, seed: 2)
            var epochs: [[Int]] = []
            for e in 0..<2 {
                var seen: [Int] = []
                for _ in 0..<trainer.batchesPerEpoch {
                    seen += try trainer.nextBatch()
                    trainer.steps += 1
                }
                XCTAssertEqual(seen.count, dropLast ? 56 : 60, "epoch \(e)")
                XCTAssertEqual(Set(seen).count, seen.count)
                epochs.append(seen)
            }
            XCTAssertNotEqual(epochs[0], epochs[1])
        }
    }

    func testSameSeedSameBitsAndAFailureLeavesTheTrainerAsItWas() throws {
        let (x, y) = try data()
        let (model, p, b) = try network(track: true)
        func run(_ seed: UInt64) throws -> SupervisedTrainer {
            var t = try SupervisedTrainer(model: model, parameters: p, buffers: b, images: x, labels: y,
                                          optimizer: .adam(learningRate: 1e-3), batchSize: 16, seed: seed)
            for _ in 0..<10 { try t.step() }
            return t
        }
        let (a, c, d) = (try run(4), try run(4), try run(5))
        XCTAssertEqual(a.parameters.map(\.scalars), c.parameters.map(\.scalars))
        XCTAssertEqual(a.buffers.map(\.scalars), c.buffers.map(\.scalars))
        XCTAssertNotEqual(a.parameters.map(\.scalars), d.parameters.map(\.scalars))
        // A learning rate that overflows: the step is refused, nothing changes.
        var t = try SupervisedTrainer(model: model, parameters: p, buffers: b, images: x, labels: y,
                                      optimizer: .sgd(learningRate: 1e38), batchSize: 16, seed: 4)
        var failed = false
        for _ in 0..<6 where !failed {
            let (params, buffers, steps, rng) = (t.parameters, t.buffers, t.steps, t.rng.state)
            do {
                try t.step()
            } catch {
                failed = true
                XCTAssertEqual(t.parameters.map(\.scalars), params.map(\.scalars))
                XCTAssertEqual(t.buffers.map(\.scalars), buffers.map(\.scalars))
                XCTAssertEqual(t.steps, steps)
                XCTAssertEqual(t.rng.state, rng)
            }
        }
        XCTAssertTrue(failed)
    }

    func testBadArgumentsAreRefused() throws {
        let (x, y) = try data()
        let (model, p, b) = try network(track: false)
        XCTAssertThrowsError(try SupervisedTrainer(model: model, parameters: p, buffers: b, images: x, labels: Array(y.dropLast()),
                                                   optimizer: .sgd(learningRate: 0.1), batchSize: 8, seed: 0))
        XCTAssertThrowsError(try SupervisedTrainer(model: model, parameters: p, buffers: b, images: x, labels: y,
                                                   optimizer: .sgd(learningRate: 0.1), batchSize: 0, seed: 0))
        XCTAssertThrowsError(try SupervisedTrainer(model: model, parameters: p, buffers: b, images: x, labels: y,
                                                   optimizer: .sgd(learningRate: 0.1), batchSize: 61, dropLast: true, seed: 0))
        XCTAssertThrowsError(try SupervisedTrainer(model: model, parameters: Array(p.dropLast()), buffers: b, images: x,
                                                   labels: y, optimizer: .sgd(learningRate: 0.1), batchSize: 8, seed: 0))
        // A label beyond the head's classes fails at the step, naming it.
        var t = try SupervisedTrainer(model: model, parameters: p, buffers: b, images: x, labels: y.map { $0 == 3 ? 9 : $0 },
                                      optimizer: .sgd(learningRate: 0.1), batchSize: 60, seed: 0)
        XCTAssertThrowsError(try t.step())
        XCTAssertEqual(t.steps, 0)
    }
}

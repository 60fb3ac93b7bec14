import XCTest
import MetaTensor
import MetaNN
import MetaOptim
import MetaData
import MetaLearners

final class MetaTrainerTests: XCTestCase {
    func testADivergingStepThrowsAndCommitsNothing() throws {
        let maml = try MAML(model: try MLP(sizes: [1, 8, 1]), innerLR: 0.01)
        var rng = RNG(seed: 0)
        let start = try maml.initialMetaParameters(rng: &rng)
        var trainer = try MetaTrainer(learner: maml, metaParameters: start, optimizer: try .sgd(learningRate: 1e30),
                                      metaBatchSize: 2, seed: 1)
        let tasks = try Sinusoid(shots: 5, queries: 5)
        var failed = false
        for _ in 0..<20 {
            let stepsBefore = trainer.steps
            do { try trainer.step(tasks) } catch let error as MetaError {
                XCTAssertTrue(error.message.contains("lower the learning rates"), error.message)
                // A non-finite loss falls back one update; anything else changes nothing.
                XCTAssertTrue(trainer.steps == stepsBefore || trainer.steps == stepsBefore - 1)
                XCTAssertTrue(error.message.contains("at step \(stepsBefore + 1)"), error.message)
                failed = true
                break
            }
        }
        XCTAssertTrue(failed, "an outer step of 1e30 must diverge")
        XCTAssertTrue(trainer.metaParameters.allSatisfy(\.isFinite), "nothing non-finite is committed")
    }

    /// Adam's first step moves every parameter by about lr = 3.4e38: finite
    /// parameters whose meta-loss is not. The trainer falls back to the start,
    /// the last parameters whose meta-loss was finite, and says so.
    func testANonFiniteLossFallsBackToTheLastParametersWithAFiniteLoss() throws {
        let maml = try MAML(model: try MLP(sizes: [1, 8, 1]), innerLR: 0.01)
        var rng = RNG(seed: 0)
        let start = try maml.initialMetaParameters(rng: &rng)
        var trainer = try MetaTrainer(learner: maml, metaParameters: start, optimizer: try .adam(learningRate: 3.4e38),
                                      metaBatchSize: 2, seed: 1)
        let tasks = try Sinusoid(shots: 5, queries: 5)
        XCTAssertTrue(try trainer.step(tasks).isFinite)
        XCTAssertEqual(trainer.steps, 1)
        XCTAssertGreaterThan(trainer.metaParameters[0].scalars.map(abs).max()!, 1e37)
        XCTAssertThrowsError(try trainer.step(tasks)) { error in
            let message = (error as? MetaError)?.message ?? ""
            XCTAssertTrue(message.hasPrefix("meta-loss became"), message)
            XCTAssertTrue(message.contains("at step 2;"), message)
            XCTAssertTrue(message.contains("those after step 0, the last whose meta-loss was finite"), message)
        }
        XCTAssertEqual(trainer.steps, 0)
        XCTAssertEqual(trainer.metaParameters.map(\.scalars), start.map(\.scalars))
        // The optimizer state fell back too: on the same tasks, its next step is a fresh trainer's first.
        var fresh = try MetaTrainer(learner: maml, metaParameters: start, optimizer: try .adam(learningRate: 3.4e38),
                                    metaBatchSize: 2, seed: 1)
        var taskRNG = RNG(seed: 7)
        let batch = try tasks.sample(2, rng: &taskRNG)
        try trainer.step(batch)
        try fresh.step(batch)
        XCTAssertEqual(trainer.metaParameters.map(\.scalars), fresh.metaParameters.map(\.scalars))
    }

    func testResumeContinuesFromGivenParametersAndChecksThem() throws {
        let model = try MLP(sizes: [1, 4, 1])
        let maml = try MAML(model: model)
        var rng = RNG(seed: 0)
        let start = try maml.initialMetaParameters(rng: &rng)
        var trainer = try MetaTrainer(learner: maml, metaParameters: start, optimizer: try .sgd(learningRate: 0),
                                      metaBatchSize: 2, seed: 1)
        let zeros = try start.map { try Tensor.zeros($0.shape) }
        try trainer.resume(from: zeros)
        try trainer.step(try Sinusoid(shots: 3, queries: 3))
        XCTAssertEqual(trainer.metaParameters.map(\.scalars), zeros.map(\.scalars))
        XCTAssertThrowsError(try trainer.resume(from: Array(zeros.dropLast())))
        XCTAssertThrowsError(try trainer.resume(from: zeros.map { try! $0.reshaped([-1, 1]) }))
    }
}

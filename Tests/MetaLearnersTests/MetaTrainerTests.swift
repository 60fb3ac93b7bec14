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
            do { try trainer.step(tasks) } catch let error as MetaError {
                XCTAssertTrue(error.message.contains("lower the learning rates"), error.message)
                failed = true
                break
            }
        }
        XCTAssertTrue(failed, "an outer step of 1e30 must diverge")
        XCTAssertTrue(trainer.metaParameters.allSatisfy(\.isFinite), "nothing non-finite is committed")
        let stepsBefore = trainer.steps
        XCTAssertThrowsError(try trainer.step(tasks))
        XCTAssertEqual(trainer.steps, stepsBefore)
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

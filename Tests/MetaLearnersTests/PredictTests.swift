import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData
import MetaEval
import MetaLearners
import _TestSupport

/// `predict` and `evaluateEpisodes` for the gradient-based learners: adapt on
/// the support set, then the argmax of the model's logits on the queries.
final class PredictTests: XCTestCase {
    func tasks(_ count: Int, seed: UInt64) throws -> [Task] {
        var trng = TestRandom(seed: seed)
        let n = 40
        let ts = try Taskset(images: trng.tensor([n, 4], -2, 2), labels: (0..<n).map { $0 % 4 },
                             ways: 3, shots: 3, queries: 4)
        var rng = RNG(seed: seed)
        return try ts.sample(count, rng: &rng)
    }

    func testMAMLPredictsTheArgmaxOfTheAdaptedModel() throws {
        let model = try MLP(sizes: [4, 8, 3])
        var rng = RNG(seed: 1)
        let params = try model.initialParameters(rng: &rng)
        let maml = try MAML(model: model, innerLR: 0.5, innerSteps: 3, loss: .crossEntropy)
        var changed = false
        for task in try tasks(5, seed: 2) {
            let adapted = try maml.adapt(params, x: task.supportX, y: task.supportY)
            let logits = try model(adapted.map { Variable($0) }, Variable(task.queryX)).value
            let expected = try argmax(logits: logits)
            XCTAssertEqual(try maml.predict(params, supportX: task.supportX, supportY: task.supportY, queryX: task.queryX), expected)
            // steps: 0 is the unadapted model.
            let before = try argmax(logits: try model(params.map { Variable($0) }, Variable(task.queryX)).value)
            XCTAssertEqual(try maml.predict(params, supportX: task.supportX, supportY: task.supportY, queryX: task.queryX, steps: 0), before)
            changed = changed || before != expected
        }
        XCTAssertTrue(changed, "adaptation never changed a prediction: the test cannot tell adapt from no adapt")
    }

    func testEpisodeEvaluationAgreesWithPredictForMAMLAndMetaSGD() throws {
        let model = try MLP(sizes: [4, 8, 3])
        var rng = RNG(seed: 3)
        let learners: [any MetaLearner] = [
            try MAML(model: model, innerLR: 0.5, innerSteps: 2, loss: .crossEntropy),
            try MetaSGD(model: model, initialLR: 0.5, innerSteps: 2, loss: .crossEntropy),
            try ANIL(model: model, innerLR: 0.5, innerSteps: 2, loss: .crossEntropy),
        ]
        let episodes = try tasks(8, seed: 4)
        for learner in learners {
            let params = try learner.initialMetaParameters(rng: &rng)
            let e = try learner.evaluateEpisodes(params, tasks: episodes)
            XCTAssertEqual(e.accuracies.count, 8)
            for (k, task) in episodes.enumerated() {
                let predicted = try learner.predict(params, supportX: task.supportX, supportY: task.supportY, queryX: task.queryX)
                let labels = task.queryY.scalars.map { Int($0) }
                XCTAssertEqual(e.accuracies[k], try accuracy(predicted: predicted, labels: labels))
                XCTAssertEqual(e.macroF1s[k], try macroF1(predicted: predicted, labels: labels, classes: 3))
            }
            // The loss is the post-adaptation query cross-entropy, as the generic evaluate reports it.
            let curve = try learner.evaluate(params, tasks: episodes)
            for (a, b) in zip(e.losses, curve.finalLosses) { XCTAssertEqual(a, b, accuracy: 1e-5) }
            for (a, b) in zip(e.accuracies, curve.finalAccuracies!) { XCTAssertEqual(a, b) }
            XCTAssertEqual(e.accuracy, try summarize(e.accuracies))
        }
    }

    func testPredictNeedsAClassifier() throws {
        let model = try MLP(sizes: [4, 8, 3])
        var rng = RNG(seed: 5)
        let params = try model.initialParameters(rng: &rng)
        let task = try tasks(1, seed: 6)[0]
        let regression = try MAML(model: model, loss: .mse)
        XCTAssertThrowsError(try regression.predict(params, supportX: task.supportX, supportY: task.supportY, queryX: task.queryX)) { error in
            XCTAssertTrue("\(error)".contains("cross_entropy"), "\(error)")
        }
        let maml = try MAML(model: model, loss: .crossEntropy)
        XCTAssertThrowsError(try maml.evaluateEpisodes(params, tasks: []))
        // A query label outside the model's classes.
        let bad = try Task(supportX: task.supportX, supportY: task.supportY, queryX: task.queryX,
                           queryY: try Tensor.full(task.queryY.shape, 3))
        XCTAssertThrowsError(try maml.evaluateEpisodes(params, tasks: [bad]))
    }
}

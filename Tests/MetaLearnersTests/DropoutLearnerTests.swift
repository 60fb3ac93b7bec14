import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData
import MetaLearners
import _TestSupport

/// Meta-learners on models with dropout: each task of a meta-batch draws its
/// masks from its own stream, derived from the step's seed; adaptation and
/// evaluation run in inference.
final class DropoutLearnerTests: XCTestCase {
    let net = Sequential([try! Linear(inputs: 1, outputs: 24), Activation.relu, try! Dropout(p: 0.3),
                          try! Linear(inputs: 24, outputs: 1)])

    func testMetaGradientDependsOnTheSeedOnlyWithDropout() throws {
        var rng = RNG(seed: 4)
        let tasks = try Sinusoid(shots: 5, queries: 5).sample(3, rng: &rng)
        let maml = try MAML(model: net, innerLR: 0.05, innerSteps: 2)
        let theta = try maml.initialMetaParameters(rng: &rng)
        let a = try maml.metaLossAndGrad(theta, tasks: tasks, seed: 1)
        let again = try maml.metaLossAndGrad(theta, tasks: tasks, seed: 1)
        let other = try maml.metaLossAndGrad(theta, tasks: tasks, seed: 2)
        XCTAssertEqual(a.loss, again.loss)
        XCTAssertEqual(a.grads.map(\.scalars), again.grads.map(\.scalars))
        XCTAssertNotEqual(a.loss, other.loss)
        // Each task's mask comes from (seed, position): one task alone at position 0
        // gets the first task's stream.
        let first = try maml.metaLossAndGrad(theta, tasks: [tasks[0]], seed: 1)
        let swapped = try maml.metaLossAndGrad(theta, tasks: [tasks[0], tasks[1]], seed: 1)
        XCTAssertNotEqual(first.loss, swapped.loss)
        // The same layers without dropout ignore the seed.
        let plain = try MAML(model: Sequential([try Linear(inputs: 1, outputs: 24), Activation.relu, try Linear(inputs: 24, outputs: 1)]),
                             innerLR: 0.05, innerSteps: 2)
        XCTAssertEqual(try plain.metaLossAndGrad(theta, tasks: tasks, seed: 1).loss,
                       try plain.metaLossAndGrad(theta, tasks: tasks, seed: 2).loss)
        // Adaptation runs in inference: deterministic and dropout-free, as the plain net.
        XCTAssertEqual(try maml.adapt(theta, x: tasks[0].supportX, y: tasks[0].supportY).map(\.scalars),
                       try plain.adapt(theta, x: tasks[0].supportX, y: tasks[0].supportY).map(\.scalars))
    }

    /// Second-order MAML through dropout: for a fixed seed the meta-loss is a
    /// smooth function of θ, and its gradient matches central differences.
    func testSecondOrderMetaGradientThroughDropoutMatchesFiniteDifferences() throws {
        var rng = RNG(seed: 9)
        let tasks = try Sinusoid(shots: 4, queries: 4).sample(2, rng: &rng)
        let maml = try MAML(model: net, innerLR: 0.1, innerSteps: 2)
        let theta = try maml.initialMetaParameters(rng: &rng)
        let (_, grads) = try maml.metaLossAndGrad(theta, tasks: tasks, seed: 3)
        var probe = TestRandom(seed: 5)
        let direction = theta.map { probe.tensor($0.shape) }
        let eps: Float = 1e-3
        func loss(_ s: Float) throws -> Double {
            let moved = try zip(theta, direction).map { try $0.zip($1.affine(scale: s, shift: 0), .add) }
            return Double(try maml.metaLossAndGrad(moved, tasks: tasks, seed: 3).loss)
        }
        let numeric = (try loss(eps) - loss(-eps)) / Double(2 * eps)
        let analytic = zip(grads, direction).reduce(0.0) { acc, gd in
            acc + zip(gd.0.scalars, gd.1.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        assertClose(analytic, numeric, rtol: 2e-2, atol: 1e-3)
        // And it differs from first order (the exact Hessian terms are there).
        let fo = try MAML(model: net, innerLR: 0.1, innerSteps: 2, firstOrder: true).metaLossAndGrad(theta, tasks: tasks, seed: 3)
        XCTAssertNotEqual(fo.grads[0].scalars, grads[0].scalars)
    }

    /// A trainer of a model with dropout draws a seed per step from its own
    /// generator: reproducible from the trainer's seed.
    func testTrainerWithDropoutIsReproducible() throws {
        func run(seed: UInt64) throws -> [Float] {
            var rng = RNG(seed: 1)
            let maml = try MAML(model: net, innerLR: 0.05, innerSteps: 1)
            var trainer = try MetaTrainer(learner: maml, metaParameters: try maml.initialMetaParameters(rng: &rng),
                                          optimizer: .adam(learningRate: 0.01), metaBatchSize: 2, seed: seed)
            let sinusoids = try Sinusoid(shots: 5, queries: 5)
            return try (0..<3).map { _ in try trainer.step(sinusoids) } + trainer.metaParameters[0].scalars
        }
        XCTAssertEqual(try run(seed: 3), try run(seed: 3))
        XCTAssertNotEqual(try run(seed: 3), try run(seed: 4))
    }
}

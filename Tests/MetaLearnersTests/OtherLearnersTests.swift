import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData
import MetaLearners
import _TestSupport

final class OtherLearnersTests: XCTestCase {
    func testMetaSGDWithUniformRatesEqualsMAMLAndLearnsItsRates() throws {
        let model = try MLP(sizes: [1, 16, 1])
        var rng = RNG(seed: 2)
        let tasks = try Sinusoid(shots: 5, queries: 5).sample(3, rng: &rng)
        let msgd = try MetaSGD(model: model, initialLR: 0.05, innerSteps: 2)
        let meta = try msgd.initialMetaParameters(rng: &rng)
        XCTAssertEqual(msgd.metaParameterSpecs.count, 2 * model.parameterCount)
        let theta = Array(meta[0..<model.parameterCount])
        let maml = try MAML(model: model, innerLR: 0.05, innerSteps: 2)
        let a = try msgd.metaLossAndGrad(meta, tasks: tasks), b = try maml.metaLossAndGrad(theta, tasks: tasks)
        XCTAssertEqual(a.loss, b.loss, accuracy: 1e-6)
        for (g, h) in zip(a.grads[0..<model.parameterCount], b.grads) { assertClose(g, h, rtol: 1e-4, atol: 1e-6) }
        for (g, spec) in zip(a.grads[model.parameterCount...], msgd.metaParameterSpecs[model.parameterCount...]) {
            XCTAssertGreaterThan(g.scalars.map { Swift.abs($0) }.max()!, 0, "\(spec.name) got no meta-gradient")
        }
        // The rates' gradient against finite differences of the meta-loss.
        let k = model.parameterCount
        let eps: Float = 1e-2
        let bumped = try meta.enumerated().map { i, t in i == k ? try t.affine(scale: 1, shift: eps) : t }
        let dropped = try meta.enumerated().map { i, t in i == k ? try t.affine(scale: 1, shift: -eps) : t }
        let numeric = Double(try msgd.metaLossAndGrad(bumped, tasks: tasks).loss - msgd.metaLossAndGrad(dropped, tasks: tasks).loss) / Double(2 * eps)
        assertClose(Double(a.grads[k].scalars.reduce(0, +)), numeric, rtol: 2e-2, atol: 1e-4)
    }

    func testANILAdaptsOnlyTheHeadButMetaLearnsTheBody() throws {
        let model = try MLP(sizes: [1, 16, 16, 1])
        var rng = RNG(seed: 6)
        let params = try model.initialParameters(rng: &rng)
        let task = try Sinusoid(shots: 8, queries: 8).sample(rng: &rng)
        let anil = try ANIL(model: model, innerLR: 0.05, innerSteps: 3)
        let adapted = try anil.adapt(params, x: task.supportX, y: task.supportY)
        for i in 0..<4 { XCTAssertEqual(adapted[i].scalars, params[i].scalars, "body parameter \(i) changed") }
        for i in 4..<6 { XCTAssertNotEqual(adapted[i].scalars, params[i].scalars, "head parameter \(i) did not adapt") }
        let (_, grads) = try anil.metaLossAndGrad(params, tasks: [task])
        for (g, spec) in zip(grads, model.parameterSpecs) {
            XCTAssertGreaterThan(g.scalars.map { Swift.abs($0) }.max()!, 0, "\(spec.name) got no meta-gradient")
        }
    }

    func testReptileDirectionIsTheMeanDisplacementOfHandWrittenSGD() throws {
        var trng = TestRandom(seed: 12)
        let model = try Linear(inputs: 2, outputs: 1)
        var rng = RNG(seed: 3)
        let params = try model.initialParameters(rng: &rng)
        let tasks = try (0..<3).map { _ in try linearTask(&trng, d: 2) }
        let reptile = try Reptile(model: model, innerLR: 0.1, innerSteps: 4)
        let (_, direction) = try reptile.metaLossAndGrad(params, tasks: tasks)
        let w0 = (params[0].scalars + params[1].scalars).map(Double.init)
        let ref = LinearReference(alpha: 0.1)
        let adapted = tasks.map { ref.metaGradient($0, w: w0, steps: 4).3 }
        let expected = (0..<3).map { j in w0[j] - adapted.map { $0[j] }.reduce(0, +) / 3 }
        for (a, b) in zip((direction[0].scalars + direction[1].scalars).map(Double.init), expected) {
            assertClose(a, b, rtol: 1e-4, atol: 1e-6)
        }
    }

    func testEvaluationCurveStartsAtUnadaptedLossAndFalls() throws {
        let model = try MLP(sizes: [1, 16, 1])
        var rng = RNG(seed: 10)
        let params = try model.initialParameters(rng: &rng)
        let tasks = try Sinusoid(shots: 10, queries: 20).sample(5, rng: &rng)
        let maml = try MAML(model: model, innerLR: 0.01, innerSteps: 1)
        let curve = try maml.evaluate(params, tasks: tasks, steps: 5)
        XCTAssertEqual(curve.loss.count, 6)
        XCTAssertNil(curve.accuracy)
        let unadapted = try tasks.map { t in try TaskLoss.mse(try model(params.map { Variable($0) }, Variable(t.queryX)), t.queryY).item() }
        XCTAssertEqual(curve.loss[0], unadapted.reduce(0, +) / 5, accuracy: 1e-5)
        XCTAssertLessThan(curve.loss[5], curve.loss[0])
    }

    /// MLP runs a meta-batch as stacked tasks (chunks of at most 16, so 25
    /// tasks make two chunks); the same network inside a Sequential runs task
    /// by task. Both must give the same meta-loss and meta-gradient.
    func testBatchedAndPerTaskPathsAgree() throws {
        let mlp = try MLP(sizes: [1, 12, 12, 1], activation: .tanh)
        let wrapped = Sequential([mlp])
        XCTAssertFalse(wrapped is any TaskBatchedModel)
        var rng = RNG(seed: 21)
        let tasks = try Sinusoid(shots: 5, queries: 7).sample(25, rng: &rng)
        let theta = try mlp.initialParameters(rng: &rng)
        let pairs: [(any MetaLearner, any MetaLearner)] = [
            (try MAML(model: mlp, innerLR: 0.05, innerSteps: 2), try MAML(model: wrapped, innerLR: 0.05, innerSteps: 2)),
            (try MAML(model: mlp, innerLR: 0.05, innerSteps: 2, firstOrder: true),
             try MAML(model: wrapped, innerLR: 0.05, innerSteps: 2, firstOrder: true)),
            (try MetaSGD(model: mlp, initialLR: 0.05, innerSteps: 2), try MetaSGD(model: wrapped, initialLR: 0.05, innerSteps: 2)),
            (try ANIL(model: mlp, innerLR: 0.05, innerSteps: 2), try ANIL(model: wrapped, innerLR: 0.05, innerSteps: 2)),
            (try Reptile(model: mlp, innerLR: 0.05, innerSteps: 3), try Reptile(model: wrapped, innerLR: 0.05, innerSteps: 3)),
        ]
        for (batched, perTask) in pairs {
            var r = RNG(seed: 1)
            let meta = theta + (try batched.initialMetaParameters(rng: &r)).dropFirst(theta.count)
            let a = try batched.metaLossAndGrad(meta, tasks: tasks)
            let b = try perTask.metaLossAndGrad(meta, tasks: tasks)
            XCTAssertEqual(a.loss, b.loss, accuracy: 1e-5 * Swift.max(1, Swift.abs(b.loss)), "\(type(of: batched))")
            for (g, h) in zip(a.grads, b.grads) { assertClose(g, h, rtol: 1e-3, atol: 1e-5, "\(type(of: batched))") }
        }
    }
}

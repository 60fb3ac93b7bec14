import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData
@testable import MetaLearners
import _TestSupport

/// ALFA: with the generator's output held at one and α, β at their starting
/// values it is MAML with weight decay; its meta-gradient, through the
/// generator, α and β, matches finite differences.
final class ALFATests: XCTestCase {
    func tasks(_ count: Int, seed: UInt64) throws -> [Task] {
        var r = TestRandom(seed: seed)
        return try (0..<count).map { _ in
            try Task(supportX: r.tensor([6, 2]), supportY: r.tensor([6, 1]), queryX: r.tensor([5, 2]), queryY: r.tensor([5, 1]))
        }
    }

    /// Meta-parameters whose generator outputs o = 0 (a = 2σ(0) = 1, b = 1) for any state.
    func heldAtOne(_ alfa: ALFA, seed: UInt64 = 1) throws -> [Tensor] {
        var rng = RNG(seed: seed)
        var p = try alfa.initialMetaParameters(rng: &rng)
        let n = alfa.model.parameterCount, w = 2 * n
        p[n + 2] = try Tensor.zeros([w, w]); p[n + 3] = try Tensor.zeros([w])
        p[n + 4] = try Tensor.zeros([w, w]); p[n + 5] = try Tensor.zeros([w])
        return p
    }

    func testWithItsRatesHeldItIsMAMLWithWeightDecay() throws {
        let model = try MLP(sizes: [2, 5, 1], activation: .tanh)
        let (lr, wd): (Float, Float) = (0.05, 0.01)
        let alfa = try ALFA(model: model, innerLR: lr, weightDecay: wd, innerSteps: 3)
        let meta = try heldAtOne(alfa)
        let n = model.parameterCount
        let batch = try tasks(3, seed: 5)
        let (loss, grads) = try alfa.metaLossAndGrad(meta, tasks: batch)
        // MAML with weight decay, written out: θ ← (1 − α wd) θ − α g, three steps, exact second order.
        var sum: Float = 0
        var sums: [Tensor]?
        for t in batch {
            let (v, g) = try Autodiff.valueAndGrad(at: meta[0..<n].map { Variable($0) }) { theta in
                var p = theta
                for _ in 0..<3 {
                    let g = try Autodiff.grad(at: p, createGraph: true) { try alfa.loss(try model($0, Variable(t.supportX)), t.supportY) }
                    p = try zip(p, g).map { try $0 * (1 - lr * wd) - $1 * lr }
                }
                return try alfa.loss(try model(p, Variable(t.queryX)), t.queryY)
            }
            sum += try v.item()
            sums = try sums.map { try zip($0, g).map { try $0.zip($1.value, .add) } } ?? g.map(\.value)
        }
        XCTAssertEqual(loss, sum / 3, accuracy: 1e-6)
        for (a, b) in zip(grads[0..<n], sums!) {
            assertClose(a, try b.affine(scale: 1 / 3, shift: 0), rtol: 1e-4, atol: 1e-6)
        }
        // α and β get gradients too, and the generator (its last bias drives a and b).
        XCTAssertGreaterThan(grads[n].scalars.map(abs).max()!, 0)
        XCTAssertGreaterThan(grads[n + 5].scalars.map(abs).max()!, 0)
        // Adaptation is the same rule: the parameters after 3 steps of the reference.
        let t = batch[0]
        var p = meta[0..<n].map { Variable($0) }
        for _ in 0..<3 {
            let g = try Autodiff.grad(at: p) { try alfa.loss(try model($0, Variable(t.supportX)), t.supportY) }
            p = try zip(p, g).map { try $0 * (1 - lr * wd) - $1 * lr }
        }
        for (a, b) in zip(try alfa.adapt(meta, x: t.supportX, y: t.supportY), p) { assertClose(a, b.value, rtol: 1e-5, atol: 1e-6) }
    }

    func testTheMetaGradientThroughTheGeneratorMatchesFiniteDifferences() throws {
        let model = try MLP(sizes: [2, 4, 1], activation: .tanh)
        let alfa = try ALFA(model: model, innerLR: 0.05, weightDecay: 0.1, innerSteps: 2)
        var rng = RNG(seed: 3)
        // Move α and β off their constant start so every entry matters differently.
        var meta = try alfa.initialMetaParameters(rng: &rng)
        let n = model.parameterCount
        var r = TestRandom(seed: 8)
        meta[n] = try meta[n].zip(r.tensor(meta[n].shape, 0, 0.05), .add)
        meta[n + 1] = try meta[n + 1].zip(r.tensor(meta[n + 1].shape, 0, 0.05), .add)
        try DirectionalDifferences(meta: meta, tasks: try tasks(2, seed: 9)).check(alfa, seeds: 50..<53)
    }

    func testAdaptationCurvesAndStepsPastTheTrainedOnes() throws {
        let model = try MLP(sizes: [2, 4, 1], activation: .tanh)
        let alfa = try ALFA(model: model, innerSteps: 2)
        var rng = RNG(seed: 0)
        let meta = try alfa.initialMetaParameters(rng: &rng)
        XCTAssertEqual(alfa.metaParameterSpecs.map(\.shape), meta.map(\.shape))
        XCTAssertEqual(alfa.metaParameterSpecs.suffix(6).map(\.name), ["alfa.alpha", "alfa.beta", "alfa.W1", "alfa.b1", "alfa.W2", "alfa.b2"])
        let t = try tasks(1, seed: 2)[0]
        let curve = try alfa.adaptSteps(meta, x: t.supportX, y: t.supportY, steps: 4)  // 2 past the trained steps
        XCTAssertEqual(curve.count, 4)
        XCTAssertEqual(curve[1].map(\.scalars), try alfa.adapt(meta, x: t.supportX, y: t.supportY).map(\.scalars))
        XCTAssertNotEqual(curve[3].map(\.scalars), curve[2].map(\.scalars))
        XCTAssertThrowsError(try ALFA(model: model, innerSteps: 0))
        XCTAssertThrowsError(try ALFA(model: model, weightDecay: -1))
    }
}

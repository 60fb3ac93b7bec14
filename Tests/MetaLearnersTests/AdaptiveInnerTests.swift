import XCTest
import Foundation
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData
@testable import MetaLearners
import _TestSupport

/// MAML with an adaptive inner optimizer (AdaGrad, RMSprop, Adam): the inner
/// steps are the optimizer's (checked against a hand-written reference), its
/// state starts fresh for every task and carries across the steps of one,
/// and the meta-gradient, exact through that state, matches finite
/// differences.
final class AdaptiveInnerTests: XCTestCase {
    let optimizers: [InnerOptimizer] = [.adagrad(eps: 1e-10), .rmsprop(alpha: 0.99, eps: 1e-8),
                                        .adam(beta1: 0.9, beta2: 0.999, eps: 1e-8)]

    func task(seed: UInt64) throws -> Task {
        var r = TestRandom(seed: seed)
        return try Task(supportX: r.tensor([6, 2]), supportY: r.tensor([6, 1]), queryX: r.tensor([5, 2]),
                        queryY: r.tensor([5, 1]))
    }

    func start(_ model: any Model, seed: UInt64 = 1) throws -> [Tensor] {
        var rng = RNG(seed: seed)
        return try model.initialParameters(rng: &rng)
    }

    /// The optimizer's steps written out on plain floats.
    func reference(_ optimizer: InnerOptimizer, lr: Float, params: [Tensor], grad: ([Tensor]) throws -> [Tensor],
                   steps: Int) throws -> [[Float]] {
        var p = params.map(\.scalars)
        var s1 = p.map { $0.map { _ in Float(0) } }, s2 = s1
        for t in 1...steps {
            let g = try grad(try zip(p, params).map { try Tensor(shape: $0.1.shape, scalars: $0.0) }).map(\.scalars)
            for i in p.indices {
                for j in p[i].indices {
                    let gj = g[i][j]
                    switch optimizer {
                    case .adagrad(let eps):
                        s1[i][j] += gj * gj
                        p[i][j] -= lr * gj / (max(s1[i][j], 1e-30).squareRoot() + eps)
                    case .rmsprop(let alpha, let eps):
                        s1[i][j] = alpha * s1[i][j] + (1 - alpha) * gj * gj
                        p[i][j] -= lr * gj / (max(s1[i][j], 1e-30).squareRoot() + eps)
                    case .adam(let b1, let b2, let eps):
                        s1[i][j] = b1 * s1[i][j] + (1 - b1) * gj
                        s2[i][j] = b2 * s2[i][j] + (1 - b2) * gj * gj
                        let c1 = Float(1 - Foundation.pow(Double(b1), Double(t)))
                        let c2 = Float(1 - Foundation.pow(Double(b2), Double(t)))
                        p[i][j] -= (s1[i][j] * (lr / c1)) / (max(s2[i][j] * (1 / c2), 1e-30).squareRoot() + eps)
                    case .sgd:
                        p[i][j] -= lr * gj
                    }
                }
            }
        }
        return p
    }

    func testInnerStepsAreTheOptimizersAndItsStateCarriesAcrossSteps() throws {
        let model = try MLP(sizes: [2, 5, 1], activation: .tanh)
        let params = try start(model)
        let t = try task(seed: 3)
        for optimizer in optimizers {
            let maml = try MAML(model: model, innerLR: 0.05, innerSteps: 3, innerOptimizer: optimizer)
            let adapted = try maml.adapt(params, x: t.supportX, y: t.supportY, steps: 3)
            let expected = try reference(optimizer, lr: 0.05, params: params, grad: { p in
                try Autodiff.grad(at: p.map { Variable($0) }) { try maml.loss(try model($0, Variable(t.supportX)), t.supportY) }
                    .map(\.value)
            }, steps: 3)
            for (a, e) in zip(adapted, expected) {
                for (x, y) in zip(a.scalars, e) { XCTAssertEqual(x, y, accuracy: 2e-6 * max(1, abs(y)), "\(optimizer)") }
            }
            // The curve's steps continue one state: its last is adapt's, and
            // restarting the optimizer every step (its first step, three
            // times) goes elsewhere.
            let curve = try maml.adaptSteps(params, x: t.supportX, y: t.supportY, steps: 3)
            XCTAssertEqual(curve.count, 3)
            XCTAssertEqual(curve.last!.map(\.scalars), adapted.map(\.scalars))
            var restarted = params
            for _ in 0..<3 { restarted = try maml.adapt(restarted, x: t.supportX, y: t.supportY, steps: 1) }
            XCTAssertNotEqual(restarted.map(\.scalars), adapted.map(\.scalars), "\(optimizer)")
        }
    }

    /// A meta-batch (run batched: an MLP) gives the mean of its tasks run
    /// alone: each task starts the optimizer's state afresh.
    func testEveryTaskStartsAFreshState() throws {
        let model = try MLP(sizes: [2, 4, 1], activation: .tanh)
        let params = try start(model)
        let tasks = try (0..<3).map { try task(seed: 10 + $0) }
        for optimizer in optimizers {
            let maml = try MAML(model: model, innerLR: 0.05, innerSteps: 2, innerOptimizer: optimizer)
            let together = try maml.metaLossAndGrad(params, tasks: tasks)
            // The mean of each task alone: a state leaking from one task to
            // the next would make them differ.
            var loss: Float = 0
            var sums = params.map { _ in [Float]() }
            for t in tasks {
                let one = try maml.metaLossAndGrad(params, tasks: [t])
                loss += one.loss / 3
                for (i, g) in one.grads.enumerated() {
                    sums[i] = sums[i].isEmpty ? g.scalars.map { $0 / 3 } : zip(sums[i], g.scalars).map { $0 + $1 / 3 }
                }
            }
            XCTAssertEqual(together.loss, loss, accuracy: 1e-5)
            for (g, s) in zip(together.grads, sums) {
                for (a, b) in zip(g.scalars, s) { XCTAssertEqual(a, b, accuracy: 1e-5, "\(optimizer)") }
            }
        }
    }

    /// The exact meta-gradient through the optimizer's state against central
    /// differences of the meta-loss along random directions; the first-order
    /// one (the state and steps built from constant gradients) does not match.
    func testSecondOrderMetaGradientThroughTheStateMatchesFiniteDifferences() throws {
        let model = try MLP(sizes: [2, 6, 1], activation: .tanh)
        let params = try start(model, seed: 4)
        let tasks = try (0..<2).map { try task(seed: 20 + $0) }
        for optimizer in optimizers {
            let maml = try MAML(model: model, innerLR: 0.02, innerSteps: 2, innerOptimizer: optimizer)
            let fomaml = try MAML(model: model, innerLR: 0.02, innerSteps: 2, firstOrder: true, innerOptimizer: optimizer)
            let differences = DirectionalDifferences(meta: params, tasks: tasks)
            try differences.check(maml, seeds: 100..<103)
            let firstOrder = try fomaml.metaLossAndGrad(params, tasks: tasks).grads
            let firstOrderErrors = try (100..<103 as Range<UInt64>).map { seed -> Double in
                let (dir, slope) = try differences.numeric(maml, seed: seed)
                return abs(DirectionalDifferences.along(firstOrder, dir) - slope) / abs(slope)
            }
            XCTAssertGreaterThan(firstOrderErrors.max()!, 5e-2, "first order must differ from the exact gradient (\(optimizer))")
        }
    }

    func testTheOptimizersAreNamedAndCheckedAndPlainSGDIsUnchanged() throws {
        XCTAssertEqual(try InnerOptimizer(named: "adam"), .adam(beta1: 0.9, beta2: 0.999, eps: 1e-8))
        XCTAssertThrowsError(try InnerOptimizer(named: "lbfgs")) { error in
            XCTAssertTrue("\(error)".contains("inner_optimizer"), "\(error)")
        }
        XCTAssertThrowsError(try MAML(model: try MLP(sizes: [1, 1]), innerOptimizer: .rmsprop(alpha: 1.5, eps: 1e-8)))
        let model = try MLP(sizes: [2, 3, 1], activation: .tanh)
        let params = try start(model)
        let tasks = try (0..<2).map { try task(seed: 30 + $0) }
        let a = try MAML(model: model, innerLR: 0.1, innerSteps: 2).metaLossAndGrad(params, tasks: tasks)
        let b = try MAML(model: model, innerLR: 0.1, innerSteps: 2, innerOptimizer: .sgd).metaLossAndGrad(params, tasks: tasks)
        XCTAssertEqual(a.grads.map(\.scalars), b.grads.map(\.scalars))
    }
}

import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData
import MetaLearners
import _TestSupport

final class MAMLTests: XCTestCase {
    /// Meta-parameters of Linear(d, 1) as the reference's augmented vector [W; b].
    func flatten(_ p: [Tensor]) -> [Double] { (p[0].scalars + p[1].scalars).map(Double.init) }

    func testSecondAndFirstOrderMatchClosedFormOnLinearRegression() throws {
        var trng = TestRandom(seed: 5)
        let d = 3
        let model = try Linear(inputs: d, outputs: 1)
        var rng = RNG(seed: 1)
        let params = try model.initialParameters(rng: &rng)
        let tasks = try (0..<4).map { _ in try linearTask(&trng, d: d) }
        for steps in [1, 3] {
            let ref = LinearReference(alpha: 0.1)
            let results = tasks.map { ref.metaGradient($0, w: flatten(params), steps: steps) }
            let meanLoss = results.map(\.0).reduce(0, +) / Double(tasks.count)
            let exact = (0...d).map { j in results.map { $0.1[j] }.reduce(0, +) / Double(tasks.count) }
            let first = (0...d).map { j in results.map { $0.2[j] }.reduce(0, +) / Double(tasks.count) }

            let maml = try MAML(model: model, innerLR: 0.1, innerSteps: steps)
            let (loss, grads) = try maml.metaLossAndGrad(params, tasks: tasks)
            assertClose(Double(loss), meanLoss, rtol: 1e-4)
            for (a, b) in zip(flatten(grads), exact) { assertClose(a, b, rtol: 1e-4, atol: 1e-5, "second order, \(steps) steps") }

            let fomaml = try MAML(model: model, innerLR: 0.1, innerSteps: steps, firstOrder: true)
            let (_, fgrads) = try fomaml.metaLossAndGrad(params, tasks: tasks)
            for (a, b) in zip(flatten(fgrads), first) { assertClose(a, b, rtol: 1e-4, atol: 1e-5, "first order, \(steps) steps") }
            // The two must differ: otherwise the test could not tell them apart.
            XCTAssertGreaterThan(zip(exact, first).map { Swift.abs($0 - $1) }.max()!, 1e-3)
        }
    }

    /// ⟨meta-gradient, d⟩ and central differences of the meta-loss along d,
    /// for each step size in `steps`.
    func directionalCheck(_ maml: MAML, _ params: [Tensor], _ tasks: [Task], eps: [Float]) throws -> (Double, [Double]) {
        let (_, grads) = try maml.metaLossAndGrad(params, tasks: tasks)
        var trng = TestRandom(seed: 9)
        let dir = params.map { trng.tensor($0.shape) }
        let analytic = zip(grads, dir).reduce(0.0) { acc, p in
            acc + zip(p.0.scalars, p.1.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        let numeric = try eps.map { e -> Double in
            func shifted(_ s: Float) throws -> [Tensor] { try zip(params, dir).map { try $0.zip($1.affine(scale: s, shift: 0), .add) } }
            let lp = try maml.metaLossAndGrad(shifted(e), tasks: tasks).loss
            let lm = try maml.metaLossAndGrad(shifted(-e), tasks: tasks).loss
            return Double(lp - lm) / Double(2 * e)
        }
        return (analytic, numeric)
    }

    func testMetaGradientOfSmoothMLPMatchesFiniteDifferences() throws {
        let model = try MLP(sizes: [1, 40, 40, 1], activation: .tanh)
        var rng = RNG(seed: 3)
        let params = try model.initialParameters(rng: &rng)
        let tasks = try Sinusoid(shots: 10, queries: 10).sample(4, rng: &rng)
        for steps in [1, 3] {
            let (analytic, numeric) = try directionalCheck(try MAML(model: model, innerLR: 0.01, innerSteps: steps), params, tasks, eps: [1e-3])
            assertClose(analytic, numeric[0], rtol: 2e-3, atol: 1e-4, "\(steps) inner steps")
            // The first-order gradient is measurably different, so this check tells them apart.
            let fomaml = try MAML(model: model, innerLR: 0.01, innerSteps: steps, firstOrder: true)
            let (fo, _) = try directionalCheck(fomaml, params, tasks, eps: [])
            XCTAssertGreaterThan(Swift.abs(fo - analytic) / Swift.abs(analytic), 1e-2, "\(steps) inner steps")
        }
    }

    /// The paper's ReLU network (at α = 0.01 its second-order term is small,
    /// so exactness is proven by the tanh and closed-form tests above). Its meta-loss is only piecewise smooth: a step
    /// that moves a pre-activation across zero spoils a central difference, and
    /// a very small step drowns in Float32 rounding. So several step sizes are
    /// tried and one of them must agree to 1e-2; a wrong gradient (a flipped
    /// sign, a missing second-order term) disagrees at every step size.
    func testMetaGradientOfReLUMLPMatchesFiniteDifferences() throws {
        let model = try MLP(sizes: [1, 40, 40, 1])
        var rng = RNG(seed: 3)
        let params = try model.initialParameters(rng: &rng)
        let tasks = try Sinusoid(shots: 10, queries: 10).sample(4, rng: &rng)
        for steps in [1, 2] {
            let maml = try MAML(model: model, innerLR: 0.01, innerSteps: steps)
            let (analytic, numeric) = try directionalCheck(maml, params, tasks, eps: [1e-3, 3e-4, 1e-4, 3e-5])
            let best = numeric.map { Swift.abs($0 - analytic) / Swift.abs(analytic) }.min()!
            XCTAssertLessThan(best, 1e-2, "analytic \(analytic), numeric \(numeric), \(steps) inner steps")
        }
    }

    func testAdaptationLowersSupportLossAndEveryParameterGetsAMetaGradient() throws {
        let model = try MLP(sizes: [1, 40, 40, 1])
        var rng = RNG(seed: 4)
        let params = try model.initialParameters(rng: &rng)
        let task = try Sinusoid(shots: 10, queries: 10).sample(rng: &rng)
        let maml = try MAML(model: model, innerLR: 0.01, innerSteps: 5)
        let adapted = try maml.adapt(params, x: task.supportX, y: task.supportY)
        func supportLoss(_ p: [Tensor]) throws -> Float {
            try TaskLoss.mse(try model(p.map { Variable($0) }, Variable(task.supportX)), task.supportY).item()
        }
        XCTAssertLessThan(try supportLoss(adapted), try supportLoss(params))
        let (_, grads) = try maml.metaLossAndGrad(params, tasks: [task])
        for (g, spec) in zip(grads, model.parameterSpecs) {
            XCTAssertGreaterThan(g.scalars.map { Swift.abs($0) }.max() ?? 0, 0, "\(spec.name) got no meta-gradient")
        }
    }

    func testParallelAndSerialPoolsGiveIdenticalBits() throws {
        let model = try MLP(sizes: [1, 20, 1])
        var rng = RNG(seed: 8)
        let params = try model.initialParameters(rng: &rng)
        let tasks = try Sinusoid(shots: 5, queries: 5).sample(6, rng: &rng)
        let serial = try MAML(model: model, innerSteps: 2, pool: WorkerPool(threads: 1)).metaLossAndGrad(params, tasks: tasks)
        let parallel = try MAML(model: model, innerSteps: 2, pool: WorkerPool(threads: 2)).metaLossAndGrad(params, tasks: tasks)
        XCTAssertEqual(serial.loss, parallel.loss)
        XCTAssertEqual(serial.grads.map(\.scalars), parallel.grads.map(\.scalars))
    }

    func testBadArgumentsThrow() throws {
        let model = try MLP(sizes: [1, 4, 1])
        XCTAssertThrowsError(try MAML(model: model, innerLR: .nan))
        XCTAssertThrowsError(try MAML(model: model, innerLR: -1))
        XCTAssertThrowsError(try MAML(model: model, innerSteps: -1))
        let maml = try MAML(model: model)
        var rng = RNG(seed: 0)
        let params = try model.initialParameters(rng: &rng)
        let task = try Sinusoid(shots: 3, queries: 3).sample(rng: &rng)
        XCTAssertThrowsError(try maml.metaLossAndGrad(Array(params.dropLast()), tasks: [task]))
        XCTAssertThrowsError(try maml.metaLossAndGrad(params, tasks: []))
        let wide = try Task(supportX: try Tensor.zeros([3, 2]), supportY: try Tensor.zeros([3, 1]),
                            queryX: try Tensor.zeros([3, 2]), queryY: try Tensor.zeros([3, 1]))
        XCTAssertThrowsError(try maml.metaLossAndGrad(params, tasks: [wide]))
        // Labels that are not class indices throw (no trapping Int conversion).
        let classifier = try MAML(model: try MLP(sizes: [2, 4, 3]), loss: .crossEntropy)
        let cp = try classifier.initialMetaParameters(rng: &rng)
        for bad: Float in [1e30, -1, 0.5, .nan, 3] {
            let labels = try Tensor(shape: [2], scalars: [0, bad])
            let task = try Task(supportX: try Tensor.zeros([2, 2]), supportY: labels, queryX: try Tensor.zeros([2, 2]), queryY: labels)
            XCTAssertThrowsError(try classifier.metaLossAndGrad(cp, tasks: [task]), "label \(bad)")
        }
    }
}

import XCTest
import MetaTensor
import MetaAutodiff
import MetaOptim
import _TestSupport

/// Differentiable inner steps: the outer gradient flows through them to
/// second order (MAML) and to learned per-parameter rates (Meta-SGD).
final class InnerUpdateTests: XCTestCase {
    var rng = TestRandom(seed: 21)

    /// A small nonlinear regression task: ŷ = tanh(X W + b), loss = mean((ŷ − Y)²).
    struct Task { let x: Variable; let y: Variable }

    func task() -> Task {
        Task(x: Variable(rng.tensor([5, 3])), y: Variable(rng.tensor([5, 2])))
    }

    func loss(_ p: [Variable], _ t: Task) throws -> Variable {
        let out = try (try Variable.matmul(t.x, p[0]) + p[1]).tanh()
        return try (out - t.y).square().mean()
    }

    /// One MAML step: grads of the support loss (on the tape), a step, the query loss.
    func mamlQueryLoss(_ p: [Variable], lr: Float, support: Task, query: Task, steps: Int = 1) throws -> Variable {
        var q = p
        for _ in 0..<steps {
            let g = try Autodiff.grad(at: q, createGraph: true) { try self.loss($0, support) }
            q = try sgdStep(params: q, grads: g, learningRate: lr)
        }
        return try loss(q, query)
    }

    func testMAMLStepToSecondOrder() {
        let (support, query) = (task(), task())
        let w = rng.tensor([3, 2]), b = rng.tensor([2])
        // Second order of the query loss needs third derivatives of the support loss.
        checkGradients(at: [w, b]) { p in try self.mamlQueryLoss(p, lr: 0.5, support: support, query: query) }
        checkGradients(at: [w, b], order: 1) { p in try self.mamlQueryLoss(p, lr: 0.3, support: support, query: query, steps: 2) }
    }

    /// The second-order term is really there: the exact meta-gradient differs
    /// from first-order MAML's (gradients cut off the tape), which equals the
    /// query gradient at the adapted parameters.
    func testFirstOrderDiffersFromExact() throws {
        let (support, query) = (task(), task())
        let p = [Variable(rng.tensor([3, 2])), Variable(rng.tensor([2]))]
        let exact = try Autodiff.grad(at: p) { try self.mamlQueryLoss($0, lr: 0.5, support: support, query: query) }
        let firstOrder = try Autodiff.grad(at: p) { q in
            let g = try Autodiff.grad(at: q) { try self.loss($0, support) }     // no graph: constants
            return try self.loss(try sgdStep(params: q, grads: g, learningRate: 0.5), query)
        }
        let adapted = try sgdStep(params: p, grads: try Autodiff.grad(at: p) { try self.loss($0, support) }, learningRate: 0.5)
        let atAdapted = try Autodiff.grad(at: adapted.map(\.detached)) { try self.loss($0, query) }
        for i in 0..<2 { assertClose(firstOrder[i].value, atAdapted[i].value, rtol: 1e-5, atol: 1e-7) }
        let gap = zip(exact, firstOrder).map { maxAbsDiff($0.value, $1.value) }.max() ?? 0
        XCTAssertGreaterThan(gap, 1e-4, "the Hessian term of exact MAML vanished")
    }

    /// Meta-SGD: rates of the parameter's shape (for W) and a scalar rate (for b).
    func metaSGDQueryLoss(_ v: [Variable], support: Task, query: Task) throws -> Variable {
        let p = Array(v[0..<2]), rates = Array(v[2..<4])
        let g = try Autodiff.grad(at: p, createGraph: true) { try self.loss($0, support) }
        return try loss(try sgdStep(params: p, grads: g, learningRates: rates), query)
    }

    func testMetaSGDToSecondOrder() throws {
        let (support, query) = (task(), task())
        let at = [rng.tensor([3, 2]), rng.tensor([2]), rng.tensor([3, 2], 0.1, 0.6), try Tensor(0.3)]
        checkGradients(at: at) { v in try self.metaSGDQueryLoss(v, support: support, query: query) }
    }

    /// dL_q/dα = −g_s ⊙ ∇L_q(θ'), checked per coordinate against central
    /// differences in α, and not zero.
    func testMetaGradientOfLearnedRates() throws {
        let (support, query) = (task(), task())
        let theta = [rng.tensor([3, 2]), rng.tensor([2])]
        let alpha = [rng.tensor([3, 2], 0.1, 0.6), try Tensor(shape: [1], scalars: [0.3])]
        let vars = (theta + alpha).map { Variable($0) }
        let metaGrad = try Autodiff.grad(at: vars) { try self.metaSGDQueryLoss($0, support: support, query: query) }
        for k in 0..<2 {
            let ga = metaGrad[2 + k].value
            XCTAssertEqual(ga.shape, alpha[k].shape)
            XCTAssertGreaterThan(ga.scalars.map(abs).max() ?? 0, 1e-4, "rate \(k) gets no meta-gradient")
            // Central differences, one coordinate of α at a time.
            let h: Float = 1e-2
            for i in 0..<alpha[k].count {
                func lossAt(_ d: Float) throws -> Double {
                    var a = alpha
                    var s = a[k].scalars; s[i] += d
                    a[k] = try Tensor(shape: a[k].shape, scalars: s)
                    return Double(try metaSGDQueryLoss((theta + a).map { Variable($0) }, support: support, query: query).item())
                }
                let numeric = (try lossAt(h) - lossAt(-h)) / (2 * Double(h))
                assertClose(Double(ga.scalars[i]), numeric, rtol: 2e-2, atol: 1e-4, "rate \(k), element \(i)")
            }
        }
        // Closed form for the per-coordinate rate of W.
        let gs = try Autodiff.grad(at: theta.map { Variable($0) }) { try self.loss($0, support) }
        let adapted = try sgdStep(params: theta.map { Variable($0) }, grads: gs, learningRates: alpha.map { Variable($0) })
        let gq = try Autodiff.grad(at: adapted) { try self.loss($0, query) }
        assertClose(metaGrad[2].value, try gs[0].value.zip(gq[0].value, .mul).affine(scale: -1, shift: 0), rtol: 1e-4, atol: 1e-6)
    }

    func testPerTensorRateEqualsFilledPerCoordinateRate() throws {
        let p = [Variable(rng.tensor([3, 2])), Variable(rng.tensor([2]))]
        let g = [Variable(rng.tensor([3, 2])), Variable(rng.tensor([2]))]
        let scalar = try sgdStep(params: p, grads: g, learningRates: [Variable(Float(0.25)), Variable(shape: [1], scalars: [0.25])])
        let filled = try sgdStep(params: p, grads: g, learningRates: [Variable(try Tensor.full([3, 2], 0.25)), Variable(try Tensor.full([2], 0.25))])
        let constant = try sgdStep(params: p, grads: g, learningRate: 0.25)
        for i in 0..<2 {
            XCTAssertEqual(scalar[i].scalars, filled[i].scalars)
            XCTAssertEqual(scalar[i].scalars, constant[i].scalars)
        }
    }

    func testInnerStepErrors() throws {
        let p = [Variable(rng.tensor([3, 2])), Variable(rng.tensor([2]))]
        let g = [Variable(rng.tensor([3, 2])), Variable(rng.tensor([2]))]
        assertMetaError(.invalidArgument, mentioning: "learningRate") { try sgdStep(params: p, grads: g, learningRate: .nan) }
        assertMetaError(.invalidArgument, mentioning: "learningRate") { try sgdStep(params: p, grads: g, learningRate: -1) }
        assertMetaError(.invalidArgument, mentioning: "1 tensors for 2") { try sgdStep(params: p, grads: [g[0]], learningRate: 0.1) }
        assertMetaError(.shapeMismatch, mentioning: "tensor 1") { try sgdStep(params: p, grads: [g[0], g[0]], learningRate: 0.1) }
        assertMetaError(.invalidArgument, mentioning: "learning rates") {
            try sgdStep(params: p, grads: g, learningRates: [Variable(Float(0.1))])
        }
        assertMetaError(.shapeMismatch, mentioning: "learning rate 0") {
            try sgdStep(params: p, grads: g, learningRates: [Variable(try Tensor.ones([2])), Variable(try Tensor.ones([2]))])
        }
        // One element, but of higher rank than the parameter: it would grow the result.
        assertMetaError(.shapeMismatch, mentioning: "learning rate 1") {
            try sgdStep(params: p, grads: g, learningRates: [Variable(Float(0.1)), Variable(try Tensor.ones([1, 1]))])
        }
        assertMetaError(.invalidArgument, mentioning: "beta2") { try DifferentiableAdam(beta2: 1) }
        let adam = try DifferentiableAdam()
        let s = try adam.initialize(p)
        assertMetaError(.shapeMismatch, mentioning: "tensor 0") { try adam.step(params: p, grads: [g[1], g[1]], state: s) }
        assertMetaError(.invalidArgument, mentioning: "state mu") { try adam.step(params: p, grads: g, state: try adam.initialize([p[0]])) }
    }

    func testDifferentiableAdamMatchesAdam() throws {
        let (lr, b1, b2): (Float, Float, Float) = (0.05, 0.8, 0.9)
        let support = task()
        let dAdam = try DifferentiableAdam(learningRate: lr, beta1: b1, beta2: b2)
        let adam = try GradientTransformation.adam(learningRate: lr, beta1: b1, beta2: b2)
        var p = [Variable(rng.tensor([3, 2])), Variable(rng.tensor([2]))]
        var ds = try dAdam.initialize(p)
        var q = p.map(\.value)
        var s = try adam.initialize(q)
        for step in 1...4 {
            let g = try Autodiff.grad(at: p) { try self.loss($0, support) }
            (p, ds) = try dAdam.step(params: p, grads: g, state: ds)
            let r = try adam.update(try Autodiff.grad(at: q.map { Variable($0) }) { try self.loss($0, support) }.map(\.value),
                                    state: s, params: q)
            q = try applyUpdates(q, r.updates); s = r.state
            for i in 0..<2 { assertClose(p[i].value, q[i], rtol: 1e-5, atol: 1e-6, "step \(step)") }
        }
        XCTAssertEqual(ds.count, 4)
    }

    func testDifferentiableAdamToSecondOrder() {
        let (support, query) = (task(), task())
        let adam = try! DifferentiableAdam(learningRate: 0.1, beta1: 0.5, beta2: 0.9)
        checkGradients(at: [rng.tensor([3, 2]), rng.tensor([2])]) { p in
            var q = p, s = try adam.initialize(p)
            for _ in 0..<2 {
                let g = try Autodiff.grad(at: q, createGraph: true) { try self.loss($0, support) }
                (q, s) = try adam.step(params: q, grads: g, state: s)
            }
            return try self.loss(q, query)
        }
    }

    /// A gradient coordinate that is exactly zero (v = 0) gives a finite
    /// meta-gradient, not NaN from d√v/dv = ∞.
    func testDifferentiableAdamWithZeroGradientStaysFinite() throws {
        let adam = try DifferentiableAdam(learningRate: 0.1)
        let x = Variable(try Tensor(shape: [2], scalars: [1, 0]))     // the second coordinate has zero gradient
        let meta = try Autodiff.grad(at: [x]) { p in
            let g = try Autodiff.grad(at: p, createGraph: true) { try ($0[0] * $0[0] * $0[0]).sum() }
            let (q, _) = try adam.step(params: p, grads: g, state: try adam.initialize(p))
            return try q[0].square().sum()
        }[0]
        XCTAssertTrue(meta.value.isFinite, "\(meta)")
    }
}

func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
}

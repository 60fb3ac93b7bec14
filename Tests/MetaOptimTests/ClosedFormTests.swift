import XCTest
import MetaTensor
import MetaOptim
import _TestSupport

/// Updates against values worked out by hand, and against hand-written
/// reference loops (PyTorch's formulas, in Double).
final class ClosedFormTests: XCTestCase {
    /// Three fixed gradients for one parameter of shape [2].
    let gs: [[Double]] = [[0.5, -2], [1, 0.25], [-0.3, 1]]
    let theta: [Float] = [0.1, -0.2]

    func t(_ xs: [Double], _ shape: [Int] = [2]) -> Tensor {
        try! Tensor(shape: shape, scalars: xs.map { Float($0) })
    }

    /// Feeds `grads` one per step from `theta`; returns every step's update.
    func updates(_ opt: GradientTransformation, _ grads: [[Double]]) throws -> [Tensor] {
        var params = [t(theta.map(Double.init))]
        var state = try opt.initialize(params)
        var out: [Tensor] = []
        for g in grads {
            let r = try opt.update([t(g)], state: state, params: params)
            out.append(r.updates[0])
            params = try applyUpdates(params, r.updates)
            state = r.state
        }
        return out
    }

    func testAdamFirstThreeStepsByHand() throws {
        let (lr, b1, b2, eps) = (0.01, 0.9, 0.999, 1e-8)
        let u = try updates(try .adam(learningRate: Float(lr), beta1: Float(b1), beta2: Float(b2), eps: Float(eps)), gs)
        for i in 0..<2 {
            let (g1, g2, g3) = (gs[0][i], gs[1][i], gs[2][i])
            // Step 1: m̂ = g, v̂ = g², so the step is −η g/(|g| + ε) = −η sign(g).
            let step1 = -lr * g1 / (abs(g1) + eps)
            // Step 2: moments written out, then bias-corrected by 1 − β².
            let m2 = b1 * (1 - b1) * g1 + (1 - b1) * g2
            let v2 = b2 * (1 - b2) * g1 * g1 + (1 - b2) * g2 * g2
            let step2 = -lr * (m2 / (1 - b1 * b1)) / ((v2 / (1 - b2 * b2)).squareRoot() + eps)
            // Step 3.
            let m3 = b1 * b1 * (1 - b1) * g1 + b1 * (1 - b1) * g2 + (1 - b1) * g3
            let v3 = b2 * b2 * (1 - b2) * g1 * g1 + b2 * (1 - b2) * g2 * g2 + (1 - b2) * g3 * g3
            let step3 = -lr * (m3 / (1 - b1 * b1 * b1)) / ((v3 / (1 - b2 * b2 * b2)).squareRoot() + eps)
            assertClose(Double(u[0].scalars[i]), step1, rtol: 1e-5, atol: 1e-9, "step 1, coordinate \(i)")
            assertClose(Double(u[1].scalars[i]), step2, rtol: 1e-4, atol: 1e-9, "step 2, coordinate \(i)")
            assertClose(Double(u[2].scalars[i]), step3, rtol: 1e-4, atol: 1e-9, "step 3, coordinate \(i)")
        }
        // Without bias correction step 1 would be ≈ 0.1/0.0316 ≈ 3.2× smaller than η.
        XCTAssertEqual(abs(u[0].scalars[0]), 0.01, accuracy: 1e-6)
    }

    func testAdamStateHoldsTheMoments() throws {
        let opt = try GradientTransformation.scaleByAdam(beta1: 0.5, beta2: 0.75)
        let p = [t([0, 0])]
        let s1 = try opt.update([t([2, -4])], state: try opt.initialize(p), params: p).state
        XCTAssertEqual(s1.kind, "scaleByAdam")
        XCTAssertEqual(s1.count, 1)
        XCTAssertEqual(s1.buffer("mu")?.first?.scalars, [1, -2])      // (1 − 0.5) g
        XCTAssertEqual(s1.buffer("nu")?.first?.scalars, [1, 4])       // (1 − 0.75) g²
    }

    func testAdaGradStepIsRateOverRootOfSumOfSquares() throws {
        let (lr, eps, g0) = (0.5, 1e-3, 0.25)
        let u = try updates(try .adagrad(learningRate: Float(lr), initialAccumulator: Float(g0), eps: Float(eps)), gs)
        var sumSq = [g0, g0]
        for (k, g) in gs.enumerated() {
            for i in 0..<2 {
                sumSq[i] += g[i] * g[i]
                let expected = -lr / (sumSq[i].squareRoot() + eps) * g[i]     // η₀/(√G_t + ε) · g
                assertClose(Double(u[k].scalars[i]), expected, rtol: 1e-5, atol: 1e-9, "step \(k + 1), coordinate \(i)")
            }
        }
    }

    func testRMSPropByHand() throws {
        let (lr, rho, eps, mu) = (0.01, 0.9, 1e-8, 0.5)
        for momentum in [0.0, mu] {
            let u = try updates(try .rmsprop(learningRate: Float(lr), decay: Float(rho), eps: Float(eps), momentum: Float(momentum)), gs)
            var v = [0.0, 0.0], b = [0.0, 0.0]
            for (k, g) in gs.enumerated() {
                for i in 0..<2 {
                    v[i] = rho * v[i] + (1 - rho) * g[i] * g[i]
                    b[i] = momentum * b[i] + g[i] / (v[i].squareRoot() + eps)
                    assertClose(Double(u[k].scalars[i]), -lr * b[i], rtol: 1e-5, atol: 1e-9, "momentum \(momentum), step \(k + 1)")
                }
            }
        }
    }

    /// PyTorch's SGD loop (dampening 0), written out on the bowl with its
    /// analytic gradient a ⊙ x, against the optimizer driven by the tape.
    func testSGDMomentumAndNesterovAgainstReferenceLoop() throws {
        let a: [[Double]] = [[1, 2, 10], [3, 1, 5, 8]]
        let (lr, mu, steps) = (0.02, 0.9, 25)
        for nesterov in [false, true] {
            var x = bowl.start.map { $0.scalars.map(Double.init) }
            var buf = x.map { [Double](repeating: 0, count: $0.count) }
            for _ in 0..<steps {
                for k in 0..<x.count {
                    for i in 0..<x[k].count {
                        let g = a[k][i] * x[k][i]
                        buf[k][i] = mu * buf[k][i] + g
                        let d = nesterov ? g + mu * buf[k][i] : buf[k][i]
                        x[k][i] -= lr * d
                    }
                }
            }
            let got = try minimize(try .sgd(learningRate: Float(lr), momentum: Float(mu), nesterov: nesterov), bowl, steps: steps)
            for k in 0..<x.count {
                for i in 0..<x[k].count {
                    assertClose(Double(got[k].scalars[i]), x[k][i], rtol: 1e-4, atol: 1e-6, "nesterov \(nesterov), tensor \(k), element \(i)")
                }
            }
        }
        // And the two differ, so the comparison above can tell them apart.
        let plain = try minimize(try .sgd(learningRate: 0.02, momentum: 0.9), bowl, steps: 5)
        let nest = try minimize(try .sgd(learningRate: 0.02, momentum: 0.9, nesterov: true), bowl, steps: 5)
        XCTAssertGreaterThan(maxDistance(plain, nest), 1e-3)
    }

    func testClipByGlobalNorm() throws {
        let clip = try GradientTransformation.clipByGlobalNorm(1)
        let params = [t([0, 0]), t([0], [1])]
        let state = try clip.initialize(params)
        // ‖(3, 0, 4)‖ = 5 > 1: scaled by 1/5 across both tensors.
        let big = try clip.update([t([3, 0]), t([4], [1])], state: state, params: params).updates
        assertClose(big[0], t([0.6, 0]))
        assertClose(big[1], t([0.8], [1]))
        // ‖(0.3, 0, 0.4)‖ = 0.5 <= 1: untouched.
        let small = try clip.update([t([0.3, 0]), t([0.4], [1])], state: state, params: params).updates
        XCTAssertEqual(small.map(\.scalars), [[0.3, 0], [0.4]])
        // Large values do not overflow the norm to infinity.
        let huge = try clip.update([t([3e30, 0]), t([4e30], [1])], state: state, params: params).updates
        assertClose(huge[0], t([0.6, 0]))
    }

    /// chain(clip, adam) is clip's output fed to adam, state by state.
    func testChainIsComposition() throws {
        let clip = try GradientTransformation.clipByGlobalNorm(0.5)
        let adam = try GradientTransformation.adam(learningRate: 0.1)
        let both = chain(clip, adam)
        var params = [t([1, -1])]
        var sc = try clip.initialize(params), sa = try adam.initialize(params), sb = try both.initialize(params)
        for g in gs + gs {
            let c = try clip.update([t(g)], state: sc, params: params)
            let a = try adam.update(c.updates, state: sa, params: params)
            let b = try both.update([t(g)], state: sb, params: params)
            assertIdentical(b.updates, a.updates, "chain(clip, adam) vs adam(clip(g))")
            (sc, sa, sb) = (c.state, a.state, b.state)
            params = try applyUpdates(params, b.updates)
        }
        XCTAssertEqual(sb.children.map(\.kind), ["clipByGlobalNorm", "chain"])
        XCTAssertEqual(sb.children[1].children.first?.count, 6)
        // Clipping changed something: adam alone on the raw gradients differs.
        let raw = try adam.update([t([3, 4])], state: try adam.initialize(params), params: params).updates
        let clipped = try both.update([t([3, 4])], state: try both.initialize(params), params: params).updates
        assertClose(raw[0], clipped[0], rtol: 1e-6)   // step 1 of Adam is scale-free: −η sign(g)
        let u2raw = try updates(adam, [[3, 4], [0.1, 0.1]]), u2clip = try updates(both, [[3, 4], [0.1, 0.1]])
        XCTAssertGreaterThan(maxDistance([u2raw[1]], [u2clip[1]]), 1e-4)
    }

    /// AdamW's decay is −ηλθ on top of Adam's step, not rescaled by √v̂.
    func testAdamWDecayIsDecoupled() throws {
        let (lr, wd): (Float, Float) = (0.1, 0.5)
        let params = [t([2, -4])]
        let g = [t([1e-3, 5])]
        let adam = try GradientTransformation.adam(learningRate: lr)
        let adamW = try GradientTransformation.adamW(learningRate: lr, weightDecay: wd)
        let ua = try adam.update(g, state: try adam.initialize(params), params: params).updates[0]
        let uw = try adamW.update(g, state: try adamW.initialize(params), params: params).updates[0]
        assertClose(uw, try ua.zip(params[0].affine(scale: -lr * wd, shift: 0), .add), rtol: 1e-6)
    }
}

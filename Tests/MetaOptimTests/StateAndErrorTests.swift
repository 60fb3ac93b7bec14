import XCTest
import MetaTensor
import MetaOptim

/// States are values; bad hyper-parameters and mismatched inputs throw.
final class StateAndErrorTests: XCTestCase {
    let params = [try! Tensor(shape: [2], scalars: [1, -2]), try! Tensor(shape: [2, 1], scalars: [0.5, 3])]
    let grads = [try! Tensor(shape: [2], scalars: [0.3, -1]), try! Tensor(shape: [2, 1], scalars: [2, -0.1])]

    func allOptimizers() throws -> [GradientTransformation] {
        [try .sgd(learningRate: 0.1), try .sgd(learningRate: 0.1, momentum: 0.9, nesterov: true),
         try .adam(), try .adamW(), try .adagrad(), try .rmsprop(momentum: 0.5),
         chain(try .clipByGlobalNorm(1), try .adam())]
    }

    /// Two runs from one state give identical bits, and running does not
    /// change the state it started from.
    func testDeterminismAndNoHiddenMutation() throws {
        for opt in try allOptimizers() {
            var s = try opt.initialize(params)
            for _ in 0..<3 { s = try opt.update(grads, state: s, params: params).state }
            let a = try opt.update(grads, state: s, params: params)
            let b = try opt.update(grads, state: s, params: params)
            assertIdentical(a.updates, b.updates, "\(opt)")
            // A further step from a's state differs from the step from s: the state matters.
            let c = try opt.update(grads, state: a.state, params: params)
            XCTAssertEqual(a.state.count, s.count + 1, "\(opt)")
            if opt.description.hasPrefix("sgd(learningRate: 0.1, momentum: 0.0") { continue }
            XCTAssertNotEqual(c.updates[0].scalars, a.updates[0].scalars, "\(opt): state had no effect")
        }
    }

    func testOptimizerIsAValue() throws {
        var opt = try Optimizer(.adam(learningRate: 0.1), params: params)
        let before = opt
        let p1 = try opt.step(params: params, grads: grads)
        var again = before
        let p2 = try again.step(params: params, grads: grads)
        assertIdentical(p1, p2)
        XCTAssertEqual(before.state.count, 0)
        XCTAssertEqual(opt.state.count, 1)
        // A failed step leaves the state as it was.
        XCTAssertThrowsError(try opt.step(params: params, grads: [grads[0]]))
        XCTAssertEqual(opt.state.count, 1)
        XCTAssertTrue(opt.description.contains("adam(learningRate: 0.1"), opt.description)
    }

    func testBadHyperParametersNameTheArgument() {
        let bad: [(String, () throws -> GradientTransformation)] = [
            ("learningRate", { try .sgd(learningRate: .nan) }),
            ("learningRate", { try .sgd(learningRate: -0.1) }),
            ("learningRate", { try .adam(learningRate: .infinity) }),
            ("momentum", { try .sgd(learningRate: 0.1, momentum: 1) }),
            ("momentum", { try .sgd(learningRate: 0.1, momentum: -0.5) }),
            ("nesterov", { try .sgd(learningRate: 0.1, nesterov: true) }),
            ("beta1", { try .adam(beta1: 1) }),
            ("beta1", { try .adam(beta1: .nan) }),
            ("beta2", { try .adam(beta2: -0.1) }),
            ("eps", { try .adam(eps: -1) }),
            ("weightDecay", { try .adamW(weightDecay: .nan) }),
            ("initialAccumulator", { try .adagrad(initialAccumulator: -1) }),
            ("learningRate", { try .adagrad(learningRate: .nan) }),
            ("decay", { try .rmsprop(decay: 1.5) }),
            ("momentum", { try .rmsprop(momentum: .nan) }),
            ("maxNorm", { try .clipByGlobalNorm(0) }),
            ("maxNorm", { try .clipByGlobalNorm(.nan) }),
            ("factor", { try .scale(.nan) }),
            ("decay", { try .trace(decay: 1) }),
            ("learningRate", { try .scaleByLearningRate(-1) }),
        ]
        for (argument, make) in bad {
            assertMetaError(.invalidArgument, mentioning: argument) { try make() }
        }
    }

    func testMismatchedGradientsThrow() throws {
        for opt in try allOptimizers() {
            let s = try opt.initialize(params)
            // One gradient too few.
            assertMetaError(.invalidArgument, mentioning: "gradients") { try opt.update([grads[0]], state: s, params: params) }
            // A gradient of the wrong shape.
            let wrong = [grads[0], try grads[1].reshaped([1, 2])]
            assertMetaError(.shapeMismatch, mentioning: "gradient 1") { try opt.update(wrong, state: s, params: params) }
            // Parameters that are not the ones the state was made for.
            let other = [try params[0].reshaped([1, 2]), try params[1].reshaped([1, 2])]
            let otherGrads = [try grads[0].reshaped([1, 2]), try grads[1].reshaped([1, 2])]
            if opt.description.hasPrefix("sgd(learningRate: 0.1, momentum: 0.0") { continue }   // stateless
            assertMetaError(.shapeMismatch, mentioning: "state buffer") { try opt.update(otherGrads, state: s, params: other) }
        }
    }

    func testStateFromAnotherOptimizerThrows() throws {
        let adam = try GradientTransformation.adam(), sgd = try GradientTransformation.sgd(learningRate: 0.1, momentum: 0.9)
        let adamState = try adam.initialize(params)
        // Both are chains of two, so the mismatch is found one level down.
        assertMetaError(.invalidArgument, mentioning: "made by scaleByAdam") { try sgd.update(grads, state: adamState, params: params) }
        let three = chain(try .clipByGlobalNorm(1), try .scaleByAdam(), try .scaleByLearningRate(0.1))
        assertMetaError(.invalidArgument, mentioning: "chain of 3") { try three.update(grads, state: adamState, params: params) }
        let rss = try GradientTransformation.scaleByRSS()
        assertMetaError(.invalidArgument, mentioning: "made by chain") { try rss.update(grads, state: adamState, params: params) }
        // A hand-made state missing a buffer.
        let forged = OptimizerState(kind: "scaleByAdam", buffers: [.init(name: "mu", tensors: params)])
        assertMetaError(.invalidArgument, mentioning: "buffers") { try GradientTransformation.scaleByAdam().update(grads, state: forged, params: params) }
        let renamed = OptimizerState(kind: "scaleByAdam", buffers: [.init(name: "mu", tensors: params), .init(name: "v", tensors: params)])
        assertMetaError(.invalidArgument, mentioning: "nu") { try GradientTransformation.scaleByAdam().update(grads, state: renamed, params: params) }
        let short = OptimizerState(kind: "trace", buffers: [.init(name: "trace", tensors: [params[0]])])
        assertMetaError(.invalidArgument, mentioning: "1 tensors for 2") { try GradientTransformation.trace(decay: 0.5).update(grads, state: short, params: params) }
    }

    func testApplyUpdatesChecksShapes() throws {
        assertMetaError(.invalidArgument, mentioning: "updates") { try applyUpdates(params, [grads[0]]) }
        assertMetaError(.shapeMismatch, mentioning: "parameter 1") { try applyUpdates(params, [grads[0], grads[0]]) }
        XCTAssertEqual(try applyUpdates(params, grads).map(\.scalars), [[1.3, -3], [2.5, 2.9]])
    }

    func testDescriptions() throws {
        XCTAssertEqual(try GradientTransformation.adam().description,
                       "adam(learningRate: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-08)")
        XCTAssertEqual(chain(try .clipByGlobalNorm(1), try .sgd(learningRate: 0.5)).description,
                       "chain(clipByGlobalNorm(1.0), sgd(learningRate: 0.5, momentum: 0.0, nesterov: false))")
        let s = try GradientTransformation.adam().initialize(params)
        XCTAssertEqual(s.description, "chain(count: 0, children: [scaleByAdam(count: 0, mu: 2 tensors, nu: 2 tensors), scale(count: 0)])")
    }
}

import XCTest
import Foundation
import MetaTensor
import MetaOptim

/// Learning-rate schedules: their values against the formulas written out
/// independently here, and the optimizers that use them step by step.
final class ScheduleTests: XCTestCase {
    let params = [try! Tensor(shape: [2], scalars: [1, -2]), try! Tensor(shape: [2, 1], scalars: [0.5, 3])]
    let grads = [try! Tensor(shape: [2], scalars: [0.3, -1]), try! Tensor(shape: [2, 1], scalars: [2, -0.1])]

    func testCosineDecayValues() throws {
        let s = try Schedule.cosineDecay(peak: 0.1, steps: 110, final: 0.01, warmup: 10)
        // Warm-up: 0.1 * (t + 1) / 10, reaching the peak at t = 9 and t = 10.
        XCTAssertEqual(s(0), 0.01, accuracy: 1e-7)
        XCTAssertEqual(s(4), 0.05, accuracy: 1e-7)
        XCTAssertEqual(s(9), 0.1, accuracy: 1e-7)
        XCTAssertEqual(s(10), 0.1, accuracy: 1e-7)
        // Half-way through the 100 decay steps: the mean of peak and final.
        XCTAssertEqual(s(60), 0.055, accuracy: 1e-7)
        // A quarter of the way: final + (peak - final) * (1 + cos(pi/4)) / 2.
        let quarter: Double = 0.01 + 0.09 * (1 + 0.5.squareRoot()) / 2
        XCTAssertEqual(s(35), Float(quarter), accuracy: 1e-7)
        XCTAssertEqual(s(110), 0.01, accuracy: 1e-8)
        XCTAssertEqual(s(5000), 0.01, accuracy: 1e-8)
        var previous = s(10)
        for t in 11...120 {
            XCTAssertLessThanOrEqual(s(t), previous, "not decreasing at \(t)")
            previous = s(t)
        }
        let plain = try Schedule.cosineDecay(peak: 2, steps: 4)
        let r = Float(0.5.squareRoot())
        let expected: [Float] = [2, 1 + r, 1, 1 - r, 0]
        for t in 0...4 { XCTAssertEqual(plain(t), expected[t], accuracy: 1e-6) }
    }

    func testExponentialAndPiecewiseValues() throws {
        let smooth = try Schedule.exponentialDecay(initial: 1, rate: 0.5, every: 4)
        XCTAssertEqual(smooth(0), 1)
        XCTAssertEqual(smooth(2), Float(0.5.squareRoot()), accuracy: 1e-7)
        XCTAssertEqual(smooth(8), 0.25)
        let stairs = try Schedule.exponentialDecay(initial: 1, rate: 0.5, every: 4, staircase: true)
        XCTAssertEqual((0..<10).map { stairs($0) }, [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25])
        let steps = try Schedule.piecewiseConstant(initial: 0.3, boundaries: [2, 5], values: [0.2, 0])
        XCTAssertEqual((0..<7).map { steps($0) }, [0.3, 0.3, 0.2, 0.2, 0.2, 0, 0])
        XCTAssertEqual(try Schedule.constant(0.25)(1000), 0.25)
    }

    func testBadSchedulesNameTheArgument() {
        let bad: [(String, () throws -> Schedule)] = [
            ("peak", { try .cosineDecay(peak: .nan, steps: 10) }),
            ("final", { try .cosineDecay(peak: 1, steps: 10, final: -1) }),
            ("warmup", { try .cosineDecay(peak: 1, steps: 10, warmup: -1) }),
            ("steps", { try .cosineDecay(peak: 1, steps: 5, warmup: 5) }),
            ("rate", { try .exponentialDecay(initial: 1, rate: 0) }),
            ("rate", { try .exponentialDecay(initial: 1, rate: 1.5) }),
            ("every", { try .exponentialDecay(initial: 1, rate: 0.5, every: 0) }),
            ("boundaries", { try .piecewiseConstant(initial: 1, boundaries: [3, 3], values: [1, 2]) }),
            ("boundaries", { try .piecewiseConstant(initial: 1, boundaries: [0], values: [1]) }),
            ("values", { try .piecewiseConstant(initial: 1, boundaries: [3], values: []) }),
            ("values", { try .piecewiseConstant(initial: 1, boundaries: [3], values: [.infinity]) }),
            ("value", { try .constant(-1) }),
        ]
        for (argument, make) in bad {
            assertMetaError(.invalidArgument, mentioning: argument) { try make() }
        }
    }

    /// SGD with a schedule takes the step −η_t g at update t, exactly.
    func testScheduledSGDStepsByTheRateOfEachUpdate() throws {
        let schedule = try Schedule.piecewiseConstant(initial: 0.5, boundaries: [1, 3], values: [0.25, 0])
        var opt = try Optimizer(.sgd(learningRate: schedule), params: params)
        var p = params
        for t in 0..<5 {
            let next = try opt.step(params: p, grads: grads)
            let rate = [0.5, 0.25, 0.25, 0, 0][t] as Float
            for k in 0..<p.count {
                let expected = zip(p[k].scalars, grads[k].scalars).map { $0 - rate * $1 }
                XCTAssertEqual(next[k].scalars, expected, "update \(t)")
            }
            p = next
        }
    }

    /// Adam with a schedule is Adam's direction times −η_t; with a constant
    /// schedule it is plain Adam, bit for bit, state and all.
    func testScheduledAdamMatchesAdamsDirection() throws {
        let schedule = try Schedule.cosineDecay(peak: 0.1, steps: 6, final: 0.001, warmup: 2)
        let scheduled = try GradientTransformation.adam(learningRate: schedule)
        let direction = try GradientTransformation.scaleByAdam()
        var s1 = try scheduled.initialize(params), s2 = try direction.initialize(params)
        for t in 0..<8 {
            let a = try scheduled.update(grads, state: s1, params: params)
            let b = try direction.update(grads, state: s2, params: params)
            assertIdentical(a.updates, try b.updates.map { try $0.affine(scale: -schedule(t), shift: 0) }, "update \(t)")
            s1 = a.state; s2 = b.state
        }
        let constant = try GradientTransformation.adam(learningRate: .constant(0.01))
        let plain = try GradientTransformation.adam(learningRate: 0.01)
        XCTAssertEqual(constant.description, plain.description)
        var c = try constant.initialize(params), d = try plain.initialize(params)
        for _ in 0..<3 {
            let x = try constant.update(grads, state: c, params: params), y = try plain.update(grads, state: d, params: params)
            assertIdentical(x.updates, y.updates)
            c = x.state; d = y.state
        }
        XCTAssertTrue(scheduled.description.contains("cosineDecay(peak: 0.1"), scheduled.description)
    }

    /// A saved state resumes the schedule where it stopped.
    func testResumedStateResumesTheSchedule() throws {
        let schedule = try Schedule.exponentialDecay(initial: 1, rate: 0.5)
        var first = try Optimizer(.sgd(learningRate: schedule, momentum: 0.5), params: params)
        var p = params
        for _ in 0..<3 { p = try first.step(params: p, grads: grads) }
        var resumed = Optimizer(first.transformation, state: first.state)
        let a = try first.step(params: p, grads: grads), b = try resumed.step(params: p, grads: grads)
        assertIdentical(a, b)
        var fresh = try Optimizer(.sgd(learningRate: schedule, momentum: 0.5), params: params)
        assertMetaError(.invalidArgument, mentioning: "made by") {
            var other = Optimizer(try GradientTransformation.sgd(learningRate: 0.1, momentum: 0.5), state: first.state)
            _ = try other.step(params: p, grads: grads)
        }
        XCTAssertNotEqual(try fresh.step(params: p, grads: grads)[0].scalars, a[0].scalars)
    }
}

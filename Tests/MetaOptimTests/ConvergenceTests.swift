import XCTest
import MetaTensor
import MetaOptim

/// Every named optimizer on every toy problem, as one product (optax's
/// `alias_test` runs its optimizers the same way). Each cell states its
/// settings; gradients come from the tape.
///
/// Tolerances (largest |θ − θ*| over all coordinates): 1e-3 on the bowl,
/// 1e-2 on Rosenbrock. Rosenbrock starts at (−1.5, 2); its valley floor has
/// curvature ~0.4 against ~1000 across it, so plain SGD with a stable rate
/// (η < 2/1000) needs the most steps and momentum methods the fewest.
final class ConvergenceTests: XCTestCase {
    struct Setting {
        let make: () throws -> GradientTransformation
        let steps: Int
    }

    /// optimizer name -> (problem name -> setting)
    let table: [(String, [String: Setting])] = [
        ("sgd", [
            "bowl": Setting(make: { try .sgd(learningRate: 0.1) }, steps: 150),
            "rosenbrock": Setting(make: { try .sgd(learningRate: 1e-3) }, steps: 14000),
        ]),
        ("sgd+momentum", [
            "bowl": Setting(make: { try .sgd(learningRate: 0.02, momentum: 0.9) }, steps: 200),
            "rosenbrock": Setting(make: { try .sgd(learningRate: 1e-3, momentum: 0.9) }, steps: 2000),
        ]),
        ("sgd+nesterov", [
            "bowl": Setting(make: { try .sgd(learningRate: 0.02, momentum: 0.9, nesterov: true) }, steps: 200),
            "rosenbrock": Setting(make: { try .sgd(learningRate: 1e-3, momentum: 0.9, nesterov: true) }, steps: 2000),
        ]),
        ("adam", [
            "bowl": Setting(make: { try .adam(learningRate: 5e-2) }, steps: 300),
            "rosenbrock": Setting(make: { try .adam(learningRate: 5e-2) }, steps: 1500),
        ]),
        ("adamW", [
            "bowl": Setting(make: { try .adamW(learningRate: 5e-2, weightDecay: 1e-4) }, steps: 300),
            "rosenbrock": Setting(make: { try .adamW(learningRate: 5e-2, weightDecay: 1e-4) }, steps: 1500),
        ]),
        ("adagrad", [
            "bowl": Setting(make: { try .adagrad(learningRate: 1.5) }, steps: 300),
            "rosenbrock": Setting(make: { try .adagrad(learningRate: 1.5) }, steps: 8000),
        ]),
        ("rmsprop", [
            "bowl": Setting(make: { try .rmsprop(learningRate: 3e-3, decay: 0.99) }, steps: 1000),
            "rosenbrock": Setting(make: { try .rmsprop(learningRate: 2e-3, decay: 0.99) }, steps: 8000),
        ]),
        ("rmsprop+momentum", [
            "bowl": Setting(make: { try .rmsprop(learningRate: 2e-3, momentum: 0.9) }, steps: 300),
            "rosenbrock": Setting(make: { try .rmsprop(learningRate: 2e-3, momentum: 0.9) }, steps: 1500),
        ]),
    ]

    let problems: [(Problem, Float)] = [(bowl, 1e-3), (rosenbrock, 1e-2)]

    func testEveryOptimizerOnEveryProblem() throws {
        for (name, settings) in table {
            for (problem, tolerance) in problems {
                guard let s = settings[problem.name] else {
                    XCTFail("\(name) has no setting for \(problem.name)"); continue
                }
                let opt = try s.make()
                let start = maxDistance(problem.start, problem.minimum)
                let end = maxDistance(try minimize(opt, problem, steps: s.steps), problem.minimum)
                XCTAssertTrue(end.isFinite && end < tolerance,
                              "\(opt) on \(problem.name) after \(s.steps) steps: distance \(end) (from \(start)), tolerance \(tolerance)")
            }
        }
    }

    /// The budgets above are not so generous that anything converges: a few
    /// steps leave every optimizer short of the minimum.
    func testBudgetsAreNeeded() throws {
        for (name, settings) in table {
            for (problem, tolerance) in problems {
                guard let s = settings[problem.name] else { continue }
                let end = maxDistance(try minimize(try s.make(), problem, steps: 5), problem.minimum)
                XCTAssertGreaterThan(end, tolerance, "\(name) on \(problem.name) is at the minimum after 5 steps")
            }
        }
    }
}

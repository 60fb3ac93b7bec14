import XCTest
import MetaTensor
import MetaData
import MetaLearners
import _TestSupport

/// A meta-gradient along random directions against central differences of
/// the meta-loss, for the learners whose inner loop carries learned or
/// stateful rules (smooth models, so one step size serves).
struct DirectionalDifferences {
    let meta: [Tensor]
    let tasks: [Task]
    let step: Float = 2e-3

    /// ⟨g, d⟩ in double precision.
    static func along(_ g: [Tensor], _ d: [Tensor]) -> Double {
        zip(g, d).reduce(0.0) { acc, p in acc + zip(p.0.scalars, p.1.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }
    }

    /// Direction `seed` (uniform in [−1, 1] per element) and the central
    /// difference of `learner`'s meta-loss along it.
    func numeric(_ learner: any MetaLearner, seed: UInt64) throws -> (direction: [Tensor], slope: Double) {
        var r = TestRandom(seed: seed)
        let dir = meta.map { r.tensor($0.shape) }
        func loss(_ s: Float) throws -> Double {
            Double(try learner.metaLossAndGrad(try zip(meta, dir).map { try $0.zip($1.affine(scale: s, shift: 0), .add) },
                                               tasks: tasks).loss)
        }
        return (dir, (try loss(step) - loss(-step)) / Double(2 * step))
    }

    /// Asserts that `learner`'s meta-gradient matches the differences along
    /// the directions `seeds`, to 2% (plus 1e-4).
    func check(_ learner: any MetaLearner, seeds: Range<UInt64>, file: StaticString = #filePath, line: UInt = #line) throws {
        let grads = try learner.metaLossAndGrad(meta, tasks: tasks).grads
        for seed in seeds {
            let (dir, slope) = try numeric(learner, seed: seed)
            XCTAssertEqual(Self.along(grads, dir), slope, accuracy: 2e-2 * abs(slope) + 1e-4, "direction \(seed)",
                           file: file, line: line)
        }
    }
}

import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData
import MetaLearners
import _TestSupport

/// Second-order MAML through the few-shot image encoder: 3x3 convolutions,
/// batch-statistics BatchNorm, ReLU and 2x2 max-pooling, with a Linear head
/// and cross-entropy, on episodes drawn by `Taskset`.
final class ConvMAMLTests: XCTestCase {
    /// Relative errors of central differences of the meta-loss along a random
    /// direction d, one per step size, against ⟨meta-gradient, d⟩ of `learner`;
    /// the meta-loss is always that of `reference` (second order).
    func finiteDifferenceErrors(_ learner: MAML, reference: MAML, _ params: [Tensor], _ tasks: [Task],
                                eps: [Float], seed: UInt64) throws -> [Double] {
        var trng = TestRandom(seed: seed)
        let dir = params.map { trng.tensor($0.shape) }
        let (_, grads) = try learner.metaLossAndGrad(params, tasks: tasks)
        let analytic = zip(grads, dir).reduce(0.0) { acc, p in
            acc + zip(p.0.scalars, p.1.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        return try eps.map { e in
            func loss(_ s: Float) throws -> Float {
                try reference.metaLossAndGrad(try zip(params, dir).map { try $0.zip($1.affine(scale: s, shift: 0), .add) },
                                              tasks: tasks).loss
            }
            let numeric = Double(try loss(e) - loss(-e)) / Double(2 * e)
            return Swift.abs(numeric - analytic) / Swift.abs(analytic)
        }
    }

    /// With ReLU and max-pool the meta-loss is not even continuous: the inner
    /// gradient jumps wherever a support pre-activation crosses zero or a
    /// pooling window changes its maximum, so the adapted parameters θ' jump,
    /// and L_query(θ') with them. Along a random line through this network
    /// such jumps lie every ~1e-4 (found by sampling the meta-loss on a grid:
    /// between jumps its slope is the analytic one, across a jump a central
    /// difference is anything). A tiny step drowns in Float32 rounding.
    ///
    /// So, as for the ReLU MLP in MAMLTests, several step sizes are tried and
    /// one must agree to 1e-2, and this is asked of 8 generic configurations
    /// (4 draws of weights and episodes × 1 or 2 inner steps), of which at
    /// most one may straddle jumps at every step size. The first-order
    /// meta-gradient, checked against the same second-order meta-loss, must
    /// fail in most: it differs from the exact one by 10-300% here.
    func testSecondOrderMetaGradientThroughConv4MatchesFiniteDifferences() throws {
        try checkSecondOrderMetaGradient(hidden: 4, imageSize: 8)
    }

    /// The same with 16 filters on 12x12 images: the second block's 6x6
    /// convolution (16 → 16 channels) takes the Winograd path, so MAML's
    /// second-order terms run through its transforms and their adjoints.
    func testSecondOrderMetaGradientThroughWinogradConvolutions() throws {
        let second = try ConvNHWCGeometry(image: [5, 6, 6, 16], kernelSize: (3, 3), stride: (1, 1), padding: (1, 1),
                                          op: "test")
        XCTAssertTrue(second.usesWinograd(filters: 16))
        try checkSecondOrderMetaGradient(hidden: 16, imageSize: 12)
    }

    /// Second-order MAML through a small ResNet-12 (the test):
    /// 3x3 and 1x1 convolutions, batch statistics, leaky ReLU, residual sums,
    /// max-pools, global pooling and a head. Leaky ReLU and max-pool make the
    /// meta-loss piecewise smooth, so, as above, several step sizes are tried
    /// per configuration and most configurations must agree.
    func testSecondOrderMetaGradientThroughResNet12MatchesFiniteDifferences() throws {
        let model = try ResNet12(inChannels: 1, widths: [2, 2, 2, 2], outputs: 2)
        let (second, first, report) = try agreements(
            model, side: 16, examples: 24, classes: 4, ways: 2, shots: 2, queries: 1, innerLR: 0.05, steps: [1],
            eps: [1e-3, 3e-4, 1e-4, 3e-5, 1e-5], tolerance: 2e-2, seeds: (data: 90, weights: 40, direction: 7))
        XCTAssertGreaterThanOrEqual(second, 3, report)
        // The first-order meta-gradient must not pass the same check: it
        // would, if the second-order terms through ResNet-12 were lost.
        XCTAssertLessThanOrEqual(first, 1, report)
    }

    func checkSecondOrderMetaGradient(hidden: Int, imageSize side: Int) throws {
        let model = try Conv4(inChannels: 1, hidden: hidden, blocks: 2, outputs: 3, imageSize: side)
        let (second, first, report) = try agreements(
            model, side: side, examples: 30, classes: 5, ways: 3, shots: 2, queries: 2, innerLR: 0.4, steps: [1, 2],
            eps: [1e-3, 3e-4, 1e-4, 3e-5], tolerance: 1e-2, seeds: (data: 32, weights: 11, direction: 31))
        XCTAssertGreaterThanOrEqual(second, 7, report)
        XCTAssertLessThanOrEqual(first, 2, report)
    }

    /// For 4 draws of weights and of a one-channel episode, and each inner-step
    /// count: whether the second-order and the first-order meta-gradients
    /// agree with central differences of the second-order meta-loss, to
    /// `tolerance` at one of the step sizes `eps`. Returns both counts and a
    /// report of every relative error.
    func agreements(_ model: any Model, side: Int, examples n: Int, classes: Int, ways: Int, shots: Int, queries: Int,
                    innerLR: Float, steps: [Int], eps: [Float], tolerance: Double,
                    seeds: (data: UInt64, weights: UInt64, direction: UInt64)) throws -> (Int, Int, String) {
        var secondAgrees = 0, firstAgrees = 0, report: [String] = []
        for draw: UInt64 in 1...4 {
            var trng = TestRandom(seed: seeds.data + draw)
            let ts = try Taskset(images: trng.tensor([n, 1, side, side]), labels: (0..<n).map { $0 % classes },
                                 ways: ways, shots: shots, queries: queries)
            var rng = RNG(seed: seeds.weights + draw)
            let params = try model.initialParameters(rng: &rng)
            let tasks = [try ts.sample(rng: &rng)]
            for k in steps {
                let maml = try MAML(model: model, innerLR: innerLR, innerSteps: k, loss: .crossEntropy)
                let fomaml = try MAML(model: model, innerLR: innerLR, innerSteps: k, firstOrder: true, loss: .crossEntropy)
                let second = try finiteDifferenceErrors(maml, reference: maml, params, tasks, eps: eps, seed: seeds.direction)
                let first = try finiteDifferenceErrors(fomaml, reference: maml, params, tasks, eps: eps, seed: seeds.direction)
                if second.min()! < tolerance { secondAgrees += 1 }
                if first.min()! < tolerance { firstAgrees += 1 }
                report.append("draw \(draw), \(k) steps: second \(second.map { Float($0) }), first \(first.map { Float($0) })")
            }
        }
        return (secondAgrees, firstAgrees, report.joined(separator: "\n"))
    }
}

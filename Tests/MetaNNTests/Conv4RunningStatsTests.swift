import XCTest
import MetaTensor
import MetaAutodiff
@testable import MetaNN
import _TestSupport

/// Conv4 with running batch-norm statistics: its fused forward against the
/// layers it stands for (`whole`, a Sequential of Conv2d, BatchNorm2d, ReLU,
/// MaxPool2d), in both modes, with the buffers each updates.
final class Conv4RunningStatsTests: XCTestCase {
    var rng = TestRandom(seed: 41)

    func model() throws -> (Conv4, [Tensor], [Tensor]) {
        let conv4 = try Conv4(inChannels: 1, hidden: 8, blocks: 3, outputs: 5, imageSize: 12, momentum: 0.3,
                              trackRunningStats: true)
        var r = RNG(seed: 3)
        let params = try conv4.initialParameters(rng: &r)
        // Running statistics away from their initial zeros and ones.
        let buffers = conv4.bufferSpecs.enumerated().map { i, s in
            i % 2 == 0 ? rng.tensor(s.shape) : try! rng.tensor(s.shape).map(.abs).affine(scale: 1, shift: 0.5)
        }
        return (conv4, params, buffers)
    }

    func testBuffersAreTheLayersBuffers() throws {
        let (conv4, _, _) = try model()
        XCTAssertEqual(conv4.bufferSpecs.map(\.name), (1...3).flatMap { ["block\($0).bn.running_mean", "block\($0).bn.running_var"] })
        XCTAssertEqual(try Conv4(hidden: 8).bufferSpecs.count, 0)
        XCTAssertTrue(conv4.usesContext)
    }

    func testTrainingForwardMatchesLayersAndUpdatesTheSameBuffers() throws {
        let (conv4, params, buffers) = try model()
        let x = rng.tensor([6, 1, 12, 12])
        let fused = ForwardContext(mode: .training, buffers: buffers)
        let layers = ForwardContext(mode: .training, buffers: buffers)
        let a = try conv4(params.map { Variable($0) }, Variable(x), context: fused)
        let b = try conv4.whole(params.map { Variable($0) }, Variable(x), context: layers)
        assertClose(a.value, b.value, rtol: 1e-3, atol: 1e-4)
        for (u, v) in zip(fused.buffers!, layers.buffers!) { assertClose(u, v, rtol: 1e-4, atol: 1e-5) }
        for (u, v) in zip(fused.buffers!, buffers) { XCTAssertNotEqual(u.scalars, v.scalars) }
        // Without buffers: the batch's statistics, nothing to update.
        let plain = try conv4(params.map { Variable($0) }, Variable(x))
        assertClose(plain.value, a.value, rtol: 1e-5, atol: 1e-6)
    }

    func testInferenceForwardUsesRunningStatisticsAsTheLayersDo() throws {
        let (conv4, params, buffers) = try model()
        let x = rng.tensor([4, 1, 12, 12])
        let a = try conv4(params.map { Variable($0) }, Variable(x), context: ForwardContext(mode: .inference, buffers: buffers))
        let b = try conv4.whole(params.map { Variable($0) }, Variable(x), context: ForwardContext(mode: .inference, buffers: buffers))
        assertClose(a.value, b.value, rtol: 1e-3, atol: 1e-4)
        // Not the batch's statistics, and one example is enough.
        let batch = try conv4(params.map { Variable($0) }, Variable(x))
        XCTAssertGreaterThan(zip(a.value.scalars, batch.value.scalars).map { abs($0 - $1) }.max()!, 1e-2)
        let one = try x.gather(indices: [0], axis: 0)
        let single = try conv4(params.map { Variable($0) }, Variable(one), context: ForwardContext(mode: .inference, buffers: buffers))
        assertClose(single.value, try a.value.gather(indices: [0], axis: 0), rtol: 1e-4, atol: 1e-5)
    }

    /// The inference forward is a function of the parameters with constant
    /// statistics: its gradients and Hessian-vector products equal the
    /// layers' (whose own derivatives ContextTests checks against finite
    /// differences; max-pool and ReLU kinks defeat differences on Conv4 itself).
    func testInferenceDerivativesToSecondOrderMatchTheLayers() throws {
        let (conv4, params, buffers) = try model()
        let x = Variable(rng.tensor([3, 1, 12, 12]))
        let p = params.map { Variable($0) }
        let u = params.map { Variable(rng.tensor($0.shape)) }
        func derivatives(_ f: @escaping ([Variable]) throws -> Variable) throws -> (grad: [Tensor], hvp: [Tensor]) {
            let g = try Autodiff.grad(at: p) { q in try f(q).square().sum() }.map(\.value)
            let h = try Autodiff.grad(at: p) { v in
                let gs = try Autodiff.grad(at: v, createGraph: true) { q in try f(q).square().sum() }
                return try zip(gs, u).map { try ($0 * $1).sum() }.reduce(Variable(Float(0))) { try $0 + $1 }
            }.map(\.value)
            return (g, h)
        }
        let fused = try derivatives { q in try conv4(q, x, context: ForwardContext(mode: .inference, buffers: buffers)) }
        let layers = try derivatives { q in try conv4.whole(q, x, context: ForwardContext(mode: .inference, buffers: buffers)) }
        for i in params.indices {
            let name = conv4.parameterSpecs[i].name
            assertClose(fused.grad[i], layers.grad[i], rtol: 5e-3, atol: 1e-3, name)
            assertClose(fused.hvp[i], layers.hvp[i], rtol: 5e-3, atol: 1e-3, name)
            XCTAssertGreaterThan(fused.hvp[i].scalars.map(abs).max()!, 0, name)
        }
    }

    func testDescriptionRoundTripsAndKeepsTheEpisodicOneUnchanged() throws {
        let (conv4, _, _) = try model()
        let text = try layerDescription(of: conv4).serialized
        XCTAssertTrue(text.hasSuffix(#""eps":1e-05,"momentum":0.3,"track_running_stats":true}"#), text)
        let rebuilt = try ModelBuilder.build(try layerDescription(of: conv4))
        XCTAssertEqual(try layerDescription(of: rebuilt).serialized, text)
        XCTAssertEqual(rebuilt.bufferSpecs, conv4.bufferSpecs)
        XCTAssertEqual(try layerDescription(of: try Conv4(hidden: 8)).serialized,
                       #"{"type":"Conv4","in_channels":1,"hidden":8,"blocks":4,"outputs":null,"image_size":28,"eps":1e-05}"#)
    }
}

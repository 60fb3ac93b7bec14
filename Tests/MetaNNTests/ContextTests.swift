import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import _TestSupport

/// Dropout, batch norm's running statistics, and the forward context that
/// carries the mode, the random stream and the buffers through composites.
final class ContextTests: XCTestCase {
    var rng = TestRandom(seed: 41)

    // MARK: - Dropout

    func testDropoutMasksAreSeededScaledAndOffInInference() throws {
        let drop = try Dropout(p: 0.3)
        let x = try Tensor.full([50, 200], 2)
        let train = { (seed: UInt64) in try drop([], Variable(x), context: ForwardContext(mode: .training, seed: seed)).value }
        let y = try train(7)
        // Every element is dropped or scaled by 1 / (1 − p); about p of them are dropped.
        let kept = Float(2) / 0.7
        XCTAssertTrue(y.scalars.allSatisfy { $0 == 0 || $0 == kept })
        let dropped = Double(y.scalars.filter { $0 == 0 }.count) / Double(x.count)
        XCTAssertEqual(dropped, 0.3, accuracy: 0.02)
        // The same seed, the same mask; another seed, another.
        XCTAssertEqual(try train(7).scalars, y.scalars)
        XCTAssertNotEqual(try train(8).scalars, y.scalars)
        // The mask follows the context's stream: uniform ≥ p keeps, in row-major order.
        var stream = RNG(seed: 7)
        XCTAssertEqual(y.scalars, (0..<x.count).map { _ in stream.uniform() >= 0.3 ? kept : 0 })
        // Inference, a call without a context, and p = 0 are the identity; p = 1 drops all.
        XCTAssertEqual(try drop([], Variable(x), context: .inference).value.scalars, x.scalars)
        XCTAssertEqual(try drop([], Variable(x)).value.scalars, x.scalars)
        XCTAssertEqual(try Dropout(p: 0)([], Variable(x), context: ForwardContext(mode: .training)).value.scalars, x.scalars)
        XCTAssertTrue(try Dropout(p: 1)([], Variable(x), context: ForwardContext(mode: .training)).value.scalars.allSatisfy { $0 == 0 })
        XCTAssertTrue(drop.isStochastic)
        XCTAssertFalse(try Dropout(p: 0).isStochastic)
        for bad: Float in [-0.1, 1.5, .nan] {
            XCTAssertThrowsError(try Dropout(p: bad)) { XCTAssertTrue("\($0)".contains("p must be a probability"), "\($0)") }
        }
    }

    /// With the mask fixed by the seed, y = mask ⊙ x inside a network: exact
    /// to second order.
    func testDropoutDerivativesToSecondOrder() throws {
        let model = Sequential([try Linear(inputs: 4, outputs: 6), Activation.tanh, try Dropout(p: 0.4), try Linear(inputs: 6, outputs: 2)])
        var r = RNG(seed: 3)
        let params = try model.initialParameters(rng: &r)
        let x = rng.tensor([5, 4], -1, 1)
        checkGradients(at: params) { p in
            try model(p, Variable(x), context: ForwardContext(mode: .training, seed: 11))
        }
    }

    // MARK: - Batch norm with running statistics

    func testRunningStatisticsFollowPyTorchsUpdateAndServeInference() throws {
        let bn = try BatchNorm2d(features: 3, momentum: 0.2, trackRunningStats: true)
        XCTAssertEqual(bn.bufferSpecs.map(\.description), ["running_mean[3]", "running_var[3]"])
        let params = [Variable(rng.tensor([3], 0.5, 1.5)), Variable(rng.tensor([3]))]
        let buffers = try bn.initialBuffers()
        XCTAssertEqual(buffers[0].scalars, [0, 0, 0])
        XCTAssertEqual(buffers[1].scalars, [1, 1, 1])
        let x = rng.tensor([4, 3, 2, 5], -2, 3)
        let context = ForwardContext(mode: .training, buffers: buffers)
        let yTrain = try bn(params, Variable(x), context: context)
        // Training normalises with the batch's statistics: as without buffers.
        XCTAssertEqual(yTrain.value.scalars, try bn(params, Variable(x)).value.scalars)
        // The update, in Double: r = 0.8 r + 0.2 b, with the unbiased variance (n = 4·2·5).
        let n = 40
        var wantMean = [Float](), wantVar = [Float]()
        for c in 0..<3 {
            var values = [Double]()
            for i in 0..<4 { for j in 0..<10 { values.append(Double(x.scalars[(i * 3 + c) * 10 + j])) } }
            let mu = values.reduce(0, +) / Double(n)
            let unbiased = values.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(n - 1)
            wantMean.append(Float(0.2 * mu))
            wantVar.append(Float(0.8 + 0.2 * unbiased))
        }
        let updated = try XCTUnwrap(context.buffers)
        assertClose(updated[0], try Tensor(shape: [3], scalars: wantMean), rtol: 1e-5, atol: 1e-6)
        assertClose(updated[1], try Tensor(shape: [3], scalars: wantVar), rtol: 1e-5, atol: 1e-6)
        // Inference normalises with the running statistics.
        let yInfer = try bn(params, Variable(x), context: ForwardContext(mode: .inference, buffers: updated))
        var want = [Float]()
        for i in 0..<4 { for c in 0..<3 { for j in 0..<10 {
            let v = Double(x.scalars[(i * 3 + c) * 10 + j])
            let norm = (v - Double(updated[0].scalars[c])) / (Double(updated[1].scalars[c]) + 1e-5).squareRoot()
            want.append(Float(norm * Double(params[0].value.scalars[c]) + Double(params[1].value.scalars[c])))
        } } }
        assertClose(yInfer.value, try Tensor(shape: x.shape, scalars: want), rtol: 1e-5, atol: 1e-5)
        // An inference forward changes no buffer; without buffers inference uses the batch's statistics.
        let frozen = ForwardContext(mode: .inference, buffers: updated)
        _ = try bn(params, Variable(x), context: frozen)
        XCTAssertEqual(frozen.buffers![0].scalars, updated[0].scalars)
        XCTAssertEqual(try bn(params, Variable(x), context: .inference).value.scalars, yTrain.value.scalars)
        // One value per channel cannot update statistics, but running statistics can normalise it.
        let single = rng.tensor([1, 3, 1, 1])
        XCTAssertThrowsError(try bn(params, Variable(single), context: ForwardContext(mode: .training, buffers: updated)))
        XCTAssertNoThrow(try bn(params, Variable(single), context: ForwardContext(mode: .inference, buffers: updated)))
        XCTAssertThrowsError(try BatchNorm2d(features: 3, momentum: 1.5)) { XCTAssertTrue("\($0)".contains("BatchNorm2d: momentum"), "\($0)") }
    }

    /// Normalising with running statistics (constants) is exact to second order
    /// in the input and the affine parameters.
    func testRunningStatisticsDerivativesToSecondOrder() throws {
        let bn = try BatchNorm1d(features: 4, trackRunningStats: true)
        let buffers = [rng.tensor([4]), rng.tensor([4], 0.5, 2)]
        checkGradients(at: [rng.tensor([3, 4], -2, 2), rng.tensor([4], 0.5, 1.5), rng.tensor([4])]) { v in
            try bn([v[1], v[2]], v[0], context: ForwardContext(mode: .inference, buffers: buffers))
        }
    }

    // MARK: - Composites

    /// Each tracking layer finds its own buffers in Sequential and Residual,
    /// names them by path, and updates only them.
    func testCompositesRouteBuffersByPath() throws {
        let body = Sequential([try Linear(inputs: 3, outputs: 3), try BatchNorm1d(features: 3, trackRunningStats: true)])
        let shortcut = try BatchNorm1d(features: 3, momentum: 0.5, trackRunningStats: true)
        let model = Sequential([try BatchNorm1d(features: 3, trackRunningStats: true), Residual(body: body, shortcut: shortcut),
                                try Dropout(p: 0.5), try Linear(inputs: 3, outputs: 2), try BatchNorm1d(features: 2)])
        XCTAssertEqual(model.bufferSpecs.map(\.name), ["0.running_mean", "0.running_var", "1.body.1.running_mean",
                                                       "1.body.1.running_var", "1.shortcut.running_mean", "1.shortcut.running_var"])
        XCTAssertTrue(model.isStochastic)
        XCTAssertTrue(model.usesContext)
        var r = RNG(seed: 5)
        let params = try model.initialParameters(rng: &r).map { Variable($0) }
        let x = rng.tensor([6, 3], -1, 1)
        let context = ForwardContext(mode: .training, seed: 2, buffers: try model.initialBuffers())
        _ = try model(params, Variable(x), context: context)
        let after = try XCTUnwrap(context.buffers)
        // The first layer's statistics are the input's; the shortcut (momentum 0.5)
        // saw the first layer's output, whose batch mean is β = 0.
        var mean = [Float](repeating: 0, count: 3)
        for i in 0..<6 { for c in 0..<3 { mean[c] += x.scalars[i * 3 + c] / 6 } }
        assertClose(after[0], try Tensor(shape: [3], scalars: mean.map { 0.1 * $0 }), rtol: 1e-4, atol: 1e-6)
        assertClose(after[4], try Tensor.zeros([3]), rtol: 0, atol: 1e-6)
        XCTAssertNotEqual(after[2].scalars, [0, 0, 0])
        // A wrong number of buffers is refused before anything runs.
        XCTAssertThrowsError(try model(params, Variable(x), context: ForwardContext(mode: .training, buffers: [])))
        // The descriptions round-trip with the new arguments.
        let description = layerDescription(of: model)
        let rebuilt = try ModelBuilder.build(description)
        XCTAssertEqual(layerDescription(of: rebuilt), description)
        XCTAssertEqual(rebuilt.bufferSpecs, model.bufferSpecs)
        XCTAssertTrue(try description.serialized.contains(#""type":"Dropout","p":0.5"#))
        XCTAssertTrue(try description.serialized.contains(#""momentum":0.5,"track_running_stats":true"#))
    }

    /// Of the fused forwards only Conv4 knows a context: a Conv4 spelled out
    /// with tracking batch norm runs fused (Conv4RunningStatsTests holds it to
    /// the layers), one with a dropout runs as layers, where the context reaches it.
    func testRecognitionLeavesContextualModelsToTheLayers() throws {
        func conv4(track: Bool, dropout: Bool) throws -> Sequential {
            var layers: [any Model] = []
            for b in 0..<4 {
                layers += [try Conv2d(inChannels: b == 0 ? 1 : 8, outChannels: 8, kernelSize: 3, padding: 1),
                           try BatchNorm2d(features: 8, trackRunningStats: track), Activation.relu, try MaxPool2d(kernelSize: 2)]
            }
            layers.append(Flatten())
            if dropout { layers.append(try Dropout(p: 0.2)) }
            return Sequential(layers + [try Linear(inputs: 8, outputs: 5)])
        }
        XCTAssertTrue(Recognition.optimized(try conv4(track: false, dropout: false), inputShape: [1, 28, 28]) is FastPath<Conv4>)
        let tracked = Recognition.optimized(try conv4(track: true, dropout: false), inputShape: [1, 28, 28])
        XCTAssertTrue((tracked as? FastPath<Conv4>)?.fast.trackRunningStats == true)
        XCTAssertEqual(tracked.bufferSpecs.count, 8)
        XCTAssertTrue(Recognition.optimized(try conv4(track: false, dropout: true), inputShape: [1, 28, 28]) is Sequential)
    }
}

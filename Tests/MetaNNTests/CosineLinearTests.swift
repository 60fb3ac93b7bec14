import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import _TestSupport

final class CosineLinearTests: XCTestCase {
    var rng = TestRandom(seed: 43)

    /// scale · g_c · ⟨x/(‖x‖ + 1e-5), W_c/‖W_c‖⟩, by loops in Double.
    func reference(_ x: Tensor, _ w: Tensor, _ g: Tensor?, scale: Double) -> [Float] {
        let (d, n, rows) = (w.shape[0], w.shape[1], x.shape[0])
        let xs = x.scalars.map(Double.init), ws = w.scalars.map(Double.init)
        var out = [Float]()
        for r in 0..<rows {
            let xn = (0..<d).reduce(0.0) { $0 + xs[r * d + $1] * xs[r * d + $1] }.squareRoot() + 1e-5
            for c in 0..<n {
                let wn = (0..<d).reduce(0.0) { $0 + ws[$1 * n + c] * ws[$1 * n + c] }.squareRoot()
                let dot = (0..<d).reduce(0.0) { $0 + xs[r * d + $1] * ws[$1 * n + c] }
                out.append(Float(scale * Double(g?.scalars[c] ?? 1) * dot / xn / wn))
            }
        }
        return out
    }

    func testValuesParametersAndInitialisation() throws {
        let layer = try CosineLinear(inputs: 6, outputs: 4, scale: 2)
        XCTAssertEqual(layer.parameterSpecs, [ParameterSpec("W", [6, 4]), ParameterSpec("g", [4, 1])])
        var r = RNG(seed: 1)
        let p = try layer.initialParameters(rng: &r)
        // g starts at the column norms: the initial classifier is scale · ⟨x̂, W_c⟩.
        for c in 0..<4 {
            let norm = (0..<6).reduce(Float(0)) { $0 + p[0].scalars[$1 * 4 + c] * p[0].scalars[$1 * 4 + c] }.squareRoot()
            XCTAssertEqual(p[1].scalars[c], norm, accuracy: 1e-6)
        }
        let x = rng.tensor([5, 6]), g = rng.tensor([4, 1])
        let y = try layer([Variable(p[0]), Variable(g)], Variable(x)).value
        assertClose(y, try Tensor(shape: [5, 4], scalars: reference(x, p[0], g, scale: 2)), rtol: 1e-5, atol: 1e-6)
        let plain = try CosineLinear(inputs: 6, outputs: 4, scale: 10, learnedNorm: false)
        XCTAssertEqual(plain.parameterSpecs.map(\.name), ["W"])
        let z = try plain([Variable(p[0])], Variable(x)).value
        assertClose(z, try Tensor(shape: [5, 4], scalars: reference(x, p[0], nil, scale: 10)), rtol: 1e-5, atol: 1e-6)
        XCTAssertLessThanOrEqual(z.scalars.map(abs).max()!, 10)
        XCTAssertEqual(CosineLinear.defaultScale(classes: 200), 2)
        XCTAssertEqual(CosineLinear.defaultScale(classes: 201), 10)
        XCTAssertThrowsError(try CosineLinear(inputs: 6, outputs: 4, scale: 0))
        XCTAssertThrowsError(try layer([Variable(p[0]), Variable(g)], Variable(rng.tensor([5, 7]))))
    }

    func testGradientsToSecondOrderAndAtAZeroInput() throws {
        let layer = try CosineLinear(inputs: 5, outputs: 3, scale: 2)
        let x = rng.tensor([4, 5]), w = rng.tensor([5, 3]), g = rng.tensor([3, 1])
        checkGradients(at: [x, w, g], order: 2, eps: 1e-2, rtol: 3e-2, atol: 2e-3) { v in
            try layer([v[1], v[2]], v[0])
        }
        // A zero feature vector (a ReLU network's) has finite derivatives.
        let zero = try Tensor.zeros([2, 5])
        let grads = try Autodiff.grad(at: [Variable(zero), Variable(w), Variable(g)]) { v in try layer([v[1], v[2]], v[0]).sum() }
        XCTAssertTrue(grads.allSatisfy { $0.value.isFinite })
    }

    func testDescriptionRoundTrips() throws {
        let layer = try CosineLinear(inputs: 64, outputs: 4800, scale: 10)
        let description = layerDescription(of: layer)
        XCTAssertEqual(try description.serialized,
                       #"{"type":"CosineLinear","in_features":64,"out_features":4800,"scale":10,"learned_norm":true}"#)
        let rebuilt = try ModelBuilder.build(try JSON.parse(#"{"type": "CosineLinear", "in_features": 64, "out_features": 5}"#))
        XCTAssertEqual((rebuilt as? CosineLinear)?.scale, 2)
        XCTAssertEqual(try layerDescription(of: try ModelBuilder.build(description)).serialized, try description.serialized)
    }
}

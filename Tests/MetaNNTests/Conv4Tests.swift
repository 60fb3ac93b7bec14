import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import _TestSupport

/// Conv4's channels-last forward against the composition of its layers
/// (`body` then `head`, NCHW): values, gradients, and Hessian-vector products.
final class Conv4Tests: XCTestCase {
    var rng = TestRandom(seed: 5)

    func composed(_ model: Conv4, _ p: [Variable], _ x: Variable) throws -> Variable {
        let k = model.body.parameterCount
        let e = try model.body.forward(p[..<k], x)
        guard let head = model.head else { return e }
        return try head.forward(p[k...], e)
    }

    func params(_ model: Conv4, seed: UInt64) throws -> [Variable] {
        var r = RNG(seed: seed)
        // Non-trivial γ and β (the initial ones are 1 and 0).
        return try model.initialParameters(rng: &r).enumerated().map { i, t in
            let name = model.parameterSpecs[i].name
            if name.hasSuffix("gamma") || name.hasSuffix("beta") { return Variable(rng.tensor(t.shape, 0.5, 1.5)) }
            return Variable(t)
        }
    }

    let models: [(Conv4, [Int])] = [
        (try! Conv4(inChannels: 1, hidden: 8, blocks: 4, outputs: 5, imageSize: 28), [6, 1, 28, 28]),
        (try! Conv4(inChannels: 3, hidden: 6, blocks: 3, imageSize: 21), [4, 3, 21, 21]),
        (try! Conv4(inChannels: 2, hidden: 4, blocks: 2, outputs: 3, imageSize: 9), [3, 2, 9, 9]),
    ]

    func testForwardMatchesLayers() throws {
        for (model, shape) in models {
            let p = try params(model, seed: 1)
            let x = Variable(rng.tensor(shape))
            assertClose(try model(p, x).value, try composed(model, p, x).value, rtol: 1e-3, atol: 1e-4, "\(shape)")
        }
    }

    func testGradientsMatchLayers() throws {
        for (model, shape) in models {
            let p = try params(model, seed: 2)
            let x = Variable(rng.tensor(shape))
            let out = try model(p, x)
            let w = Variable(rng.tensor(out.shape))
            let fused = try Autodiff.grad(at: p) { v in try (model(v, x).tanh() * w).sum() }
            let layers = try Autodiff.grad(at: p) { v in try (composed(model, v, x).tanh() * w).sum() }
            for (i, (a, b)) in zip(fused, layers).enumerated() {
                assertClose(a.value, b.value, rtol: 2e-3, atol: 2e-4, "\(shape) \(model.parameterSpecs[i].name)")
            }
        }
    }

    /// What second-order MAML differentiates: ⟨∇θ L(θ), u⟩ differentiated again.
    func testHessianVectorProductsMatchLayers() throws {
        let (model, shape) = models[2]
        let p = try params(model, seed: 3)
        let x = Variable(rng.tensor(shape))
        let u = p.map { Variable(rng.tensor($0.shape)) }
        func hvp(_ f: @escaping ([Variable]) throws -> Variable) throws -> [Tensor] {
            try Autodiff.grad(at: p) { v in
                let gs = try Autodiff.grad(at: v, createGraph: true) { q in try f(q).square().sum() }
                return try zip(gs, u).map { try ($0 * $1).sum() }.reduce(Variable(Float(0))) { try $0 + $1 }
            }.map(\.value)
        }
        let fused = try hvp { q in try model(q, x) }
        let layers = try hvp { q in try self.composed(model, q, x) }
        for (i, (a, b)) in zip(fused, layers).enumerated() {
            assertClose(a, b, rtol: 5e-3, atol: 1e-3, model.parameterSpecs[i].name)
        }
    }

    func testErrorsNameTheLayer() throws {
        let model = try Conv4(inChannels: 1, hidden: 4, blocks: 4)
        let p = try params(model, seed: 4)
        XCTAssertThrowsError(try model(p, Variable(rng.tensor([2, 1, 8, 8])))) { e in
            XCTAssertTrue("\(e)".contains("MaxPool2d"), "\(e)")
        }
        XCTAssertThrowsError(try model(p, Variable(rng.tensor([1, 1, 1, 1])))) { e in
            XCTAssertTrue("\(e)".contains("BatchNorm") || "\(e)".contains("MaxPool2d"), "\(e)")
        }
        XCTAssertThrowsError(try model(p, Variable(rng.tensor([2, 2, 8, 8]))))
    }
}

import XCTest
import MetaTensor
import MetaAutodiff
@testable import MetaNN
import _TestSupport

final class ResNet12Tests: XCTestCase {
    var rng = TestRandom(seed: 12)

    /// 64-160-320-640 on RGB: Σ over blocks of three 3x3 convolutions, a 1x1
    /// shortcut and four batch norms (γ, β) = 12,424,320, the "about 12.4M"
    /// of Lee et al. and Tian et al.
    func testTheStandardNetworkHasTheParametersOfThePapers() throws {
        let net = try ResNet12()
        XCTAssertEqual(net.widths, [64, 160, 320, 640])
        XCTAssertEqual(net.parameterSpecs.reduce(0) { $0 + $1.shape.reduce(1, *) }, 12_424_320)
        let names = net.parameterSpecs.map(\.name)
        XCTAssertEqual(Array(names.prefix(4)), ["block1.body.conv1.W", "block1.body.bn1.gamma", "block1.body.bn1.beta",
                                                "block1.body.conv2.W"])
        XCTAssertTrue(names.contains("block4.shortcut.conv.W") && names.contains("block4.shortcut.bn.beta"))
        XCTAssertEqual(try ResNet12(width: 0.25).widths, [16, 40, 80, 160])
        let headed = try ResNet12(width: 0.25, outputs: 5)
        XCTAssertEqual(Array(headed.parameterSpecs.suffix(2).map(\.description)), ["head.W[160, 5]", "head.b[5]"])
    }

    func testShapesOn84And28PixelImages() throws {
        var r = RNG(seed: 0)
        let rgb = try ResNet12(inChannels: 3, width: 0.125, outputs: 5)
        let p = try rgb.initialize(rng: &r)
        XCTAssertEqual(try rgb(p, Variable(rng.tensor([2, 3, 84, 84]))).shape, [2, 5])
        let gray = try ResNet12(inChannels: 1, widths: [4, 6, 8, 10])
        let q = try gray.initialize(rng: &r)
        let y = try gray(q, Variable(rng.tensor([3, 1, 28, 28])))
        XCTAssertEqual(y.shape, [3, 10])
        XCTAssertTrue(y.value.isFinite)
    }

    /// The channels-last forward computes what the layers compute (NCHW,
    /// im2col): the same outputs, and the same gradients with respect to
    /// every parameter and the input, to float rounding; first and second
    /// order (a Hessian-vector product), RGB and grey, odd sizes (84 → 5).
    func testChannelsLastForwardIsTheLayers() throws {
        for (net, shape) in [(try ResNet12(inChannels: 3, widths: [8, 8, 16, 16], outputs: 3), [2, 3, 84, 84]),
                             (try ResNet12(inChannels: 1, widths: [3, 5, 8, 4]), [4, 1, 28, 28])] {
            var r = RNG(seed: 3)
            let params = try net.initialParameters(rng: &r).map { Variable($0) }
            let x = Variable(rng.tensor(shape))
            assertClose(try net.forward(params[...], x).value, try net.network.forward(params[...], x).value,
                        rtol: 1e-4, atol: 1e-5)
            func loss(_ f: (ArraySlice<Variable>, Variable) throws -> Variable) throws -> [Variable] {
                try Autodiff.grad(at: params + [x], createGraph: true) { v in
                    let y = try f(v.dropLast(), v[v.count - 1])
                    return try (y * y).sum()
                }
            }
            let fast = try loss(net.forward), layers = try loss(net.network.forward)
            for (a, b) in zip(fast, layers) { assertClose(a.value, b.value, rtol: 2e-3, atol: 2e-4) }
            // Second order: the gradient of <grad, v> for a fixed random v.
            let v = fast.map { Variable(rng.tensor($0.shape)) }
            func hvp(_ f: @escaping (ArraySlice<Variable>, Variable) throws -> Variable) throws -> [Variable] {
                try Autodiff.grad(at: params + [x]) { w in
                    let g = try Autodiff.grad(at: w, createGraph: true) { u in
                        let y = try f(u.dropLast(), u[u.count - 1])
                        return try (y * y).sum()
                    }
                    return try zip(g, v).map { try ($0 * $1).sum() }.reduce(try Variable(0), +)
                }
            }
            // Entries reach ~10; an absolute tolerance of 2e-3 is float rounding at that scale.
            for (a, b) in zip(try hvp(net.forward), try hvp(net.network.forward)) {
                assertClose(a.value, b.value, rtol: 5e-3, atol: 2e-3)
            }
        }
    }

    func testBadConfigurationsAndInputsThrow() throws {
        XCTAssertThrowsError(try ResNet12(width: 0))
        XCTAssertThrowsError(try ResNet12(width: .nan))
        XCTAssertThrowsError(try ResNet12(inChannels: 1, widths: [4, 4, 4]))
        XCTAssertThrowsError(try ResNet12(inChannels: 1, widths: [4, 0, 4, 4]))
        XCTAssertThrowsError(try ResNet12(inChannels: 0, widths: [4, 4, 4, 4]))
        XCTAssertThrowsError(try ResNet12(outputs: 0))
        let net = try ResNet12(inChannels: 1, widths: [2, 2, 2, 2])
        var r = RNG(seed: 1)
        let p = try net.initialize(rng: &r)
        XCTAssertThrowsError(try net(p, Variable(rng.tensor([2, 1, 8, 8])))) { error in
            XCTAssertTrue("\(error)".contains("at least 16x16"), "\(error)")
        }
        XCTAssertThrowsError(try net(p, Variable(rng.tensor([2, 3, 16, 16]))))
    }
}

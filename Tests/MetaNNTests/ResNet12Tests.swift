import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
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

import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import _TestSupport

/// GELU, softplus and LeakyReLU against Double references, in the tails and
/// to second order.
final class ActivationTests: XCTestCase {
    var rng = TestRandom(seed: 17)

    static func gelu(_ x: Double) -> Double { x / 2 * (1 + Foundation.erf(x / 2.squareRoot())) }
    /// log(1 + eˣ) in Double, by log1p so the tails are exact.
    static func softplus(_ x: Double) -> Double { Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x))) }

    func assertMatches(_ act: Activation, _ x: Tensor, _ f: (Double) -> Double, atol: Double = 1e-6,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let y = try act([], Variable(x))
        let want = try Tensor(shape: x.shape, scalars: x.scalars.map { Float(f(Double($0))) })
        assertClose(y.value, want, rtol: 1e-5, atol: atol, "\(act)", file: file, line: line)
    }

    func testNamesAreTheABINames() {
        XCTAssertEqual(Activation(rawValue: "gelu"), .gelu)
        XCTAssertEqual(Activation(rawValue: "softplus"), .softplus)
    }

    func testGELUMatchesDouble() throws {
        try assertMatches(.gelu, rng.tensor([4, 6], -5, 5), Self.gelu)
        try assertMatches(.gelu, try Tensor(shape: [5], scalars: [-10, -1, 0, 1, 10]), Self.gelu)
    }

    func testSoftplusMatchesDoubleAndIsStableInTheTails() throws {
        try assertMatches(.softplus, rng.tensor([4, 6], -8, 8), Self.softplus)
        let tails: [Float] = [-1000, -80, -30, 0, 30, 80, 1000]
        let x = try Tensor(shape: [tails.count], scalars: tails)
        let y = try Activation.softplus([], Variable(x)).value.scalars
        XCTAssertTrue(y.allSatisfy { $0.isFinite && $0 >= 0 }, "\(y)")
        try assertMatches(.softplus, x, Self.softplus, atol: 1e-7)
        // The gradient is σ(x), finite in the tails too, and ½ at 0.
        let g = try Autodiff.grad(at: [Variable(x)]) { try Activation.softplus([], $0[0]).sum() }[0].value.scalars
        let want = tails.map { Float(1 / (1 + Foundation.exp(-Double($0)))) }
        for (a, b) in zip(g, want) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    func testGELUAndSoftplusToSecondOrder() {
        // Away from 0, where |x| in softplus has its kink.
        let x = rng.tensorAwayFromZero([3, 5], gap: 0.1, 3)
        for act in [Activation.gelu, .softplus] {
            checkGradients(at: [x]) { v in try act([], v[0]) }
        }
    }

    func testLeakyReLUMatchesDouble() throws {
        let x = rng.tensor([4, 6], -5, 5)
        for slope: Float in [0.01, 0.2, 0, -0.5, 3] {
            let layer = try LeakyReLU(negativeSlope: slope)
            XCTAssertEqual(layer.parameterSpecs, [])
            let y = try layer([], Variable(x))
            // Bit for bit: x where x > 0, x · slope elsewhere.
            XCTAssertEqual(y.value.scalars, x.scalars.map { $0 > 0 ? $0 : $0 * slope }, "slope \(slope)")
        }
        XCTAssertEqual(try LeakyReLU().negativeSlope, 0.01)
        // PyTorch's derivative at 0: the slope.
        let g = try Autodiff.grad(at: [try Variable(Float(0))]) { try LeakyReLU(negativeSlope: 0.2)([], $0[0]) }[0]
        XCTAssertEqual(try g.item(), 0.2)
    }

    func testLeakyReLUToSecondOrder() throws {
        let x = rng.tensorAwayFromZero([4, 4])
        for slope: Float in [0.01, 0.3, 2] {
            let layer = try LeakyReLU(negativeSlope: slope)
            // Times x, so the second order is not trivially zero.
            checkGradients(at: [x]) { v in try layer([], v[0]) * v[0] }
        }
    }

    func testBadArgumentsThrow() throws {
        XCTAssertThrowsError(try LeakyReLU(negativeSlope: .nan))
        let p = Variable(rng.tensor([2]))
        XCTAssertThrowsError(try LeakyReLU().forward([p][...], Variable(rng.tensor([2]))))
        XCTAssertThrowsError(try Activation.gelu.forward([p][...], Variable(rng.tensor([2]))))
    }

    func testSequentialWithNewActivations() throws {
        let seq = Sequential([try Linear(inputs: 3, outputs: 4), Activation.gelu, try LeakyReLU(),
                              Activation.softplus, try Linear(inputs: 4, outputs: 2)])
        var r = RNG(seed: 5)
        let params = try seq.initialize(rng: &r)
        XCTAssertEqual(try seq(params, Variable(rng.tensor([5, 3]))).shape, [5, 2])
    }
}

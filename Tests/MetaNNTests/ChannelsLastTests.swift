import XCTest
import MetaTensor
import MetaAutodiff
@testable import MetaNN
import _TestSupport

/// Image networks written from layers run channels-last (`ChannelsLastNetwork`)
/// and compute what their layers compute: values, gradients with respect to
/// every parameter and the input, and a Hessian-vector product (second-order
/// MAML differentiates through it).
final class ChannelsLastTests: XCTestCase {
    var rng = TestRandom(seed: 31)

    func build(_ json: String) throws -> any Layer { try ModelBuilder.build(json: json) }


    func conv(_ i: Int, _ o: Int, _ k: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true) -> String {
        #"{"type":"Conv2d","in_channels":\#(i),"out_channels":\#(o),"kernel_size":\#(k),"stride":\#(stride),"padding":\#(padding),"bias":\#(bias)}"#
    }

    func bn(_ c: Int) -> String { #"{"type":"BatchNorm2d","num_features":\#(c)}"# }

    func stage(_ i: Int, _ o: Int) -> String {
        let body = #"{"type":"Sequential","layers":[\#(conv(i, o, 3, padding: 1, bias: false)),\#(bn(o)),{"type":"ReLU"},\#(conv(o, o, 3, padding: 1, bias: false)),\#(bn(o))]}"#
        let shortcut = #"{"type":"Sequential","layers":[\#(conv(i, o, 1, bias: false)),\#(bn(o))]}"#
        return #"{"type":"Residual","body":\#(body),"shortcut":\#(shortcut)},{"type":"ReLU"},{"type":"MaxPool2d","kernel_size":2}"#
    }

    /// (description, input shape with batch)
    var networks: [(String, [Int])] {
        [
            // examples/custom_model.py's encoder, narrow.
            (#"{"type":"Sequential","layers":[\#(conv(1, 4, 3, padding: 1, bias: false)),\#(bn(4)),{"type":"ReLU"},\#(stage(4, 4)),\#(stage(4, 6)),{"type":"GlobalAvgPool2d"}]}"#, [3, 1, 12, 12]),
            // Strided and pointwise convolutions, leaky ReLU, an identity residual, flatten, BatchNorm1d, a head.
            // Ends on images (NCHW out, as the layers give).
            (#"{"type":"Sequential","layers":[\#(conv(2, 3, 3, padding: 1)),\#(bn(3)),{"type":"Tanh"},{"type":"MaxPool2d","kernel_size":2}]}"#, [3, 2, 6, 10]),
            (#"{"type":"Sequential","layers":[\#(conv(3, 5, 3, stride: 2, padding: 1)),\#(bn(5)),{"type":"LeakyReLU","negative_slope":0.1},{"type":"Residual","body":\#(conv(5, 5, 3, padding: 1)),"shortcut":null},\#(conv(5, 4, 1)),{"type":"GELU"},{"type":"Flatten"},{"type":"BatchNorm1d","num_features":64},{"type":"Linear","in_features":64,"out_features":3,"bias":true}]}"#, [4, 3, 8, 8]),
        ]
    }

    func testImageNetworksRunChannelsLastAndComputeTheirLayers() throws {
        for (json, shape) in networks {
            let layers = try build(json)
            let fast = Recognition.optimized(layers, inputShape: Array(shape.dropFirst()))
            XCTAssertTrue(fast is FastPath<ChannelsLastNetwork>, "\(type(of: fast))")
            XCTAssertEqual(fast.parameterSpecs, layers.parameterSpecs)
            var r = RNG(seed: 5)
            // Initial values plus noise, so batch norm's gammas and betas are not all 1 and 0.
            let params = try layers.initialParameters(rng: &r).map { t in
                Variable(try (Variable(t) + Variable(rng.tensor(t.shape)) * Float(0.1)).value)
            }
            let x = Variable(rng.tensor(shape))
            assertClose(try fast.forward(params[...], x).value, try layers.forward(params[...], x).value,
                        rtol: 1e-4, atol: 1e-5)
            func grads(_ m: any Model, createGraph: Bool) throws -> [Variable] {
                try Autodiff.grad(at: params + [x], createGraph: createGraph) { v in
                    let y = try m.forward(v.dropLast(), v[v.count - 1])
                    return try (y * y).sum()
                }
            }
            for (a, b) in zip(try grads(fast, createGraph: false), try grads(layers, createGraph: false)) {
                assertClose(a.value, b.value, rtol: 2e-3, atol: 2e-4)
            }
            let v = params.map { Variable(rng.tensor($0.shape)) } + [Variable(rng.tensor(shape))]
            func hvp(_ m: any Model) throws -> [Variable] {
                try Autodiff.grad(at: params + [x]) { w in
                    let g = try Autodiff.grad(at: w, createGraph: true) { u in
                        let y = try m.forward(u.dropLast(), u[u.count - 1])
                        return try (y * y).sum()
                    }
                    return try zip(g, v).map { try ($0 * $1).sum() }.reduce(try Variable(0), +)
                }
            }
            for (a, b) in zip(try hvp(fast), try hvp(layers)) { assertClose(a.value, b.value, rtol: 5e-3, atol: 2e-3) }
        }
    }

    func testPartsWithoutAChannelsLastFormLeaveTheLayers() throws {
        for part in [#"{"type":"AvgPool2d","kernel_size":2}"#, #"{"type":"MaxPool2d","kernel_size":3,"stride":2}"#,
                     #"{"type":"LayerNorm","normalized_shape":[4, 8, 8]}"#] {
            let layers = try build(#"{"type":"Sequential","layers":[\#(conv(1, 4, 3, padding: 1)),\#(part),{"type":"Flatten"}]}"#)
            XCTAssertTrue(Recognition.optimized(layers) is Sequential, part)
        }
        // Without a convolution there is nothing to gain.
        let vector = try build(#"{"type":"Sequential","layers":[{"type":"Flatten"},{"type":"Linear","in_features":4,"out_features":2,"bias":true},{"type":"LeakyReLU","negative_slope":0.1}]}"#)
        XCTAssertTrue(Recognition.optimized(vector) is Sequential)
    }

    func testAnInputTheFastPathRefusesIsReportedByTheLayers() throws {
        let layers = try build(networks[0].0)
        let fast = Recognition.optimized(layers)
        var r = RNG(seed: 1)
        let params = try layers.initialParameters(rng: &r).map { Variable($0) }
        XCTAssertThrowsError(try fast.forward(params[...], Variable(rng.tensor([2, 3, 12, 12])))) { error in
            XCTAssertTrue("\(error)".contains("Conv2d"), "\(error)")
        }
    }
}

import XCTest
import MetaTensor
import MetaAutodiff
import _TestSupport

/// The fused channels-last primitives (convolution, batch norm, max-pool)
/// against the compositions they replace, their adjoint identities, and
/// finite differences to second order (third for batch norm's backward).
final class ChannelsLastGradTests: XCTestCase {
    var rng = TestRandom(seed: 21)

    func nhwc(_ t: Variable) throws -> Variable { try t.permuted([0, 2, 3, 1]) }
    func nchw(_ t: Variable) throws -> Variable { try t.permuted([0, 3, 1, 2]) }

    /// The NCHW composition: im2col, one shared weight matrix, bias.
    func composedConv(_ x: Variable, _ w: Variable, _ b: Variable?, _ k: (Int, Int), _ o: Conv2dOptions) throws -> Variable {
        let (n, c) = (x.shape[0], x.shape[1])
        let f = w.shape[0]
        let cols = try x.im2col(kernelSize: k, stride: o.stride, padding: o.padding)
        var y = try Variable.matmul(try w.reshaped([f, c * k.0 * k.1]), cols)
        if let b { y = try y + b.reshaped([f, 1]) }
        let oh = (x.shape[2] + 2 * o.padding.0 - k.0) / o.stride.0 + 1
        let ow = (x.shape[3] + 2 * o.padding.1 - k.1) / o.stride.1 + 1
        return try y.reshaped([n, f, oh, ow])
    }

    func dot(_ a: Tensor, _ b: Tensor) -> Double {
        zip(a.scalars, b.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// (image NCHW, filters, kernel, stride, padding); the fifth is large
    /// enough to be cut into several chunks and parts.
    let cases: [([Int], Int, (Int, Int), (Int, Int), (Int, Int))] = [
        ([2, 3, 5, 5], 4, (3, 3), (1, 1), (1, 1)),
        ([1, 2, 6, 7], 3, (3, 2), (2, 1), (0, 1)),
        ([2, 1, 7, 6], 2, (2, 3), (2, 3), (1, 0)),
        ([1, 1, 3, 4], 2, (2, 2), (3, 2), (2, 2)),
        ([12, 8, 20, 20], 6, (3, 3), (1, 1), (1, 1)),
        // Single-channel images take the direct kernels: 75 filters exercise
        // their 64-wide, 8-wide and scalar blocks; 9 images make several parts.
        ([9, 1, 28, 28], 75, (3, 3), (1, 1), (1, 1)),
        ([3, 1, 11, 9], 13, (3, 2), (2, 3), (2, 1)),
    ] + winogradCases

    /// 3x3 stride-1 cases that take the Winograd path (ConvWinograd.swift):
    /// odd and even output sides (tiles cut off at the last row or column),
    /// padding 0, 1 and 2, filters and channels of 16, 24 and 64; the last is
    /// cut into several chunks and parts.
    static let winogradCases: [([Int], Int, (Int, Int), (Int, Int), (Int, Int))] = [
        ([2, 16, 6, 8], 16, (3, 3), (1, 1), (1, 1)),
        ([3, 16, 7, 9], 24, (3, 3), (1, 1), (1, 1)),
        ([2, 24, 9, 8], 16, (3, 3), (1, 1), (0, 0)),
        ([2, 16, 5, 6], 16, (3, 3), (1, 1), (2, 2)),
        ([3, 16, 2, 2], 16, (3, 3), (1, 1), (1, 1)),
        ([14, 64, 14, 14], 64, (3, 3), (1, 1), (1, 1)),
    ]
    var winogradCases: [([Int], Int, (Int, Int), (Int, Int), (Int, Int))] { Self.winogradCases }

    /// The Winograd cases take that path, and the other cases (and Conv4's
    /// 3x3 last layer, where tiles would waste 44% of their multiplies) do not.
    func testWinogradPathIsTakenWhereItShould() throws {
        func uses(_ shape: [Int], _ f: Int, _ k: (Int, Int), _ s: (Int, Int), _ p: (Int, Int)) throws -> Bool {
            try ConvNHWCGeometry(image: [shape[0], shape[2], shape[3], shape[1]], kernelSize: k, stride: s, padding: p,
                                 op: "test").usesWinograd(filters: f)
        }
        for (shape, f, k, s, p) in winogradCases { XCTAssertTrue(try uses(shape, f, k, s, p), "\(shape)") }
        for (shape, f, k, s, p) in cases.dropLast(winogradCases.count) { XCTAssertFalse(try uses(shape, f, k, s, p), "\(shape)") }
        XCTAssertFalse(try uses([8, 64, 3, 3], 64, (3, 3), (1, 1), (1, 1)))
        XCTAssertFalse(try uses([8, 64, 14, 14], 64, (3, 3), (2, 2), (1, 1)))
        XCTAssertFalse(try uses([8, 12, 14, 14], 64, (3, 3), (1, 1), (1, 1)))
    }

    /// An empty batch on the Winograd path: empty outputs, and a zero weight gradient.
    func testWinogradEmptyBatch() throws {
        let x = rng.tensor([0, 6, 6, 16]), w = rng.tensor([16, 3, 3, 16])
        let y = try Tensor.conv2dNHWC(x, w, bias: nil, stride: (1, 1), padding: (1, 1))
        XCTAssertEqual(y.shape, [0, 6, 6, 16])
        let dx = try Tensor.conv2dNHWCBackwardInput(y, w, imageShape: x.shape, stride: (1, 1), padding: (1, 1))
        XCTAssertEqual(dx.shape, x.shape)
        let dw = try Tensor.conv2dNHWCBackwardWeight(y, x, kernelSize: (3, 3), stride: (1, 1), padding: (1, 1))
        XCTAssertEqual(dw.shape, w.shape)
        XCTAssertEqual(dw.scalars, [Float](repeating: 0, count: w.count))
    }

    func testConvMatchesIm2ColComposition() throws {
        for (shape, f, k, s, p) in cases {
            let o = Conv2dOptions(stride: s, padding: p)
            let x = Variable(rng.tensor(shape)), w = Variable(rng.tensor([f, shape[1], k.0, k.1])), b = Variable(rng.tensor([f]))
            let fused = try Variable.conv2dNHWC(try nhwc(x), try w.permuted([0, 2, 3, 1]), bias: b, o)
            assertClose(try nchw(fused).value, try composedConv(x, w, b, k, o).value, rtol: 1e-4, atol: 1e-5, "\(shape) k \(k)")
        }
    }

    /// ⟨g, conv(x, w)⟩ = ⟨backwardInput(g, w), x⟩ = ⟨backwardWeight(g, x), w⟩.
    func testConvAdjointIdentities() throws {
        for (shape, f, k, s, p) in cases {
            let o = Conv2dOptions(stride: s, padding: p)
            let x = rng.tensor([shape[0], shape[2], shape[3], shape[1]]), w = rng.tensor([f, k.0, k.1, shape[1]])
            let y = try Tensor.conv2dNHWC(x, w, bias: nil, stride: s, padding: p)
            let g = rng.tensor(y.shape)
            let dx = try Variable.convNHWCBackwardInput(Variable(g), Variable(w), imageShape: x.shape, o).value
            let dw = try Variable.convNHWCBackwardWeight(Variable(g), Variable(x), kernelSize: k, o).value
            assertClose(dot(g, y), dot(dx, x), rtol: 1e-4, atol: 1e-3, "\(shape) dx")
            assertClose(dot(g, y), dot(dw, w), rtol: 1e-4, atol: 1e-3, "\(shape) dw")
        }
    }

    func testConvGradientsToSecondOrder() throws {
        for (shape, f, k, s, p) in cases.prefix(4) {
            let o = Conv2dOptions(stride: s, padding: p)
            let xs = [shape[0], shape[2], shape[3], shape[1]], ws = [f, k.0, k.1, shape[1]]
            checkGradients(at: [rng.tensor(xs), rng.tensor(ws), rng.tensor([f])]) { v in
                try Variable.conv2dNHWC(v[0], v[1], bias: v[2], o).tanh()
            }
            // The two backward primitives on their own: their VJPs and the VJPs of those.
            let ys = try Tensor.conv2dNHWC(rng.tensor(xs), rng.tensor(ws), bias: nil, stride: s, padding: p).shape
            checkGradients(at: [rng.tensor(ys), rng.tensor(ws)]) { v in
                try Variable.convNHWCBackwardInput(v[0], v[1], imageShape: xs, o).tanh()
            }
            checkGradients(at: [rng.tensor(ys), rng.tensor(xs)]) { v in
                try Variable.convNHWCBackwardWeight(v[0], v[1], kernelSize: k, o).tanh()
            }
        }
    }

    /// The Winograd primitives and their VJPs to second order, on inputs
    /// scaled so that tanh is not saturated (outputs sum 144-576 products).
    func testWinogradConvGradientsToSecondOrder() throws {
        for (shape, f, k, s, p) in winogradCases.prefix(4) {
            let o = Conv2dOptions(stride: s, padding: p)
            let xs = [shape[0], shape[2], shape[3], shape[1]], ws = [f, k.0, k.1, shape[1]]
            func small(_ shape: [Int]) throws -> Tensor { try rng.tensor(shape).affine(scale: 0.1, shift: 0) }
            checkGradients(at: [try small(xs), try small(ws), rng.tensor([f])]) { v in
                try Variable.conv2dNHWC(v[0], v[1], bias: v[2], o).tanh()
            }
            let ys = try Tensor.conv2dNHWC(rng.tensor(xs), rng.tensor(ws), bias: nil, stride: s, padding: p).shape
            checkGradients(at: [try small(ys), try small(ws)]) { v in
                try Variable.convNHWCBackwardInput(v[0], v[1], imageShape: xs, o).tanh()
            }
            checkGradients(at: [try small(ys), try small(xs)]) { v in
                try Variable.convNHWCBackwardWeight(v[0], v[1], kernelSize: k, o).tanh()
            }
        }
    }

    func testConvFirstLayerSkipsInputCotangent() throws {
        // A constant image: the cotangent of x is neither needed nor computed,
        // and the weight gradient is still that of the composition.
        let o = Conv2dOptions(stride: (1, 1), padding: (1, 1))
        let x = rng.tensor([3, 1, 6, 6]), w = rng.tensor([4, 1, 3, 3]), b = rng.tensor([4])
        let fused = try Autodiff.grad(at: [Variable(w), Variable(b)]) { v in
            try (try Variable.conv2dNHWC(try nhwc(Variable(x)), try v[0].permuted([0, 2, 3, 1]), bias: v[1], o)).square().sum()
        }
        let composed = try Autodiff.grad(at: [Variable(w), Variable(b)]) { v in
            try composedConv(Variable(x), v[0], v[1], (3, 3), o).square().sum()
        }
        for (a, c) in zip(fused, composed) { assertClose(a.value, c.value, rtol: 1e-4, atol: 1e-4) }
    }

    // MARK: - Batch norm

    /// The composition of the BatchNorm layer, over all axes but the last.
    func composedNorm(_ x: Variable, _ gamma: Variable, _ beta: Variable, eps: Float) throws -> Variable {
        let axes = Array(0..<(x.rank - 1))
        let centred = try x - x.mean(axes: axes, keepDims: true)
        let variance = try centred.square().mean(axes: axes, keepDims: true)
        return try centred / (variance + eps).sqrt() * gamma + beta
    }

    func testBatchNormMatchesComposition() throws {
        for shape in [[6, 5], [2, 3, 4, 8], [3, 5, 5, 16], [40, 30, 9]] {
            let c = shape.last!
            // A large mean and a small spread: the kernel must not lose digits.
            let x = Variable(try rng.tensor(shape).affine(scale: 0.5, shift: 20))
            let gamma = Variable(rng.tensor([c])), beta = Variable(rng.tensor([c]))
            assertClose(try Variable.batchNormChannelsLast(x, gamma: gamma, beta: beta, eps: 1e-5).value,
                        try composedNorm(x, gamma, beta, eps: 1e-5).value, rtol: 1e-3, atol: 1e-4, "\(shape)")
            let g = Variable(rng.tensor(shape))
            let fused = try Autodiff.grad(at: [x, gamma, beta]) { v in
                try (Variable.batchNormChannelsLast(v[0], gamma: v[1], beta: v[2], eps: 1e-5) * g).sum()
            }
            let composed = try Autodiff.grad(at: [x, gamma, beta]) { v in
                try (composedNorm(v[0], v[1], v[2], eps: 1e-5) * g).sum()
            }
            for (a, b) in zip(fused, composed) { assertClose(a.value, b.value, rtol: 2e-3, atol: 2e-3, "\(shape)") }
        }
    }

    /// Statistics gathered by the convolution's chunks equal those of its output.
    func testConvStatisticsMatchOutputStatistics() throws {
        for (shape, f, k, s, p) in cases {
            let x = try rng.tensor([shape[0], shape[2], shape[3], shape[1]]).affine(scale: 1, shift: 3)
            let w = rng.tensor([f, k.0, k.1, shape[1]]), b = try rng.tensor([f]).affine(scale: 5, shift: 0)
            let (y, mean, invStd) = try Tensor.conv2dNHWCWithStatistics(x, w, bias: b, stride: s, padding: p, eps: 1e-5)
            assertClose(y, try Tensor.conv2dNHWC(x, w, bias: b, stride: s, padding: p), rtol: 0, atol: 0)
            let (m, v) = try y.channelStatistics(eps: 1e-5)
            assertClose(mean, m, rtol: 1e-5, atol: 1e-5, "\(shape)")
            assertClose(invStd, v, rtol: 1e-4, atol: 1e-5, "\(shape)")
            let o = Conv2dOptions(stride: s, padding: p)
            let gamma = Variable(rng.tensor([f])), beta = Variable(rng.tensor([f]))
            let (conv, stats) = try Variable.conv2dNHWCWithStatistics(Variable(x), Variable(w), bias: Variable(b), eps: 1e-5, o)
            let fused = try Variable.batchNormChannelsLast(conv, gamma: gamma, beta: beta, statistics: stats)
            XCTAssertThrowsError(try Variable.batchNormChannelsLast(Variable(y), gamma: gamma, beta: beta, statistics: stats))
            let apart = try Variable.batchNormChannelsLast(try Variable.conv2dNHWC(Variable(x), Variable(w), bias: Variable(b), o),
                                                           gamma: gamma, beta: beta, eps: 1e-5)
            assertClose(fused.value, apart.value, rtol: 1e-4, atol: 1e-4)
        }
    }

    func testBatchNormGradientsToSecondOrder() throws {
        for shape in [[5, 3], [2, 3, 3, 4], [4, 2, 9]] {
            let c = shape.last!
            checkGradients(at: [rng.tensor(shape), rng.tensor([c]), rng.tensor([c])], eps: 1e-2, rtol: 3e-2) { v in
                try Variable.batchNormChannelsLast(v[0], gamma: v[1], beta: v[2], eps: 1e-3)
            }
        }
    }

    /// The backward pass of batch norm is itself differentiated by
    /// second-order MAML, and its own VJPs are checked here: finite
    /// differences of ⟨∇(x, γ, β)⟨BN, g⟩, ·⟩ to second order, i.e. third
    /// derivatives of batch norm, in (x, γ, β) and in the cotangent g.
    func testBatchNormBackwardGradientsToSecondOrder() throws {
        for shape in [[5, 3], [2, 3, 2, 4]] {
            let c = shape.last!
            checkGradients(at: [rng.tensor(shape), rng.tensor([c]), rng.tensor([c]), rng.tensor(shape)],
                           eps: 1e-2, rtol: 3e-2, atol: 2e-3) { v in
                let gs = try Autodiff.grad(at: [v[0], v[1], v[2]], createGraph: true) { p in
                    try (Variable.batchNormChannelsLast(p[0], gamma: p[1], beta: p[2], eps: 1e-3) * v[3]).sum()
                }
                return try Variable.concat([gs[0].reshaped([-1]), gs[1], gs[2]], axis: 0)
            }
        }
    }

    func testBatchNormSecondOrderMatchesComposition() throws {
        // Hessian-vector products through the fused primitive and the composition.
        let shape = [3, 4, 4, 5]
        let x = rng.tensor(shape), gamma = rng.tensor([5]), beta = rng.tensor([5])
        let g = Variable(rng.tensor(shape)), u = [rng.tensor(shape), rng.tensor([5]), rng.tensor([5])]
        func hvp(_ f: @escaping ([Variable]) throws -> Variable) throws -> [Tensor] {
            try Autodiff.grad(at: [Variable(x), Variable(gamma), Variable(beta)]) { v in
                let gs = try Autodiff.grad(at: v, createGraph: true) { p in try (f(p) * g).sum() }
                return try zip(gs, u).map { try ($0 * Variable($1)).sum() }.reduce(Variable(Float(0))) { try $0 + $1 }
            }.map(\.value)
        }
        let fused = try hvp { p in try Variable.batchNormChannelsLast(p[0], gamma: p[1], beta: p[2], eps: 1e-5) }
        let composed = try hvp { p in try self.composedNorm(p[0], p[1], p[2], eps: 1e-5) }
        for (a, b) in zip(fused, composed) { assertClose(a, b, rtol: 2e-3, atol: 2e-3) }
    }

    func testChannelSums() throws {
        let x = rng.tensor([3, 4, 5, 6])
        assertClose(try Variable(x).channelSums().value, try x.reshaped([-1, 6]).sum(axes: [0]), rtol: 1e-5, atol: 1e-5)
        checkGradients(at: [rng.tensor([3, 2, 5])]) { v in try v[0].channelSums().square() }
    }

    // MARK: - Max pool

    /// Distinct values 0.1 apart in random order: no ties, no kink within a
    /// finite-difference step.
    func distinct(_ shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        var v = (0..<n).map { Float($0) * 0.1 - Float(n) * 0.05 }
        for i in stride(from: n - 1, to: 0, by: -1) { v.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        return try! Tensor(shape: shape, scalars: v)
    }

    /// reshape + max(axes:) on NCHW, as the MaxPool2d layer composes it.
    func composedPool(_ x: Variable, _ k: Int) throws -> Variable {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (h / k, w / k)
        let tiled = try x.sliced(lower: [0, 0, 0, 0], upper: [n, c, oh * k, ow * k])
        return try tiled.reshaped([n, c, oh, k, ow, k]).max(axes: [3, 5])
    }

    func testMaxPoolMatchesComposition() throws {
        for (shape, k) in [([2, 16, 6, 6], 2), ([1, 3, 7, 5], 2), ([2, 9, 7, 7], 3)] {
            // Ties included: values on a coarse grid, and zeros as after a ReLU.
            let x = Variable(try rng.tensor(shape).affine(scale: 2, shift: 0).map(.relu))
            let rounded = Variable(try Tensor(shape: shape, scalars: x.scalars.map { ($0 * 2).rounded() / 2 }))
            let fused = try nchw(try nhwc(rounded).maxPoolNHWC(kernelSize: k))
            assertClose(fused.value, try composedPool(rounded, k).value, rtol: 0, atol: 0)
            let g = Variable(rng.tensor(fused.shape))
            let a = try Autodiff.grad(at: [rounded]) { v in try (nchw(try nhwc(v[0]).maxPoolNHWC(kernelSize: k)) * g).sum() }
            let b = try Autodiff.grad(at: [rounded]) { v in try (composedPool(v[0], k) * g).sum() }
            assertClose(a[0].value, b[0].value, rtol: 1e-6, atol: 1e-6, "\(shape) k \(k)")
        }
    }

    /// Pooling with `relu` against ReLU then pooling (Conv4's order of the layers).
    func testMaxPoolWithReLUMatchesReLUThenPool() throws {
        for (shape, k) in [([2, 16, 6, 6], 2), ([1, 3, 7, 5], 2), ([2, 9, 7, 7], 3)] {
            // Ties, zeros and all-negative windows.
            let x = Variable(try Tensor(shape: shape, scalars: rng.tensor(shape).scalars.map { ($0 * 4).rounded() / 2 - 0.5 }))
            let fused = try nchw(try nhwc(x).maxPoolNHWC(kernelSize: k, relu: true))
            assertClose(fused.value, try composedPool(x.relu(), k).value, rtol: 0, atol: 0)
            let g = Variable(rng.tensor(fused.shape))
            let a = try Autodiff.grad(at: [x]) { v in try (nchw(try nhwc(v[0]).maxPoolNHWC(kernelSize: k, relu: true)) * g).sum() }
            let b = try Autodiff.grad(at: [x]) { v in try (composedPool(v[0].relu(), k) * g).sum() }
            assertClose(a[0].value, b[0].value, rtol: 1e-6, atol: 1e-6, "\(shape) k \(k)")
        }
    }

    func testMaxPoolUnpoolGatherAreAdjoint() throws {
        for (shape, k) in [([2, 5, 4, 3], 2), ([2, 4, 6, 16], 2), ([1, 7, 6, 8], 3)] {
            let x = try Tensor(shape: shape, scalars: rng.tensor(shape).scalars.map { ($0 * 2).rounded() })
            let pooled = try x.maxPoolNHWC(kernelSize: k)
            let g = rng.tensor(pooled.shape), h = rng.tensor(x.shape)
            for relu in [false, true] {
                let up = try Tensor.maxUnpoolNHWC(g, x, kernelSize: k, relu: relu)
                let down = try Tensor.maxGatherNHWC(h, x, kernelSize: k, relu: relu)
                assertClose(dot(up, h), dot(g, down), rtol: 1e-5, atol: 1e-5, "\(shape) relu \(relu)")
            }
        }
    }

    func testMaxPoolGradientsToSecondOrder() throws {
        for relu in [false, true] {
            checkGradients(at: [distinct([2, 4, 6, 3])]) { v in try v[0].maxPoolNHWC(kernelSize: 2, relu: relu).square() }
            checkGradients(at: [distinct([1, 7, 5, 9])]) { v in try v[0].maxPoolNHWC(kernelSize: 2, relu: relu).tanh() }
            checkGradients(at: [distinct([2, 4, 4, 16])]) { v in try v[0].maxPoolNHWC(kernelSize: 2, relu: relu).tanh() }
        }
    }

    // MARK: - Batch norm + pool + ReLU

    /// What the fused primitive replaces.
    func composedNormPool(_ x: Variable, _ gamma: Variable, _ beta: Variable) throws -> Variable {
        try Variable.batchNormChannelsLast(x, gamma: gamma, beta: beta, eps: 1e-3).maxPoolNHWC(kernelSize: 2, relu: true)
    }

    func fusedNormPool(_ x: Variable, _ gamma: Variable, _ beta: Variable) throws -> Variable {
        try Variable.batchNormPoolReLU(x, gamma: gamma, beta: beta, eps: 1e-3)
    }

    let normPoolShapes = [[2, 4, 4, 8], [3, 7, 5, 16], [1, 6, 7, 8], [2, 3, 3, 4]]

    func testNormPoolMatchesComposition() throws {
        for shape in normPoolShapes {
            let c = shape[3]
            let x = Variable(rng.tensor(shape)), gamma = Variable(rng.tensor([c])), beta = Variable(rng.tensor([c]))
            let fused = try fusedNormPool(x, gamma, beta)
            assertClose(fused.value, try composedNormPool(x, gamma, beta).value, rtol: 1e-5, atol: 1e-6, "\(shape)")
            let g = Variable(rng.tensor(fused.shape))
            let a = try Autodiff.grad(at: [x, gamma, beta]) { v in try (fusedNormPool(v[0], v[1], v[2]) * g).sum() }
            let b = try Autodiff.grad(at: [x, gamma, beta]) { v in try (composedNormPool(v[0], v[1], v[2]) * g).sum() }
            for (p, q) in zip(a, b) { assertClose(p.value, q.value, rtol: 1e-4, atol: 1e-5, "\(shape)") }
        }
    }

    /// The VJPs of the backward primitives against the composition's: the
    /// gradient of ⟨∇(x, γ, β)⟨F, g⟩, u⟩ with respect to x, γ, β and g, which
    /// is what second-order MAML differentiates.
    func testNormPoolSecondOrderMatchesComposition() throws {
        for shape in normPoolShapes {
            let c = shape[3]
            let inputs = [rng.tensor(shape), rng.tensor([c]), rng.tensor([c]), rng.tensor([shape[0], shape[1] / 2, shape[2] / 2, c])]
            let u = [rng.tensor(shape), rng.tensor([c]), rng.tensor([c])]
            func second(_ f: @escaping (Variable, Variable, Variable) throws -> Variable) throws -> [Tensor] {
                try Autodiff.grad(at: inputs.map { Variable($0) }) { v in
                    let gs = try Autodiff.grad(at: [v[0], v[1], v[2]], createGraph: true) { p in try (f(p[0], p[1], p[2]) * v[3]).sum() }
                    return try zip(gs, u).map { try ($0 * Variable($1)).sum() }.reduce(Variable(Float(0))) { try $0 + $1 }
                }.map(\.value)
            }
            let a = try second(fusedNormPool), b = try second(composedNormPool)
            for (i, (p, q)) in zip(a, b).enumerated() { assertClose(p, q, rtol: 1e-3, atol: 1e-4, "\(shape) input \(i)") }
        }
    }

    func testNormPoolGradientsToSecondOrder() throws {
        // Few positions per window and a large eps keep windows' maxima apart
        // along the finite-difference steps.
        checkGradients(at: [rng.tensor([2, 4, 2, 8]), rng.tensor([8], 0.5, 1.5), rng.tensor([8], 0.5, 1.5)], eps: 1e-3,
                       rtol: 3e-2, atol: 2e-3) { v in try self.fusedNormPool(v[0], v[1], v[2]) }
    }
}

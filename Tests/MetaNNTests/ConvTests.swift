import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import _TestSupport

final class ConvTests: XCTestCase {
    var rng = TestRandom(seed: 9)

    /// Direct convolution by loops, zero padding.
    func naiveConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride: (Int, Int), padding: (Int, Int)) -> Tensor {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (f, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let oh = (h + 2 * padding.0 - kh) / stride.0 + 1, ow = (wd + 2 * padding.1 - kw) / stride.1 + 1
        let xs = x.scalars, ws = w.scalars, bs = b?.scalars
        var y = [Float](repeating: 0, count: n * f * oh * ow)
        for i in 0..<n { for o in 0..<f { for r in 0..<oh { for s in 0..<ow {
            var acc = bs?[o] ?? 0
            for ch in 0..<c { for u in 0..<kh { for v in 0..<kw {
                let yy = r * stride.0 - padding.0 + u, xx = s * stride.1 - padding.1 + v
                guard yy >= 0, yy < h, xx >= 0, xx < wd else { continue }
                acc += ws[((o * c + ch) * kh + u) * kw + v] * xs[((i * c + ch) * h + yy) * wd + xx]
            } } }
            y[((i * f + o) * oh + r) * ow + s] = acc
        } } } }
        return try! Tensor(shape: [n, f, oh, ow], scalars: y)
    }

    /// Max over each window by loops.
    func naivePool(_ x: Tensor, k: Int, s: Int) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = (h - k) / s + 1, ow = (w - k) / s + 1
        let xs = x.scalars
        var y = [Float]()
        for plane in 0..<(n * c) { for r in 0..<oh { for q in 0..<ow {
            var m = -Float.infinity
            for u in 0..<k { for v in 0..<k { m = max(m, xs[(plane * h + r * s + u) * w + q * s + v]) } }
            y.append(m)
        } } }
        return try! Tensor(shape: [n, c, oh, ow], scalars: y)
    }

    /// Distinct values 0.1 apart in random order: no ties, no kinks within a
    /// finite-difference step.
    func distinct(_ shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        var v = (0..<n).map { Float($0) * 0.1 - Float(n) * 0.05 }
        for i in stride(from: n - 1, to: 0, by: -1) { v.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        return try! Tensor(shape: shape, scalars: v)
    }

    func testConv2dMatchesDirectConvolution() throws {
        let cases: [((Int, Int), (Int, Int), (Int, Int), [Int])] = [
            ((3, 3), (1, 1), (1, 1), [2, 3, 5, 5]),
            ((2, 3), (2, 1), (1, 0), [1, 2, 6, 5]),
            ((3, 3), (2, 2), (0, 0), [2, 1, 7, 8]),
        ]
        for (k, s, p, shape) in cases {
            let conv = try Conv2d(inChannels: shape[1], outChannels: 4, kernelSize: k, stride: s, padding: p)
            let w = rng.tensor([4, shape[1], k.0, k.1]), b = rng.tensor([4]), x = rng.tensor(shape)
            let y = try conv([Variable(w), Variable(b)], Variable(x))
            assertClose(y.value, naiveConv(x, w, b, stride: s, padding: p), "k \(k) s \(s) p \(p)")
        }
        let noBias = try Conv2d(inChannels: 2, outChannels: 3, kernelSize: 2, bias: false)
        XCTAssertEqual(noBias.parameterSpecs, [ParameterSpec("W", [3, 2, 2, 2])])
        let w = rng.tensor([3, 2, 2, 2]), x = rng.tensor([1, 2, 3, 4])
        assertClose(try noBias([Variable(w)], Variable(x)).value, naiveConv(x, w, nil, stride: (1, 1), padding: (0, 0)))
    }

    func testConv2dGradientsToSecondOrder() throws {
        let conv = try Conv2d(inChannels: 2, outChannels: 2, kernelSize: 3, padding: 1)
        checkGradients(at: [rng.tensor([2, 2, 3, 3]), rng.tensor([2, 2, 3, 3]), rng.tensor([2])]) { v in
            try conv([v[1], v[2]], v[0]).tanh()
        }
        let strided = try Conv2d(inChannels: 1, outChannels: 2, kernelSize: (2, 3), stride: (2, 1), padding: (1, 0))
        checkGradients(at: [rng.tensor([1, 1, 4, 4]), rng.tensor([2, 1, 2, 3]), rng.tensor([2])]) { v in
            try strided([v[1], v[2]], v[0]).tanh()
        }
    }

    func testMaxPoolMatchesLoopsIncludingOddSizesAndOverlap() throws {
        for (shape, k, s) in [([2, 3, 4, 6], 2, 2), ([1, 2, 5, 7], 2, 2), ([1, 2, 5, 5], 3, 2), ([1, 1, 3, 3], 2, 1)] {
            let pool = try MaxPool2d(kernelSize: k, stride: s)
            let x = rng.tensor(shape)
            assertClose(try pool([], Variable(x)).value, naivePool(x, k: k, s: s), "\(shape) k \(k) s \(s)")
        }
        // PyTorch's floor: 21 → 10.
        XCTAssertEqual(try MaxPool2d(kernelSize: 2)([], Variable(try Tensor.zeros([1, 1, 21, 21]))).shape, [1, 1, 10, 10])
    }

    func testMaxPoolGradientsToSecondOrder() throws {
        for (shape, k, s) in [([1, 2, 4, 4], 2, 2), ([1, 1, 5, 5], 2, 2), ([1, 1, 5, 5], 3, 2)] {
            let pool = try MaxPool2d(kernelSize: k, stride: s)
            checkGradients(at: [distinct(shape)]) { v in try pool([], v[0]).square() }
        }
        // The gradient lands on each window's argmax.
        let x = try Tensor(shape: [1, 1, 2, 2], scalars: [0.1, 0.9, 0.3, 0.2])
        let g = try Autodiff.grad(at: [Variable(x)]) { v in try MaxPool2d(kernelSize: 2)([], v[0]).sum() }[0]
        XCTAssertEqual(g.scalars, [0, 1, 0, 0])
    }

    func testBatchNormNormalisesPerChannel() throws {
        let bn = try BatchNorm(features: 3)
        var r = RNG(seed: 2)
        let p = try bn.initialize(rng: &r)
        XCTAssertEqual(p.names, ["gamma", "beta"])
        XCTAssertEqual(p.values[0].scalars, [1, 1, 1])
        XCTAssertEqual(p.values[1].scalars, [0, 0, 0])
        // Channels with very different offsets and scales.
        let base = rng.tensor([4, 3, 2, 5])
        let x = try base.zip(try Tensor(shape: [1, 3, 1, 1], scalars: [10, 0.1, 3]), .mul)
            .zip(try Tensor(shape: [1, 3, 1, 1], scalars: [5, -2, 0]), .add)
        let y = try bn(p, Variable(x)).scalars
        func channelStats(_ t: [Float], _ ch: Int) -> (Double, Double) {
            var vals = [Double]()
            for n in 0..<4 { for i in 0..<10 { vals.append(Double(t[(n * 3 + ch) * 10 + i])) } }
            let m = vals.reduce(0, +) / 40
            return (m, vals.reduce(0) { $0 + ($1 - m) * ($1 - m) } / 40)
        }
        for ch in 0..<3 {
            let (m, v) = channelStats(y, ch)
            assertClose(m, 0, atol: 1e-5, "channel \(ch) mean")
            // Exactly 1 only without eps: the output variance is σ² / (σ² + ε),
            // visibly below 1 for the channel scaled by 0.1.
            let inputVariance = channelStats(x.scalars, ch).1
            assertClose(v, inputVariance / (inputVariance + 1e-5), rtol: 1e-4, "channel \(ch) variance")
            assertClose(v, 1, rtol: 5e-3, "channel \(ch) variance")
        }
        // γ and β scale and shift each normalised channel.
        let gamma = try Variable(shape: [2], scalars: [2, -1]), beta = try Variable(shape: [2], scalars: [0.5, 3])
        let x2 = rng.tensor([5, 2])
        let plain = try BatchNorm(features: 2)([Variable(try Tensor.ones([2])), Variable(try Tensor.zeros([2]))], Variable(x2)).scalars
        let affine = try BatchNorm(features: 2)([gamma, beta], Variable(x2)).scalars
        for i in 0..<10 {
            let ch = i % 2
            assertClose(Double(affine[i]), Double(plain[i] * gamma.scalars[ch] + beta.scalars[ch]), atol: 1e-5)
        }
    }

    func testBatchNormGradientsToSecondOrder() throws {
        let bn4 = try BatchNorm(features: 2)
        checkGradients(at: [rng.tensor([3, 2, 2, 2]), rng.tensor([2], 0.5, 1.5), rng.tensor([2])]) { v in
            try bn4([v[1], v[2]], v[0])
        }
        let bn2 = try BatchNorm(features: 3)
        checkGradients(at: [rng.tensor([4, 3]), rng.tensor([3], 0.5, 1.5), rng.tensor([3])]) { v in
            try bn2([v[1], v[2]], v[0])
        }
    }

    func testConv4ShapesAndNames() throws {
        let enc = try Conv4(inChannels: 1, hidden: 64, blocks: 4)
        XCTAssertEqual(enc.embeddingSize, 64)
        XCTAssertEqual(enc.parameterCount, 16)
        XCTAssertEqual(Array(enc.parameterSpecs.prefix(4).map(\.description)),
                       ["block1.conv.W[64, 1, 3, 3]", "block1.conv.b[64]", "block1.bn.gamma[64]", "block1.bn.beta[64]"])
        var r = RNG(seed: 4)
        let p = try enc.initialize(rng: &r)
        XCTAssertEqual(try enc(p, Variable(rng.tensor([2, 1, 28, 28]))).shape, [2, 64])

        let mini = try Conv4(inChannels: 3, hidden: 32, blocks: 4, outputs: 5, imageSize: 84)
        XCTAssertEqual(mini.embeddingSize, 800)
        XCTAssertEqual(mini.parameterSpecs.suffix(2).map(\.description), ["head.W[800, 5]", "head.b[5]"])
        XCTAssertEqual(mini.body.parameterCount, 16)
        let q = try mini.initialize(rng: &r)
        XCTAssertEqual(try mini(q, Variable(rng.tensor([1, 3, 84, 84]))).shape, [1, 5])
        // The body alone on its share of the list gives the embedding.
        XCTAssertEqual(try mini.body(Array(q.values.prefix(16)), Variable(rng.tensor([1, 3, 84, 84]))).shape, [1, 800])
    }

    func testConv4GradientsToSecondOrder() throws {
        // Tiny: 2 blocks of 2 filters on 4x4 images, with a 3-way head. A
        // smaller step keeps ReLU and pooling away from their kinks.
        let model = try Conv4(inChannels: 1, hidden: 2, blocks: 2, outputs: 3, imageSize: 4)
        var r = RNG(seed: 8)
        let params = try model.initialParameters(rng: &r)
        let x = rng.tensor([3, 1, 4, 4])
        checkGradients(at: params, eps: 1e-3) { v in
            try softmaxCrossEntropy(logits: model(v, Variable(x)), labels: [0, 2, 1])
        }
    }

    func testConvLayersRejectBadInputs() throws {
        let conv = try Conv2d(inChannels: 2, outChannels: 3, kernelSize: 3)
        let w = Variable(rng.tensor([3, 2, 3, 3])), b = Variable(rng.tensor([3]))
        XCTAssertThrowsError(try conv([w, b], Variable(rng.tensor([1, 3, 5, 5]))))   // channels
        XCTAssertThrowsError(try conv([w, b], Variable(rng.tensor([1, 2, 2, 5]))))   // smaller than the kernel
        XCTAssertThrowsError(try conv([w, b], Variable(rng.tensor([2, 5, 5]))))      // rank
        XCTAssertThrowsError(try conv([Variable(rng.tensor([3, 2, 2, 2])), b], Variable(rng.tensor([1, 2, 5, 5]))))
        XCTAssertThrowsError(try conv([w], Variable(rng.tensor([1, 2, 5, 5]))))
        XCTAssertThrowsError(try Conv2d(inChannels: 2, outChannels: 3, kernelSize: 0))
        XCTAssertThrowsError(try Conv2d(inChannels: 2, outChannels: 3, kernelSize: 3, stride: 0))
        XCTAssertThrowsError(try Conv2d(inChannels: 2, outChannels: 3, kernelSize: 3, padding: -1))
        XCTAssertThrowsError(try MaxPool2d(kernelSize: 2)([], Variable(rng.tensor([1, 1, 1, 4]))))
        XCTAssertThrowsError(try MaxPool2d(kernelSize: 2)([], Variable(rng.tensor([1, 4, 4]))))
        XCTAssertThrowsError(try MaxPool2d(kernelSize: 0))
        let bn = try BatchNorm(features: 2)
        let g = Variable(rng.tensor([2])), be = Variable(rng.tensor([2]))
        XCTAssertThrowsError(try bn([g, be], Variable(rng.tensor([1, 2]))))          // one value per feature
        XCTAssertThrowsError(try bn([g, be], Variable(rng.tensor([4, 3]))))          // features
        XCTAssertThrowsError(try bn([g, be], Variable(rng.tensor([4]))))             // rank
        XCTAssertThrowsError(try bn([g], Variable(rng.tensor([4, 2]))))
        XCTAssertThrowsError(try BatchNorm(features: 2, eps: 0))
        XCTAssertThrowsError(try Conv4(inChannels: 1, hidden: 8, blocks: 4, outputs: 5, imageSize: 8))
        let enc = try Conv4(inChannels: 1, hidden: 2, blocks: 1)
        var r = RNG(seed: 1)
        let p = try enc.initialize(rng: &r)
        XCTAssertThrowsError(try enc(p, Variable(rng.tensor([1, 3, 4, 4]))))
        XCTAssertThrowsError(try enc(Array(p.values.dropLast()), Variable(rng.tensor([1, 1, 4, 4]))))
    }
}

import MetaTensor
import MetaAutodiff

/// Any image network written from layers, run channels-last: the image is
/// turned NHWC once, every convolution is an NHWC convolution (one GEMM over
/// the whole batch, or Winograd; see `Variable.conv2dNHWC`), batch norm and
/// max-pooling run on NHWC, and the layout goes back to NCHW only where a
/// `Flatten` needs NCHW order. The layers' own forward (NCHW, im2col per
/// image) computes the same function; this one is several times faster on
/// CPUs (ResNet-12 measured 4.7-6.8x here).
///
/// `compile` accepts a network whose every part is one of: Conv2d,
/// BatchNorm/BatchNorm2d on images, an Activation or LeakyReLU, MaxPool2d
/// with stride equal to its square kernel, GlobalAvgPool2d, a Residual
/// whose body and shortcut are made of these, Flatten, then Linear,
/// activations and BatchNorm1d on vectors. Anything else (AvgPool2d,
/// LayerNorm, recurrent layers...) leaves the network to its layers.
/// Parameters are consumed in the layers' order, so the network takes the
/// original's parameter list unchanged.
struct ChannelsLastNetwork: Model {
    indirect enum Op {
        case conv(Conv2dOptions, bias: Bool)
        case batchNorm(eps: Float)
        case elementwise(any Model)
        case maxPool(Int)
        case globalAveragePool
        case residual(body: [Op], shortcut: [Op]?)
        case flatten
        case linear(Linear)
        case vectorNorm(any Model)
    }

    let original: any Layer
    let ops: [Op]

    var parameterSpecs: [ParameterSpec] { original.parameterSpecs }
    func initialParameters(rng: inout RNG) throws -> [Tensor] { try original.initialParameters(rng: &rng) }

    /// The network as channels-last operations, or nil when a part has no
    /// channels-last form (or there is no convolution to gain from).
    static func compile(_ model: any Layer) -> ChannelsLastNetwork? {
        var images = true
        guard let ops = compile(Recognition.leaves(of: model), images: &images),
              ops.contains(where: { if case .conv = $0 { return true } else { return false } }) else { return nil }
        return ChannelsLastNetwork(original: model, ops: ops)
    }

    private static func compile(_ layers: [any Model], images: inout Bool) -> [Op]? {
        var ops: [Op] = []
        for layer in layers {
            switch layer {
            case let conv as Conv2d where images:
                ops.append(.conv(Conv2dOptions(stride: conv.stride, padding: conv.padding), bias: conv.bias))
            case let norm as BatchNorm2d where images:
                ops.append(.batchNorm(eps: norm.eps))
            case let norm as BatchNorm where images:
                ops.append(.batchNorm(eps: norm.eps))
            case is Activation, is LeakyReLU:
                ops.append(.elementwise(layer))
            case let pool as MaxPool2d where images && pool.stride == pool.kernelSize:
                ops.append(.maxPool(pool.kernelSize))
            case is GlobalAvgPool2d where images:
                ops.append(.globalAveragePool)
                images = false
            case let residual as Residual where images:
                var inBody = true, inShortcut = true
                guard let body = compile(Recognition.leaves(of: residual.body), images: &inBody), inBody else { return nil }
                var shortcut: [Op]?
                if let s = residual.shortcut {
                    guard let ops = compile(Recognition.leaves(of: s), images: &inShortcut), inShortcut else { return nil }
                    shortcut = ops
                }
                ops.append(.residual(body: body, shortcut: shortcut))
            case is Flatten where images:
                ops.append(.flatten)
                images = false
            case let linear as Linear where !images:
                ops.append(.linear(linear))
            case is BatchNorm1d where !images:
                ops.append(.vectorNorm(layer))
            case is BatchNorm where !images:
                ops.append(.vectorNorm(layer))
            default:
                return nil
            }
        }
        return ops
    }

    func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable {
        guard x.rank == 4 else { throw MetaError.shape("input x must be NCHW images (rank 4), got \(x.shape)") }
        try checkParameters(params.map(\.shape))
        let n = x.shape[0]
        var i = params.startIndex
        let h = x.shape[1] == 1 ? try x.reshaped([n, x.shape[2], x.shape[3], 1]) : try x.permuted([0, 2, 3, 1])
        let y = try run(ops, h, params, &i)
        // A network that ends on images gives them NCHW, as its layers do.
        return y.rank == 4 ? try y.permuted([0, 3, 1, 2]) : y
    }

    private func run(_ ops: [Op], _ input: Variable, _ params: ArraySlice<Variable>, _ i: inout Int) throws -> Variable {
        var h = input
        for op in ops {
            switch op {
            case .conv(let options, let bias):
                let w = try params[i].permuted([0, 2, 3, 1])    // (F, KH, KW, C)
                h = try Variable.conv2dNHWC(h, w, bias: bias ? params[i + 1] : nil, options)
                i += bias ? 2 : 1
            case .batchNorm(let eps):
                guard h.shape[0] * h.shape[1] * h.shape[2] > 1 else {
                    throw MetaError.shape("BatchNorm2d: input of \(h.shape[0]) example(s) of \(h.shape[1])x\(h.shape[2]) has one value per channel; batch statistics need more")
                }
                h = try Variable.batchNormChannelsLast(h, gamma: params[i], beta: params[i + 1], eps: eps)
                i += 2
            case .elementwise(let layer):
                h = try layer.forward(params[i..<i], h)
            case .maxPool(let k):
                h = try h.maxPoolNHWC(kernelSize: k)
            case .globalAveragePool:
                h = try h.mean(axes: [1, 2])
            case .residual(let body, let shortcut):
                let b = try run(body, h, params, &i)
                let s = try shortcut.map { try run($0, h, params, &i) } ?? h
                h = try b + s
            case .flatten:
                let (n, height, width, c) = (h.shape[0], h.shape[1], h.shape[2], h.shape[3])
                let nchw = height * width == 1 ? h : try h.permuted([0, 3, 1, 2])
                h = try nchw.reshaped([n, c * height * width])
            case .linear(let linear):
                let count = linear.parameterSpecs.count
                h = try linear.forward(params[i..<(i + count)], h)
                i += count
            case .vectorNorm(let layer):
                h = try layer.forward(params[i..<(i + 2)], h)
                i += 2
            }
        }
        return h
    }
}

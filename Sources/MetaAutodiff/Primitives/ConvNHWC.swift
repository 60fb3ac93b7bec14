import MetaTensor

// Channels-last convolution as three bilinear primitives that are each
// other's adjoints (see `Tensor.conv2dNHWC` for the index layout):
//
//     conv(x, w)            = y     (N, OH, OW, F)
//     backwardInput(g, w)   = dx    (N, H, W, C):   ⟨dx, h⟩ = ⟨g, conv(h, w)⟩
//     backwardWeight(g, x)  = dw    (F, KH, KW, C): ⟨dw, v⟩ = ⟨g, conv(x, v)⟩
//
// So ⟨g, conv(x, w)⟩ = ⟨backwardInput(g, w), x⟩ = ⟨backwardWeight(g, x), w⟩,
// and every VJP below is one of the three: derivatives of every order stay
// inside the family. Against im2col + matmul this keeps no unfolded columns
// on the tape and multiplies the whole batch at once.

/// Kernel geometry shared by the three primitives.
public struct Conv2dOptions: Sendable {
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public init(stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0)) {
        self.stride = stride
        self.padding = padding
    }
}

extension Variable {
    /// NHWC convolution: x (N, H, W, C), w (F, KH, KW, C), optional bias (F) → (N, OH, OW, F).
    public static func conv2dNHWC(_ x: Variable, _ w: Variable, bias: Variable? = nil,
                                  _ options: Conv2dOptions) throws -> Variable {
        let y = try Tensor.conv2dNHWC(x.value, w.value, bias: bias?.value, stride: options.stride, padding: options.padding)
        return recordConv(y, x, w, bias: bias, options)
    }

    /// `conv2dNHWC` and the statistics of its output for batch norm, gathered
    /// chunk by chunk while the convolution writes it (two passes fewer than
    /// `ChannelStats(of:)`).
    public static func conv2dNHWCWithStatistics(_ x: Variable, _ w: Variable, bias: Variable?, eps: Float,
                                                _ options: Conv2dOptions) throws -> (Variable, ChannelStats) {
        let (y, mean, invStd) = try Tensor.conv2dNHWCWithStatistics(x.value, w.value, bias: bias?.value, stride: options.stride,
                                                                     padding: options.padding, eps: eps)
        return (recordConv(y, x, w, bias: bias, options), ChannelStats(mean: mean, invStd: invStd, eps: eps, source: y.storage))
    }

    /// Records y = conv2dNHWC(x, w, bias) on the tape.
    static func recordConv(_ y: Tensor, _ x: Variable, _ w: Variable, bias: Variable?, _ options: Conv2dOptions) -> Variable {
        let kernel = (w.shape[1], w.shape[2]), imageShape = x.shape
        let inputs = bias.map { [x, w, $0] } ?? [x, w]
        return record("conv2dNHWC", y, inputs) { g, ins, _ in
            let (x, w) = (ins[0], ins[1])
            let dx = x.needsGradient ? try convNHWCBackwardInput(g, w, imageShape: imageShape, options) : nil
            let dw = w.needsGradient ? try convNHWCBackwardWeight(g, x, kernelSize: kernel, options) : nil
            guard ins.count == 3 else { return [dx, dw] }
            let db = ins[2].needsGradient ? try g.channelSums() : nil
            return [dx, dw, db]
        }
    }

    /// The adjoint of `conv2dNHWC` in x: g (N, OH, OW, F), w (F, KH, KW, C) → (N, H, W, C) of `imageShape`.
    public static func convNHWCBackwardInput(_ g: Variable, _ w: Variable, imageShape: [Int],
                                             _ options: Conv2dOptions) throws -> Variable {
        let dx = try Tensor.conv2dNHWCBackwardInput(g.value, w.value, imageShape: imageShape,
                                                    stride: options.stride, padding: options.padding)
        let kernel = (w.shape[1], w.shape[2])
        return record("convNHWCBackwardInput", dx, g, w) { h, ins, _ in
            let (g, w) = (ins[0], ins[1])
            // ⟨h, backwardInput(g, w)⟩ = ⟨conv(h, w), g⟩ = ⟨backwardWeight(g, h), w⟩.
            let dg = g.needsGradient ? try conv2dNHWC(h, w, options) : nil
            let dw = w.needsGradient ? try convNHWCBackwardWeight(g, h, kernelSize: kernel, options) : nil
            return [dg, dw]
        }
    }

    /// The adjoint of `conv2dNHWC` in w: g (N, OH, OW, F), x (N, H, W, C) → (F, KH, KW, C).
    public static func convNHWCBackwardWeight(_ g: Variable, _ x: Variable, kernelSize: (Int, Int),
                                              _ options: Conv2dOptions) throws -> Variable {
        let dw = try Tensor.conv2dNHWCBackwardWeight(g.value, x.value, kernelSize: kernelSize,
                                                     stride: options.stride, padding: options.padding)
        let imageShape = x.shape
        return record("convNHWCBackwardWeight", dw, g, x) { v, ins, _ in
            let (g, x) = (ins[0], ins[1])
            // ⟨v, backwardWeight(g, x)⟩ = ⟨conv(x, v), g⟩ = ⟨backwardInput(g, v), x⟩.
            let dg = g.needsGradient ? try conv2dNHWC(x, v, options) : nil
            let dx = x.needsGradient ? try convNHWCBackwardInput(g, v, imageShape: imageShape, options) : nil
            return [dg, dx]
        }
    }
}

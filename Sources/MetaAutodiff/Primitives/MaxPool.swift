import MetaTensor

// Max pooling of channels-last images over non-overlapping K×K windows, and
// the adjoint pair that carries its cotangents (see `Tensor.maxPoolNHWC`):
//
//     maxPool(x)        window maxima                      VJP: unpool(g; x)
//     unpool(g; x)      g shared among each window's maxima  VJP: gather(h; x)
//     gather(h; x)      mean of h over each window's maxima  VJP: unpool(g; x)
//
// x only chooses which entries are maxima, a choice that is locally constant,
// so unpool and gather are linear in their first argument and give x no
// cotangent: the same subgradient as the composition reshape + max(axes:),
// with ties shared equally.
//
// With `relu: true` all three apply ReLU after pooling, which equals pooling
// after ReLU in value and in subgradient (a window whose maximum is not
// positive passes nothing either way), on a quarter of the elements.

extension Variable {
    /// Window maxima of x (N, H, W, C) over K×K windows with stride K: (N, ⌊H/K⌋, ⌊W/K⌋, C).
    public func maxPoolNHWC(kernelSize k: Int, relu: Bool = false) throws -> Variable {
        let y = try value.maxPoolNHWC(kernelSize: k, relu: relu)
        return record("maxPoolNHWC", y, self) { g, ins, _ in
            [try Variable.maxUnpoolNHWC(g, selecting: ins[0].value, kernelSize: k, relu: relu)]
        }
    }

    /// g (N, OH, OW, C) spread over the maxima of the windows of `x`; x's shape.
    public static func maxUnpoolNHWC(_ g: Variable, selecting x: Tensor, kernelSize k: Int, relu: Bool = false) throws -> Variable {
        let dx = try Tensor.maxUnpoolNHWC(g.value, x, kernelSize: k, relu: relu)
        return record("maxUnpoolNHWC", dx, g) { h, _, _ in
            [try maxGatherNHWC(h, selecting: x, kernelSize: k, relu: relu)]
        }
    }

    /// For each window of `x`, the mean of h (x's shape) over its maxima: (N, OH, OW, C).
    public static func maxGatherNHWC(_ h: Variable, selecting x: Tensor, kernelSize k: Int, relu: Bool = false) throws -> Variable {
        let y = try Tensor.maxGatherNHWC(h.value, x, kernelSize: k, relu: relu)
        return record("maxGatherNHWC", y, h) { g, _, _ in
            [try maxUnpoolNHWC(g, selecting: x, kernelSize: k, relu: relu)]
        }
    }
}

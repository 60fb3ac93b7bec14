import MetaTensor

// im2col and col2im: an adjoint pair of linear maps, each one's VJP the other.
// Convolution is im2col followed by a matmul, so its first and second
// derivatives come from these two VJPs and matmul's; see `Tensor.im2col` for
// the index layout.

extension Variable {
    /// Unfolds the sliding windows of an NCHW image: (N, C, H, W) -> (N, C·KH·KW, OH·OW),
    /// row c·KH·KW + kh·KW + kw, column oh·OW + ow, zero padding built in.
    /// VJP: `col2im` with the same geometry.
    public func im2col(kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)) throws -> Variable {
        let out = try value.im2col(kernelSize: kernelSize, stride: stride, padding: padding)
        let imageShape = shape
        return record("im2col", out, self) { g, _, _ in
            [try g.col2im(imageShape: imageShape, kernelSize: kernelSize, stride: stride, padding: padding)]
        }
    }

    /// Folds columns (N, C·KH·KW, OH·OW) back into an image of `imageShape`,
    /// summing overlapping windows. VJP: `im2col` with the same geometry.
    public func col2im(imageShape: [Int], kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)) throws -> Variable {
        let out = try value.col2im(imageShape: imageShape, kernelSize: kernelSize, stride: stride, padding: padding)
        return record("col2im", out, self) { g, _, _ in
            [try g.im2col(kernelSize: kernelSize, stride: stride, padding: padding)]
        }
    }
}

import MetaTensor

// Each layer's output shape for a whole input shape (batch axis first), with
// the checks its `forward` makes, worded by the argument that does not fit.

/// (N, C, H, W), or an error naming what the layer expected.
func imageShape(_ input: [Int], _ type: String) throws -> (n: Int, c: Int, h: Int, w: Int) {
    try checkInputShape(input, type)
    guard input.count == 4 else {
        throw fitError(type, nil, "input must be NCHW images (rank 4), got shape \(input)")
    }
    return (input[0], input[1], input[2], input[3])
}

/// The trailing features of an (..., features) input.
func featureShape(_ input: [Int], _ type: String) throws -> Int {
    try checkInputShape(input, type)
    guard input.count >= 2 else {
        throw fitError(type, nil, "input must be (N, features) or (..., N, features), got shape \(input)")
    }
    return input[input.count - 1]
}

extension Linear: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        let features = try featureShape(input, "Linear")
        guard features == inputs else {
            throw fitError("Linear", "in_features", "\(inputs), but its input has \(features) features (shape \(input))")
        }
        return input.dropLast() + [outputs]
    }
}

extension CosineLinear: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.count == 2 else {
            throw fitError("CosineLinear", nil, "input must be (N, features), got shape \(input)")
        }
        guard input[1] == inputs else {
            throw fitError("CosineLinear", "in_features", "\(inputs), but its input has \(input[1]) features (shape \(input))")
        }
        return [input[0], outputs]
    }
}

extension Conv2d: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        let x = try imageShape(input, "Conv2d")
        guard x.c == inChannels else {
            throw fitError("Conv2d", "in_channels", "\(inChannels), but its input has \(x.c) channels (shape \(input))")
        }
        do {
            let (oh, ow) = try outputSize(height: x.h, width: x.w)
            return [x.n, outChannels, oh, ow]
        } catch let e as MetaError {
            throw MetaError(e.kind, e.message.replacingPrefix("Conv2d: input x", with: "Conv2d: input"))
        }
    }
}

/// Batch norm over axis 1 of an input of one of `ranks`.
func batchNormShape(_ input: [Int], features: Int, ranks: [Int]?, _ type: String, expected: String) throws -> [Int] {
    try checkInputShape(input, type)
    guard ranks.map({ $0.contains(input.count) }) ?? (input.count >= 2) else {
        throw fitError(type, nil, "input must be \(expected), got shape \(input)")
    }
    guard input[1] == features else {
        throw fitError(type, "num_features", "\(features), but its input has \(input[1]) channels (shape \(input))")
    }
    return input
}

extension BatchNorm: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try batchNormShape(input, features: features, ranks: nil, "BatchNorm", expected: "(N, C, ...)")
    }
}

extension BatchNorm1d: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try batchNormShape(input, features: features, ranks: [2, 3], "BatchNorm1d", expected: "(N, C) or (N, C, L)")
    }
}

extension BatchNorm2d: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try batchNormShape(input, features: features, ranks: [4], "BatchNorm2d", expected: "NCHW images (rank 4)")
    }
}

extension LayerNorm: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try checkInputShape(input, "LayerNorm")
        guard Array(input.suffix(normalizedShape.count)) == normalizedShape else {
            throw fitError("LayerNorm", "normalized_shape", "\(normalizedShape), but its input of shape \(input) does not end in it")
        }
        return input
    }
}

extension Activation: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try checkInputShape(input, layerType)
        return input
    }
}

extension LeakyReLU: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try checkInputShape(input, "LeakyReLU")
        return input
    }
}

/// ⌊(size + 2p − k) / s⌋ + 1, or an error when the window does not fit.
func pooledSize(_ x: (n: Int, c: Int, h: Int, w: Int), k: Int, s: Int, p: Int, _ type: String) throws -> [Int] {
    let (h, w) = (try checkedAdd(x.h, 2 * p, type), try checkedAdd(x.w, 2 * p, type))
    guard h >= k, w >= k else {
        let padded = p > 0 ? " (padding \(p))" : ""
        throw fitError(type, "kernel_size", "\(k), but its input images are \(x.h)x\(x.w)\(padded), smaller than the window")
    }
    return [x.n, x.c, (h - k) / s + 1, (w - k) / s + 1]
}

extension MaxPool2d: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try pooledSize(try imageShape(input, "MaxPool2d"), k: kernelSize, s: stride, p: 0, "MaxPool2d")
    }
}

extension AvgPool2d: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try pooledSize(try imageShape(input, "AvgPool2d"), k: kernelSize, s: stride, p: padding, "AvgPool2d")
    }
}

extension GlobalAvgPool2d: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        let x = try imageShape(input, "GlobalAvgPool2d")
        guard x.h > 0, x.w > 0 else { throw fitError("GlobalAvgPool2d", nil, "input images are empty (shape \(input))") }
        return [x.n, x.c]
    }
}

extension Dropout: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try checkInputShape(input, "Dropout")
        return input
    }
}

extension Flatten: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try checkInputShape(input, "Flatten")
        guard let n = input.first else { throw fitError("Flatten", nil, "input needs a batch axis, got shape []") }
        return [n, try ShapeMath.count(Array(input.dropFirst()), name: "Flatten: input shape")]
    }
}

extension LastStep: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try checkInputShape(input, "LastStep")
        guard input.count >= 2, input[1] > 0 else {
            throw fitError("LastStep", nil, "input must be sequences (N, T, ...) with T >= 1, got shape \(input)")
        }
        return [input[0]] + input.dropFirst(2)
    }
}

/// (N, T, input_size) → (N, T, hidden_size).
func sequenceShape(_ input: [Int], inputSize: Int, hiddenSize: Int, _ type: String) throws -> [Int] {
    try checkInputShape(input, type)
    guard input.count == 3, input[1] > 0 else {
        throw fitError(type, nil, "input must be sequences (N, T, \(inputSize)) with T >= 1 (batch first), got shape \(input)")
    }
    guard input[2] == inputSize else {
        throw fitError(type, "input_size", "\(inputSize), but its input has \(input[2]) features per step (shape \(input))")
    }
    return [input[0], input[1], hiddenSize]
}

extension LSTM: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try sequenceShape(input, inputSize: inputSize, hiddenSize: hiddenSize, "LSTM")
    }
}

extension GRU: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try sequenceShape(input, inputSize: inputSize, hiddenSize: hiddenSize, "GRU")
    }
}

/// (T, N, input_size) → (T, N, hidden_size), or one step (N, input_size) → (N, hidden_size).
func cellShape(_ input: [Int], inputSize: Int, hiddenSize: Int, _ type: String) throws -> [Int] {
    try checkInputShape(input, type)
    guard input.count == 2 || (input.count == 3 && input[0] > 0) else {
        throw fitError(type, nil, "input must be (T, N, \(inputSize)) with T >= 1 or (N, \(inputSize)), got shape \(input)")
    }
    guard input[input.count - 1] == inputSize else {
        throw fitError(type, "input_size", "\(inputSize), but its input has \(input[input.count - 1]) features (shape \(input))")
    }
    return input.dropLast() + [hiddenSize]
}

extension LSTMCell: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try cellShape(input, inputSize: inputSize, hiddenSize: hiddenSize, "LSTMCell")
    }
}

extension GRUCell: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try cellShape(input, inputSize: inputSize, hiddenSize: hiddenSize, "GRUCell")
    }
}

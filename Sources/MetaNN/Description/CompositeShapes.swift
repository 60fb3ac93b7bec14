import MetaTensor

// Shape inference of composites and presets. Composites run their parts'
// inference in order and prefix a part's error with its path, so a
// description that does not fit together fails before any forward pass,
// naming the layer: "layers[4] (Conv2d).in_channels: 32, but its input has 64 channels".

extension Sequential: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try checkInputShape(input, "Sequential")
        var shape = input
        for (i, layer) in layers.enumerated() {
            shape = try MetaNN.outputShape(of: layer, for: shape, at: "layers[\(i)]")
        }
        return shape
    }
}

extension Residual: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        try checkInputShape(input, "Residual")
        let y = try MetaNN.outputShape(of: body, for: input, at: "body")
        let skip = try shortcut.map { try MetaNN.outputShape(of: $0, for: input, at: "shortcut") } ?? input
        guard y == skip else {
            throw fitError("Residual", shortcut == nil ? "body" : nil,
                           "the body's output \(y) and the \(shortcut == nil ? "identity" : "shortcut")'s \(skip) differ; "
                           + "a body that changes the shape needs a shortcut that does too")
        }
        return y
    }
}

extension MLP: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        let features = try featureShape(input, "MLP")
        guard features == sizes[0] else {
            throw fitError("MLP", "sizes", "\(sizes) starts with \(sizes[0]), but its input has \(features) features (shape \(input))")
        }
        return input.dropLast() + [sizes[sizes.count - 1]]
    }
}

extension Conv4: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        let x = try imageShape(input, "Conv4")
        guard x.c == inChannels else {
            throw fitError("Conv4", "in_channels", "\(inChannels), but its input has \(x.c) channels (shape \(input))")
        }
        var (h, w) = (x.h, x.w)
        for _ in 0..<blocks {
            guard h >= 2, w >= 2 else {
                throw fitError("Conv4", "blocks", "\(blocks) 2x2 poolings, but its input images of \(x.h)x\(x.w) are too small for them")
            }
            (h, w) = (h / 2, w / 2)
        }
        let embedding = try checkedMultiply(hidden, try checkedMultiply(h, w, "Conv4"), "Conv4")
        guard let head else { return [x.n, embedding] }
        guard embedding == head.inputs else {
            throw fitError("Conv4", "image_size", "\(imageSize), but its input images are \(x.h)x\(x.w): the head takes "
                           + "\(head.inputs) features and the blocks give \(embedding)")
        }
        return [x.n, head.outputs]
    }
}

extension ResNet12: ShapeInferring {
    public func outputShape(for input: [Int]) throws -> [Int] {
        let x = try imageShape(input, "ResNet12")
        guard x.c == inChannels else {
            throw fitError("ResNet12", "in_channels", "\(inChannels), but its input has \(x.c) channels (shape \(input))")
        }
        guard x.h >= 16, x.w >= 16 else {
            throw fitError("ResNet12", nil, "input images must be at least 16x16 (four 2x2 poolings), got \(x.h)x\(x.w)")
        }
        return [x.n, outputs ?? widths[3]]
    }
}

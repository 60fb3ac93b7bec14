import MetaTensor

// Each layer's description: "type", then its hyper-parameters under
// PyTorch's argument names, always all of them and in this order. Sizes that
// are (height, width) pairs print as one number when both are equal, as
// PyTorch users write them.

/// n, or [h, w] when they differ.
func squareOrPair(_ p: (Int, Int)) -> JSON { p.0 == p.1 ? JSON(p.0) : JSON([p.0, p.1]) }

extension Linear: Describable {
    public var layerType: String { "Linear" }
    public var layerDescription: JSON {
        ["type": "Linear", "in_features": JSON(inputs), "out_features": JSON(outputs), "bias": JSON(bias)]
    }
}

extension CosineLinear: Describable {
    public var layerType: String { "CosineLinear" }
    public var layerDescription: JSON {
        ["type": "CosineLinear", "in_features": JSON(inputs), "out_features": JSON(outputs), "scale": JSON(scale),
         "learned_norm": JSON(learnedNorm)]
    }
}

extension Conv2d: Describable {
    public var layerType: String { "Conv2d" }
    public var layerDescription: JSON {
        ["type": "Conv2d", "in_channels": JSON(inChannels), "out_channels": JSON(outChannels),
         "kernel_size": squareOrPair(kernelSize), "stride": squareOrPair(stride), "padding": squareOrPair(padding),
         "bias": JSON(bias)]
    }
}

extension BatchNorm: Describable {
    /// Not a PyTorch name: this one takes any rank ≥ 2 (BatchNorm1d and
    /// BatchNorm2d check theirs).
    public var layerType: String { "BatchNorm" }
    public var layerDescription: JSON { described(as: "BatchNorm") }

    /// PyTorch's argument names; `track_running_stats` is false by default here.
    func described(as type: String) -> JSON {
        ["type": .string(type), "num_features": JSON(features), "eps": JSON(eps), "momentum": JSON(momentum),
         "track_running_stats": JSON(trackRunningStats)]
    }
}

extension BatchNorm1d: Describable {
    public var layerType: String { "BatchNorm1d" }
    public var layerDescription: JSON { norm.described(as: "BatchNorm1d") }
}

extension BatchNorm2d: Describable {
    public var layerType: String { "BatchNorm2d" }
    public var layerDescription: JSON { norm.described(as: "BatchNorm2d") }
}

extension LayerNorm: Describable {
    public var layerType: String { "LayerNorm" }
    public var layerDescription: JSON {
        ["type": "LayerNorm", "normalized_shape": JSON(normalizedShape), "eps": JSON(eps),
         "elementwise_affine": JSON(elementwiseAffine)]
    }
}

extension Activation: Describable {
    /// PyTorch's module names: nn.Identity, nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.Softplus.
    public var layerType: String {
        switch self {
        case .identity: return "Identity"
        case .relu: return "ReLU"
        case .tanh: return "Tanh"
        case .sigmoid: return "Sigmoid"
        case .gelu: return "GELU"
        case .softplus: return "Softplus"
        }
    }
    public var layerDescription: JSON { ["type": .string(layerType)] }
}

extension LeakyReLU: Describable {
    public var layerType: String { "LeakyReLU" }
    public var layerDescription: JSON { ["type": "LeakyReLU", "negative_slope": JSON(negativeSlope)] }
}

extension MaxPool2d: Describable {
    public var layerType: String { "MaxPool2d" }
    public var layerDescription: JSON {
        ["type": "MaxPool2d", "kernel_size": JSON(kernelSize), "stride": JSON(stride)]
    }
}

extension AvgPool2d: Describable {
    public var layerType: String { "AvgPool2d" }
    public var layerDescription: JSON {
        ["type": "AvgPool2d", "kernel_size": JSON(kernelSize), "stride": JSON(stride), "padding": JSON(padding)]
    }
}

extension GlobalAvgPool2d: Describable {
    public var layerType: String { "GlobalAvgPool2d" }
    public var layerDescription: JSON { ["type": "GlobalAvgPool2d"] }
}

extension Dropout: Describable {
    public var layerType: String { "Dropout" }
    public var layerDescription: JSON { ["type": "Dropout", "p": JSON(p)] }
}

extension Flatten: Describable {
    public var layerType: String { "Flatten" }
    public var layerDescription: JSON { ["type": "Flatten"] }
}

extension LastStep: Describable {
    public var layerType: String { "LastStep" }
    public var layerDescription: JSON { ["type": "LastStep"] }
}

extension LSTM: Describable {
    public var layerType: String { "LSTM" }
    /// `batch_first` is always true: the input is (N, T, input_size).
    public var layerDescription: JSON {
        ["type": "LSTM", "input_size": JSON(inputSize), "hidden_size": JSON(hiddenSize), "batch_first": true]
    }
}

extension GRU: Describable {
    public var layerType: String { "GRU" }
    /// `batch_first` is always true: the input is (N, T, input_size).
    public var layerDescription: JSON {
        ["type": "GRU", "input_size": JSON(inputSize), "hidden_size": JSON(hiddenSize), "batch_first": true]
    }
}

extension LSTMCell: Describable {
    public var layerType: String { "LSTMCell" }
    public var layerDescription: JSON {
        ["type": "LSTMCell", "input_size": JSON(inputSize), "hidden_size": JSON(hiddenSize)]
    }
}

extension GRUCell: Describable {
    public var layerType: String { "GRUCell" }
    public var layerDescription: JSON {
        ["type": "GRUCell", "input_size": JSON(inputSize), "hidden_size": JSON(hiddenSize)]
    }
}

extension Residual: Describable {
    public var layerType: String { "Residual" }
    /// "shortcut" is null for the identity.
    public var layerDescription: JSON {
        ["type": "Residual", "body": MetaNN.layerDescription(of: body),
         "shortcut": shortcut.map { MetaNN.layerDescription(of: $0) } ?? .null]
    }
}

extension Sequential: Describable {
    public var layerType: String { "Sequential" }
    /// "names" only when they are not the default "0", "1", ….
    public var layerDescription: JSON {
        var members: [(String, JSON)] = [("type", "Sequential"), ("layers", .array(layers.map { MetaNN.layerDescription(of: $0) }))]
        if names != layers.indices.map({ "\($0)" }) { members.append(("names", .array(names.map { JSON($0) }))) }
        return .object(members)
    }
}

// MARK: - Presets: their own type and hyper-parameters

extension MLP: Describable {
    public var layerType: String { "MLP" }
    public var layerDescription: JSON {
        ["type": "MLP", "sizes": JSON(sizes), "activation": .string(activation.rawValue),
         "bias": JSON(layers.first?.bias ?? true)]
    }
}

extension Conv4: Describable {
    public var layerType: String { "Conv4" }
    /// "outputs" is null for the body alone. "momentum" and
    /// "track_running_stats" appear only when it tracks running statistics,
    /// so the descriptions (and files) of the episodic Conv4 stay as they were.
    public var layerDescription: JSON {
        let members: [(String, JSON)] = [
            ("type", "Conv4"), ("in_channels", JSON(inChannels)), ("hidden", JSON(hidden)), ("blocks", JSON(blocks)),
            ("outputs", outputs.map { JSON($0) } ?? .null), ("image_size", JSON(imageSize)), ("eps", JSON(eps)),
        ]
        return .object(members + (trackRunningStats ? [("momentum", JSON(momentum)), ("track_running_stats", JSON(true))] : []))
    }
}

extension ResNet12: Describable {
    public var layerType: String { "ResNet12" }
    /// "outputs" is null for the embedding alone.
    public var layerDescription: JSON {
        ["type": "ResNet12", "in_channels": JSON(inChannels), "widths": JSON(widths),
         "outputs": outputs.map { JSON($0) } ?? .null]
    }
}

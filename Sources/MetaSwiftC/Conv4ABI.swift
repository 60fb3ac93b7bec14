import MetaSwift

extension ModelFactory {
    /// Conv4 (see MetaNN's `Conv4`) for square images of side `imageSize`,
    /// with a Linear head of `outputs` classes when `outputs` is set. Inputs
    /// must be (batch >= 1, inChannels, imageSize, imageSize): the head's
    /// width, and the embedding size of a headless encoder, follow from
    /// `imageSize`, so the check names it rather than failing inside a layer.
    static func conv4(inChannels: Int, hidden: Int, blocks: Int, outputs: Int?, imageSize: Int,
                      seed: UInt64) throws -> ModelObject {
        // Each block's 2x2 pool needs at least 2x2 pixels: imageSize >= 2^blocks.
        guard blocks <= 30, imageSize >> blocks >= 1 else {
            throw BridgeError.argument("image_size: \(imageSize) is too small for \(blocks) blocks "
                                       + "(each halves the image; needs at least 2^blocks pixels a side)")
        }
        let side = imageSize >> blocks
        let embedding = Safe.product([hidden, side, side])
        let weights = Safe.sum([
            Safe.product([hidden, inChannels, 9]), Safe.product([blocks - 1, hidden, hidden, 9]),
            Safe.product([blocks, 4, hidden]), Safe.product([embedding, outputs ?? 0]), outputs ?? 0,
        ])
        try Check.fitsInMemory(elements: weights, "hidden")
        let model = try Conv4(inChannels: inChannels, hidden: hidden, blocks: blocks, outputs: outputs,
                              imageSize: imageSize)
        var rng = RNG(seed: seed)
        let values = try model.initialParameters(rng: &rng)
        let channels = max(inChannels, hidden)
        let expected = "(batch, \(inChannels), \(imageSize), \(imageSize))"
        return try ModelObject(model: model, values: values, outputShape: [outputs ?? embedding]) { shape, name in
            guard shape.count == 4 else {
                throw MetaError.shape("\(name): expected 4 dimensions \(expected), got shape \(shape)")
            }
            guard shape[1] == inChannels, shape[2] == imageSize, shape[3] == imageSize else {
                throw MetaError.shape("\(name): expected images of shape \(expected) (in_channels, image_size), got shape \(shape)")
            }
            guard shape[0] > 0 else { throw MetaError.shape("\(name): needs at least one example, got shape \(shape)") }
            // The largest buffer of a forward pass: the first im2col, 9 values per pixel and channel.
            try Check.fitsInMemory(elements: Safe.product([shape[0], channels, 9, imageSize, imageSize]), name)
        }
    }
}

/// Sizes multiplied and added without trapping: Int.max on overflow, which
/// every memory check then refuses.
enum Safe {
    static func product(_ values: [Int]) -> Int {
        values.reduce(1) { a, b in
            let (p, o) = a.multipliedReportingOverflow(by: b)
            return o ? Int.max : p
        }
    }

    static func sum(_ values: [Int]) -> Int {
        values.reduce(0) { a, b in
            let (s, o) = a.addingReportingOverflow(b)
            return o ? Int.max : s
        }
    }
}

/// A size argument of a model: > 0 and small enough to be a size.
private func size(_ value: Int64, _ name: String) throws -> Int {
    guard value > 0 else { throw BridgeError.argument("\(name): must be > 0, got \(value)") }
    guard value <= Int64(Int32.max) else { throw BridgeError.argument("\(name): \(value) is too large") }
    return Int(value)
}

@_cdecl("ms_model_new_conv4")
public func ms_model_new_conv4(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ inChannels: Int64, _ hidden: Int64,
                               _ blocks: Int64, _ outputs: Int64, _ imageSize: Int64, _ seed: UInt64) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        let c = try size(inChannels, "in_channels"), h = try size(hidden, "hidden")
        let b = try size(blocks, "blocks"), s = try size(imageSize, "image_size")
        guard outputs >= 0 else { throw BridgeError.argument("outputs: must be >= 0 (0: no head), got \(outputs)") }
        let o = outputs == 0 ? nil : try size(outputs, "outputs")
        out.pointee = Handles.publish(try ModelFactory.conv4(inChannels: c, hidden: h, blocks: b, outputs: o,
                                                             imageSize: s, seed: seed))
    }
}

import MetaSwift

/// Steps shared by processes (Python's `fit(..., comm=)`): each process
/// computes its parts of a step ("share_step"), the caller gathers every
/// part's row from all processes in part order, and each process finishes
/// the step from the same rows ("finish_step"), so all hold the same bits.
///
/// A part travels as one row of floats: its loss, then each gradient
/// tensor's elements in order (then, for the pretrainer, the buffers').

/// Rows (parts, 1 + Σ sizes) from each part's loss and tensors.
func partRows(_ parts: [(loss: Float, tensors: [Tensor])], width: Int) throws -> Tensor {
    try Tensor.make(shape: [parts.count, width]) { out, _ in
        for (r, part) in parts.enumerated() {
            var p = out + r * width
            p.pointee = part.loss
            p += 1
            for t in part.tensors where t.count > 0 {
                p.update(from: t.storage.base, count: t.count)
                p += t.count
            }
        }
    }
}

/// Each row of `rows` back as a loss and tensors of `shapes`.
func partsFromRows(_ rows: Tensor, count: Int, shapes: [[Int]], _ name: String) throws -> [(loss: Float, tensors: [Tensor])] {
    let width = 1 + shapes.reduce(0) { $0 + $1.reduce(1, *) }
    guard rows.shape == [count, width] else {
        throw BridgeError.argument("\(name): expected the rows of all \(count) parts, shape [\(count), \(width)], got \(rows.shape)")
    }
    return try (0..<count).map { r in
        var p = rows.storage.base + r * width
        let loss = p.pointee
        p += 1
        let tensors = try shapes.map { shape in
            try Tensor.make(shape: shape) { out, n in
                if n > 0 { out.update(from: p, count: n) }
                p += n
            }
        }
        return (loss, tensors)
    }
}

/// Reads `rank` and `ranks` (0 <= rank < ranks).
func rankArguments(_ args: Arguments) throws -> (rank: Int, ranks: Int) {
    let ranks = try args.count("ranks", minimum: 1)
    let rank = try args.count("rank")
    guard rank < ranks else { throw BridgeError.argument("rank: must be in 0..<\(ranks) (ranks), got \(rank)") }
    return (rank, ranks)
}

/// An engine object whose steps processes can share: the trainer and the pretrainer.
protocol SharedStepping: AnyObject {
    /// The first half of a shared step: the number of parts, this process's
    /// first part, and its parts' rows.
    func shareStep(rank: Int, ranks: Int) throws -> (parts: Int, first: Int, rows: Tensor)
    /// The second half, from every part's row in order: the step's loss.
    func finishStep(rows: Tensor) throws -> Float
    /// Drops the pending first half (another process failed in it).
    func abandonPending()
}

extension SharedStepping {
    /// "share_step" (`rank`, `ranks`): `rows`, `first_part`, `parts`.
    func shareStepMethod(_ args: Arguments, _ out: Results) throws {
        let (rank, ranks) = try rankArguments(args)
        try args.done()
        let (parts, first, rows) = try shareStep(rank: rank, ranks: ranks)
        out.set("rows", rows)
        out.set("first_part", first)
        out.set("parts", parts)
    }

    /// "finish_step" (`rows`, every part's row in part order): `loss`. A first half must be pending.
    func finishStepMethod(_ args: Arguments, _ out: Results) throws {
        let rows = try args.tensor("rows", finite: false)
        try args.done()
        out.set("loss", try finishStep(rows: rows))
    }

    /// "abandon_step": the object is left as a failed step leaves it.
    func abandonStepMethod(_ args: Arguments, _ out: Results) throws {
        try args.done()
        abandonPending()
    }
}

extension TrainerObject: SharedStepping {
    /// Width of a part's row: the loss, then every meta-parameter's elements.
    var partWidth: Int { 1 + learner.learner.metaParameterSpecs.reduce(0) { $0 + $1.shape.reduce(1, *) } }
}

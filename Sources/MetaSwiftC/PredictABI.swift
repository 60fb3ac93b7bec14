import MetaSwift

// Few-shot classification through a learner: the logits and predicted classes
// of an episode's queries after learning from its support set, and the
// per-episode accuracy and macro-F1 over many episodes of a taskset.

extension LearnerObject {
    /// Refuses a learner that does not classify (a regression learner).
    func checkClassifier(_ what: String) throws {
        guard classifiesEpisodes || loss.isClassification else {
            throw BridgeError.argument("learner: \(what) needs a classifier (loss 'cross_entropy'); "
                                       + "this learner's loss is '\(loss.rawValue)'")
        }
    }

    /// Query logits (m, classes) after learning from (xs, ys), checked first:
    /// the support set as the learner needs it, and queries the model accepts
    /// shaped like the support examples.
    func queryLogits(xs: Tensor, ys: Tensor, xq: Tensor, steps: Int) throws -> Tensor {
        try checkSupport(x: xs, y: ys, "x_support", "y_support")
        _ = try checkBatch(xq, "x_query")
        guard xs.shape.dropFirst() == xq.shape.dropFirst() else {
            throw MetaError.shape("x_query: examples of shape \(Array(xq.shape.dropFirst())) differ from x_support's \(Array(xs.shape.dropFirst()))")
        }
        return try learner.queryLogits(metaParameters, supportX: xs, supportY: ys, queryX: xq, steps: steps)
    }
}

/// The three views of an episode borrowed for one call, and its logits.
private func borrowedLogits(_ l: LearnerObject, _ xSupport: UnsafeRawPointer?, _ ySupport: UnsafeRawPointer?,
                            _ xQuery: UnsafeRawPointer?, _ steps: Int64, _ what: String) throws -> Tensor {
    try l.checkClassifier(what)
    let views = try [(xSupport, "x_support"), (ySupport, "y_support"), (xQuery, "x_query")].map {
        try ViewLayout.records($0.0, count: 1, $0.1)!
    }
    _ = try Check.innerSteps(steps, "steps")
    return try withBorrowed { scope in
        let xs = try scope.tensor(views[0], "x_support"), ys = try scope.tensor(views[1], "y_support")
        let xq = try scope.tensor(views[2], "x_query")
        return [try l.queryLogits(xs: xs, ys: ys, xq: xq, steps: Int(steps))]
    }[0]
}

@_cdecl("ms_learner_query_logits")
public func ms_learner_query_logits(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ learner: OpaquePointer?,
                                    _ xSupport: UnsafeRawPointer?, _ ySupport: UnsafeRawPointer?,
                                    _ xQuery: UnsafeRawPointer?, _ steps: Int64) -> Int32 {
    guarded(memory: "x_query") {
        let out = try Check.outHandle(out, "out")
        let l = try Handles.resolve(learner, as: LearnerObject.self, "learner")
        let logits = try borrowedLogits(l, xSupport, ySupport, xQuery, steps, "query_logits")
        out.pointee = Handles.publish(TensorObject(logits))
    }
}

@_cdecl("ms_learner_predict")
public func ms_learner_predict(_ out: UnsafeMutablePointer<Int64>?, _ capacity: Int64, _ learner: OpaquePointer?,
                               _ xSupport: UnsafeRawPointer?, _ ySupport: UnsafeRawPointer?,
                               _ xQuery: UnsafeRawPointer?, _ steps: Int64) -> Int32 {
    guarded(memory: "x_query") {
        let out = try Check.out(out, "out")
        guard Int(bitPattern: out) % MemoryLayout<Int64>.alignment == 0 else {
            throw BridgeError.argument("out: not aligned to \(MemoryLayout<Int64>.alignment) bytes")
        }
        let cap = try Check.count(capacity, "capacity")
        let l = try Handles.resolve(learner, as: LearnerObject.self, "learner")
        let logits = try borrowedLogits(l, xSupport, ySupport, xQuery, steps, "predict")
        let predicted = try argmax(logits: logits)
        guard cap >= predicted.count else {
            throw BridgeError.argument("capacity: \(cap) is less than the \(predicted.count) queries")
        }
        for (i, p) in predicted.enumerated() { out[i] = Int64(p) }
    }
}

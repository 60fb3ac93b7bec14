import MetaSwift

// The learner calls that compute. Each checks every task (or support set)
// against the model and the loss first, so a bad shape or label is reported
// in the caller's terms (`tasks[3].y_query: ...`) before any engine work.

@_cdecl("ms_learner_meta_loss_and_grad")
public func ms_learner_meta_loss_and_grad(_ outLoss: UnsafeMutablePointer<Float>?,
                                          _ outGrads: UnsafeMutablePointer<OpaquePointer?>?, _ gradsCapacity: Int64,
                                          _ learner: OpaquePointer?, _ tasks: UnsafeRawPointer?,
                                          _ taskCount: Int64) -> Int32 {
    guarded(memory: "tasks") {
        let outLoss = try Check.out(outLoss, "out_loss")
        let l = try Handles.resolve(learner, as: LearnerObject.self, "learner")
        let count = l.specs.count
        let capacity = try Check.count(gradsCapacity, "grads_capacity")
        guard capacity >= count else {
            throw BridgeError.argument("grads_capacity: \(capacity) is less than the \(count) meta-parameters")
        }
        let outGrads = try Check.out(outGrads, "out_grads")
        for i in 0..<count { outGrads[i] = nil }
        let n = try Check.count(taskCount, "task_count")
        guard n > 0 else { throw BridgeError.argument("task_count: need at least one task, got 0") }
        let base = try ViewLayout.records(tasks, count: n, "tasks")!
        var loss: Float = 0
        let grads = try withBorrowed { scope in
            let batch = try (0..<n).map { i in
                try l.checkedTask(try scope.task(base + i * ViewLayout.taskSize, "tasks[\(i)]"), "tasks[\(i)]")
            }
            let (value, g) = try l.learner.metaLossAndGrad(l.metaParameters, tasks: batch)
            loss = value
            return g
        }
        guard grads.count == count else {
            throw BridgeError(status: .internal, description: "internal error: \(grads.count) gradients for \(count) meta-parameters")
        }
        outLoss.pointee = loss
        for (i, g) in grads.enumerated() { outGrads[i] = Handles.publish(TensorObject(g)) }
    }
}

@_cdecl("ms_learner_adapt")
public func ms_learner_adapt(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ learner: OpaquePointer?,
                             _ x: UnsafeRawPointer?, _ y: UnsafeRawPointer?, _ steps: Int64) -> Int32 {
    guarded(memory: "x") {
        let out = try Check.outHandle(out, "out")
        let l = try Handles.resolve(learner, as: LearnerObject.self, "learner")
        let xView = try ViewLayout.records(x, count: 1, "x")!
        let yView = try ViewLayout.records(y, count: 1, "y")!
        _ = try Check.innerSteps(steps, "steps")
        let adapted = try withBorrowed { scope in
            let xs = try scope.tensor(xView, "x"), ys = try scope.tensor(yView, "y")
            try l.checkSupport(x: xs, y: ys, "x", "y")
            return try l.learner.adapt(l.metaParameters, x: xs, y: ys, steps: Int(steps))
        }
        out.pointee = Handles.publish(try l.model.with(values: adapted))
    }
}

/// A caller's array of `count` floats to write into: non-NULL and aligned.
private func floatsOut(_ pointer: UnsafeMutablePointer<Float>?, _ name: String) throws -> UnsafeMutablePointer<Float> {
    let p = try Check.out(pointer, name)
    guard Int(bitPattern: p) % MemoryLayout<Float>.alignment == 0 else {
        throw BridgeError.argument("\(name): not aligned to \(MemoryLayout<Float>.alignment) bytes")
    }
    return p
}

/// Tasks evaluated per engine call: bounds memory for many tasks; results
/// per task do not depend on it.
private let evaluationChunk = 250

@_cdecl("ms_learner_evaluate")
public func ms_learner_evaluate(_ outLossCurve: UnsafeMutablePointer<Float>?,
                                _ outAccuracyCurve: UnsafeMutablePointer<Float>?,
                                _ outTaskLosses: UnsafeMutablePointer<Float>?,
                                _ outTaskAccuracies: UnsafeMutablePointer<Float>?,
                                _ learner: OpaquePointer?, _ taskset: OpaquePointer?, _ taskCount: Int64,
                                _ steps: Int64, _ seed: UInt64) -> Int32 {
    guarded(memory: "taskset") {
        let lossCurve = try floatsOut(outLossCurve, "out_loss_curve")
        let taskLosses = try floatsOut(outTaskLosses, "out_task_losses")
        let accuracyCurve = try outAccuracyCurve.map { try floatsOut($0, "out_accuracy_curve") }
        let taskAccuracies = try outTaskAccuracies.map { try floatsOut($0, "out_task_accuracies") }
        let l = try Handles.resolve(learner, as: LearnerObject.self, "learner")
        let ts = try Handles.resolve(taskset, as: TasksetObject.self, "taskset")
        _ = try Check.episodes(taskCount, "task_count")
        _ = try Check.innerSteps(steps, "steps")
        if l.classifiesEpisodes && steps != 0 {
            throw BridgeError.argument("steps: must be 0 for a learner that classifies by its own rule (ProtoNet takes no inner steps), got \(steps)")
        }
        try l.checkTaskset(ts, "taskset")
        let (n, k) = (Int(taskCount), Int(steps))
        var streams = ts.streams(n, seed: seed)
        let params = l.metaParameters
        var lossSums = [Float](repeating: 0, count: k + 1), accuracySums = lossSums
        var start = 0
        while start < n {
            let end = min(start + evaluationChunk, n)
            let tasks = try (start..<end).map { try ts.distribution.sample(rng: &streams[$0]) }
            let curve = try l.learner.evaluate(params, tasks: tasks, steps: k)
            let w = Float(end - start)
            for s in 0...k {
                lossSums[s] += curve.loss[s] * w
                accuracySums[s] += (curve.accuracy?[s] ?? 0) * w
            }
            for (j, v) in curve.finalLosses.enumerated() { taskLosses[start + j] = v }
            if let taskAccuracies, let final = curve.finalAccuracies {
                for (j, v) in final.enumerated() { taskAccuracies[start + j] = v }
            }
            start = end
        }
        for s in 0...k {
            lossCurve[s] = lossSums[s] / Float(n)
            if l.loss.isClassification { accuracyCurve?[s] = accuracySums[s] / Float(n) }
        }
    }
}

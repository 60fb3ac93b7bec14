import MetaSwift

/// `count` int64 values at `pointer` as Ints (NULL only for none), for `name`.
func int64s(_ pointer: UnsafePointer<Int64>?, count: Int, _ name: String) throws -> [Int] {
    guard count > 0 else { return [] }
    guard let pointer else { throw BridgeError.argument("\(name): NULL for \(count) values") }
    guard Int(bitPattern: pointer) % MemoryLayout<Int64>.alignment == 0 else {
        throw BridgeError.argument("\(name): not aligned to \(MemoryLayout<Int64>.alignment) bytes")
    }
    return (0..<count).map { Int(truncatingIfNeeded: pointer[$0]) }
}

/// Class ids: each >= 0, none repeated. Names the first offending entry.
func classIDs(_ values: [Int], _ name: String) throws {
    var seen = Set<Int>()
    for (i, c) in values.enumerated() {
        guard c >= 0 else { throw BridgeError.argument("\(name)[\(i)]: \(c) is negative; class labels must be >= 0") }
        guard seen.insert(c).inserted else {
            throw BridgeError.argument("\(name)[\(i)]: class \(c) appears more than once")
        }
    }
}

private func positive(_ value: Int64, _ name: String) throws -> Int {
    guard value > 0 else { throw BridgeError.argument("\(name): must be > 0, got \(value)") }
    return Int(truncatingIfNeeded: value)
}

@_cdecl("ms_taskset_new_arrays")
public func ms_taskset_new_arrays(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ images: OpaquePointer?,
                                  _ labels: UnsafePointer<Int64>?, _ labelCount: Int64, _ ways: Int64,
                                  _ shots: Int64, _ queries: Int64, _ classes: UnsafePointer<Int64>?,
                                  _ classCount: Int64, _ seed: UInt64) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        let x = try Handles.resolve(images, as: TensorObject.self, "images").tensor
        guard x.rank >= 2 else {
            throw MetaError.shape("images: expected (n, ...) with at least one axis after the example axis, "
                                  + "e.g. (n, channels, height, width); got shape \(x.shape)")
        }
        let n = x.shape[0]
        guard n > 0 else { throw MetaError.shape("images: has no examples, shape \(x.shape)") }
        guard x.count > 0 else { throw MetaError.shape("images: examples of shape \(Array(x.shape.dropFirst())) are empty") }
        try Check.finite(x, "images")
        let count = try Check.count(labelCount, "label_count")
        guard count == n else {
            throw MetaError.shape("labels: has \(count) entries but images has \(n) examples")
        }
        let ys = try int64s(labels, count: count, "labels")
        for (i, l) in ys.enumerated() where l < 0 {
            throw BridgeError.argument("labels[\(i)]: \(l) is negative; class labels must be >= 0")
        }
        let (w, s, q) = (try positive(ways, "ways"), try positive(shots, "shots"), try positive(queries, "queries"))
        var sizes: [Int: Int] = [:]
        for l in ys { sizes[l, default: 0] += 1 }
        let chosen: [Int]
        if classCount == 0 && classes == nil {
            chosen = sizes.keys.sorted()
        } else {
            let requested = try int64s(classes, count: try Check.count(classCount, "class_count"), "classes")
            guard !requested.isEmpty else { throw BridgeError.argument("classes: is empty; pass NULL and 0 for every class") }
            try classIDs(requested, "classes")
            for (i, c) in requested.enumerated() where sizes[c] == nil {
                throw BridgeError.argument("classes[\(i)]: class \(c) does not occur in labels")
            }
            chosen = requested.sorted()
        }
        guard w <= chosen.count else {
            throw BridgeError.argument("ways: \(w) exceeds the \(chosen.count) classes available")
        }
        let (perClass, overflow) = s.addingReportingOverflow(q)
        for c in chosen where overflow || sizes[c, default: 0] < perClass {
            throw BridgeError.argument("queries: class \(c) has \(sizes[c, default: 0]) examples; "
                                       + "shots + queries = \(s) + \(q) needs that many per class")
        }
        // Every class has >= shots + queries examples and ways <= classes, so
        // an episode holds at most n examples: no size check beyond the images'.
        let taskset = try Taskset(images: x, labels: ys, ways: w, shots: s, queries: q, classes: chosen)
        out.pointee = Handles.publish(TasksetObject(taskset, seed: seed))
    }
}

import MetaSwift

// MetaEval at the ABI: confidence intervals, classification metrics, and the
// class splits and folds that keep meta-training and meta-testing classes apart.

@_cdecl("ms_summarize")
public func ms_summarize(_ outMean: UnsafeMutablePointer<Float>?, _ outHalfWidth: UnsafeMutablePointer<Float>?,
                         _ outStd: UnsafeMutablePointer<Float>?, _ values: UnsafePointer<Float>?, _ count: Int64,
                         _ ddof: Int64) -> Int32 {
    guarded {
        let mean = try Check.out(outMean, "out_mean"), half = try Check.out(outHalfWidth, "out_half_width")
        let std = try Check.out(outStd, "out_std")
        let n = try Check.count(count, "count")
        guard n > 0 else { throw BridgeError.argument("values: need at least one value") }
        let v = try Check.floats(values, count: n, "values")
        try Check.finite(v, "values")
        guard ddof >= 0, ddof < Int64(n) else {
            throw BridgeError.argument("ddof: must be in 0..<\(n) (the number of values), got \(ddof)")
        }
        let s = try summarize(Array(v), ddof: Int(ddof))
        (mean.pointee, half.pointee, std.pointee) = (s.mean, s.halfWidth, s.std)
    }
}

@_cdecl("ms_classification_metrics")
public func ms_classification_metrics(_ outAccuracy: UnsafeMutablePointer<Float>?,
                                      _ outMacroF1: UnsafeMutablePointer<Float>?,
                                      _ predicted: UnsafePointer<Int64>?, _ labels: UnsafePointer<Int64>?,
                                      _ count: Int64, _ classes: Int64) -> Int32 {
    guarded {
        let acc = try Check.out(outAccuracy, "out_accuracy"), f1 = try Check.out(outMacroF1, "out_macro_f1")
        let n = try Check.count(count, "count")
        guard n > 0 else { throw BridgeError.argument("count: need at least one prediction") }
        guard classes > 0 else { throw BridgeError.argument("classes: must be > 0, got \(classes)") }
        let p = try int64s(predicted, count: n, "predicted"), y = try int64s(labels, count: n, "labels")
        for (name, values) in [("predicted", p), ("labels", y)] {
            for (i, v) in values.enumerated() where v < 0 || Int64(v) >= classes {
                throw MetaError.index("\(name)[\(i)]: \(v) is not a class index in 0..<\(classes)")
            }
        }
        acc.pointee = try MetaEval.accuracy(predicted: p, labels: y)
        f1.pointee = try macroF1(predicted: p, labels: y, classes: Int(classes))
    }
}

/// Checked class ids for splits and folds.
private func classList(_ classes: UnsafePointer<Int64>?, _ count: Int64) throws -> [Int] {
    let ids = try int64s(classes, count: try Check.count(count, "count"), "classes")
    try classIDs(ids, "classes")
    return ids
}

/// Writes, for each of `ids`, the index of the set of `sets` that holds it (-1: none).
private func writeMembership(_ out: UnsafeMutablePointer<Int64>, _ ids: [Int], _ sets: [[Int]]) {
    var where_: [Int: Int] = [:]
    for (k, set) in sets.enumerated() { for c in set { where_[c] = k } }
    for (i, c) in ids.enumerated() { out[i] = Int64(where_[c] ?? -1) }
}

@_cdecl("ms_class_folds")
public func ms_class_folds(_ out: UnsafeMutablePointer<Int64>?, _ classes: UnsafePointer<Int64>?, _ count: Int64,
                           _ folds: Int64, _ seed: UInt64) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        let ids = try classList(classes, count)
        guard folds >= 2 else { throw BridgeError.argument("folds: must be >= 2, got \(folds)") }
        guard folds <= Int64(ids.count) else {
            throw BridgeError.argument("folds: \(folds) exceeds the \(ids.count) classes; every fold needs a test class")
        }
        let split = try classFolds(classes: ids, folds: Int(folds), seed: seed)
        writeMembership(out, ids, split.map(\.test))
    }
}

@_cdecl("ms_class_split")
public func ms_class_split(_ out: UnsafeMutablePointer<Int64>?, _ classes: UnsafePointer<Int64>?, _ count: Int64,
                           _ train: Int64, _ validation: Int64, _ test: Int64, _ seed: UInt64) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        let ids = try classList(classes, count)
        let n = Int64(ids.count)
        guard train >= 0 else { throw BridgeError.argument("train: must be >= 0, got \(train)") }
        guard validation >= 0 else { throw BridgeError.argument("validation: must be >= 0, got \(validation)") }
        guard test >= -1 else { throw BridgeError.argument("test: must be >= 0, or -1 for the rest, got \(test)") }
        guard train <= n, validation <= n - train else {
            throw BridgeError.argument("validation: train (\(train)) + validation (\(validation)) exceeds the \(n) classes")
        }
        guard test <= n - train - validation else {
            throw BridgeError.argument("test: train (\(train)) + validation (\(validation)) + test (\(test)) exceeds the \(n) classes")
        }
        let split = try ClassSplit(classes: ids, train: Int(train), validation: Int(validation),
                                   test: test < 0 ? nil : Int(test), seed: seed)
        writeMembership(out, ids, [split.train, split.validation, split.test])
    }
}

import MetaSwift

// MetaEval at the ABI: confidence intervals, classification metrics, and the
// class splits and folds that keep meta-training and meta-testing classes apart.

/// Class ids for splits and folds: each >= 0, none repeated.
private func classList(_ args: Arguments) throws -> [Int] {
    let ids = try args.ints("classes").map { Int($0) }
    try classIDs(ids, "classes")
    return ids
}

/// For each of `ids`, the index of the set of `sets` that holds it (-1: none).
private func membership(_ ids: [Int], _ sets: [[Int]]) -> [Int] {
    var where_: [Int: Int] = [:]
    for (k, set) in sets.enumerated() { for c in set { where_[c] = k } }
    return ids.map { where_[$0] ?? -1 }
}

extension Functions {
    static let metrics: [String: (Arguments, Results) throws -> Void] = [
        /// Mean, half-width of the 95% interval and standard deviation of `values`.
        "summarize": { args, out in
            let values = try args.tensor("values").scalars
            let ddof = try args.int("ddof", default: 1, in: 0...Int64.max)
            try args.done()
            guard !values.isEmpty else { throw BridgeError.argument("values: need at least one value") }
            guard ddof < values.count else {
                throw BridgeError.argument("ddof: must be in 0..<\(values.count) (the number of values), got \(ddof)")
            }
            let s = try summarize(values, ddof: ddof)
            out.set("mean", s.mean)
            out.set("half_width", s.halfWidth)
            out.set("std", s.std)
        },
        "classification_metrics": { args, out in
            let p = try args.ints("predicted"), y = try args.ints("labels")
            let classes = try args.int("classes", in: 1...Int64.max)
            try args.done()
            guard !p.isEmpty else { throw BridgeError.argument("predicted: need at least one prediction") }
            guard p.count == y.count else {
                throw MetaError.shape("labels: has \(y.count) entries but predicted has \(p.count)")
            }
            for (name, values) in [("predicted", p), ("labels", y)] {
                for (i, v) in values.enumerated() where v < 0 || v >= Int64(classes) {
                    throw MetaError.index("\(name)[\(i)]: \(v) is not a class index in 0..<\(classes)")
                }
            }
            let (pi, yi) = (p.map { Int($0) }, y.map { Int($0) })
            out.set("accuracy", try MetaEval.accuracy(predicted: pi, labels: yi))
            out.set("macro_f1", try macroF1(predicted: pi, labels: yi, classes: classes))
        },
        /// For each class, the fold whose test set holds it.
        "class_folds": { args, out in
            let ids = try classList(args)
            let folds = try args.int("folds", in: 2...Int64.max)
            let seed = try args.seed("seed")
            try args.done()
            guard folds <= ids.count else {
                throw BridgeError.argument("folds: \(folds) exceeds the \(ids.count) classes; every fold needs a test class")
            }
            out.set("fold", membership(ids, try classFolds(classes: ids, folds: folds, seed: seed).map(\.test)))
        },
        /// For each class, 0 (train), 1 (validation), 2 (test) or -1 (none).
        "class_split": { args, out in
            let ids = try classList(args)
            let train = try args.count("train"), validation = try args.count("validation")
            let test = try args.optionalInt("test", in: 0...Int64.max)
            let seed = try args.seed("seed")
            try args.done()
            let n = ids.count
            guard train <= n, validation <= n - train else {
                throw BridgeError.argument("validation: train (\(train)) + validation (\(validation)) exceeds the \(n) classes")
            }
            if let test, test > n - train - validation {
                throw BridgeError.argument("test: train (\(train)) + validation (\(validation)) + test (\(test)) exceeds the \(n) classes")
            }
            let split = try ClassSplit(classes: ids, train: train, validation: validation, test: test, seed: seed)
            out.set("set", membership(ids, [split.train, split.validation, split.test]))
        },
    ]
}

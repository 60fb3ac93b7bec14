/// Reductions over a set of axes.
public enum ReduceOp: String, Sendable { case sum, max }

extension Tensor {
    /// Sums over `axes` (all axes when empty is *not* implied: pass them).
    public func sum(axes: [Int], keepDims: Bool = false) throws -> Tensor {
        try reduce(.sum, axes: axes, keepDims: keepDims)
    }

    public func max(axes: [Int], keepDims: Bool = false) throws -> Tensor {
        try reduce(.max, axes: axes, keepDims: keepDims)
    }

    /// The sum of all elements as a rank-0 tensor.
    public func sumAll() throws -> Tensor {
        var acc: Float = 0
        let p = storage.base
        for i in 0..<count { acc += p[i] }
        return try Tensor(acc)
    }

    public func reduce(_ op: ReduceOp, axes: [Int], keepDims: Bool) throws -> Tensor {
        let ax = try ShapeMath.axes(axes, rank: rank, op: "\(op.rawValue)")
        var kept = shape
        for a in ax { kept[a] = 1 }
        if op == .max, ax.contains(where: { shape[$0] == 0 }) {
            throw MetaError.shape("max over an empty axis of shape \(shape)")
        }
        let outShape = keepDims ? kept : shape.enumerated().filter { !ax.contains($0.offset) }.map { $0.element }
        let outCount = try ShapeMath.count(kept)
        let s = try Storage(uninitializedCount: outCount)
        let y = s.base
        let x = storage.base
        let initial: Float = op == .sum ? 0 : -.infinity
        y.update(repeating: initial, count: outCount)
        if count == 0 { return Tensor(unchecked: s, shape: outShape, count: outCount) }

        // Merge neighbouring dimensions that are all kept or all reduced; size-1
        // dimensions are dropped. What remains alternates keep / reduce.
        var sizes: [Int] = [], reduced: [Bool] = []
        for (i, d) in shape.enumerated() where d != 1 {
            let r = ax.contains(i)
            if let last = reduced.last, last == r { sizes[sizes.count - 1] &*= d } else { sizes.append(d); reduced.append(r) }
        }
        if sizes.isEmpty { y[0] = x[0]; return Tensor(unchecked: s, shape: outShape, count: outCount) }

        // Output strides of each merged group (0 for reduced groups).
        var ostr = [Int](repeating: 0, count: sizes.count)
        var acc = 1
        for g in stride(from: sizes.count - 1, through: 0, by: -1) where !reduced[g] {
            ostr[g] = acc; acc &*= sizes[g]
        }
        let m = sizes.count
        let inner = sizes[m - 1]
        let innerReduced = reduced[m - 1]
        let outer = count / inner
        var idx = [Int](repeating: 0, count: m)
        var off = 0, xo = 0
        for _ in 0..<outer {
            if innerReduced {
                var a = y[off]
                if op == .sum { for j in 0..<inner { a += x[xo &+ j] } }
                else { for j in 0..<inner { let v = x[xo &+ j]; a = v > a || v.isNaN ? v : a } }
                y[off] = a
            } else {
                if op == .sum { for j in 0..<inner { y[off &+ j] += x[xo &+ j] } }
                else { for j in 0..<inner { let v = x[xo &+ j]; if v > y[off &+ j] || v.isNaN { y[off &+ j] = v } } }
            }
            xo &+= inner
            var d = m - 2
            while d >= 0 {
                idx[d] &+= 1
                off &+= ostr[d]
                if idx[d] < sizes[d] { break }
                off &-= ostr[d] &* sizes[d]
                idx[d] = 0
                d -= 1
            }
        }
        return Tensor(unchecked: s, shape: outShape, count: outCount)
    }

    /// Sums a broadcast result back to `target`: the adjoint of `broadcast(to:)`.
    public func sum(to target: [Int]) throws -> Tensor {
        if target == shape { return self }
        _ = try ShapeMath.count(target, name: "sum(to:) target")
        guard target.count <= rank, (try? ShapeMath.broadcast(target, shape)) == shape else {
            throw MetaError.shape("sum(to:): \(target) does not broadcast to \(shape)")
        }
        let off = rank - target.count
        var axes: [Int] = Array(0..<off)
        for i in 0..<target.count where target[i] == 1 && shape[i + off] != 1 { axes.append(i + off) }
        return try reduce(.sum, axes: axes, keepDims: true).reshaped(target)
    }

    /// Repeats the tensor along dimensions of size 1 (and new leading ones).
    public func broadcast(to target: [Int]) throws -> Tensor {
        if target == shape { return self }
        _ = try ShapeMath.count(target, name: "broadcast target")
        guard (try? ShapeMath.broadcast(shape, target)) == target else {
            throw MetaError.shape("cannot broadcast \(shape) to \(target)")
        }
        // A strided copy with stride 0 along repeated axes: a pure copy, so -0
        // and NaN payloads survive (adding to zeros would turn -0 into +0).
        return try strideCopy(shape: target, strides: ShapeMath.broadcastStrides(shape, to: target), offset: 0)
    }
}

/// Shape arithmetic shared by every kernel. Shapes are `[Int]`, row-major.
public enum ShapeMath {
    /// Number of elements, or an error if a dimension is negative or the product overflows.
    public static func count(_ shape: [Int], name: String = "shape") throws -> Int {
        var n = 1
        for d in shape {
            guard d >= 0 else { throw MetaError.argument("\(name) \(shape): dimensions must be >= 0") }
            let (p, o) = n.multipliedReportingOverflow(by: d)
            guard !o, p <= Int(Int32.max) * 64 else {
                throw MetaError.argument("\(name) \(shape): too many elements")
            }
            n = p
        }
        return n
    }

    /// Row-major strides in elements.
    public static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc &*= shape[i]
        }
        return s
    }

    /// NumPy broadcasting: shapes are right-aligned, and each pair of sizes must
    /// be equal or contain a 1.
    public static func broadcast(_ a: [Int], _ b: [Int]) throws -> [Int] {
        let r = max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let da = i < r - a.count ? 1 : a[i - (r - a.count)]
            let db = i < r - b.count ? 1 : b[i - (r - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else {
                throw MetaError.shape("cannot broadcast shapes \(a) and \(b)")
            }
        }
        return out
    }

    /// Strides of `shape` viewed as `target` under broadcasting: 0 where a
    /// dimension is repeated. `target` must be a valid broadcast of `shape`.
    public static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
        let own = strides(shape)
        let off = target.count - shape.count
        var s = [Int](repeating: 0, count: target.count)
        for i in 0..<shape.count where shape[i] != 1 || target[i + off] == 1 {
            s[i + off] = shape[i] == 1 ? 0 : own[i]
        }
        return s
    }

    /// Normalises a possibly negative axis, or throws naming the operation.
    public static func axis(_ axis: Int, rank: Int, op: String) throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0, a < rank else {
            throw MetaError.index("\(op): axis \(axis) is out of range for rank \(rank)")
        }
        return a
    }

    /// Normalised, sorted, duplicate-free axes.
    public static func axes(_ axes: [Int], rank: Int, op: String) throws -> [Int] {
        var seen = [Bool](repeating: false, count: rank)
        for a in axes {
            let n = try axis(a, rank: rank, op: op)
            guard !seen[n] else { throw MetaError.argument("\(op): axis \(a) is repeated") }
            seen[n] = true
        }
        return (0..<rank).filter { seen[$0] }
    }
}

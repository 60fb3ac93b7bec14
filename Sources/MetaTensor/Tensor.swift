/// A Float32 tensor: contiguous, row-major, immutable. Images are NCHW.
///
/// Kernels allocate a fresh storage for every result, so tensors are values:
/// sharing a storage between tensors (a reshape, a copy of the struct) is safe.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    public let storage: Storage
    public let shape: [Int]
    public let count: Int

    /// Wraps `storage` (not copied) with `shape`; the counts must agree.
    public init(storage: Storage, shape: [Int]) throws {
        let n = try ShapeMath.count(shape)
        guard n == storage.count else {
            throw MetaError.shape("shape \(shape) holds \(n) elements but the buffer has \(storage.count)")
        }
        self.storage = storage
        self.shape = shape
        self.count = n
    }

    /// Internal: shape already validated by the caller.
    @usableFromInline
    init(unchecked storage: Storage, shape: [Int], count: Int) {
        self.storage = storage
        self.shape = shape
        self.count = count
    }

    /// A tensor whose buffer the caller fills through `body` (every element).
    public static func make(shape: [Int], _ body: (UnsafeMutablePointer<Float>, Int) throws -> Void) throws -> Tensor {
        let n = try ShapeMath.count(shape)
        let s = try Storage(uninitializedCount: n)
        try body(s.base, n)
        return Tensor(unchecked: s, shape: shape, count: n)
    }

    /// Copies `scalars` into a tensor of `shape`.
    public init(shape: [Int], scalars: [Float]) throws {
        let n = try ShapeMath.count(shape)
        guard n == scalars.count else {
            throw MetaError.shape("shape \(shape) needs \(n) values, got \(scalars.count)")
        }
        let s = try Storage(uninitializedCount: n)
        scalars.withUnsafeBufferPointer { src in
            if n > 0 { s.base.update(from: src.baseAddress!, count: n) }
        }
        self.init(unchecked: s, shape: shape, count: n)
    }

    /// A rank-0 tensor.
    public init(_ value: Float) throws {
        let s = try Storage(uninitializedCount: 1)
        s.base.pointee = value
        self.init(unchecked: s, shape: [], count: 1)
    }

    public static func full(_ shape: [Int], _ value: Float) throws -> Tensor {
        try make(shape: shape) { p, n in p.update(repeating: value, count: n) }
    }

    public static func zeros(_ shape: [Int]) throws -> Tensor { try full(shape, 0) }
    public static func ones(_ shape: [Int]) throws -> Tensor { try full(shape, 1) }

    public var rank: Int { shape.count }

    /// The elements in row-major order.
    public var scalars: [Float] {
        Array(UnsafeBufferPointer(start: storage.base, count: count))
    }

    /// The single element of a one-element tensor.
    public func item() throws -> Float {
        guard count == 1 else { throw MetaError.shape("item(): tensor of shape \(shape) has \(count) elements, expected 1") }
        return storage.base.pointee
    }

    /// Read-only access to the elements.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.base, count: count))
    }

    /// The same elements under another shape (no copy). One dimension may be -1.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var dims = newShape
        if let i = dims.firstIndex(of: -1) {
            guard dims.filter({ $0 == -1 }).count == 1 else {
                throw MetaError.argument("reshape \(shape) -> \(newShape): at most one dimension may be -1")
            }
            var rest = dims; rest[i] = 1
            let known = try ShapeMath.count(rest, name: "reshape target")
            guard known > 0, count % known == 0 else {
                throw MetaError.shape("reshape \(shape) -> \(newShape): \(count) elements do not divide into it")
            }
            dims[i] = count / known
        }
        let n = try ShapeMath.count(dims, name: "reshape target")
        guard n == count else {
            throw MetaError.shape("reshape \(shape) -> \(newShape): \(count) elements cannot take \(n)")
        }
        return Tensor(unchecked: storage, shape: dims, count: n)
    }

    /// A new storage with the same elements.
    public func copy() throws -> Tensor {
        let s = try Storage(uninitializedCount: count)
        if count > 0 { s.base.update(from: storage.base, count: count) }
        return Tensor(unchecked: s, shape: shape, count: count)
    }

    public var description: String {
        let shown = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(shown)\(count > 8 ? ", ..." : "")])"
    }

    /// True when every element is finite (no NaN or infinity).
    public var isFinite: Bool {
        let p = storage.base
        for i in 0..<count where !p[i].isFinite { return false }
        return true
    }
}

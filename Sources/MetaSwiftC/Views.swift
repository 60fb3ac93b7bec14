#if canImport(Glibc)
import Glibc
#endif
import MetaSwift

/// The C layout of `ms_view` (include/metaswift.h):
///
///     typedef struct { const float* data; const int64_t* shape; int64_t rank; } ms_view;
///
/// read field by field at fixed offsets rather than through a Swift struct,
/// whose layout Swift does not promise to match C's. On LP64 the struct is
/// 24 bytes with 8-byte alignment (`ms_args_set_views` reads an array of them).
enum ViewLayout {
    static let data = 0
    static let shape = MemoryLayout<UnsafeRawPointer>.stride
    static let rank = 2 * MemoryLayout<UnsafeRawPointer>.stride
    static let size = rank + MemoryLayout<Int64>.stride
    static let alignment = max(MemoryLayout<UnsafeRawPointer>.alignment, MemoryLayout<Int64>.alignment)

    /// `count` records of `stride` bytes at `pointer`: non-NULL (unless
    /// `count` is 0) and aligned, so loading their fields cannot trap.
    static func records(_ pointer: UnsafeRawPointer?, count: Int, _ name: String) throws -> UnsafeRawPointer? {
        guard let pointer else {
            guard count == 0 else { throw BridgeError.argument("\(name): NULL for \(count) entries") }
            return nil
        }
        guard Int(bitPattern: pointer) % alignment == 0 else {
            throw BridgeError.argument("\(name): not aligned to \(alignment) bytes")
        }
        return pointer
    }
}

/// Caller memory viewed as engine tensors, without copies, for the duration
/// of one ABI call.
///
/// Each view becomes a tensor over a `Storage(borrowing:)` whose release does
/// nothing: the caller keeps ownership. The header promises that the memory
/// is not used after the call returns, and the scope enforces it: a result
/// that shares a borrowed storage is copied (`owned`), and a borrowed storage
/// still referenced by anything else after the call is an engine bug,
/// reported as an internal error (`release`) rather than left to read freed
/// memory later.
final class BorrowScope {
    private var storages: [Storage] = []

    /// The tensor over a view already checked for shape and pointer (an
    /// `ms_args` entry); its values are checked finite unless `finite` is false.
    func tensor(_ view: View, _ name: String, finite: Bool) throws -> Tensor {
        let n = try ShapeMath.count(view.shape, name: name)
        let values = UnsafeBufferPointer(start: view.data, count: view.data == nil ? 0 : n)
        if finite { try Check.finite(values, name) }
        guard let base = values.baseAddress, n > 0 else { return try Tensor.zeros(view.shape) }
        let storage = Storage(borrowing: UnsafeMutablePointer(mutating: base), count: n) {}
        storages.append(storage)
        return try Tensor(storage: storage, shape: view.shape)
    }

    /// `t`, or a copy of it when it shares borrowed memory.
    func owned(_ t: Tensor) throws -> Tensor {
        storages.contains { $0 === t.storage } ? try t.copy() : t
    }

    /// Checks that nothing but this scope still holds borrowed memory, then
    /// forgets it. Call it once every tensor over borrowed memory is gone.
    func release() throws {
        for i in storages.indices where !isKnownUniquelyReferenced(&storages[i]) {
            throw BridgeError(status: .internal, description: "internal error: the engine kept a view of caller memory past the call")
        }
        storages.removeAll()
    }
}

extension ModelObject {
    /// Checks a batch of examples `x` and their targets `y` against the model
    /// and the loss, with messages naming `xName` and `yName`: x is a
    /// non-empty batch the model accepts; y holds one target per example,
    /// shaped like the model's output (regression), or one class index in
    /// 0..<classes per example, shape (n,) or (n, 1) (classification).
    func checkExamples(x: Tensor, y: Tensor, loss: TaskLoss, _ xName: String, _ yName: String) throws {
        let outputShape = try checkInput(x.shape, xName)
        let n = x.shape[0]
        guard n > 0 else { throw MetaError.shape("\(xName): needs at least one example, got shape \(x.shape)") }
        switch loss {
        case .mse:
            guard y.shape == [n] + outputShape else {
                throw MetaError.shape("\(yName): expected shape \([n] + outputShape) (one target of the model's output shape \(outputShape) per row of \(xName)), got \(y.shape)")
            }
        case .crossEntropy:
            guard outputShape.count == 1, let classes = outputShape.first else {
                throw MetaError.shape("\(yName): cross_entropy needs a model whose output is (batch, classes), this one gives \(outputShape) per example")
            }
            guard y.shape == [n] || y.shape == [n, 1] else {
                throw MetaError.shape("\(yName): expected \(n) class labels, shape [\(n)] (one per row of \(xName)), got \(y.shape)")
            }
            try y.withUnsafeBufferPointer { labels in
                for (i, v) in labels.enumerated() where !(v >= 0 && v < Float(classes) && v == v.rounded()) {
                    throw MetaError.index("\(yName): label \(v) at index \(i) is not a class index in 0..<\(classes)")
                }
            }
        }
    }

    /// A task whose four tensors fit the model and the loss, support and query alike.
    func checkedTask(_ t: [Tensor], loss: TaskLoss, _ name: String) throws -> Task {
        try checkExamples(x: t[0], y: t[1], loss: loss, "\(name).x_support", "\(name).y_support")
        try checkExamples(x: t[2], y: t[3], loss: loss, "\(name).x_query", "\(name).y_query")
        return try Task(supportX: t[0], supportY: t[1], queryX: t[2], queryY: t[3])
    }
}

import MetaSwift

/// What a tensor handle points to. Tensors are immutable, so one can be read
/// from several threads at once and shared with a model without copying.
final class TensorObject: Bridged {
    static let kind = HandleKind.tensor
    let tensor: Tensor
    init(_ tensor: Tensor) { self.tensor = tensor }

    static let methods: [String: Method<TensorObject>] = [:]
}

extension Kinds {
    /// `ms_new(&t, "tensor", {values: view})`: a tensor holding a copy of the
    /// caller's array (finite or not: a tensor is data, not yet an input).
    static let tensors: [String: (Arguments) throws -> any Bridged] = [
        "tensor": { args in
            let values = try args.tensor("values", finite: false)
            try args.done()
            return TensorObject(try args.scope.owned(values))
        },
    ]
}

/// The C type of `ms_tensor_wrap`'s release callback.
public typealias ReleaseFunction = @convention(c) (UnsafeMutableRawPointer?) -> Void

@_cdecl("ms_tensor_wrap")
public func ms_tensor_wrap(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ data: UnsafePointer<Float>?,
                           _ shape: UnsafePointer<Int64>?, _ rank: Int64,
                           _ release: ReleaseFunction?, _ context: UnsafeMutableRawPointer?) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        let dims = try Check.shape(shape, rank: rank, "shape")
        let n = try ShapeMath.count(dims)
        let values = try Check.floats(data, count: n, "data")
        guard let release else { throw BridgeError.argument("release: NULL function") }
        guard let base = values.baseAddress, n > 0 else {
            // Nothing to borrow: an owned empty tensor, and the caller's buffer is done with now.
            out.pointee = Handles.publish(TensorObject(try Tensor.zeros(dims)))
            release(context)
            return
        }
        // The engine never writes into a storage it did not allocate, so the
        // mutable pointer Storage asks for is only ever read through.
        let storage = Storage(borrowing: UnsafeMutablePointer(mutating: base), count: n) { release(context) }
        out.pointee = Handles.publish(TensorObject(try Tensor(storage: storage, shape: dims)))
    }
}

@_cdecl("ms_tensor_info")
public func ms_tensor_info(_ outData: UnsafeMutablePointer<UnsafePointer<Float>?>?,
                           _ outRank: UnsafeMutablePointer<Int64>?, _ outShape: UnsafeMutablePointer<Int64>?,
                           _ capacity: Int64, _ tensor: OpaquePointer?) -> Int32 {
    guarded {
        let data = try Check.out(outData, "out_data"), rank = try Check.out(outRank, "out_rank")
        let t = try Handles.resolve(tensor, as: TensorObject.self, "tensor").tensor
        try Check.write(t.shape, to: outShape, capacity: capacity, "out_shape")
        rank.pointee = Int64(t.rank)
        // The storage outlives this call: the handle keeps the tensor, and the
        // tensor its storage, until it is freed.
        data.pointee = UnsafePointer(t.storage.base)
    }
}

import MetaSwift

/// What an `ms_tensor` points to. Tensors are immutable, so one can be read
/// from several threads at once and shared with a model without copying.
final class TensorObject: Handled {
    static let kind = HandleKind.tensor
    let tensor: Tensor
    init(_ tensor: Tensor) { self.tensor = tensor }
}

/// The C type of `ms_tensor_wrap`'s release callback.
public typealias ReleaseFunction = @convention(c) (UnsafeMutableRawPointer?) -> Void

@_cdecl("ms_tensor_new")
public func ms_tensor_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ data: UnsafePointer<Float>?,
                          _ shape: UnsafePointer<Int64>?, _ rank: Int64) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        let dims = try Check.shape(shape, rank: rank, "shape")
        let n = try ShapeMath.count(dims)
        let values = try Check.floats(data, count: n, "data")
        try Check.fitsInMemory(elements: n, "shape")
        out.pointee = Handles.publish(TensorObject(try Tensor.copying(values, shape: dims)))
    }
}

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

@_cdecl("ms_tensor_free")
public func ms_tensor_free(_ tensor: OpaquePointer?) -> Int32 {
    guarded { try Handles.free(tensor, as: TensorObject.self, "tensor") }
}

@_cdecl("ms_tensor_rank")
public func ms_tensor_rank(_ out: UnsafeMutablePointer<Int64>?, _ tensor: OpaquePointer?) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        out.pointee = Int64(try Handles.resolve(tensor, as: TensorObject.self, "tensor").tensor.rank)
    }
}

@_cdecl("ms_tensor_shape")
public func ms_tensor_shape(_ out: UnsafeMutablePointer<Int64>?, _ capacity: Int64, _ tensor: OpaquePointer?) -> Int32 {
    guarded {
        let t = try Handles.resolve(tensor, as: TensorObject.self, "tensor").tensor
        try Check.write(t.shape, to: out, capacity: capacity, "out")
    }
}

@_cdecl("ms_tensor_size")
public func ms_tensor_size(_ out: UnsafeMutablePointer<Int64>?, _ tensor: OpaquePointer?) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        out.pointee = Int64(try Handles.resolve(tensor, as: TensorObject.self, "tensor").tensor.count)
    }
}

@_cdecl("ms_tensor_data")
public func ms_tensor_data(_ out: UnsafeMutablePointer<UnsafePointer<Float>?>?, _ tensor: OpaquePointer?) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        // The storage outlives this call: the handle keeps the tensor, and the
        // tensor its storage, until ms_tensor_free.
        out.pointee = UnsafePointer(try Handles.resolve(tensor, as: TensorObject.self, "tensor").tensor.storage.base)
    }
}

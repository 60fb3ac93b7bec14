#if canImport(Glibc)
import Glibc
#endif
import MetaSwift

/// What an `ms_model` points to: a MetaNN model (a pure function of
/// parameters and input) together with the parameter values the ABI's caller
/// currently holds for it. Values are immutable tensors swapped whole under a
/// lock, so `forward` on one thread and `set_parameter` on another see either
/// the old or the new tensor, never a torn one.
final class ModelObject: Handled {
    static let kind = HandleKind.model

    let model: any Model
    let specs: [ParameterSpec]
    /// Parameter names as C strings, alive as long as the handle (the header
    /// promises `ms_model_parameter_name`'s result for that long).
    let cNames: [UnsafeMutablePointer<CChar>]
    /// Validates an input batch before the model sees it, with messages in
    /// terms of the model's own sizes (the generic engine error would name
    /// matmul operands instead of the argument), starting with the argument's name.
    let checkInput: (_ shape: [Int], _ name: String) throws -> Void
    /// The shape of one example's output (the model's output without its
    /// batch axis): what a regression target must be, or (classes) for a classifier.
    let outputShape: [Int]

    private let lock = Lock()
    private var values: [Tensor]

    init(model: any Model, values: [Tensor], outputShape: [Int],
         checkInput: @escaping (_ shape: [Int], _ name: String) throws -> Void) throws {
        try model.checkParameters(values.map(\.shape))
        self.model = model
        self.specs = model.parameterSpecs
        self.cNames = specs.map { strdup($0.name) }
        self.checkInput = checkInput
        self.outputShape = outputShape
        self.values = values
    }

    /// The same architecture holding other parameter values (a model adapted
    /// by a learner): the values must fit the specs.
    func with(values newValues: [Tensor]) throws -> ModelObject {
        try ModelObject(model: model, values: newValues, outputShape: outputShape, checkInput: checkInput)
    }

    deinit { cNames.forEach { free($0) } }

    var parameters: [Tensor] { lock.withLock { values } }

    func setParameter(_ index: Int, _ value: Tensor) {
        lock.withLock { values[index] = value }
    }

    /// Replaces every parameter at once (a trainer writing back its result).
    func setParameters(_ newValues: [Tensor]) {
        lock.withLock { values = newValues }
    }

    func spec(_ index: Int64, _ name: String = "index") throws -> (Int, ParameterSpec) {
        let i = try Check.index(index, count: specs.count, name)
        return (i, specs[i])
    }
}

@_cdecl("ms_model_new_mlp")
public func ms_model_new_mlp(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ sizes: UnsafePointer<Int64>?,
                             _ count: Int64, _ activation: UnsafePointer<CChar>?, _ seed: UInt64) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        let widths = try Check.sizes(sizes, count: count, "sizes")
        let act = try Check.string(activation, "activation")
        let object = try ModelFactory.mlp(sizes: widths, activation: act, seed: seed)
        out.pointee = Handles.publish(object)
    }
}

@_cdecl("ms_model_free")
public func ms_model_free(_ model: OpaquePointer?) -> Int32 {
    guarded { try Handles.free(model, as: ModelObject.self, "model") }
}

@_cdecl("ms_model_parameter_count")
public func ms_model_parameter_count(_ out: UnsafeMutablePointer<Int64>?, _ model: OpaquePointer?) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        out.pointee = Int64(try Handles.resolve(model, as: ModelObject.self, "model").specs.count)
    }
}

@_cdecl("ms_model_parameter_name")
public func ms_model_parameter_name(_ out: UnsafeMutablePointer<UnsafePointer<CChar>?>?, _ model: OpaquePointer?,
                                    _ index: Int64) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        let m = try Handles.resolve(model, as: ModelObject.self, "model")
        let (i, _) = try m.spec(index)
        out.pointee = UnsafePointer(m.cNames[i])
    }
}

@_cdecl("ms_model_parameter_rank")
public func ms_model_parameter_rank(_ out: UnsafeMutablePointer<Int64>?, _ model: OpaquePointer?, _ index: Int64) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        let (_, spec) = try Handles.resolve(model, as: ModelObject.self, "model").spec(index)
        out.pointee = Int64(spec.shape.count)
    }
}

@_cdecl("ms_model_parameter_shape")
public func ms_model_parameter_shape(_ out: UnsafeMutablePointer<Int64>?, _ capacity: Int64,
                                     _ model: OpaquePointer?, _ index: Int64) -> Int32 {
    guarded {
        let (_, spec) = try Handles.resolve(model, as: ModelObject.self, "model").spec(index)
        try Check.write(spec.shape, to: out, capacity: capacity, "out")
    }
}

@_cdecl("ms_model_get_parameter")
public func ms_model_get_parameter(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ model: OpaquePointer?,
                                   _ index: Int64) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        let m = try Handles.resolve(model, as: ModelObject.self, "model")
        let (i, _) = try m.spec(index)
        // Shares the model's storage: tensors are immutable, and a later
        // set_parameter replaces the model's tensor rather than writing into it.
        out.pointee = Handles.publish(TensorObject(m.parameters[i]))
    }
}

@_cdecl("ms_model_set_parameter")
public func ms_model_set_parameter(_ model: OpaquePointer?, _ index: Int64, _ data: UnsafePointer<Float>?,
                                   _ shape: UnsafePointer<Int64>?, _ rank: Int64) -> Int32 {
    guarded {
        let m = try Handles.resolve(model, as: ModelObject.self, "model")
        let (i, spec) = try m.spec(index)
        let dims = try Check.shape(shape, rank: rank, "shape")
        guard dims == spec.shape else {
            throw MetaError.shape("parameter \(spec.name): expected shape \(spec.shape), got \(dims)")
        }
        let values = try Check.floats(data, count: try ShapeMath.count(dims), "data")
        try Check.finite(values, "parameter \(spec.name)")
        m.setParameter(i, try Tensor.copying(values, shape: dims))
    }
}

@_cdecl("ms_model_forward")
public func ms_model_forward(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ model: OpaquePointer?,
                             _ x: OpaquePointer?) -> Int32 {
    guarded(memory: "x") {
        let out = try Check.outHandle(out, "out")
        let m = try Handles.resolve(model, as: ModelObject.self, "model")
        let input = try Handles.resolve(x, as: TensorObject.self, "x").tensor
        try m.checkInput(input.shape, "x")
        try Check.finite(input, "x")
        let y = try m.model(m.parameters.map { Variable($0) }, Variable(input))
        out.pointee = Handles.publish(TensorObject(y.value))
    }
}

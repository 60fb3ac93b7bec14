#if canImport(Glibc)
import Glibc
#endif
import MetaSwift

/// What an `ms_learner` points to: a gradient-based meta-learner, the model
/// object whose parameters are the first meta-parameters, and the learner's
/// own meta-parameters after them (Meta-SGD's rates; none for the others).
///
/// The learner refers to the model object, it does not copy it: a trainer's
/// result written back through the learner is seen by the model's handle,
/// and parameters set on the model are the ones the learner starts from.
/// The model object stays alive as long as the learner, even if its handle
/// is freed.
final class LearnerObject: Handled {
    static let kind = HandleKind.learner

    let learner: any MetaLearner
    let model: ModelObject
    let specs: [ParameterSpec]
    /// Meta-parameter names as C strings, alive as long as the handle.
    let cNames: [UnsafeMutablePointer<CChar>]

    private let lock = Lock()
    private var own: [Tensor]

    init(_ learner: any MetaLearner, model: ModelObject) throws {
        self.learner = learner
        self.model = model
        self.specs = learner.metaParameterSpecs
        self.cNames = specs.map { strdup($0.name) }
        var rng = RNG(seed: 0)
        self.own = Array(try learner.initialMetaParameters(rng: &rng).dropFirst(model.specs.count))
    }

    deinit { cNames.forEach { free($0) } }

    var loss: TaskLoss { learner.loss }

    /// The model's current parameters, then the learner's own.
    var metaParameters: [Tensor] { model.parameters + lock.withLock { own } }

    func setMetaParameter(_ index: Int, _ value: Tensor) {
        let n = model.specs.count
        if index < n { model.setParameter(index, value) } else { lock.withLock { own[index - n] = value } }
    }

    /// Writes a full list back: the model's part to the model, the rest here.
    func setMetaParameters(_ values: [Tensor]) {
        let n = model.specs.count
        model.setParameters(Array(values[0..<n]))
        lock.withLock { own = Array(values[n...]) }
    }

    func spec(_ index: Int64) throws -> (Int, ParameterSpec) {
        let i = try Check.index(index, count: specs.count, "index")
        return (i, specs[i])
    }
}

/// A loss named as the header names it.
private func taskLoss(_ pointer: UnsafePointer<CChar>?) throws -> TaskLoss {
    let name = try Check.string(pointer, "loss")
    guard let loss = TaskLoss(rawValue: name) else {
        let known = TaskLoss.allCases.map { "'\($0.rawValue)'" }.joined(separator: " or ")
        throw BridgeError.argument("loss: unknown loss '\(name)'; expected \(known)")
    }
    return loss
}

/// A step count: 0 (the unadapted model) up to Check.maxInnerSteps.
private func stepCount(_ value: Int64, _ name: String) throws -> Int {
    try Check.innerSteps(value, name)
}

/// A learning rate: finite and >= 0.
private func rate(_ value: Float, _ name: String) throws -> Float {
    guard value.isFinite, value >= 0 else { throw BridgeError.argument("\(name): must be finite and >= 0, got \(value)") }
    return value
}

private func publishLearner(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ model: OpaquePointer?,
                            _ make: (ModelObject) throws -> any MetaLearner) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        let m = try Handles.resolve(model, as: ModelObject.self, "model")
        out.pointee = Handles.publish(try LearnerObject(try make(m), model: m))
    }
}

@_cdecl("ms_maml_new")
public func ms_maml_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ model: OpaquePointer?, _ innerLR: Float,
                        _ innerSteps: Int64, _ firstOrder: Int32, _ loss: UnsafePointer<CChar>?) -> Int32 {
    publishLearner(out, model) { m in
        try MAML(model: m.model, innerLR: try rate(innerLR, "inner_lr"), innerSteps: try stepCount(innerSteps, "inner_steps"),
                 firstOrder: firstOrder != 0, loss: try taskLoss(loss))
    }
}

@_cdecl("ms_metasgd_new")
public func ms_metasgd_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ model: OpaquePointer?, _ initialLR: Float,
                           _ innerSteps: Int64, _ firstOrder: Int32, _ loss: UnsafePointer<CChar>?) -> Int32 {
    publishLearner(out, model) { m in
        try MetaSGD(model: m.model, initialLR: try rate(initialLR, "inner_lr"),
                    innerSteps: try stepCount(innerSteps, "inner_steps"), firstOrder: firstOrder != 0,
                    loss: try taskLoss(loss))
    }
}

@_cdecl("ms_anil_new")
public func ms_anil_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ model: OpaquePointer?, _ innerLR: Float,
                        _ innerSteps: Int64, _ firstOrder: Int32, _ loss: UnsafePointer<CChar>?,
                        _ headParameters: Int64) -> Int32 {
    publishLearner(out, model) { m in
        let n = m.specs.count
        guard headParameters > 0, headParameters <= Int64(n) else {
            throw BridgeError.argument("head_parameters: must be in 1...\(n) (the model has \(n) parameter tensors), got \(headParameters)")
        }
        return try ANIL(model: m.model, innerLR: try rate(innerLR, "inner_lr"),
                        innerSteps: try stepCount(innerSteps, "inner_steps"), firstOrder: firstOrder != 0,
                        loss: try taskLoss(loss), headParameters: Int(headParameters))
    }
}

@_cdecl("ms_reptile_new")
public func ms_reptile_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ model: OpaquePointer?, _ innerLR: Float,
                           _ innerSteps: Int64, _ loss: UnsafePointer<CChar>?) -> Int32 {
    publishLearner(out, model) { m in
        return try Reptile(model: m.model, innerLR: try rate(innerLR, "inner_lr"),
                           innerSteps: try Check.innerSteps(innerSteps, "inner_steps", minimum: 1),
                           loss: try taskLoss(loss))
    }
}

@_cdecl("ms_learner_free")
public func ms_learner_free(_ learner: OpaquePointer?) -> Int32 {
    guarded { try Handles.free(learner, as: LearnerObject.self, "learner") }
}

@_cdecl("ms_learner_meta_parameter_count")
public func ms_learner_meta_parameter_count(_ out: UnsafeMutablePointer<Int64>?, _ learner: OpaquePointer?) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        out.pointee = Int64(try Handles.resolve(learner, as: LearnerObject.self, "learner").specs.count)
    }
}

@_cdecl("ms_learner_meta_parameter_name")
public func ms_learner_meta_parameter_name(_ out: UnsafeMutablePointer<UnsafePointer<CChar>?>?, _ learner: OpaquePointer?,
                                           _ index: Int64) -> Int32 {
    guarded {
        let out = try Check.out(out, "out")
        let l = try Handles.resolve(learner, as: LearnerObject.self, "learner")
        let (i, _) = try l.spec(index)
        out.pointee = UnsafePointer(l.cNames[i])
    }
}

@_cdecl("ms_learner_get_meta_parameter")
public func ms_learner_get_meta_parameter(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ learner: OpaquePointer?,
                                          _ index: Int64) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        let l = try Handles.resolve(learner, as: LearnerObject.self, "learner")
        let (i, _) = try l.spec(index)
        out.pointee = Handles.publish(TensorObject(l.metaParameters[i]))
    }
}

@_cdecl("ms_learner_set_meta_parameter")
public func ms_learner_set_meta_parameter(_ learner: OpaquePointer?, _ index: Int64, _ data: UnsafePointer<Float>?,
                                          _ shape: UnsafePointer<Int64>?, _ rank: Int64) -> Int32 {
    guarded {
        let l = try Handles.resolve(learner, as: LearnerObject.self, "learner")
        let (i, spec) = try l.spec(index)
        let dims = try Check.shape(shape, rank: rank, "shape")
        guard dims == spec.shape else {
            throw MetaError.shape("meta-parameter \(spec.name): expected shape \(spec.shape), got \(dims)")
        }
        let values = try Check.floats(data, count: try ShapeMath.count(dims), "data")
        try Check.finite(values, "meta-parameter \(spec.name)")
        l.setMetaParameter(i, try Tensor.copying(values, shape: dims))
    }
}

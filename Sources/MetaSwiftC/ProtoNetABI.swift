import MetaSwift

/// The distance names the header offers. "euclidean" is the paper's squared
/// Euclidean distance (Snell et al. 2017, §2.4: a Bregman divergence, which
/// is what makes the prototype, a class mean, the right centre); the plain
/// (square-rooted) distance is not offered because the paper found it worse.
private let distances: [(String, ProtoNet.Distance)] = [
    ("euclidean", .squaredEuclidean), ("squared_euclidean", .squaredEuclidean), ("cosine", .cosine),
]

@_cdecl("ms_protonet_new")
public func ms_protonet_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ model: OpaquePointer?,
                            _ distance: UnsafePointer<CChar>?) -> Int32 {
    guarded {
        let out = try Check.outHandle(out, "out")
        let m = try Handles.resolve(model, as: ModelObject.self, "model")
        let name = try Check.string(distance, "distance")
        guard let d = distances.first(where: { $0.0 == name })?.1 else {
            let known = distances.map { "'\($0.0)'" }.joined(separator: ", ")
            throw BridgeError.argument("distance: unknown distance '\(name)'; expected one of \(known)")
        }
        out.pointee = Handles.publish(try LearnerObject(ProtoNet(encoder: m.model, distance: d), model: m))
    }
}

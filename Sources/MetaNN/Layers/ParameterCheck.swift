import MetaTensor
import MetaAutodiff

/// The parameters of one layer out of the slice `forward` was handed, checked
/// against the expected shapes. `callAsFunction` checks the whole list once,
/// but `forward` is public and composites call it directly, so each layer
/// checks its own slice too: a wrong list must throw, never trap on an index.
@inline(__always)
func unpack(_ params: ArraySlice<Variable>, _ shapes: [[Int]], layer: @autoclosure () -> String) throws -> [Variable] {
    guard params.count == shapes.count else {
        throw MetaError.argument("\(layer()): expected \(shapes.count) parameter tensors, got \(params.count)")
    }
    let p = Array(params)
    for i in 0..<p.count where p[i].shape != shapes[i] {
        throw MetaError.shape("\(layer()): parameter \(i) should have shape \(shapes[i]), got \(p[i].shape)")
    }
    return p
}

/// Throws unless `value` is positive, naming the argument.
@inline(__always)
func requirePositive(_ value: Int, _ name: String, in layer: String) throws {
    guard value > 0 else { throw MetaError.argument("\(layer): \(name) must be > 0, got \(value)") }
}

#if canImport(Glibc)
import Glibc
#endif
import MetaSwift

/// Checks of raw C arguments shared by the `@_cdecl` functions (pointers,
/// shapes, counts) and by the kinds (memory, finiteness). Each returns the
/// checked value in Swift form or throws an error whose message starts with
/// the argument's name. Named arguments of `ms_new` and `ms_call` are read
/// through `Arguments`, which uses these.
enum Check {
    /// Largest rank accepted at the ABI (NumPy's own limit).
    static let maxRank = 64

    /// An out-parameter: must not be NULL.
    static func out<T>(_ pointer: UnsafeMutablePointer<T>?, _ name: String) throws -> UnsafeMutablePointer<T> {
        guard let pointer else { throw BridgeError.argument("\(name): output pointer is NULL") }
        return pointer
    }

    /// An out-handle: must not be NULL; set to NULL now so a failed call leaves NULL.
    static func outHandle(_ pointer: UnsafeMutablePointer<OpaquePointer?>?, _ name: String) throws -> UnsafeMutablePointer<OpaquePointer?> {
        let out = try Check.out(pointer, name)
        out.pointee = nil
        return out
    }

    /// A size or count: 0 or more.
    static func count(_ value: Int64, _ name: String) throws -> Int {
        guard value >= 0 else { throw BridgeError.argument("\(name): must be >= 0, got \(value)") }
        return Int(truncatingIfNeeded: value)
    }

    /// Most inner steps one call takes (MS_MAX_INNER_STEPS), as a learner's
    /// spec allows (`LearnerSpec.maxInnerSteps`).
    static let maxInnerSteps = Int64(LearnerSpec.maxInnerSteps)
    /// Most episodes one evaluation call draws (MS_MAX_EPISODES): 600 is the
    /// convention, 10,000 the most papers use.
    static let maxEpisodes: Int64 = 1_000_000

    /// An index into `0..<count`.
    static func index(_ value: Int64, count: Int, _ name: String) throws -> Int {
        guard value >= 0, value < Int64(count) else {
            throw MetaError.index("\(name): \(value) is out of range 0..<\(count)")
        }
        return Int(truncatingIfNeeded: value)
    }

    /// A shape of `rank` dimensions read from `pointer`: 0 <= rank <= maxRank,
    /// every dimension >= 0, and an element count that does not overflow.
    static func shape(_ pointer: UnsafePointer<Int64>?, rank: Int64, _ name: String) throws -> [Int] {
        let r = try count(rank, "rank")
        guard r <= maxRank else { throw BridgeError.argument("rank: at most \(maxRank) dimensions, got \(r)") }
        if r == 0 { return [] }
        guard let pointer else { throw BridgeError.argument("\(name): NULL for rank \(r)") }
        let dims = (0..<r).map { Int(truncatingIfNeeded: pointer[$0]) }
        _ = try ShapeMath.count(dims, name: name)
        return dims
    }

    /// `count` floats at `pointer`: NULL is accepted only for zero elements,
    /// and the pointer must be aligned for Float.
    static func floats(_ pointer: UnsafePointer<Float>?, count: Int, _ name: String) throws -> UnsafeBufferPointer<Float> {
        guard let pointer else {
            guard count == 0 else { throw BridgeError.argument("\(name): NULL for \(count) elements") }
            return UnsafeBufferPointer(start: nil, count: 0)
        }
        guard Int(bitPattern: pointer) % MemoryLayout<Float>.alignment == 0 else {
            throw BridgeError.argument("\(name): not aligned to \(MemoryLayout<Float>.alignment) bytes")
        }
        return UnsafeBufferPointer(start: pointer, count: count)
    }

    /// Every element finite; NaN and infinity are rejected where they can
    /// only be a mistake (parameters, inputs of a model).
    static func finite(_ values: UnsafeBufferPointer<Float>, _ name: String) throws {
        for (i, v) in values.enumerated() where !v.isFinite {
            throw BridgeError.argument("\(name): element \(i) is \(v); values must be finite")
        }
    }

    static func finite(_ tensor: Tensor, _ name: String) throws {
        try tensor.withUnsafeBufferPointer { try finite($0, name) }
    }


    /// Refuses, naming the argument, work whose `elements` floats this
    /// process cannot allocate now (MetaTensor's `MemoryLimit`: what the system
    /// has available, and what is left under an address-space limit). The
    /// engine's allocations throw too; this says which argument asked for it.
    static func fitsInMemory(elements: Int, _ name: String) throws {
        try MemoryLimit.check(elements: elements, name)
    }

    /// The same for a product of sizes (overflow-checked): `count` items of
    /// `each` floats.
    static func fitsInMemory(_ count: Int, times each: Int, _ name: String) throws {
        let (n, overflow) = count.multipliedReportingOverflow(by: each)
        try MemoryLimit.check(elements: overflow ? Int.max : n, name)
    }

    /// A NUL-terminated UTF-8 string.
    static func string(_ pointer: UnsafePointer<CChar>?, _ name: String) throws -> String {
        guard let pointer else { throw BridgeError.argument("\(name): NULL string") }
        return String(cString: pointer)
    }


    /// Copies a shape into a caller's array of `capacity` elements.
    static func write(_ shape: [Int], to pointer: UnsafeMutablePointer<Int64>?, capacity: Int64, _ name: String) throws {
        let cap = try count(capacity, "capacity")
        guard cap >= shape.count else {
            throw BridgeError.argument("capacity: \(cap) is less than the rank \(shape.count)")
        }
        guard !shape.isEmpty else { return }
        let out = try Check.out(pointer, name)
        for (i, d) in shape.enumerated() { out[i] = Int64(d) }
    }
}

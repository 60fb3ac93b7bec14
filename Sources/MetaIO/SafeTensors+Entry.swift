#if canImport(Glibc)
import Glibc
#endif
import MetaTensor

extension SafeTensors {
    /// One tensor of a safetensors file: name, element type, shape and its
    /// bytes (little-endian, row-major), exactly as the file stores them.
    ///
    ///     let w = try SafeTensors.Entry(name: "fc.weight", tensor: weights)        // F32
    ///     let steps = try SafeTensors.Entry(name: "step", shape: [], int64s: [1000])
    ///     let raw = try SafeTensors.Entry(name: "mask", dtype: .bool, shape: [3], bytes: [1, 0, 1])
    ///
    /// Traps: an entry read from a file is a view into that file's buffer
    /// (no copy); `bytes` copies it out.
    public struct Entry: Equatable, Sendable {
        public let name: String
        public let dtype: DType
        /// Sizes of the dimensions; [] is a scalar, a 0 anywhere an empty tensor.
        public let shape: [Int]
        /// The buffer holding the data, and where in it this entry's bytes are.
        let buffer: [UInt8]
        let range: Range<Int>

        /// An entry of any type from its raw bytes. Throws unless every
        /// dimension is >= 0 and `bytes` holds exactly the elements of
        /// `shape` (for F4/F6 types, whole bytes of them).
        public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) throws {
            let needed = try SafeTensors.byteSize(dtype, shape.map { d -> UInt64 in
                guard d >= 0 else {
                    throw MetaError.argument("safetensors: tensor \(quoted(name)): shape \(shape) has a negative dimension")
                }
                return UInt64(d)
            }, tensor: name, context: "safetensors")
            guard needed == UInt64(bytes.count) else {
                throw MetaError.shape("safetensors: tensor \(quoted(name)): \(dtype.rawValue) of shape \(shape) "
                                      + "takes \(needed) bytes, got \(bytes.count)")
            }
            self.init(unchecked: name, dtype: dtype, shape: shape, buffer: bytes, range: 0..<bytes.count)
        }

        /// An F32 entry holding a copy of `tensor`'s elements.
        public init(name: String, tensor: Tensor) throws {
            let bytes = tensor.withUnsafeBufferPointer { floats -> [UInt8] in
                #if _endian(little)
                return Array(UnsafeRawBufferPointer(floats))
                #else
                var out: [UInt8] = []
                out.reserveCapacity(floats.count * 4)
                for f in floats { Swift.withUnsafeBytes(of: f.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
                return out
                #endif
            }
            try self.init(name: name, dtype: .f32, shape: tensor.shape, bytes: bytes)
        }

        /// An I64 entry (step counters, label maps), little-endian.
        public init(name: String, shape: [Int], int64s: [Int64]) throws {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(int64s.count * 8)
            for v in int64s { Swift.withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
            try self.init(name: name, dtype: .i64, shape: shape, bytes: bytes)
        }

        /// Internal: the caller has checked that `range` of `buffer` holds
        /// exactly the bytes of `dtype` and `shape`.
        init(unchecked name: String, dtype: DType, shape: [Int], buffer: [UInt8], range: Range<Int>) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.buffer = buffer
            self.range = range
        }

        /// Number of bytes of data.
        public var byteCount: Int { range.count }

        /// A copy of the data bytes.
        public var bytes: [UInt8] { Array(buffer[range]) }

        /// The data bytes without a copy, for the duration of `body`.
        public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            try buffer.withUnsafeBytes { all in
                try body(UnsafeRawBufferPointer(rebasing: all[range]))
            }
        }

        /// The elements as a new F32 `Tensor` (one copy). Throws naming the
        /// tensor and its dtype when it is not F32, and when `shape` has more
        /// elements than a `Tensor` may (see `ShapeMath.count`).
        public func tensor() throws -> Tensor {
            guard dtype == .f32 else {
                throw MetaError.argument("safetensors: tensor \(quoted(name)) is \(dtype.rawValue), not F32; "
                                         + "only F32 converts to a Tensor (read its bytes instead)")
            }
            return try Tensor.make(shape: shape) { p, n in
                guard n.multipliedReportingOverflow(by: 4) == (range.count, false) else {
                    throw MetaError.shape("safetensors: tensor \(quoted(name)): shape \(shape) does not match "
                                          + "its \(range.count) bytes")
                }
                guard n > 0 else { return }
                withUnsafeBytes { raw in
                    #if _endian(little)
                    UnsafeMutableRawPointer(p).copyMemory(from: raw.baseAddress!, byteCount: raw.count)
                    #else
                    for i in 0..<n {
                        p[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    }
                    #endif
                }
            }
        }

        /// The elements of an I64 entry. Throws naming the dtype otherwise.
        public func int64s() throws -> [Int64] {
            guard dtype == .i64 else {
                throw MetaError.argument("safetensors: tensor \(quoted(name)) is \(dtype.rawValue), not I64")
            }
            return withUnsafeBytes { raw in
                (0..<raw.count / 8).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
            }
        }

        /// Same name, dtype, shape and bytes (wherever the bytes are held).
        public static func == (a: Entry, b: Entry) -> Bool {
            guard a.name == b.name, a.dtype == b.dtype, a.shape == b.shape, a.range.count == b.range.count else {
                return false
            }
            guard a.range.count > 0 else { return true }
            return a.withUnsafeBytes { x in b.withUnsafeBytes { y in memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }
        }
    }

    /// The bytes a tensor of `dtype` and `shape` occupies, computed as the
    /// reference reader does: the element count folded left to right with
    /// overflow checks, then bits, then whole bytes. `context` prefixes the
    /// message (the file or "safetensors").
    static func byteSize(_ dtype: DType, _ shape: [UInt64], tensor name: String, context: String) throws -> UInt64 {
        var elements: UInt64 = 1
        for d in shape {
            let (p, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw MetaError.argument("\(context): tensor \(quoted(name)): shape \(shape) has more elements "
                                         + "than 64 bits can count")
            }
            elements = p
        }
        let (bits, overflow) = elements.multipliedReportingOverflow(by: UInt64(dtype.bitSize))
        guard !overflow else {
            throw MetaError.argument("\(context): tensor \(quoted(name)): \(dtype.rawValue) of shape \(shape) "
                                     + "has more bits than 64 bits can count")
        }
        guard bits % 8 == 0 else {
            throw MetaError.argument("\(context): tensor \(quoted(name)): \(dtype.rawValue) of shape \(shape) "
                                     + "is \(bits) bits, not a whole number of bytes")
        }
        return bits / 8
    }
}

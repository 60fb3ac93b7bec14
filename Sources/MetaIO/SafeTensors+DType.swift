extension SafeTensors {
    /// An element type of the safetensors format, spelled as the header
    /// spells it ("F32", "BF16", ...).
    ///
    /// The cases are those of the reference implementation
    /// (huggingface/safetensors, `Dtype` in `safetensors/src/tensor.rs`),
    /// in its order, which is by increasing alignment: the writer lays the
    /// data out by that order, descending, so every tensor starts at a
    /// multiple of its element size.
    ///
    ///     SafeTensors.DType(rawValue: "F32")?.bitSize   // 32
    ///
    /// Traps: F4, F6_E2M3 and F6_E3M2 are narrower than a byte, so a tensor
    /// of them must have an element count that fills whole bytes. Only F32
    /// converts to a `Tensor`; every other type is carried as raw
    /// little-endian bytes.
    public enum DType: String, CaseIterable, Sendable {
        case bool = "BOOL"
        case f4 = "F4"
        case f6e2m3 = "F6_E2M3"
        case f6e3m2 = "F6_E3M2"
        case u8 = "U8"
        case i8 = "I8"
        case f8e5m2 = "F8_E5M2"
        case f8e4m3 = "F8_E4M3"
        case f8e8m0 = "F8_E8M0"
        case f8e4m3fnuz = "F8_E4M3FNUZ"
        case f8e5m2fnuz = "F8_E5M2FNUZ"
        case i16 = "I16"
        case u16 = "U16"
        case f16 = "F16"
        case bf16 = "BF16"
        case i32 = "I32"
        case u32 = "U32"
        case f32 = "F32"
        case c64 = "C64"
        case f64 = "F64"
        case i64 = "I64"
        case u64 = "U64"

        /// Bits per element.
        public var bitSize: Int {
            switch self {
            case .f4: return 4
            case .f6e2m3, .f6e3m2: return 6
            case .bool, .u8, .i8, .f8e5m2, .f8e4m3, .f8e8m0, .f8e4m3fnuz, .f8e5m2fnuz: return 8
            case .i16, .u16, .f16, .bf16: return 16
            case .i32, .u32, .f32: return 32
            case .c64, .f64, .i64, .u64: return 64
            }
        }

        /// Position in the reference's declaration order; the writer sorts
        /// by it, descending, then by name.
        var layoutRank: Int { DType.allCases.firstIndex(of: self) ?? 0 }

        /// The names the header may use, for messages.
        static var knownNames: String { allCases.map(\.rawValue).joined(separator: ", ") }
    }
}

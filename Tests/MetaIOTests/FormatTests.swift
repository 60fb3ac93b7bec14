import XCTest
import MetaTensor
import MetaIO

/// Files assembled byte by byte from the format's definition
/// (huggingface/safetensors README), so the reader is tested against the
/// format and not only against this module's writer.
final class FormatTests: XCTestCase {
    /// The reference's own serialisation example: one F32 tensor "attn.0" of
    /// shape [1, 2, 3] holding 0...5 has a 64-byte header (already a multiple
    /// of 8, so unpadded) and 24 bytes of data.
    func testWriterMatchesTheReferenceExampleByteForByte() throws {
        let header = #"{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}"#
        XCTAssertEqual(header.utf8.count, 64)
        let expected = assemble(header, leBytes([0, 1, 2, 3, 4, 5]))
        XCTAssertEqual(Array(expected.prefix(8)), [64, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(Array(expected.suffix(8)), [0, 0, 0x80, 0x40, 0, 0, 0xA0, 0x40])  // 4.0, 5.0

        let file = try SafeTensors(tensors: [("attn.0", Tensor(shape: [1, 2, 3], scalars: [0, 1, 2, 3, 4, 5]))])
        XCTAssertEqual(try file.serialized(), expected)
        let back = try SafeTensors.parse(bytes: expected)
        XCTAssertEqual(back.names, ["attn.0"])
        XCTAssertEqual(try back.tensor(named: "attn.0").scalars, [0, 1, 2, 3, 4, 5])
    }

    /// A header of 35 bytes is padded with 5 spaces to 40.
    func testMetadataOnlyFileIsPaddedToForty() throws {
        let expected = assemble(#"{"__metadata__":{"framework":"pt"}}     "#)
        XCTAssertEqual(expected[0], 40)
        XCTAssertEqual(try SafeTensors(entries: [], metadata: [("framework", "pt")]).serialized(), expected)
        let back = try SafeTensors.parse(bytes: expected)
        XCTAssertEqual(back.metadataValue(forKey: "framework"), "pt")
        XCTAssertTrue(back.entries.isEmpty)
    }

    /// What other writers may produce: whitespace inside the JSON, tensors
    /// listed in another order than their data, `__metadata__` between them,
    /// members the format does not define, and padding that is not a
    /// multiple of 8.
    func testReaderTakesAnyValidLayout() throws {
        let header = """
        { "b" : {"note": [1.5, {"x": -2e3}], "data_offsets": [8, 24], "shape": [2, 2], "dtype": "I32"},
          "__metadata__": {"format": "np", "escaped": "tab\\tquote\\" \\u00e9\\ud83d\\ude00"},
          "a\\u0000\\n": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]},
          "empty": {"dtype": "BF16", "shape": [0, 5], "data_offsets": [24, 24]},
          "scalar": {"dtype": "U8", "shape": [], "data_offsets": [24, 25]} }\t\n\r
        """
        let f64: [UInt8] = [0, 0, 0, 0, 0, 0, 0xF0, 0x3F]  // 1.0
        let i32: [UInt8] = [1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 3, 0, 0, 0, 0, 0, 0, 0x80]
        let file = try SafeTensors.parse(bytes: assemble(header, f64 + i32 + [42]))
        XCTAssertEqual(file.names, ["b", "a\u{0}\n", "empty", "scalar"])
        XCTAssertEqual(file.metadata.map(\.0), ["format", "escaped"])
        XCTAssertEqual(file.metadataValue(forKey: "escaped"), "tab\tquote\" é😀")
        let b = try file.entry(named: "b")
        XCTAssertEqual(b.dtype, .i32)
        XCTAssertEqual(b.shape, [2, 2])
        XCTAssertEqual(b.bytes, i32)
        XCTAssertEqual(try file.entry(named: "a\u{0}\n").bytes, f64)
        XCTAssertEqual(try file.entry(named: "empty").shape, [0, 5])
        XCTAssertEqual(try file.entry(named: "empty").byteCount, 0)
        XCTAssertEqual(try file.entry(named: "scalar").shape, [])
        XCTAssertEqual(try file.entry(named: "scalar").bytes, [42])
    }

    /// The reference's documentation example: a 60-byte header, I32 [2, 2].
    func testReferenceDocumentationExample() throws {
        let header = #"{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}"#
        let bytes = assemble(header, [UInt8](repeating: 0, count: 16))
        XCTAssertEqual(bytes[0], 0x3C)
        let entry = try SafeTensors.parse(bytes: bytes).entry(named: "test")
        XCTAssertEqual(entry.dtype, .i32)
        XCTAssertEqual(entry.bytes, [UInt8](repeating: 0, count: 16))
    }

    func testNullMetadataIsNoMetadata() throws {
        let file = try SafeTensors.parse(bytes: assemble(#"{"__metadata__":null}"#))
        XCTAssertTrue(file.metadata.isEmpty)
    }

    /// Empty tensors may share an offset with each other and sit at the very end.
    func testEmptyTensorsShareOffsets() throws {
        let header = #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"#
            + #""e1":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"#
            + #""e2":{"dtype":"I64","shape":[3,0],"data_offsets":[4,4]},"#
            + #""e0":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}"#
        let file = try SafeTensors.parse(bytes: assemble(header, leBytes([7])))
        XCTAssertEqual(file.names, ["x", "e1", "e2", "e0"])
        XCTAssertEqual(try file.tensor(named: "x").scalars, [7])
        XCTAssertEqual(try file.tensor(named: "e1").shape, [0])
    }

    /// Every dtype of the reference reads with its size; F4 packs two to a byte.
    func testEveryDTypeHasTheReferenceSize() throws {
        let bytesPerTwo: [SafeTensors.DType: Int] = [
            .bool: 2, .f4: 1, .u8: 2, .i8: 2, .f8e5m2: 2, .f8e4m3: 2, .f8e8m0: 2, .f8e4m3fnuz: 2, .f8e5m2fnuz: 2,
            .i16: 4, .u16: 4, .f16: 4, .bf16: 4, .i32: 8, .u32: 8, .f32: 8, .c64: 16, .f64: 16, .i64: 16, .u64: 16,
        ]
        for dtype in SafeTensors.DType.allCases where bytesPerTwo[dtype] != nil {
            let size = bytesPerTwo[dtype]!
            let header = "{\"t\":{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[2],\"data_offsets\":[0,\(size)]}}"
            let bytes = assemble(header, [UInt8](repeating: 1, count: size))
            XCTAssertEqual(try SafeTensors.parse(bytes: bytes).entry(named: "t").dtype, dtype)
            XCTAssertEqual(try SafeTensors.parse(bytes: bytes).serialized().suffix(size), [UInt8](repeating: 1, count: size))
        }
        // F6: four elements are 24 bits, three bytes.
        let f6 = assemble(#"{"t":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[0,3]}}"#, [1, 2, 3])
        XCTAssertEqual(try SafeTensors.parse(bytes: f6).entry(named: "t").bytes, [1, 2, 3])
    }
}

import XCTest
import MetaTensor
import MetaIO
import _TestSupport

final class RoundTripTests: XCTestCase {
    /// Values that a float-to-text-to-float path would lose: signed zero,
    /// infinities, a NaN with a payload, a subnormal.
    static let awkward: [Float] = [-0.0, .infinity, -.infinity, Float(bitPattern: 0x7FC0_1234),
                                   Float(bitPattern: 0x0000_0001), .greatestFiniteMagnitude, 1e-5, -3.25]

    func sample() throws -> SafeTensors {
        var rng = TestRandom(seed: 7)
        let entries: [SafeTensors.Entry] = [
            try .init(name: "fc.weight", tensor: rng.tensor([3, 4])),
            try .init(name: "fc.bias", tensor: rng.tensor([3])),
            try .init(name: "awkward", tensor: Tensor(shape: [2, 4], scalars: RoundTripTests.awkward)),
            try .init(name: "scalar", tensor: Tensor(2.5)),
            try .init(name: "empty", tensor: Tensor(shape: [2, 0, 3], scalars: [])),
            try .init(name: "step", shape: [], int64s: [1_000_000_000_007]),
            try .init(name: "labels", shape: [2, 2], int64s: [-1, 0, .max, .min]),
            try .init(name: "mask", dtype: .bool, shape: [3], bytes: [1, 0, 1]),
            try .init(name: "half", dtype: .f16, shape: [1], bytes: [0x00, 0x3C]),
        ]
        return try SafeTensors(entries: entries, metadata: [("format", "pt"), ("model", #"{"type":"Linear"}"#),
                                                            ("note", "line\nbreak \"quoted\" é")])
    }

    func testRoundTripKeepsNamesOrderShapesBitsAndMetadata() throws {
        let original = try sample()
        let back = try SafeTensors.parse(bytes: try original.serialized())
        XCTAssertEqual(back, original)
        XCTAssertEqual(back.names, ["fc.weight", "fc.bias", "awkward", "scalar", "empty", "step", "labels", "mask", "half"])
        XCTAssertEqual(back.metadata.map(\.0), ["format", "model", "note"])
        XCTAssertEqual(back.metadataValue(forKey: "note"), "line\nbreak \"quoted\" é")
        XCTAssertNil(back.metadataValue(forKey: "absent"))

        for name in ["fc.weight", "fc.bias", "awkward", "scalar", "empty"] {
            let a = try original.tensor(named: name), b = try back.tensor(named: name)
            XCTAssertEqual(b.shape, a.shape, name)
            XCTAssertEqual(b.scalars.map(\.bitPattern), a.scalars.map(\.bitPattern), name)
        }
        XCTAssertEqual(try back.tensor(named: "scalar").shape, [])
        XCTAssertEqual(try back.tensor(named: "scalar").item(), 2.5)
        XCTAssertEqual(try back.tensor(named: "empty").count, 0)
        XCTAssertEqual(try back.tensor(named: "awkward").scalars.map(\.bitPattern), RoundTripTests.awkward.map(\.bitPattern))
        XCTAssertEqual(try back.entry(named: "labels").int64s(), [-1, 0, .max, .min])
        XCTAssertEqual(try back.entry(named: "step").int64s(), [1_000_000_000_007])
        XCTAssertEqual(try back.entry(named: "mask").bytes, [1, 0, 1])
        XCTAssertEqual(try back.entry(named: "half").dtype, .f16)
    }

    func testSameContentsGiveSameBytes() throws {
        let a = try sample().serialized(), b = try sample().serialized()
        XCTAssertEqual(a, b)
        // And a parsed file writes back to the bytes it was read from.
        XCTAssertEqual(try SafeTensors.parse(bytes: a).serialized(), a)
    }

    func testHeaderIsPaddedWithSpacesToEightBytes() throws {
        for nameLength in 1...9 {
            let file = try SafeTensors(tensors: [(String(repeating: "x", count: nameLength), Tensor(1))])
            let bytes = try file.serialized()
            let n = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.1) << (8 * UInt64($1.0)) }
            XCTAssertEqual(n % 8, 0)
            XCTAssertEqual(Int(n) + 8 + 4, bytes.count)
            let header = Array(bytes[8..<(8 + Int(n))])
            guard let close = header.lastIndex(of: UInt8(ascii: "}")) else { return XCTFail("no '}'") }
            let padding = header[(close + 1)...]
            XCTAssertTrue(padding.allSatisfy { $0 == UInt8(ascii: " ") })
            XCTAssertLessThan(padding.count, 8)
        }
    }

    /// The data is laid out by dtype alignment (largest first), then name,
    /// so each tensor starts at a multiple of its element size; the header
    /// keeps the construction order.
    func testDataIsLaidOutByAlignmentThenName() throws {
        let file = try SafeTensors(entries: [
            .init(name: "a8", dtype: .u8, shape: [3], bytes: [1, 2, 3]),
            .init(name: "z64", shape: [1], int64s: [5]),
            .init(name: "b32", tensor: Tensor(shape: [1], scalars: [1])),
            .init(name: "a32", tensor: Tensor(shape: [1], scalars: [2])),
            .init(name: "h16", dtype: .bf16, shape: [1], bytes: [0, 0]),
        ])
        let bytes = try file.serialized()
        let n = Int(bytes[0]) | Int(bytes[1]) << 8
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix(#"{"a8":{"dtype":"U8","shape":[3],"data_offsets":[18,21]},"#
                                       + #""z64":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"#
                                       + #""b32":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},"#
                                       + #""a32":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"#
                                       + #""h16":{"dtype":"BF16","shape":[1],"data_offsets":[16,18]}}"#), header)
        XCTAssertEqual(try SafeTensors.parse(bytes: bytes).names, ["a8", "z64", "b32", "a32", "h16"])
    }

    func testNoMetadataWritesNoMetadataKey() throws {
        let bytes = try SafeTensors(entries: []).serialized()
        XCTAssertEqual(bytes, [8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8))
        let back = try SafeTensors.parse(bytes: bytes)
        XCTAssertEqual(back.entries.count, 0)
        XCTAssertEqual(back.metadata.count, 0)
    }

    func testAccessorsNameTheProblem() throws {
        let file = try sample()
        assertThrowsMessage(try file.tensor(named: "labels"), "\"labels\" is I64, not F32")
        assertThrowsMessage(try file.tensor(named: "nope"), "no tensor named \"nope\"", "there are 9", "\"fc.weight\"")
        assertThrowsMessage(try file.entry(named: "fc.bias").int64s(), "\"fc.bias\" is F32, not I64")
    }

    func testConstructionRefusesWhatTheFormatCannotHold() throws {
        let t = try Tensor(1)
        assertThrowsMessage(try SafeTensors(tensors: [("a", t), ("a", t)]), "two tensors are named \"a\"")
        assertThrowsMessage(try SafeTensors(tensors: [("__metadata__", t)]), "cannot be named \"__metadata__\"")
        assertThrowsMessage(try SafeTensors(tensors: [], metadata: [("k", "1"), ("k", "2")]), "key \"k\" appears twice")
        assertThrowsMessage(try SafeTensors.Entry(name: "m", dtype: .f32, shape: [2], bytes: [0, 0, 0]),
                            "F32 of shape [2] takes 8 bytes, got 3")
        assertThrowsMessage(try SafeTensors.Entry(name: "m", dtype: .u8, shape: [-1], bytes: []), "negative dimension")
        assertThrowsMessage(try SafeTensors.Entry(name: "m", dtype: .f4, shape: [3], bytes: [0, 0]),
                            "12 bits, not a whole number of bytes")
        XCTAssertEqual(try SafeTensors.Entry(name: "m", dtype: .f4, shape: [4], bytes: [0, 0]).byteCount, 2)
        assertThrowsMessage(try SafeTensors.Entry(name: "m", shape: [3], int64s: [1, 2]), "I64 of shape [3] takes 24 bytes, got 16")
    }
}

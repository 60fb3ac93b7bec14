import XCTest
import MetaTensor
import MetaIO

/// Each way a file can break the format is refused with a message that
/// names the file and the fault.
final class MalformedFileTests: XCTestCase {
    /// A one-tensor file whose description is `entry`, with `data` after the header.
    func one(_ entry: String, _ data: [UInt8] = [0, 0, 0, 0]) -> [UInt8] {
        assemble("{\"t\":\(entry)}", data)
    }

    func testTooShortOrWrongHeaderSize() {
        assertRejects([], "0 bytes is too short", "header size alone takes 8")
        assertRejects([1, 2, 3], "3 bytes is too short")
        assertRejects(assemble("{}", headerLength: 100), "header size 100 is larger than the 2 bytes that follow it")
        assertRejects(assemble("{}", headerLength: 100_000_001), "header size 100000001 is above the format's limit of 100000000")
        assertRejects(assemble("{}", headerLength: .max), "header size 18446744073709551615 is above")
    }

    func testHeaderMustBeUTF8JSONObjectStartingWithBrace() {
        assertRejects([6, 0, 0, 0, 0, 0, 0, 0] + Array(#"{"a":"#.utf8) + [0xFF], "the header is not valid UTF-8")
        // An overlong encoding of '/' and an encoded surrogate are not UTF-8 either.
        assertRejects([4, 0, 0, 0, 0, 0, 0, 0, UInt8(ascii: "{"), 0xC0, 0xAF, UInt8(ascii: "}")], "not valid UTF-8")
        assertRejects([5, 0, 0, 0, 0, 0, 0, 0, UInt8(ascii: "{"), 0xED, 0xA0, 0x80, UInt8(ascii: "}")], "not valid UTF-8")
        assertRejects(assemble(" {}"), "the header starts with byte 0x20, not '{'")
        assertRejects(assemble("[]"), "starts with byte 0x5b, not '{'")
        assertRejects(assemble(""), "starts with nothing (it is empty)")
        assertRejects(assemble("\u{FEFF}{}"), "starts with byte 0xef")
        assertRejects(assemble(#"{"a":}"#), "the header is not valid JSON", "at byte 5 of the header")
        assertRejects(assemble("{} x"), "not valid JSON", "unexpected text after the value")
        assertRejects(assemble("{}\0\0\0\0\0\0"), "not valid JSON")  // NUL padding is not whitespace
        assertRejects(assemble(#"{"a":1,}"#), "not valid JSON")
    }

    func testDuplicateKeysAnywhere() {
        let t = #"{"dtype":"U8","shape":[0],"data_offsets":[0,0]}"#
        assertRejects(assemble("{\"a\":\(t),\"a\":\(t)}"), "duplicate key \"a\"")
        assertRejects(assemble(#"{"a":{"dtype":"U8","dtype":"U8","shape":[0],"data_offsets":[0,0]}}"#), "duplicate key \"dtype\"")
        assertRejects(assemble(#"{"__metadata__":{"k":"1","k":"2"}}"#), "duplicate key \"k\"")
        assertRejects(assemble(#"{"__metadata__":{},"__metadata__":{}}"#), "duplicate key \"__metadata__\"")
    }

    func testEntryMustBeAnObjectWithItsThreeMembers() {
        assertRejects(one("[1]"), "tensor \"t\" is described by an array, not an object")
        assertRejects(one(#""F32""#), "tensor \"t\" is described by a string")
        assertRejects(one(#"{"shape":[1],"data_offsets":[0,4]}"#), "tensor \"t\": the description has no \"dtype\"")
        assertRejects(one(#"{"dtype":"F32","data_offsets":[0,4]}"#), "has no \"shape\"")
        assertRejects(one(#"{"dtype":"F32","shape":[1]}"#), "has no \"data_offsets\"")
    }

    func testUnknownOrMistypedDType() {
        assertRejects(one(#"{"dtype":"F33","shape":[1],"data_offsets":[0,4]}"#), "tensor \"t\": unknown dtype \"F33\"", "BF16")
        assertRejects(one(#"{"dtype":"f32","shape":[1],"data_offsets":[0,4]}"#), "unknown dtype \"f32\"")
        assertRejects(one(#"{"dtype":32,"shape":[1],"data_offsets":[0,4]}"#), "dtype is a number, expected a string")
    }

    func testShapeEntriesMustBeNonNegativeIntegers() {
        func shape(_ s: String) -> [UInt8] { one("{\"dtype\":\"U8\",\"shape\":\(s),\"data_offsets\":[0,4]}") }
        assertRejects(shape("4"), "shape is a number, expected an array")
        assertRejects(shape("[-1]"), "tensor \"t\": shape[0] is -1, expected a non-negative integer")
        assertRejects(shape("[2, 1.5]"), "shape[1] is 1.5")
        assertRejects(shape("[4.0]"), "shape[0] is 4.0")      // serde refuses a float for a usize
        assertRejects(shape("[4e0]"), "shape[0] is 4e0")
        assertRejects(shape("[-0]"), "shape[0] is -0")
        assertRejects(shape(#"["4"]"#), "shape[0] is a string")
        assertRejects(shape("[[4]]"), "shape[0] is an array")
        assertRejects(shape("[null]"), "shape[0] is null")
        assertRejects(shape("[18446744073709551616]"), "shape[0] is 18446744073709551616", "below 2^64")
        assertRejects(shape("[0, 9223372036854775808]"), "shape[1] is 9223372036854775808, above the largest dimension")
    }

    func testOffsetsMustBeTwoOrderedIntegersInsideTheData() {
        func offsets(_ o: String, _ data: Int = 4) -> [UInt8] {
            assemble("{\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":\(o)}}", [UInt8](repeating: 0, count: data))
        }
        assertRejects(offsets("[0]"), "data_offsets is an array of 1, expected [begin, end]")
        assertRejects(offsets("[0, 2, 4]"), "data_offsets is an array of 3")
        assertRejects(offsets(#""0-4""#), "data_offsets is a string")
        assertRejects(offsets("[0, 4.0]"), "data_offsets[1] is 4.0, expected a non-negative integer")
        assertRejects(offsets("[-4, 0]"), "data_offsets[0] is -4")
        assertRejects(offsets("[true, 4]"), "data_offsets[0] is a boolean")
        assertRejects(offsets("[4, 0]"), "data_offsets [4, 0] begin after they end")
        assertRejects(offsets("[0, 8]"), "data_offsets [0, 8] reach past the end of the data, which is 4 bytes")
        assertRejects(offsets("[0, 18446744073709551615]"), "reach past the end")
        assertRejects(offsets("[0, 99999999999999999999]"), "data_offsets[1] is 99999999999999999999")
    }

    func testSizeMustMatchShapeAndDType() {
        assertRejects(one(#"{"dtype":"F32","shape":[2],"data_offsets":[0,4]}"#),
                      "tensor \"t\": F32 of shape [2] takes 8 bytes, but data_offsets [0, 4] give it 4")
        assertRejects(one(#"{"dtype":"F32","shape":[],"data_offsets":[0,0]}"#, []), "F32 of shape [] takes 4 bytes")
        assertRejects(one(#"{"dtype":"F4","shape":[3],"data_offsets":[0,2]}"#, [0, 0]), "F4 of shape [3] is 12 bits, not a whole number of bytes")
        // The count is folded in order, as the reference does: it overflows before the 0.
        assertRejects(one(#"{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}"#, []),
                      "more elements than 64 bits can count")
        assertRejects(one(#"{"dtype":"F32","shape":[2305843009213693952],"data_offsets":[0,0]}"#, []),
                      "more bits than 64 bits can count")
        // ... while a 0 first makes any later dimension harmless.
        XCTAssertNoThrow(try SafeTensors.parse(bytes: one(#"{"dtype":"U8","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}"#, [])))
    }

    func testTensorsMustTileTheDataWithoutHolesOrOverlaps() {
        func two(_ a: String, _ b: String, _ data: Int) -> [UInt8] {
            assemble("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":\(a)},"
                     + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":\(b)}}", [UInt8](repeating: 0, count: data))
        }
        XCTAssertNoThrow(try SafeTensors.parse(bytes: two("[8,16]", "[0,8]", 16)))
        assertRejects(two("[0,8]", "[4,12]", 16), "tensors \"a\" (data_offsets [0, 8]) and \"b\" ([4, 12]) overlap")
        assertRejects(two("[0,8]", "[0,8]", 16), "overlap")
        assertRejects(two("[0,8]", "[12,20]", 20), "bytes 8..<12 of the data are not covered by any tensor", "hole before \"b\"")
        assertRejects(two("[4,12]", "[12,20]", 20), "bytes 0..<4 of the data are not covered")
        assertRejects(two("[0,8]", "[8,16]", 17), "bytes 16..<17 at the end of the data are not covered")
        assertRejects(assemble("{}", [0]), "bytes 0..<1 at the end of the data are not covered")
        // An empty tensor inside another's bytes overlaps it, as the reference finds.
        assertRejects(assemble(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
                               + #""e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"#, [UInt8](repeating: 0, count: 8)),
                      "tensors \"a\" (data_offsets [0, 8]) and \"e\" ([4, 4]) overlap")
    }

    func testMetadataMustBeAnObjectOfStrings() {
        assertRejects(assemble(#"{"__metadata__":["a"]}"#), "__metadata__ is an array; it must be an object of strings")
        assertRejects(assemble(#"{"__metadata__":"a"}"#), "__metadata__ is a string")
        assertRejects(assemble(#"{"__metadata__":{"epoch":1}}"#), "__metadata__[\"epoch\"] is a number; metadata values must be strings")
        assertRejects(assemble(#"{"__metadata__":{"m":{"a":"b"}}}"#), "__metadata__[\"m\"] is an object")
    }
}

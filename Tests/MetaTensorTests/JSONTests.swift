import XCTest
import MetaTensor

final class JSONTests: XCTestCase {
    func testSerialisesCompactlyInStoredOrder() throws {
        let value: JSON = ["type": "Linear", "in_features": 4, "eps": 1e-05, "bias": true, "names": nil,
                           "shape": [1, -2, 2.5], "nested": ["z": [], "a": [:]]]
        XCTAssertEqual(try value.serialized,
                       #"{"type":"Linear","in_features":4,"eps":1e-05,"bias":true,"names":null,"shape":[1,-2,2.5],"nested":{"z":[],"a":{}}}"#)
        XCTAssertEqual(try JSON.number(-0.0).serialized, "0")
        XCTAssertEqual(try JSON.number(9_007_199_254_740_991).serialized, "9007199254740991")
        XCTAssertEqual(try JSON.number(1e300).serialized, "1e+300")
        XCTAssertEqual(try JSON.number(0.1).serialized, "0.1")
        // A float32 hyper-parameter prints as the decimal it was written as.
        XCTAssertEqual(try JSON(Float(1e-5)).serialized, "1e-05")
        XCTAssertEqual(try JSON(Float(0.1)).serialized, "0.1")
    }

    func testRoundTrips() throws {
        let texts = [
            #"{"a":1,"b":[true,false,null],"c":{"d":"e"},"f":-0.5,"g":1.25e-07,"h":""}"#,
            "[]", "{}", "0", "-1", "3.5", "\"x\"", "true", "null", "[[[]]]",
            #"["\"\\\/\b\f\n\r\t\u0001"]"#,
        ]
        for text in texts {
            let value = try JSON.parse(text)
            XCTAssertEqual(try JSON.parse(try value.serialized), value, text)
        }
        // Keys keep their order, and order is part of equality.
        let ab = try JSON.parse(#"{"b": 1, "a": 2}"#)
        XCTAssertEqual(ab.keys, ["b", "a"])
        XCTAssertNotEqual(ab, try JSON.parse(#"{"a": 2, "b": 1}"#))
        XCTAssertEqual(try ab.serialized, #"{"b":1,"a":2}"#)
        // Whitespace of all four kinds around everything.
        XCTAssertEqual(try JSON.parse(" \t\r\n{ \"k\" :\n[ 1 , 2 ]\t} \n"), ["k": [1, 2]])
    }

    func testEscapes() throws {
        XCTAssertEqual(try JSON.parse(#""a\"b\\c\/d\be\ff\ng\rh\ti""#), .string("a\"b\\c/d\u{08}e\u{0C}f\ng\rh\ti"))
        XCTAssertEqual(try JSON.parse(#""\u00e9\u4E2D""#), .string("é中"))
        // A surrogate pair is one scalar outside the BMP.
        XCTAssertEqual(try JSON.parse(#""\ud83d\ude00""#), .string("😀"))
        XCTAssertEqual(try JSON.parse("\"😀é\""), .string("😀é"))
        // Control characters are escaped on the way out; other text is UTF-8.
        XCTAssertEqual(try JSON.string("a\u{01}\u{1F}\"\\\n😀").serialized, #""a\u0001\u001f\"\\\n😀""#)
        let s = JSON.string("tab\there \u{7F} \u{0} end")
        XCTAssertEqual(try JSON.parse(try s.serialized), s)
    }

    func testAccessors() throws {
        let v = try JSON.parse(#"{"n": 4, "f": 4.0, "x": 2.5, "s": "t", "b": false, "a": [1, 2], "z": null, "big": 1e300}"#)
        XCTAssertEqual(v["n"]?.int, 4)
        XCTAssertEqual(v["f"]?.int, 4)
        XCTAssertNil(v["x"]?.int)
        XCTAssertNil(v["big"]?.int)
        XCTAssertEqual(v["x"]?.double, 2.5)
        XCTAssertEqual(v["s"]?.string, "t")
        XCTAssertEqual(v["b"]?.bool, false)
        XCTAssertEqual(v["a"]?[1], 2)
        XCTAssertNil(v["a"]?[2])
        XCTAssertEqual(v["z"]?.isNull, true)
        XCTAssertNil(v["missing"])
        XCTAssertNil(v[0])
        XCTAssertEqual(v["a"]?.kindName, "an array")
    }

    func testMalformedInputsThrowWithAnOffset() {
        let bad: [(String, String)] = [
            ("", "end of input"), ("   ", "end of input"), ("{", "string key"), ("[1,]", "unexpected character"),
            ("{\"a\":1,}", "string key"), ("[1 2]", "expected ','"), ("{\"a\" 1}", "expected ':'"),
            ("{'a':1}", "string key"), ("[01]", "leading zero"), ("[1.]", "digits after '.'"), ("[.5]", "unexpected"),
            ("[1e]", "exponent"), ("[+1]", "unexpected"), ("[-]", "invalid number"), ("NaN", "unexpected"),
            ("[Infinity]", "unexpected"), ("[1e400]", "out of range"), ("tru", "invalid literal"),
            ("nul", "invalid literal"), ("[true false]", "expected ','"), ("1 2", "after the value"),
            ("\"abc", "unterminated string"), ("\"a\u{01}b\"", "control character"), ("\"a\nb\"", "control character"),
            (#""\x""#, "invalid escape"), (#""\u12""#, "hex digit"), (#""\u12G4""#, "hex digit"),
            (#""\ud83d""#, "lone high surrogate"), (#""\ud83dx""#, "lone high surrogate"),
            (#""\ud83d\u0041""#, "low surrogate"), (#""\ude00""#, "lone low surrogate"),
            ("{\"a\":1,\"a\":2}", "duplicate key"), ("[1]//", "after the value"), ("/*c*/1", "unexpected"),
            ("\u{0C}1", "unexpected"), ("[1,[2,]]", "unexpected"), ("{\"a\":}", "unexpected"),
        ]
        for (text, fragment) in bad {
            XCTAssertThrowsError(try JSON.parse(text), text) { error in
                let e = error as? MetaError
                XCTAssertEqual(e?.kind, .invalidArgument, text)
                XCTAssertTrue("\(error)".contains(fragment) && "\(error)".contains("at byte"), "\(text): \(error)")
            }
        }
        XCTAssertThrowsError(try JSON.parse("{\"a\":1,\"a\":2}")) { XCTAssertTrue("\($0)".contains("at byte 7"), "\($0)") }
    }

    func testNestingIsLimited() throws {
        let ok = String(repeating: "[", count: JSON.maxDepth) + String(repeating: "]", count: JSON.maxDepth)
        XCTAssertNoThrow(try JSON.parse(ok))
        for open in ["[", "{\"k\":"] {
            let closing = open == "[" ? "]" : "}"
            let deep = String(repeating: open, count: JSON.maxDepth + 1) + "1" + String(repeating: closing, count: JSON.maxDepth + 1)
            XCTAssertThrowsError(try JSON.parse(deep)) { XCTAssertTrue("\($0)".contains("nesting"), "\($0)") }
        }
        // Far deeper input fails the same way instead of overflowing the stack.
        XCTAssertThrowsError(try JSON.parse(String(repeating: "[", count: 100_000)))
    }

    func testNonFiniteNumbersAreRefusedOnSerialisation() {
        for bad in [Double.nan, .infinity, -.infinity] {
            let v: JSON = ["layers": [["eps": .number(bad)]]]
            XCTAssertThrowsError(try v.serialized) { error in
                XCTAssertEqual((error as? MetaError)?.kind, .invalidArgument)
                XCTAssertTrue("\(error)".contains("layers[0].eps"), "\(error)")
            }
        }
        XCTAssertThrowsError(try JSON(Float.nan).serialized)
    }
}

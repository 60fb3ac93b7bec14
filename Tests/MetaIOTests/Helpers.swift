import XCTest
import Foundation
import MetaTensor
import MetaIO

/// A safetensors file assembled by hand from the format's definition: the
/// header's length as 8 little-endian bytes, the header, the data.
func assemble(_ header: String, _ data: [UInt8] = [], headerLength: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    let n = headerLength ?? UInt64(h.count)
    return (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + h + data
}

/// Little-endian bytes of floats, written out byte by byte (not by the code under test).
func leBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v -> [UInt8] in let b = v.bitPattern; return (0..<4).map { UInt8(truncatingIfNeeded: b >> (8 * $0)) } }
}

/// Asserts that parsing `bytes` throws a `MetaError` naming the source and
/// containing every fragment.
func assertRejects(_ bytes: [UInt8], _ fragments: String..., file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try SafeTensors.parse(bytes: bytes, source: "bad.safetensors"), file: file, line: line) { error in
        guard let e = error as? MetaError else { return XCTFail("not a MetaError: \(error)", file: file, line: line) }
        XCTAssertEqual(e.kind, .invalidArgument, e.message, file: file, line: line)
        XCTAssertTrue(e.message.hasPrefix("bad.safetensors: "), e.message, file: file, line: line)
        for f in fragments {
            XCTAssertTrue(e.message.contains(f), "\"\(e.message)\" lacks \"\(f)\"", file: file, line: line)
        }
    }
}

/// Asserts that `body` throws a `MetaError` whose message contains every fragment.
func assertThrowsMessage<T>(_ body: @autoclosure () throws -> T, _ fragments: String...,
                            file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        let message = (error as? MetaError)?.message ?? "\(error)"
        for f in fragments {
            XCTAssertTrue(message.contains(f), "\"\(message)\" lacks \"\(f)\"", file: file, line: line)
        }
    }
}

/// A fresh empty directory under /tmp, removed with everything in it at the end of the test.
func temporaryDirectory(_ test: XCTestCase) throws -> String {
    var template = Array("/tmp/metaio-test-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw MetaError.argument("mkdtemp failed") }
    let dir = String(cString: made)
    test.addTeardownBlock {
        _ = chmod(dir, 0o755)
        try? FileManager.default.removeItem(atPath: dir)
    }
    return dir
}

func readBytes(_ path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: path).map { [UInt8]($0) }
}

func writeBytes(_ bytes: [UInt8], _ path: String) {
    XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
}

func directoryListing(_ dir: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
}

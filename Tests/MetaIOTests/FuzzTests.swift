import XCTest
import MetaTensor
import MetaIO
import _TestSupport

/// Damaged files never trap: parsing either throws a `MetaError` or
/// succeeds, and what it accepts writes back to a file that reads the same.
final class FuzzTests: XCTestCase {
    /// Bytes that steer JSON somewhere interesting (structure, numbers, escapes).
    static let interesting: [UInt8] = Array("{}[]\",:-+.0123456789eE \\ntu".utf8) + [0, 0x7F, 0x80, 0xC3, 0xFF]

    func seedFile() throws -> [UInt8] {
        var rng = TestRandom(seed: 11)
        return try SafeTensors(entries: [
            .init(name: "w", tensor: rng.tensor([2, 3])),
            .init(name: "b", tensor: rng.tensor([3])),
            .init(name: "s", tensor: Tensor(1)),
            .init(name: "e", tensor: Tensor(shape: [0, 2], scalars: [])),
            .init(name: "n", shape: [2], int64s: [7, -7]),
            .init(name: "h", dtype: .f16, shape: [1], bytes: [0, 0x3C]),
        ], metadata: [("format", "pt"), ("k", "v\u{1}")]).serialized()
    }

    func mutate(_ input: [UInt8], _ rng: inout TestRandom) -> [UInt8] {
        var bytes = input
        func position() -> Int { bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count)) }
        // Most mutations land in the header, where the parser's decisions are.
        func headerPosition() -> Int {
            let n = Int(bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.1) << (8 * UInt64($1.0)) } & 0xFFFF)
            let end = Swift.min(bytes.count, 8 + n)
            return end > 8 && rng.next() % 4 != 0 ? 8 + Int(rng.next() % UInt64(end - 8)) : position()
        }
        for _ in 0...(rng.next() % 4) {
            switch rng.next() % 8 {
            case 0 where !bytes.isEmpty: bytes[headerPosition()] = UInt8(truncatingIfNeeded: rng.next())
            case 1 where !bytes.isEmpty:
                bytes[headerPosition()] = FuzzTests.interesting[Int(rng.next() % UInt64(FuzzTests.interesting.count))]
            case 2: bytes.removeLast(Int(rng.next() % UInt64(bytes.count + 1)))
            case 3: bytes.insert(FuzzTests.interesting[Int(rng.next() % UInt64(FuzzTests.interesting.count))], at: headerPosition())
            case 4 where !bytes.isEmpty: bytes.remove(at: Swift.min(headerPosition(), bytes.count - 1))
            case 5 where bytes.count >= 8:  // the header size, nudged or wild
                let byte = Int(rng.next() % 8)
                bytes[byte] = rng.next() % 2 == 0 ? bytes[byte] &+ UInt8(truncatingIfNeeded: rng.next() % 3) &- 1
                                                  : UInt8(truncatingIfNeeded: rng.next())
            case 6 where bytes.count > 8:  // a digit of the header changed, so offsets and shapes disagree
                let digits = bytes.indices.filter { $0 >= 8 && bytes[$0] >= 0x30 && bytes[$0] <= 0x39 }
                if !digits.isEmpty { bytes[digits[Int(rng.next() % UInt64(digits.count))]] = 0x30 + UInt8(rng.next() % 10) }
            default:
                let a = position(), b = position()
                bytes.insert(contentsOf: bytes[Swift.min(a, b)..<Swift.max(a, b)].prefix(16), at: position())
            }
        }
        return bytes
    }

    func testMutatedFilesThrowOrParseButNeverTrap() throws {
        let seed = try seedFile()
        var rng = TestRandom(seed: 2024)
        var accepted = 0, rejected = 0
        for _ in 0..<6000 {
            let bytes = mutate(seed, &rng)
            do {
                let file = try SafeTensors.parse(bytes: bytes, source: "fuzz")
                accepted += 1
                for e in file.entries where e.dtype == .f32 { _ = try? e.tensor() }
                let again = try SafeTensors.parse(bytes: file.serialized())
                XCTAssertEqual(again, file)
            } catch let e as MetaError {
                rejected += 1
                XCTAssertFalse(e.message.isEmpty)
            } catch {
                XCTFail("not a MetaError: \(error)")
            }
        }
        // Both outcomes are exercised (mutations of data bytes keep a file valid).
        XCTAssertGreaterThan(accepted, 50)
        XCTAssertGreaterThan(rejected, 1000)
    }
}

import XCTest
@testable import MetaTensor

/// A generator restored from its state continues exactly as the original:
/// a checkpointed run draws the same episodes as one never interrupted.
final class RNGStateTests: XCTestCase {
    /// The next words of `rng`, then of a few children it splits off, so a
    /// restored generator must agree on its own stream and on its splits.
    func future(_ rng: RNG) -> [UInt32] {
        var r = rng
        var out = (0..<9).map { _ in r.nextUInt32() }
        var child = r.split()
        out += (0..<5).map { _ in child.nextUInt32() }
        out += (0..<5).map { _ in r.nextUInt32() }
        return out
    }

    func testRestoringAfterAnyNumberOfDrawsContinuesTheSameNumbers() throws {
        var rng = RNG(seed: 0x0123_4567_89ab_cdef)
        // Every offset within a block (0...4 words used), over several blocks.
        for n in 0..<13 {
            let restored = RNG(state: rng.state)
            XCTAssertEqual(restored, rng, "after \(n) draws")
            XCTAssertEqual(restored.state, rng.state)
            XCTAssertEqual(future(restored), future(rng), "after \(n) draws")
            _ = rng.nextUInt32()
        }
    }

    func testRestoringAfterSplitsAndInsideChildren() throws {
        var rng = RNG(seed: 42)
        _ = rng.uniform()
        var children = rng.split(3)
        _ = rng.nextUInt64()
        _ = children[1].normal()
        _ = children[1].nextUInt32()
        var grandchild = children[1].split()
        _ = grandchild.uniform()
        for g in [rng, children[0], children[1], children[2], grandchild] {
            XCTAssertEqual(future(RNG(state: g.state)), future(g))
        }
        XCTAssertEqual(rng.state.splits, 3)
        XCTAssertEqual(rng.state.used, 3, "three words drawn from the first block")
        XCTAssertEqual(rng.state.position, 1)
    }

    /// The state is plain integers: one rebuilt field by field restores the same generator.
    func testAStateRebuiltFromItsFieldsRestoresTheSameGenerator() throws {
        var rng = RNG(seed: 9)
        _ = rng.split()
        for _ in 0..<6 { _ = rng.nextUInt32() }
        let s = rng.state
        let rebuilt = try RNG.State(key: s.key, stream: s.stream, position: s.position, splits: s.splits, used: s.used)
        XCTAssertEqual(rebuilt, s)
        XCTAssertEqual(future(RNG(state: rebuilt)), future(rng))
        // A fresh generator's key is its seed, with no block drawn.
        XCTAssertEqual(RNG(seed: 0xfeed_0000_beef).state,
                       try RNG.State(key: 0xfeed_0000_beef, stream: 0, position: 0, splits: 0, used: 4))
        // Assigning a state moves a generator there.
        var other = RNG(seed: 1)
        other.state = s
        XCTAssertEqual(future(other), future(rng))
    }

    func testSamplingAPIsContinueAcrossARestore() throws {
        var a = RNG(seed: 5)
        _ = try a.permutation(7)
        var b = RNG(state: a.state)
        XCTAssertEqual(try a.choice(100, 9), try b.choice(100, 9))
        XCTAssertEqual(try Tensor.normal([5], rng: &a).scalars.map(\.bitPattern),
                       try Tensor.normal([5], rng: &b).scalars.map(\.bitPattern))
        XCTAssertEqual(try a.int(below: 1000), try b.int(below: 1000))
    }

    func testAnImpossibleStateIsRefusedAndAWrappedOneRestores() {
        for used in [-1, 5, Int.max] {
            XCTAssertThrowsError(try RNG.State(key: 1, stream: 0, position: 3, splits: 0, used: used)) {
                XCTAssertTrue("\($0)".contains("used must be in 0...4"), "\($0)")
            }
        }
        // Words left at position 0 are those of block 2⁶⁴ − 1, after the position wrapped around.
        var r = RNG(state: try! RNG.State(key: 3, stream: 0, position: 0, splits: 0, used: 3))
        XCTAssertEqual(r.nextUInt32(), philox4x32(key: (3, 0), counter: (.max, .max, 0, 0)).3)
        XCTAssertEqual(r.state.position, 0)
        XCTAssertEqual(r.state.used, 4)
    }
}

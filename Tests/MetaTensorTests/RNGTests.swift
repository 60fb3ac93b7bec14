import XCTest
@testable import MetaTensor
import _TestSupport

/// Statistical tests draw enough samples that a correct generator fails with
/// probability below ~1e-8 (6 standard errors, or a chi-square far in its
/// tail), while a wrong scale or shift is many standard errors off.
final class RNGTests: XCTestCase {
    // MARK: - Philox4x32-10 known answers

    /// The three philox4x32 10-round vectors of Random123's tests/kat_vectors
    /// (counter words, key words, expected output).
    func testPhiloxKnownAnswers() {
        typealias V = (ctr: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32), out: [UInt32])
        let vectors: [V] = [
            ((0, 0, 0, 0), (0, 0), [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]),
            ((0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff), (0xffff_ffff, 0xffff_ffff),
             [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]),
            ((0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), (0xa409_3822, 0x299f_31d0),
             [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]),
        ]
        for v in vectors {
            let r = philox4x32(key: v.key, counter: v.ctr)
            XCTAssertEqual([r.0, r.1, r.2, r.3], v.out)
        }
    }

    /// The stream of RNG(seed:) is Philox at key = the seed's two halves and
    /// counter = (position, stream 0), four words per block, in order.
    func testStreamLayout() {
        let seed: UInt64 = 0x0123_4567_89ab_cdef
        var rng = RNG(seed: seed)
        let key = (UInt32(0x89ab_cdef), UInt32(0x0123_4567))
        for block in 0..<3 as Range<UInt32> {
            let b = philox4x32(key: key, counter: (block, 0, 0, 0))
            XCTAssertEqual([rng.nextUInt32(), rng.nextUInt32(), rng.nextUInt32(), rng.nextUInt32()], [b.0, b.1, b.2, b.3])
        }
        XCTAssertEqual(rng.position, 3)
    }

    // MARK: - Reproducibility and splitting

    static func words(_ rng: inout RNG, _ n: Int = 64) -> [UInt32] { (0..<n).map { _ in rng.nextUInt32() } }

    func testSameSeedSameStream() {
        var a = RNG(seed: 42), b = RNG(seed: 42)
        XCTAssertEqual(Self.words(&a, 1000), Self.words(&b, 1000))
        XCTAssertEqual(a, b)
        var c = RNG(seed: 43), d = RNG(seed: 42 | (1 << 32))
        var e = RNG(seed: 42)
        let base = Self.words(&e)
        XCTAssertNotEqual(Self.words(&c), base)
        XCTAssertNotEqual(Self.words(&d), base, "the high half of the seed matters")
        var t1 = RNG(seed: 7), t2 = RNG(seed: 7)
        XCTAssertEqual(try Tensor.normal([5, 5], rng: &t1).scalars, try Tensor.normal([5, 5], rng: &t2).scalars)
    }

    func testSplitChildrenAreDistinctAndReproducible() {
        var parent = RNG(seed: 9)
        var kids = parent.split(4)
        var grandkids = [kids[0].split(), kids[1].split()]
        let streams = [Self.words(&parent)] + kids.indices.map { Self.words(&kids[$0]) }
            + grandkids.indices.map { Self.words(&grandkids[$0]) }
        // No two streams agree in any position (a chance match has probability ~1e-8).
        for i in streams.indices {
            for j in streams.indices where j > i {
                XCTAssertFalse(zip(streams[i], streams[j]).contains { $0 == $1 }, "streams \(i) and \(j)")
            }
        }
        // Splitting does not perturb the parent's own stream.
        var fresh = RNG(seed: 9)
        XCTAssertEqual(Self.words(&fresh), streams[0])
        // The same seed and the same sequence of splits give the same children.
        var again = RNG(seed: 9)
        var kids2 = again.split(4)
        for i in 0..<4 {
            var k = kids2[i]
            XCTAssertEqual(Self.words(&k), streams[1 + i], "child \(i)")
        }
        var g = kids2[0].split()
        XCTAssertEqual(Self.words(&g), streams[5])
        // Drawing from a generator does not change what it splits into.
        var c1 = RNG(seed: 3), c2 = c1
        _ = Self.words(&c1, 9)
        var s1 = c1.split(), s2 = c2.split()
        XCTAssertEqual(Self.words(&s1), Self.words(&s2))
        XCTAssertEqual(c1.split(-2).count, 0)
    }

    // MARK: - Distributions

    func testUniformMoments() {
        var rng = RNG(seed: 100)
        let n = 200_000
        var sum = 0.0, sum2 = 0.0, lo: Float = 1, hi: Float = 0
        var bins = [Int](repeating: 0, count: 16)
        for _ in 0..<n {
            let u = rng.uniform()
            XCTAssertTrue(u >= 0 && u < 1, "\(u)")
            lo = Swift.min(lo, u); hi = Swift.max(hi, u)
            sum += Double(u); sum2 += Double(u) * Double(u)
            bins[Swift.min(Int(u * 16), 15)] += 1
        }
        let mean = sum / Double(n), variance = sum2 / Double(n) - mean * mean
        XCTAssertEqual(mean, 0.5, accuracy: 6 * (1.0 / 12 / Double(n)).squareRoot())
        XCTAssertEqual(variance, 1.0 / 12, accuracy: 6 * ((1.0 / 80 - 1.0 / 144) / Double(n)).squareRoot())
        XCTAssertLessThan(lo, 1e-3)
        XCTAssertGreaterThan(hi, 1 - 1e-3)
        // Chi-square with 15 degrees of freedom: mean 15, sd 5.5; 80 is far in the tail.
        XCTAssertLessThan(Self.chiSquare(bins, expected: Double(n) / 16), 80)
    }

    /// uniform(low, high) stays below high even where rounding of
    /// low + (high − low)·u would land on it.
    func testUniformRangeExcludesHigh() throws {
        var rng = RNG(seed: 101)
        for (lo, hi) in [(Float(1e6), Float(1e6 + 1)), (1, 2), (-3, -2.5), (0, 1e-30), (-1e30, 1e30)] as [(Float, Float)] {
            for _ in 0..<5000 {
                let v = rng.uniform(lo, hi)
                XCTAssertTrue(v >= lo && v < hi, "uniform(\(lo), \(hi)) = \(v)")
                if !(v >= lo && v < hi) { break }
            }
        }
        let t = try Tensor.uniform([4000], low: 1e6, high: 1e6 + 1, rng: &rng)
        XCTAssertTrue(t.scalars.allSatisfy { $0 >= 1e6 && $0 < 1e6 + 1 })
        let constant = try Tensor.uniform([3], low: 2, high: 2, rng: &rng)
        assertExactly(constant, [3], [2, 2, 2])
    }

    func testNormalMoments() throws {
        var rng = RNG(seed: 102)
        let n = 200_000
        let xs = (0..<n).map { _ in Double(rng.normal()) }
        XCTAssertTrue(xs.allSatisfy { $0.isFinite })
        let mean = xs.reduce(0, +) / Double(n)
        let m2 = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
        let m4 = xs.reduce(0) { let d2 = ($1 - mean) * ($1 - mean); return $0 + d2 * d2 } / Double(n)
        let within1 = Double(xs.filter { Swift.abs($0) < 1 }.count) / Double(n)
        let se = 1 / Double(n).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 6 * se)
        XCTAssertEqual(m2, 1, accuracy: 6 * 2.0.squareRoot() * se)
        XCTAssertEqual(m4, 3, accuracy: 6 * 96.0.squareRoot() * se)
        XCTAssertEqual(within1, 0.682_689, accuracy: 6 * (0.6827 * 0.3173).squareRoot() * se)

        // Tensor.normal applies mean and std.
        let t = try Tensor.normal([n], mean: 3, std: 2, rng: &rng).scalars.map(Double.init)
        let tm = t.reduce(0, +) / Double(n)
        let tv = t.reduce(0) { $0 + ($1 - tm) * ($1 - tm) } / Double(n)
        XCTAssertEqual(tm, 3, accuracy: 6 * 2 * se)
        XCTAssertEqual(tv, 4, accuracy: 6 * 4 * 2.0.squareRoot() * se)
    }

    func testIntBelowIsUniform() throws {
        var rng = RNG(seed: 103)
        let n = 100_000
        var counts = [Int](repeating: 0, count: 10)
        for _ in 0..<n { counts[try rng.int(below: 10)] += 1 }
        // 9 degrees of freedom: mean 9, sd 4.2.
        XCTAssertLessThan(Self.chiSquare(counts, expected: Double(n) / 10), 60, "\(counts)")
        for bound in [1, 2, 3, 7, 1000] {
            var seen = Set<Int>()
            for _ in 0..<(bound * 40) {
                let v = try rng.int(below: bound)
                XCTAssertTrue(0 <= v && v < bound)
                seen.insert(v)
            }
            XCTAssertEqual(seen.count, bound, "every value of 0..<\(bound) appears")
        }
        // A bound of 3·2^30: taking a 32-bit word modulo it would make the lowest
        // third twice as likely as the others.
        let big = 3 << 30
        var thirds = [0, 0, 0]
        for _ in 0..<30_000 {
            let v = try rng.int(below: big)
            XCTAssertTrue(0 <= v && v < big)
            thirds[v >> 30] += 1
        }
        XCTAssertLessThan(Self.chiSquare(thirds, expected: 10_000), 40, "\(thirds)")
        let top = try rng.int(below: Int(UInt32.max))
        XCTAssertTrue(top >= 0 && top < Int(UInt32.max))
    }

    func testPermutation() throws {
        var rng = RNG(seed: 104)
        for n in [0, 1, 2, 10, 257] {
            XCTAssertEqual(try rng.permutation(n).sorted(), Array(0..<n))
        }
        // All 6 orders of 3 items, equally often (a Fisher–Yates off by one
        // reaches only some of them).
        var counts: [[Int]: Int] = [:]
        for _ in 0..<12_000 { counts[try rng.permutation(3), default: 0] += 1 }
        XCTAssertEqual(counts.count, 6)
        XCTAssertLessThan(Self.chiSquare(Array(counts.values), expected: 2000), 45, "\(counts)")
        XCTAssertNotEqual(try rng.permutation(50), try rng.permutation(50))
    }

    func testChoice() throws {
        var rng = RNG(seed: 105)
        for (n, k) in [(0, 0), (5, 0), (5, 1), (5, 5), (100, 7), (1000, 999)] {
            let c = try rng.choice(n, k)
            XCTAssertEqual(c.count, k)
            XCTAssertEqual(Set(c).count, k, "distinct")
            XCTAssertTrue(c.allSatisfy { 0 <= $0 && $0 < n })
        }
        // The sampler is a partial Fisher–Yates over 0..<n: replay its draws on a
        // dense array and compare.
        for (n, k) in [(10, 10), (50, 7), (3, 1), (1000, 40)] {
            var replay = rng
            var p = Array(0..<n)
            for i in 0..<k { p.swapAt(i, i + (try replay.int(below: n - i))) }
            XCTAssertEqual(try rng.choice(n, k), Array(p[0..<k]), "n \(n) k \(k)")
            XCTAssertEqual(rng, replay)
        }
        // A few values from a huge range cost O(k), not O(n); ranges beyond
        // what int(below:) draws from throw rather than trap.
        let few = try rng.choice(4_000_000_000, 5)
        XCTAssertEqual(Set(few).count, 5)
        XCTAssertTrue(few.allSatisfy { 0 <= $0 && $0 < 4_000_000_000 })
        assertThrows(.invalidArgument, try rng.choice(1 << 40, 2))
        // Each value is chosen with probability k/n.
        var counts = [Int](repeating: 0, count: 8)
        for _ in 0..<8000 { for v in try rng.choice(8, 3) { counts[v] += 1 } }
        XCTAssertLessThan(Self.chiSquare(counts, expected: 3000), 50, "\(counts)")
    }

    func testBadArgumentsThrow() {
        var rng = RNG(seed: 106)
        assertThrows(.invalidArgument, try rng.int(below: 0))
        assertThrows(.invalidArgument, try rng.int(below: -5))
        assertThrows(.invalidArgument, try rng.int(below: Int(UInt32.max) + 1))
        assertThrows(.invalidArgument, try rng.permutation(-1))
        assertThrows(.invalidArgument, try rng.choice(3, 4))
        assertThrows(.invalidArgument, try rng.choice(-1, 0))
        assertThrows(.invalidArgument, try rng.choice(3, -1))
        assertThrows(.invalidArgument, try Tensor.uniform([2], low: 1, high: 0, rng: &rng))
        assertThrows(.invalidArgument, try Tensor.uniform([2], low: .nan, high: 1, rng: &rng))
        assertThrows(.invalidArgument, try Tensor.uniform([2], low: 0, high: .infinity, rng: &rng))
        assertThrows(.invalidArgument, try Tensor.uniform([-2], rng: &rng))
        // The width high − low overflows to infinity.
        assertThrows(.invalidArgument, try Tensor.uniform([2], low: -3e38, high: 3e38, rng: &rng))
        assertThrows(.invalidArgument, try Tensor.normal([2], std: -1, rng: &rng))
        assertThrows(.invalidArgument, try Tensor.normal([2], mean: .nan, rng: &rng))
        assertThrows(.invalidArgument, try Tensor.normal([2], std: .infinity, rng: &rng))
        assertThrows(.invalidArgument, try Tensor.normal([2, -1], rng: &rng))
    }

    static func chiSquare(_ counts: [Int], expected: Double) -> Double {
        counts.reduce(0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
    }
}

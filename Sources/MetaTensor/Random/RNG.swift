#if canImport(Glibc)
import Glibc
#endif

/// The engine's random generator: Philox4x32-10 over a 128-bit counter made of
/// a stream id and a position. The caller owns it (`inout`), there is no global
/// state, and `split` derives independent child generators, one per task or per
/// layer, so results do not depend on the order in which tasks run.
///
///     var rng = RNG(seed: 42)
///     var taskRNGs = (0..<25).map { _ in rng.split() }
///     let w = Tensor.normal([40, 40], std: 0.1, rng: &taskRNGs[0])
public struct RNG: Sendable, Equatable {
    public private(set) var key: (UInt32, UInt32)
    /// Which stream of this key (set by `split`).
    public private(set) var stream: UInt64
    /// Blocks drawn so far from this stream.
    public private(set) var position: UInt64
    private var splits: UInt64 = 0
    private var buffer: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
    private var used = 4

    public init(seed: UInt64) {
        key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        stream = 0
        position = 0
    }

    public static func == (a: RNG, b: RNG) -> Bool {
        a.key == b.key && a.stream == b.stream && a.position == b.position && a.splits == b.splits && a.used == b.used
    }

    /// Everything the generator needs to continue exactly where it is, as
    /// plain integers (a checkpoint stores it; `init(state:)` restores it).
    ///
    ///     var rng = RNG(seed: 7)
    ///     _ = rng.uniform()
    ///     var copy = RNG(state: rng.state)
    ///     copy.uniform() == rng.uniform()   // true: mid-block, after splits, always
    ///
    /// The four words of the block being drawn from are not stored: they are
    /// Philox at (key, position − 1, stream), recomputed on restore. The
    /// fields are checked when a state is made, so every `State` restores.
    public struct State: Equatable, Sendable {
        /// The key's two words as one number, low word first: the seed, for
        /// a generator made by `RNG(seed:)`.
        public let key: UInt64
        /// Which stream of this key (set by `split`).
        public let stream: UInt64
        /// Blocks drawn so far from this stream.
        public let position: UInt64
        /// Children split off so far.
        public let splits: UInt64
        /// Words of the current block already returned: 0...4, where 4 means
        /// none is left (the next draw computes block `position`).
        public let used: Int

        /// Throws unless `used` is in 0...4. (Words left at position 0 are
        /// those of block 2⁶⁴ − 1, after the position wrapped around.)
        public init(key: UInt64, stream: UInt64, position: UInt64, splits: UInt64, used: Int) throws {
            guard (0...4).contains(used) else {
                throw MetaError.argument("RNG state: used must be in 0...4 (words of the current block drawn), got \(used)")
            }
            self.init(unchecked: key, stream: stream, position: position, splits: splits, used: used)
        }

        init(unchecked key: UInt64, stream: UInt64, position: UInt64, splits: UInt64, used: Int) {
            self.key = key
            self.stream = stream
            self.position = position
            self.splits = splits
            self.used = used
        }
    }

    /// The generator's state; `RNG(state: rng.state)` draws what `rng` draws.
    public var state: State {
        get { State(unchecked: UInt64(key.0) | UInt64(key.1) << 32, stream: stream, position: position, splits: splits, used: used) }
        set { self = RNG(state: newValue) }
    }

    /// The generator at `state`: it continues exactly where the one that
    /// gave the state was, draws and splits alike.
    public init(state: State) {
        key = (UInt32(truncatingIfNeeded: state.key), UInt32(truncatingIfNeeded: state.key >> 32))
        stream = state.stream
        position = state.position
        splits = state.splits
        used = state.used
        if used < 4 { buffer = block(position &- 1) }
    }

    /// Block `index` of this stream.
    private func block(_ index: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        let s = stream & 0x7FFF_FFFF_FFFF_FFFF  // the top bit is reserved for split derivation
        return philox4x32(key: key, counter: (UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: index >> 32),
                                              UInt32(truncatingIfNeeded: s), UInt32(truncatingIfNeeded: s >> 32)))
    }

    /// A child generator whose key is derived from this one's key, stream and a
    /// split index. Children of different indices are independent of each
    /// other and of the parent's own stream.
    public mutating func split() -> RNG {
        splits &+= 1
        let s = stream
        let b = philox4x32(key: key, counter: (UInt32(truncatingIfNeeded: splits), UInt32(truncatingIfNeeded: splits >> 32),
                                              UInt32(truncatingIfNeeded: s), UInt32(truncatingIfNeeded: s >> 32) | 0x8000_0000))
        var child = RNG(seed: 0)
        child.key = (b.0, b.1)
        child.stream = UInt64(b.2) | (UInt64(b.3) << 32)
        return child
    }

    /// `n` children, in order.
    public mutating func split(_ n: Int) -> [RNG] { (0..<max(n, 0)).map { _ in split() } }

    public mutating func nextUInt32() -> UInt32 {
        if used == 4 {
            buffer = block(position)
            position &+= 1
            used = 0
        }
        defer { used += 1 }
        switch used {
        case 0: return buffer.0
        case 1: return buffer.1
        case 2: return buffer.2
        default: return buffer.3
        }
    }

    public mutating func nextUInt64() -> UInt64 { UInt64(nextUInt32()) << 32 | UInt64(nextUInt32()) }

    /// Uniform in [0, 1), with 24 random bits.
    public mutating func uniform() -> Float { Float(nextUInt32() >> 8) * 0x1p-24 }

    /// Uniform in [low, high) (just `low` when they are equal).
    public mutating func uniform(_ low: Float, _ high: Float) -> Float {
        let v = low + (high - low) * uniform()
        // The sum can round up to `high` (at low = 1e6, high = 1e6 + 1 floats
        // are 1/16 apart, so ~3% of draws would); keep the interval half-open.
        return v < high ? v : Swift.max(low, high.nextDown)
    }

    /// Standard normal by Box–Muller. Only the cosine of each pair is used, so
    /// every value costs exactly two uniforms and no state is carried between
    /// calls. The tails are cut at sqrt(−2 ln 2⁻²⁴) ≈ 5.8.
    public mutating func normal() -> Float {
        let u1 = 1 - uniform()  // in (0, 1], so log is finite
        let u2 = uniform()
        return (-2 * logf(u1)).squareRoot() * cosf(2 * Float.pi * u2)
    }

    /// Uniform integer in 0..<bound without modulo bias (Lemire's method).
    public mutating func int(below bound: Int) throws -> Int {
        guard bound > 0, bound <= Int(UInt32.max) else {
            throw MetaError.argument("random int: bound must be in 1...\(UInt32.max), got \(bound)")
        }
        let b = UInt64(bound)
        var m = UInt64(nextUInt32()) &* b
        if UInt32(truncatingIfNeeded: m) < UInt32(bound) {
            let threshold = UInt32(truncatingIfNeeded: 0 &- b) % UInt32(bound)
            while UInt32(truncatingIfNeeded: m) < threshold { m = UInt64(nextUInt32()) &* b }
        }
        return Int(m >> 32)
    }

    /// A uniformly random permutation of 0..<n (Fisher–Yates).
    public mutating func permutation(_ n: Int) throws -> [Int] {
        guard n >= 0 else { throw MetaError.argument("permutation: n must be >= 0, got \(n)") }
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, try int(below: i + 1)) }
        return p
    }

    /// `k` distinct values from 0..<n, in random order (partial Fisher–Yates).
    ///
    /// The array 0..<n is virtual: only the positions a swap has touched are
    /// stored, so memory and time are O(k) however large n is (sampling a few
    /// examples from a large dataset must not allocate the dataset's size).
    public mutating func choice(_ n: Int, _ k: Int) throws -> [Int] {
        guard n >= 0, k >= 0, k <= n else {
            throw MetaError.argument("choice: need 0 <= k <= n, got k = \(k), n = \(n)")
        }
        var moved: [Int: Int] = [:]
        var out: [Int] = []
        out.reserveCapacity(k)
        for i in 0..<k {
            let j = i + (try int(below: n - i))
            let atJ = moved[j] ?? j
            moved[j] = moved[i] ?? i
            out.append(atJ)
        }
        return out
    }
}

extension Tensor {
    /// Uniform in [low, high).
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, rng: inout RNG) throws -> Tensor {
        guard low.isFinite, high.isFinite, low <= high, (high - low).isFinite else {
            throw MetaError.argument("uniform: need finite low <= high with a finite width, got [\(low), \(high))")
        }
        return try make(shape: shape) { p, n in for i in 0..<n { p[i] = rng.uniform(low, high) } }
    }

    /// Normal with mean and standard deviation.
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, rng: inout RNG) throws -> Tensor {
        guard mean.isFinite, std.isFinite, std >= 0 else {
            throw MetaError.argument("normal: need finite mean and std >= 0, got \(mean), \(std)")
        }
        return try make(shape: shape) { p, n in for i in 0..<n { p[i] = mean + std * rng.normal() } }
    }
}

/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
/// SC 2011): a counter-based generator. The output block is a bijective
/// function of (key, counter), so any position of any stream can be computed
/// directly, streams for different tasks never overlap, and the same seed gives
/// the same numbers on every run.
@inlinable
func philox4x32(key: (UInt32, UInt32), counter: (UInt32, UInt32, UInt32, UInt32)) -> (UInt32, UInt32, UInt32, UInt32) {
    let m0: UInt64 = 0xD251_1F53, m1: UInt64 = 0xCD9E_8D57
    let w0: UInt32 = 0x9E37_79B9, w1: UInt32 = 0xBB67_AE85
    var (c0, c1, c2, c3) = counter
    var (k0, k1) = key
    for _ in 0..<10 {
        let p0 = m0 &* UInt64(c0), p1 = m1 &* UInt64(c2)
        let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
        let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
        (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
        k0 &+= w0; k1 &+= w1
    }
    return (c0, c1, c2, c3)
}

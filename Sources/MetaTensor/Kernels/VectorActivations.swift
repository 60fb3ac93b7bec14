// tanh and the logistic sigmoid on eight Float32 lanes at a time: the one
// implementation behind `map(.tanh)`, `map(.sigmoid)` and the fused recurrent
// cells, so the cells and their composite formulation agree bit for bit.
//
// Glibc's scalar tanhf (through expm1f) and expf took ~70% of a fused LSTM
// cell step's cycles. Branch-free over eight lanes, these cost ~1.4 ns (tanh)
// and ~1 ns (sigmoid) an element where Glibc's took ~18 and ~9 (AVX2 + FMA
// build, long buffers; measured on a shared machine).
// Every lane goes through the same operations whatever its neighbours hold,
// and a buffer's tail is padded to a full vector, so a value's result does not
// depend on its position in the buffer or on the buffer's length.
//
// Accuracy, measured against Double over every finite Float
// (`scripts/ulp_sweep.swift`; `VectorActivationTests` asserts it): at most
// 1.11 ulp for tanh and 1.48 ulp for sigmoid, with or without FMA.
// The coefficients are discrete-minimax fits of the relative error
// (`scripts/fit_vector_activations.py`), rounded to Float.

enum VectorMath {
    typealias Floats = SIMD8<Float>
    typealias Bits = SIMD8<UInt32>

    /// a·b + c: one fused multiply-add where the build targets FMA (release
    /// builds on machines with AVX2/FMA), a product and a sum otherwise
    /// (without the instruction, fma is a library call per lane). Both stay
    /// within the stated bounds; within one build every caller gets the same
    /// one, so results agree across callers but not across builds.
    @inline(__always)
    static func madd(_ a: Floats, _ b: Floats, _ c: Floats) -> Floats {
        #if METASWIFT_FMA
        return c.addingProduct(a, b)
        #else
        return a * b + c
        #endif
    }

    @inline(__always)
    static func bits(_ x: Floats) -> Bits { unsafeBitCast(x, to: Bits.self) }
    @inline(__always)
    static func floats(_ b: Bits) -> Floats { unsafeBitCast(b, to: Floats.self) }

    /// eˣ per lane. x = n·ln2 + r with n = round(x/ln2) and |r| ≤ ln2/2
    /// (Cody–Waite: ln2 split in two, its high part short enough that n·ln2_hi
    /// is exact), eʳ ≈ 1 + r + r²·Q(r) (Q of degree 4, relative error ~3e-9),
    /// then times 2ⁿ built in the exponent bits.
    ///
    /// Traps: 2ⁿ runs from 2⁻¹⁵⁰ to 2¹²⁸ and neither end is a normal Float, so
    /// it is applied as two normal factors 2^⌊n/2⌋ · 2^⌈n/2⌉; the first
    /// product is exact and the second rounds once, so results overflow to
    /// +inf and underflow through the subnormals to 0 correctly. x is clamped
    /// to [-104, 89] first (beyond, the result is 0 or inf anyway); NaN
    /// passes the clamp (its comparisons are false) and propagates.
    @inline(__always)
    static func exp(_ x: Floats) -> Floats { expParts(x).high }

    /// eˣ as high + low: `high` is `exp(x)`, `low` the rounding error of its
    /// last addition (1 + (r + r²Q)), scaled alike, for callers whose result
    /// would otherwise inherit that half ulp in full (the sigmoid).
    @inline(__always)
    static func expParts(_ x: Floats) -> (high: Floats, low: Floats) {
        var t = x.replacing(with: 89, where: x .> 89)
        t.replace(with: -104, where: t .< -104)
        // Adding 1.5·2²³ rounds t/ln2 to an integer, which lands in the low
        // mantissa bits of k: n as a float and as an integer without a conversion.
        let shifter = Floats(repeating: 12_582_912)
        let k = madd(t, Floats(repeating: 1.442695), shifter)
        let n = k - shifter
        var r = madd(n, Floats(repeating: -0.6933594), t)  // exact: ln2_hi = 0.693359375 has 9 bits
        r = madd(n, Floats(repeating: 0.00021219444), r)  // ln2_lo = ln2 − ln2_hi
        var q = Floats(repeating: 0.0013814599)
        q = madd(q, r, Floats(repeating: 0.008368717))
        q = madd(q, r, Floats(repeating: 0.04166839))
        q = madd(q, r, Floats(repeating: 0.16666521))
        q = madd(q, r, Floats(repeating: 0.49999994))
        let tail = madd(r * r, q, r)
        let p = tail + 1
        let pLow = tail - (p - 1)  // exact (Fast2Sum: |tail| < 1)
        let ni = bits(k) &- bits(shifter)  // n, two's complement
        let half = Bits(truncatingIfNeeded: SIMD8<Int32>(truncatingIfNeeded: ni) &>> 1)
        let s1 = floats((half &+ 127) &<< 23), s2 = floats((ni &- half &+ 127) &<< 23)
        return (p * s1 * s2, pLow * s1 * s2)
    }

    /// σ(x) = 1 / (1 + e⁻ˣ), evaluated as 1 / (1 + e) for x ≥ 0 and
    /// e / (1 + e) for x < 0 with e = e^(−|x|) ∈ [0, 1]: e never overflows, so
    /// σ(−100) is the subnormal it should be (not 0 · inf or NaN), σ(100) = 1,
    /// σ(±inf) = 1 and 0, and NaN gives NaN.
    ///
    /// Trap: the rounding of 1 + e and e's own last rounding each cost up to
    /// an ulp of the quotient (2.3 ulp measured with neither corrected). So e
    /// comes as e + eₗ, the sum as d + δ exactly (Fast2Sum, e ≤ 1), and the
    /// quotient q = num / d is corrected to first order:
    /// q + (numₗ − q·(δ + eₗ)) / d, with numₗ = eₗ for x < 0 (else 0) and
    /// 1/d ≈ q for x ≥ 0, ≈ 1 − q (= 1 − σ(|x|)) for x < 0: no second division.
    @inline(__always)
    static func sigmoid(_ x: Floats) -> Floats {
        let (e, eLow) = expParts(floats(bits(x) | 0x8000_0000))  // e^(−|x|)
        let negative = x .< 0
        let d = 1 + e
        let lost = (e - (d - 1)) + eLow
        let q = Floats(repeating: 1).replacing(with: e, where: negative) / d
        let inverse = q.replacing(with: 1 - q, where: negative)
        let numeratorLow = Floats().replacing(with: eLow, where: negative)
        return madd(madd(-q, lost, numeratorLow), inverse, q)
    }

    /// tanh(x), computed for |x| and given x's sign. For |x| < 0.55
    /// (tanh < 0.5) the odd polynomial |x| + |x|·s·P(s), s = x², P of degree 4
    /// (relative error ~1e-9): relative accuracy down to the subnormals, and
    /// tanh(−0) = −0. Otherwise
    /// 1 − 2e/(1 + e) with e = e^(−2|x|) ∈ [0, 1] (= 1 − 2/(e^(2|x|) + 1)
    /// without the overflow), which saturates to 1 by itself (|x| > 9.1).
    /// NaN fails the |x| < 0.55 test and comes out of exp as NaN.
    @inline(__always)
    static func tanh(_ x: Floats) -> Floats {
        let xb = bits(x)
        let a = floats(xb & 0x7fff_ffff)
        let s = a * a
        var p = Floats(repeating: -0.0062742396)
        p = madd(p, s, Floats(repeating: 0.02107168))
        p = madd(p, s, Floats(repeating: -0.05385231))
        p = madd(p, s, Floats(repeating: 0.13332586))
        p = madd(p, s, Floats(repeating: -0.33333316))
        let small = madd(a * s, p, a)
        // q = 2e/(1 + e) ≤ 0.5 and the result 1 − q ≥ 0.5, so q's error
        // reaches the result nearly whole: q is corrected as in `sigmoid`,
        // with 1/d = 1 − q/2.
        let (e, eLow) = expParts(-(a + a))
        let d = 1 + e
        let lost = (e - (d - 1)) + eLow
        let q = (e + e) / d
        let large = 1 - madd(madd(-q, lost, eLow + eLow), madd(q, Floats(repeating: -0.5), Floats(repeating: 1)), q)
        // Both branches on |x| and the sign put back last: x + x·s·P(s) on x
        // itself would give tanh(−0) = −0 + (+0) = +0.
        let magnitude = large.replacing(with: small, where: a .< 0.55)
        return floats(bits(magnitude) | (xb & 0x8000_0000))
    }

    /// y[i] = f(x[i]) for i < n, eight at a time; the last n mod 8 go through
    /// the same f in a zero-padded vector. x and y may be the same buffer.
    @inline(__always)
    static func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int,
                      _ f: (Floats) -> Floats) {
        var i = 0
        while i &+ 8 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: Floats.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: f(v), as: Floats.self)
            i &+= 8
        }
        guard i < n else { return }
        var v = Floats()
        for k in 0..<(n &- i) { v[k] = x[i &+ k] }
        let r = f(v)
        for k in 0..<(n &- i) { y[i &+ k] = r[k] }
    }

    /// y[i] = tanh(x[i]) for i < n (x and y may coincide).
    static func tanh(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        apply(x, y, count: n) { tanh($0) }
    }

    /// y[i] = σ(x[i]) for i < n (x and y may coincide).
    static func sigmoid(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        apply(x, y, count: n) { sigmoid($0) }
    }
}

import XCTest
import MetaTensor
import MetaAutodiff

/// Test-only randomness: SplitMix64, so test support depends on nothing it tests.
public struct TestRandom {
    var state: UInt64
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
    public mutating func tensor(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor {
        let n = shape.reduce(1, *)
        return try! Tensor(shape: shape, scalars: (0..<n).map { _ in uniform(lo, hi) })
    }
    /// Uniform in [lo, hi) with magnitude at least `gap` away from zero (to stay clear of kinks).
    public mutating func tensorAwayFromZero(_ shape: [Int], gap: Float = 0.1, _ hi: Float = 1) -> Tensor {
        let n = shape.reduce(1, *)
        return try! Tensor(shape: shape, scalars: (0..<n).map { _ in
            let m = uniform(gap, hi); return next() & 1 == 0 ? m : -m
        })
    }
}

func dot(_ a: Tensor, _ b: Tensor) -> Double {
    let x = a.scalars, y = b.scalars
    var s = 0.0
    for i in 0..<x.count { s += Double(x[i]) * Double(y[i]) }
    return s
}

func shifted(_ xs: [Tensor], _ dirs: [Tensor], by eps: Float) -> [Variable] {
    zip(xs, dirs).map { x, d in
        Variable(try! Tensor(shape: x.shape, scalars: zip(x.scalars, d.scalars).map { $0 + eps * $1 }))
    }
}

/// Asserts |a - b| <= atol + rtol * max(|a|, |b|).
public func assertClose(_ a: Double, _ b: Double, rtol: Double = 1e-4, atol: Double = 1e-6,
                        _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    let ok = Swift.abs(a - b) <= atol + rtol * Swift.max(Swift.abs(a), Swift.abs(b))
    XCTAssertTrue(ok, "\(a) vs \(b) (rtol \(rtol), atol \(atol)) \(message())", file: file, line: line)
}

/// Elementwise closeness of two tensors with equal shapes.
public func assertClose(_ a: Tensor, _ b: Tensor, rtol: Double = 1e-4, atol: Double = 1e-5,
                        _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.shape, b.shape, "shapes differ \(message())", file: file, line: line)
    guard a.shape == b.shape else { return }
    let x = a.scalars, y = b.scalars
    for i in 0..<x.count {
        let (p, q) = (Double(x[i]), Double(y[i]))
        if Swift.abs(p - q) > atol + rtol * Swift.max(Swift.abs(p), Swift.abs(q)) {
            XCTFail("element \(i): \(p) vs \(q) (rtol \(rtol), atol \(atol)) \(message())", file: file, line: line)
            return
        }
    }
}

/// Checks reverse-mode derivatives of `f` against central finite differences
/// in random directions, to first and (with `order: 2`) second order.
///
/// A non-scalar output is reduced to the scalar s(x) = Σ w ⊙ f(x) with fixed
/// random weights w, so every element of the VJP is exercised. First order:
/// ⟨∇s(x), v⟩ against (s(x+εv) − s(x−εv)) / 2ε. Second order: the
/// Hessian-vector product obtained by differentiating ⟨∇s(x), u⟩ again (with
/// `createGraph: true`), dotted with v, against the central difference of
/// ⟨∇s(·), u⟩ along v. Sums are accumulated in Double.
public func checkGradients(at xs: [Tensor], order: Int = 2, eps: Float = 1e-2, rtol: Double = 2e-2,
                           atol: Double = 1e-3, seed: UInt64 = 1, trials: Int = 2,
                           file: StaticString = #filePath, line: UInt = #line,
                           _ f: ([Variable]) throws -> Variable) {
    do {
        var rng = TestRandom(seed: seed)
        let probe = try f(xs.map { Variable($0) })
        let w = Variable(rng.tensor(probe.shape))
        func s(_ v: [Variable]) throws -> Variable {
            let y = try f(v)
            return try (y * w).sum()
        }
        for trial in 0..<trials {
            let v = xs.map { rng.tensor($0.shape) }
            let u = xs.map { rng.tensor($0.shape) }
            // First order.
            let g = try Autodiff.grad(at: xs.map { Variable($0) }) { try s($0) }
            let analytic = zip(g, v).reduce(0.0) { $0 + dot($1.0.value, $1.1) }
            let fp = Double(try s(shifted(xs, v, by: eps)).item())
            let fm = Double(try s(shifted(xs, v, by: -eps)).item())
            let numeric = (fp - fm) / (2 * Double(eps))
            assertClose(analytic, numeric, rtol: rtol, atol: atol, "first order, trial \(trial)", file: file, line: line)
            guard order >= 2 else { continue }
            // Second order: v·H·u.
            let hu = try Autodiff.grad(at: xs.map { Variable($0) }) { vars in
                let gs = try Autodiff.grad(at: vars, createGraph: true) { try s($0) }
                var acc = try Variable(Float(0))
                for (gi, ui) in zip(gs, u) { acc = try acc + (gi * Variable(ui)).sum() }
                return acc
            }
            let analytic2 = zip(hu, v).reduce(0.0) { $0 + dot($1.0.value, $1.1) }
            func gu(_ at: [Variable]) throws -> Double {
                let gs = try Autodiff.grad(at: at) { try s($0) }
                return zip(gs, u).reduce(0.0) { $0 + dot($1.0.value, $1.1) }
            }
            let numeric2 = (try gu(shifted(xs, v, by: eps)) - gu(shifted(xs, v, by: -eps))) / (2 * Double(eps))
            assertClose(analytic2, numeric2, rtol: rtol, atol: atol, "second order, trial \(trial)", file: file, line: line)
        }
    } catch {
        XCTFail("checkGradients threw \(error)", file: file, line: line)
    }
}

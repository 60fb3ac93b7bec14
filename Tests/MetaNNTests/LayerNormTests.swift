import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import _TestSupport

final class LayerNormTests: XCTestCase {
    var rng = TestRandom(seed: 23)

    /// y = γ (x − μ)/√(σ² + ε) + β over groups of `group` trailing elements, in Double.
    func reference(_ x: [Float], group: Int, gamma: [Float]?, beta: [Float]?, eps: Double = 1e-5) -> [Float] {
        var out = [Float]()
        for start in stride(from: 0, to: x.count, by: group) {
            let g = x[start..<(start + group)].map(Double.init)
            let mu = g.reduce(0, +) / Double(group)
            let variance = g.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(group)
            for (i, v) in g.enumerated() {
                let norm = (v - mu) / (variance + eps).squareRoot()
                out.append(Float(norm * Double(gamma?[i] ?? 1) + Double(beta?[i] ?? 0)))
            }
        }
        return out
    }

    func testForwardMatchesDouble() throws {
        // Over the last axis, and over the last two of a rank-3 input.
        for (shape, normalized) in [([5, 4], [4]), ([2, 3, 4, 5], [4, 5]), ([6], [6])] as [([Int], [Int])] {
            let ln = try LayerNorm(normalizedShape: normalized)
            XCTAssertEqual(ln.parameterSpecs.map(\.description), ["gamma\(normalized)", "beta\(normalized)"])
            let x = rng.tensor(shape, -3, 3)
            let params = normalized.isEmpty ? [] : [Variable(rng.tensor(normalized)), Variable(rng.tensor(normalized))]
            let y = try ln(params, Variable(x))
            let group = normalized.reduce(1, *)
            let want = reference(x.scalars, group: group, gamma: params[0].scalars, beta: params[1].scalars)
            assertClose(y.value, try Tensor(shape: shape, scalars: want), rtol: 1e-4, atol: 1e-5, "\(shape) over \(normalized)")
        }
        // Without the affine part; and the initial γ = 1, β = 0 give the same.
        let x = rng.tensor([3, 7], -2, 2)
        let bare = try LayerNorm(7, elementwiseAffine: false)
        XCTAssertEqual(bare.parameterSpecs, [])
        let want = try Tensor(shape: [3, 7], scalars: reference(x.scalars, group: 7, gamma: nil, beta: nil))
        assertClose(try bare([], Variable(x)).value, want, rtol: 1e-4, atol: 1e-5)
        var r = RNG(seed: 1)
        let affine = try LayerNorm(7)
        let p0 = try affine.initialize(rng: &r)
        XCTAssertEqual(p0.names, ["gamma", "beta"])
        XCTAssertEqual(p0.values[0].scalars, [Float](repeating: 1, count: 7))
        XCTAssertEqual(p0.values[1].scalars, [Float](repeating: 0, count: 7))
        assertClose(try affine(p0, Variable(x)).value, want, rtol: 1e-4, atol: 1e-5)
        // A custom eps reaches the denominator.
        let wide = try LayerNorm(7, eps: 0.5, elementwiseAffine: false)
        let wantWide = try Tensor(shape: [3, 7], scalars: reference(x.scalars, group: 7, gamma: nil, beta: nil, eps: 0.5))
        assertClose(try wide([], Variable(x)).value, wantWide, rtol: 1e-4, atol: 1e-5)
    }

    func testEachRowIsIndependentOfTheOthers() throws {
        let ln = try LayerNorm(4, elementwiseAffine: false)
        let x = rng.tensor([3, 4])
        let all = try ln([], Variable(x)).value
        let first = try ln([], Variable(try x.sliced(lower: [0, 0], upper: [1, 4]))).value
        XCTAssertEqual(try all.sliced(lower: [0, 0], upper: [1, 4]).scalars, first.scalars)
    }

    func testGradientsToSecondOrder() throws {
        let ln = try LayerNorm(normalizedShape: [3, 4])
        checkGradients(at: [rng.tensor([2, 3, 4], -2, 2), rng.tensor([3, 4]), rng.tensor([3, 4])]) { v in
            try ln(Array(v[1...]), v[0])
        }
        let bare = try LayerNorm(5, elementwiseAffine: false)
        checkGradients(at: [rng.tensor([4, 5], -2, 2)]) { v in try bare([], v[0]) }
    }

    func testBadShapesThrow() throws {
        let ln = try LayerNorm(normalizedShape: [3, 4])
        let p = ln.parameterSpecs.map { Variable(rng.tensor($0.shape)) }
        XCTAssertThrowsError(try ln(p, Variable(rng.tensor([2, 4, 3])))) { error in
            XCTAssertTrue("\(error)".contains("LayerNorm"), "\(error)")
        }
        XCTAssertThrowsError(try ln(p, Variable(rng.tensor([4]))))
        XCTAssertThrowsError(try ln(p, Variable(try Tensor.zeros([0, 3, 4]))))
        XCTAssertThrowsError(try ln(Array(p.prefix(1)), Variable(rng.tensor([2, 3, 4]))))
        XCTAssertThrowsError(try ln([p[0], Variable(rng.tensor([4]))], Variable(rng.tensor([2, 3, 4]))))
        XCTAssertThrowsError(try ln.forward(p[...], Variable(rng.tensor([5, 3]))))
        XCTAssertThrowsError(try LayerNorm(normalizedShape: []))
        XCTAssertThrowsError(try LayerNorm(normalizedShape: [3, 0]))
        XCTAssertThrowsError(try LayerNorm(4, eps: 0))
        XCTAssertThrowsError(try LayerNorm(4, eps: .nan))
    }
}

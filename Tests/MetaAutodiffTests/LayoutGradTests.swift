import XCTest
import MetaTensor
import MetaAutodiff
import _TestSupport

/// Element of a row-major tensor at a multi-index, computed naively.
private func at(_ t: Tensor, _ idx: [Int]) -> Float {
    var flat = 0
    for (d, i) in idx.enumerated() { flat = flat * t.shape[d] + i }
    return t.scalars[flat]
}

/// Every multi-index of `shape` in row-major order.
private func indices(_ shape: [Int]) -> [[Int]] {
    var all: [[Int]] = [[]]
    for d in shape { all = all.flatMap { p in (0..<d).map { p + [$0] } } }
    return all
}

private func inner(_ a: Tensor, _ b: Tensor) -> Double {
    zip(a.scalars, b.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
}

final class LayoutGradTests: XCTestCase {
    var rng = TestRandom(seed: 5)

    func testPermuteMatchesDefinitionAndDifferentiates() throws {
        let x = rng.tensor([2, 3, 4])
        for perm in [[0, 1, 2], [2, 0, 1], [1, 2, 0], [0, 2, 1], [2, 1, 0]] {
            let y = try Variable(x).permuted(perm).value
            XCTAssertEqual(y.shape, perm.map { x.shape[$0] })
            for idx in indices(y.shape) {
                var src = [Int](repeating: 0, count: 3)
                for (i, p) in perm.enumerated() { src[p] = idx[i] }
                XCTAssertEqual(at(y, idx), at(x, src), "perm \(perm) at \(idx)")
            }
            checkGradients(at: [x]) { v in try v[0].permuted(perm).square() }
        }
    }

    func testTransposedLast2() throws {
        let x = rng.tensor([2, 3, 4])
        let y = try Variable(x).transposedLast2().value
        XCTAssertEqual(y.shape, [2, 4, 3])
        for idx in indices(y.shape) { XCTAssertEqual(at(y, idx), at(x, [idx[0], idx[2], idx[1]])) }
        checkGradients(at: [x]) { v in try v[0].transposedLast2().square() }
        checkGradients(at: [rng.tensor([3, 5])]) { v in try v[0].transposedLast2().square() }
    }

    func testSliceAndPadMatchDefinition() throws {
        let x = rng.tensor([3, 4, 5])
        let s = try Variable(x).sliced(lower: [1, 0, 2], upper: [3, 3, 5]).value
        XCTAssertEqual(s.shape, [2, 3, 3])
        for idx in indices(s.shape) { XCTAssertEqual(at(s, idx), at(x, [idx[0] + 1, idx[1], idx[2] + 2])) }

        let p = try Variable(x).padded(before: [0, 2, 1], after: [1, 0, 3]).value
        XCTAssertEqual(p.shape, [4, 6, 9])
        for idx in indices(p.shape) {
            let src = [idx[0], idx[1] - 2, idx[2] - 1]
            let inside = zip(src, x.shape).allSatisfy { $0 >= 0 && $0 < $1 }
            XCTAssertEqual(at(p, idx), inside ? at(x, src) : 0, "at \(idx)")
        }

        let a = try Variable(x).slice(axis: -2, range: 1..<3).value
        XCTAssertEqual(a.scalars, try x.sliced(lower: [0, 1, 0], upper: [3, 3, 5]).scalars)
    }

    /// ⟨slice(x), y⟩ = ⟨x, pad(y)⟩ with the matching widths.
    func testSliceAndPadAreAdjoint() throws {
        let x = rng.tensor([3, 4, 5])
        let (lower, upper) = ([1, 0, 2], [3, 3, 4])
        let y = rng.tensor([2, 3, 2])
        let lhs = inner(try x.sliced(lower: lower, upper: upper), y)
        let rhs = inner(x, try y.padded(before: lower, after: zip(x.shape, upper).map { $0 - $1 }))
        assertClose(lhs, rhs, rtol: 1e-6, atol: 1e-6)
    }

    func testSlicePadGradients() {
        let x = rng.tensor([3, 4, 5])
        checkGradients(at: [x]) { v in try v[0].sliced(lower: [1, 0, 2], upper: [3, 3, 5]).square() }
        checkGradients(at: [x]) { v in try v[0].padded(before: [0, 2, 1], after: [1, 0, 3]).square() }
        checkGradients(at: [x]) { v in try v[0].slice(axis: 2, range: 1..<4).square() }
        // Pad then slice back is the identity; slicing into the padding gives zeros.
        checkGradients(at: [x]) { v in
            try v[0].padded(before: [1, 1, 1], after: [1, 1, 1]).sliced(lower: [0, 1, 2], upper: [4, 5, 6]).tanh()
        }
    }

    func testConcatAndStack() throws {
        let a = rng.tensor([2, 3]), b = rng.tensor([2, 1]), c = rng.tensor([2, 2])
        let cat = try Variable.concat([Variable(a), Variable(b), Variable(c)], axis: 1).value
        XCTAssertEqual(cat.shape, [2, 6])
        for i in 0..<2 {
            let row = (0..<3).map { at(a, [i, $0]) } + [at(b, [i, 0])] + (0..<2).map { at(c, [i, $0]) }
            XCTAssertEqual(Array(cat.scalars[(i * 6)..<(i * 6 + 6)]), row)
        }
        checkGradients(at: [a, b, c]) { v in try Variable.concat(v, axis: -1).square() }
        checkGradients(at: [rng.tensor([1, 3]), rng.tensor([2, 3])]) { v in try Variable.concat(v, axis: 0).square() }
        // Products across parts make the mixed second derivatives non-zero.
        checkGradients(at: [a, try a.affine(scale: 0.5, shift: 0)]) { v in
            let cat = try Variable.concat(v, axis: 0)
            return try cat * cat.sum(axes: [0], keepDims: true)
        }

        let p = rng.tensor([2, 3]), q = rng.tensor([2, 3])
        for axis in [0, 1, 2, -1] {
            let s = try Variable.stack([Variable(p), Variable(q)], axis: axis).value
            let ax = axis < 0 ? axis + 3 : axis
            var expected = [2, 3]; expected.insert(2, at: ax)
            XCTAssertEqual(s.shape, expected)
            for idx in indices(s.shape) {
                var rest = idx; let which = rest.remove(at: ax)
                XCTAssertEqual(at(s, idx), at(which == 0 ? p : q, rest))
            }
            checkGradients(at: [p, q]) { v in try Variable.stack(v, axis: axis).square() }
        }
    }

    func testErrors() throws {
        let x = Variable(rng.tensor([2, 3, 4]))
        XCTAssertThrowsError(try x.permuted([0, 1]))
        XCTAssertThrowsError(try x.permuted([0, 1, 1]))
        XCTAssertThrowsError(try x.permuted([0, 1, 3]))
        XCTAssertThrowsError(try Variable(rng.tensor([3])).transposedLast2())
        XCTAssertThrowsError(try x.sliced(lower: [0, 0], upper: [1, 1]))
        XCTAssertThrowsError(try x.sliced(lower: [0, 2, 0], upper: [1, 1, 4]))
        XCTAssertThrowsError(try x.sliced(lower: [0, 0, 0], upper: [2, 3, 5]))
        XCTAssertThrowsError(try x.sliced(lower: [-1, 0, 0], upper: [2, 3, 4]))
        XCTAssertThrowsError(try x.padded(before: [0, 0, -1], after: [0, 0, 0]))
        XCTAssertThrowsError(try x.padded(before: [0, 0], after: [0, 0]))
        XCTAssertThrowsError(try x.padded(before: [Int.max, 0, 0], after: [1, 0, 0]))
        XCTAssertThrowsError(try x.padded(before: [Int.max / 2, 0, 0], after: [Int.max / 2, 0, 0]))
        XCTAssertThrowsError(try x.slice(axis: 3, range: 0..<1))
        XCTAssertThrowsError(try x.slice(axis: 1, range: 2..<4))
        XCTAssertThrowsError(try x.slice(axis: 1, range: -1..<2))
        XCTAssertThrowsError(try Variable.concat([], axis: 0))
        XCTAssertThrowsError(try Variable.concat([x, Variable(rng.tensor([2, 4, 4]))], axis: 0))
        XCTAssertThrowsError(try Variable.concat([x, Variable(rng.tensor([2, 3]))], axis: 0))
        XCTAssertThrowsError(try Variable.concat([x, x], axis: 3))
        XCTAssertThrowsError(try Variable.stack([], axis: 0))
        XCTAssertThrowsError(try Variable.stack([x, Variable(rng.tensor([2, 3, 5]))], axis: 0))
        XCTAssertThrowsError(try Variable.stack([x, x], axis: 4))
        XCTAssertThrowsError(try Variable.stack([x, x], axis: -5))
    }
}

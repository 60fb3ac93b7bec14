import XCTest
import MetaTensor
import MetaAutodiff
import _TestSupport

private func inner(_ a: Tensor, _ b: Tensor) -> Double {
    zip(a.scalars, b.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
}

/// gather on a tensor viewed as (outer, size, inner), by its definition.
private func naiveGather(_ x: Tensor, _ idx: [Int], axis: Int) -> [Float] {
    let outer = x.shape[..<axis].reduce(1, *), size = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
    let xs = x.scalars
    var out: [Float] = []
    for o in 0..<outer { for i in idx { for e in 0..<inner { out.append(xs[(o * size + i) * inner + e]) } } }
    return out
}

/// scatterAdd by its definition.
private func naiveScatterAdd(_ y: Tensor, _ idx: [Int], axis: Int, size: Int) -> [Float] {
    let outer = y.shape[..<axis].reduce(1, *), inner = y.shape[(axis + 1)...].reduce(1, *)
    let ys = y.scalars
    var out = [Float](repeating: 0, count: outer * size * inner)
    for o in 0..<outer { for (j, i) in idx.enumerated() { for e in 0..<inner {
        out[(o * size + i) * inner + e] += ys[(o * idx.count + j) * inner + e]
    }}}
    return out
}

final class GatherGradTests: XCTestCase {
    var rng = TestRandom(seed: 9)
    /// Repeats, reorderings, a single index and a selection longer than the axis.
    let cases: [[Int]] = [[2, 0, 2, 1], [3], [0, 1, 2, 3], [1, 1, 1, 0, 3, 3, 2]]

    func testGatherAndScatterAddMatchDefinition() throws {
        let x = rng.tensor([4, 4, 4])
        for axis in 0..<3 {
            for idx in cases {
                let g = try x.gather(indices: idx, axis: axis)
                var shape = x.shape; shape[axis] = idx.count
                XCTAssertEqual(g.shape, shape)
                XCTAssertEqual(g.scalars, naiveGather(x, idx, axis: axis), "axis \(axis), \(idx)")

                let y = rng.tensor(shape)
                let s = try y.scatterAdd(indices: idx, axis: axis, size: 5)
                var sShape = shape; sShape[axis] = 5
                XCTAssertEqual(s.shape, sShape)
                assertClose(s, try Tensor(shape: sShape, scalars: naiveScatterAdd(y, idx, axis: axis, size: 5)), rtol: 1e-6)
            }
        }
        // Negative axes count from the end.
        XCTAssertEqual(try x.gather(indices: [3, 1], axis: -1).scalars, try x.gather(indices: [3, 1], axis: 2).scalars)
    }

    /// ⟨gather(x), y⟩ = ⟨x, scatterAdd(y)⟩, repeated indices included.
    func testScatterAddIsTheAdjoint() throws {
        let x = rng.tensor([3, 4, 2])
        for axis in 0..<3 {
            for idx in cases.map({ $0.map { $0 % x.shape[axis] } }) {
                let g = try x.gather(indices: idx, axis: axis)
                let y = rng.tensor(g.shape)
                let back = try y.scatterAdd(indices: idx, axis: axis, size: x.shape[axis])
                assertClose(inner(g, y), inner(x, back), rtol: 1e-6, atol: 1e-6, "axis \(axis), \(idx)")
            }
        }
    }

    func testGradientsToSecondOrder() {
        for axis in [0, 1, -1] {
            for idx in cases {
                checkGradients(at: [rng.tensor([4, 5, 4])]) { v in
                    try v[0].gather(indices: idx, axis: axis).square()
                }
                var shape = [2, 3, 2]; shape[axis < 0 ? 2 : axis] = idx.count
                checkGradients(at: [rng.tensor(shape)]) { v in
                    try v[0].scatterAdd(indices: idx, axis: axis, size: 4).square()
                }
            }
        }
        // Embedding lookup feeding a product: rows are selected twice and combined.
        checkGradients(at: [rng.tensor([5, 3]), rng.tensor([3, 2])]) { v in
            try Variable.matmul(try v[0].gather(indices: [4, 0, 4, 2], axis: 0), v[1]).tanh()
        }
    }

    func testEmptySelections() throws {
        let x = rng.tensor([3, 2])
        XCTAssertEqual(try x.gather(indices: [], axis: 0).shape, [0, 2])
        let z = try Tensor.zeros([0, 2]).scatterAdd(indices: [], axis: 0, size: 3)
        XCTAssertEqual(z.shape, [3, 2])
        XCTAssertEqual(z.scalars, [Float](repeating: 0, count: 6))
    }

    func testErrors() throws {
        let x = rng.tensor([3, 4])
        XCTAssertThrowsError(try x.gather(indices: [3], axis: 0))
        XCTAssertThrowsError(try x.gather(indices: [0, -1], axis: 1))
        XCTAssertThrowsError(try x.gather(indices: [0], axis: 2))
        XCTAssertThrowsError(try x.gather(indices: [0], axis: -3))
        XCTAssertThrowsError(try Tensor(1).gather(indices: [0], axis: 0))
        XCTAssertThrowsError(try x.scatterAdd(indices: [0, 1, 2], axis: 1, size: 5))   // 4 slices, 3 indices
        XCTAssertThrowsError(try x.scatterAdd(indices: [0, 1, 5], axis: 0, size: 5))
        XCTAssertThrowsError(try x.scatterAdd(indices: [0, -1, 2], axis: 0, size: 5))
        XCTAssertThrowsError(try x.scatterAdd(indices: [0, 1, 2], axis: 0, size: -1))
        XCTAssertThrowsError(try x.scatterAdd(indices: [0, 1, 2], axis: 2, size: 5))
        XCTAssertThrowsError(try Variable(x).gather(indices: [9], axis: 0))
        XCTAssertThrowsError(try Variable(x).scatterAdd(indices: [0], axis: 0, size: 3))
    }
}

import XCTest
@testable import MetaTensor
import _TestSupport

final class MatMulTests: XCTestCase {
    /// The product by a triple loop in Double. An operand is a plain matrix
    /// (shared by every batch) or carries the batch dimensions; a transposed
    /// operand is stored with its last two axes swapped.
    static func reference(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool) -> Tensor {
        let (ra, rb) = (a.rank, b.rank)
        let m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2]
        let k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1]
        let n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1]
        let batch = ra > 2 ? Array(a.shape.dropLast(2)) : Array(b.shape.dropLast(2))
        let nb = batch.reduce(1, *)
        let xa = a.scalars, xb = b.scalars
        func A(_ t: Int, _ i: Int, _ p: Int) -> Double {
            let base = ra > 2 ? t * m * k : 0
            return Double(xa[base + (transposeA ? p * m + i : i * k + p)])
        }
        func B(_ t: Int, _ p: Int, _ j: Int) -> Double {
            let base = rb > 2 ? t * k * n : 0
            return Double(xb[base + (transposeB ? j * k + p : p * n + j)])
        }
        var out: [Float] = []
        for t in 0..<nb {
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for p in 0..<k { s += A(t, i, p) * B(t, p, j) }
                    out.append(Float(s))
                }
            }
        }
        return try! Tensor(shape: batch + [m, n], scalars: out)
    }

    /// Operands for (m, k, n) in the layout the flags ask for.
    static func operands(_ rng: inout TestRandom, batchA: [Int], batchB: [Int], m: Int, k: Int, n: Int,
                         transposeA: Bool, transposeB: Bool) -> (Tensor, Tensor) {
        (rng.tensor(batchA + (transposeA ? [k, m] : [m, k])), rng.tensor(batchB + (transposeB ? [n, k] : [k, n])))
    }

    func check(_ rng: inout TestRandom, batchA: [Int], batchB: [Int], m: Int, k: Int, n: Int,
               file: StaticString = #filePath, line: UInt = #line) throws {
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                let (a, b) = Self.operands(&rng, batchA: batchA, batchB: batchB, m: m, k: k, n: n,
                                           transposeA: transposeA, transposeB: transposeB)
                let y = try Tensor.matmul(a, b, transposeA: transposeA, transposeB: transposeB)
                let expected = Self.reference(a, b, transposeA: transposeA, transposeB: transposeB)
                assertClose(y, expected, rtol: 1e-5, atol: 1e-5,
                            "\(a.shape)\(transposeA ? "ᵀ" : "") × \(b.shape)\(transposeB ? "ᵀ" : "")", file: file, line: line)
            }
        }
    }

    func testMatricesAllTransposes() throws {
        var rng = TestRandom(seed: 41)
        for (m, k, n) in [(1, 1, 1), (3, 4, 5), (5, 4, 3), (7, 2, 6), (1, 9, 1), (6, 1, 4), (17, 13, 11)] {
            try check(&rng, batchA: [], batchB: [], m: m, k: k, n: n)
        }
    }

    /// Products below `smallGEMMLimit` take the in-engine kernel (4-row by
    /// 8-column register blocks, then leftover rows and columns); larger ones
    /// go to OpenBLAS. Both paths, and every leftover case, against the reference.
    func testSmallKernelBlocksAndBLASPath() throws {
        var rng = TestRandom(seed: 43)
        for (m, k, n) in [(4, 3, 8), (8, 5, 16), (9, 7, 17), (10, 40, 40), (40, 10, 40), (3, 40, 7), (10, 1, 40), (10, 40, 1)] {
            XCTAssertLessThanOrEqual(m * n * k, smallGEMMLimit)
            try check(&rng, batchA: [3], batchB: [3], m: m, k: k, n: n)
            try check(&rng, batchA: [], batchB: [], m: m, k: k, n: n)
        }
        for (m, k, n) in [(50, 60, 70), (64, 65, 33)] {
            XCTAssertGreaterThan(m * n * k, smallGEMMLimit)
            try check(&rng, batchA: [], batchB: [], m: m, k: k, n: n)
            try check(&rng, batchA: [2], batchB: [], m: m, k: k, n: n)
        }
    }

    func testEqualBatches() throws {
        var rng = TestRandom(seed: 42)
        try check(&rng, batchA: [3], batchB: [3], m: 4, k: 5, n: 2)
        try check(&rng, batchA: [2, 3], batchB: [2, 3], m: 3, k: 2, n: 4)
        try check(&rng, batchA: [1], batchB: [1], m: 2, k: 3, n: 2)
    }

    /// One plain matrix shared by every batch, on either side. The shared
    /// right matrix without transposeA takes the single tall-GEMM path.
    func testSharedOperand() throws {
        var rng = TestRandom(seed: 43)
        try check(&rng, batchA: [], batchB: [4], m: 3, k: 5, n: 2)
        try check(&rng, batchA: [4], batchB: [], m: 3, k: 5, n: 2)
        try check(&rng, batchA: [2, 3], batchB: [], m: 2, k: 3, n: 4)
        try check(&rng, batchA: [], batchB: [2, 3], m: 2, k: 3, n: 4)
    }

    /// Empty dimensions give an empty result, or zeros when only k is empty
    /// (an empty sum).
    func testZeroSizeDimensions() throws {
        var rng = TestRandom(seed: 44)
        for (m, k, n) in [(0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0)] {
            try check(&rng, batchA: [], batchB: [], m: m, k: k, n: n)
            try check(&rng, batchA: [2], batchB: [2], m: m, k: k, n: n)
            try check(&rng, batchA: [2], batchB: [], m: m, k: k, n: n)
        }
        try check(&rng, batchA: [0], batchB: [0], m: 2, k: 3, n: 4)
        try check(&rng, batchA: [0], batchB: [], m: 2, k: 3, n: 4)
        let z = try Tensor.matmul(rng.tensor([3, 0]), rng.tensor([0, 2]))
        assertExactly(z, [3, 2], [Float](repeating: 0, count: 6))
    }

    func testMismatchesThrow() {
        var rng = TestRandom(seed: 45)
        let a = rng.tensor([3, 4]), b = rng.tensor([5, 2])
        assertThrows(.shapeMismatch, try Tensor.matmul(a, b))
        assertThrows(.shapeMismatch, try Tensor.matmul(a, b, transposeA: true))
        assertThrows(.shapeMismatch, try Tensor.matmul(a, a))
        XCTAssertNoThrow(try Tensor.matmul(a, a, transposeB: true))
        XCTAssertNoThrow(try Tensor.matmul(a, a, transposeA: true))
        assertThrows(.shapeMismatch, try Tensor.matmul(rng.tensor([4]), rng.tensor([4, 2])))
        assertThrows(.shapeMismatch, try Tensor.matmul(rng.tensor([2, 4]), rng.tensor([4])))
        assertThrows(.shapeMismatch, try Tensor.matmul(Tensor(1), Tensor(1)))
        assertThrows(.shapeMismatch, try Tensor.matmul(rng.tensor([2, 3, 4]), rng.tensor([3, 4, 5])))
        // Batch dimensions must match exactly; size 1 is not broadcast.
        assertThrows(.shapeMismatch, try Tensor.matmul(rng.tensor([1, 3, 4]), rng.tensor([2, 4, 5])))
        assertThrows(.shapeMismatch, try Tensor.matmul(rng.tensor([2, 1, 3, 4]), rng.tensor([2, 4, 5])))
    }
}

import XCTest
@testable import MetaTensor
import _TestSupport

// Naive references shared by the kernel tests. They index element by element
// with plain multi-indices, so they share no code (strides, merged loops, fast
// paths) with the kernels they check.

/// Every multi-index of `shape`, in row-major order (one empty index for rank 0).
func allIndices(_ shape: [Int]) -> [[Int]] {
    let n = shape.reduce(1, *)
    if n == 0 { return [] }
    var out: [[Int]] = []
    out.reserveCapacity(n)
    var idx = [Int](repeating: 0, count: shape.count)
    for _ in 0..<n {
        out.append(idx)
        var d = shape.count - 1
        while d >= 0 {
            idx[d] += 1
            if idx[d] < shape[d] { break }
            idx[d] = 0
            d -= 1
        }
    }
    return out
}

/// Row-major position of `idx` in `shape`.
func flatIndex(_ idx: [Int], _ shape: [Int]) -> Int {
    var o = 0
    for (i, d) in zip(idx, shape) { o = o * d + i }
    return o
}

/// The element of `t` seen at `outIdx` when `t` is broadcast (right-aligned,
/// size-1 dimensions repeated) to a shape of rank `outIdx.count`.
func broadcastElement(_ t: Tensor, at outIdx: [Int]) -> Float {
    let off = outIdx.count - t.rank
    let idx = (0..<t.rank).map { t.shape[$0] == 1 ? 0 : outIdx[$0 + off] }
    return t.scalars[flatIndex(idx, t.shape)]
}

/// NumPy's broadcasting rule, written out directly; nil when incompatible.
func referenceBroadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let r = max(a.count, b.count)
    let pa = [Int](repeating: 1, count: r - a.count) + a
    let pb = [Int](repeating: 1, count: r - b.count) + b
    var out: [Int] = []
    for (x, y) in zip(pa, pb) {
        if x == y || y == 1 { out.append(x) } else if x == 1 { out.append(y) } else { return nil }
    }
    return out
}

/// Equal as values, with NaN equal to NaN (kernels may legitimately produce it).
func sameValue(_ x: Float, _ y: Float) -> Bool { x == y || (x.isNaN && y.isNaN) }

/// Exact elementwise agreement of a tensor with expected shape and values.
func assertExactly(_ t: Tensor, _ shape: [Int], _ expected: [Float], _ message: @autoclosure () -> String = "",
                   file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(t.shape, shape, "shape \(message())", file: file, line: line)
    XCTAssertEqual(t.count, expected.count, "count \(message())", file: file, line: line)
    guard t.count == expected.count else { return }
    let got = t.scalars
    for i in 0..<got.count where !sameValue(got[i], expected[i]) {
        XCTFail("element \(i): \(got[i]) vs \(expected[i]) \(message())", file: file, line: line)
        return
    }
}

/// Asserts that `body` throws a `MetaError` of `kind` with a non-empty message.
func assertThrows<T>(_ kind: MetaError.Kind, _ body: @autoclosure () throws -> T, _ message: @autoclosure () -> String = "",
                     file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try body(), message(), file: file, line: line) { error in
        guard let e = error as? MetaError else {
            XCTFail("expected MetaError, got \(error) \(message())", file: file, line: line)
            return
        }
        XCTAssertEqual(e.kind, kind, "\(e.message) \(message())", file: file, line: line)
        XCTAssertFalse(e.message.isEmpty, "empty error message \(message())", file: file, line: line)
    }
}

extension TestRandom {
    /// Values that tie often (small integers) mixed with arbitrary ones, so
    /// comparisons and min/max meet equal operands.
    mutating func mixedTensor(_ shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        let xs: [Float] = (0..<n).map { _ in
            next() & 1 == 0 ? Float(Int(next() % 7) - 3) : uniform(-3, 3)
        }
        return try! Tensor(shape: shape, scalars: xs)
    }
}

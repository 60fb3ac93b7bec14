import XCTest
import MetaTensor
import MetaEval
import _TestSupport

final class CrossValidationTests: XCTestCase {
    func testFoldsAreDisjointAndTestEveryClassOnce() throws {
        let classes = Array(stride(from: 3, to: 60, by: 3))  // 19 classes, not a multiple of 4
        let folds = try classFolds(classes: classes, folds: 4, seed: 7)
        XCTAssertEqual(folds.count, 4)
        XCTAssertEqual(folds.flatMap(\.test).sorted(), classes)
        for f in folds {
            XCTAssertEqual(Set(f.train).intersection(f.test), [])
            XCTAssertEqual((f.train + f.test).sorted(), classes)
            XCTAssertEqual(f.test, f.test.sorted())
            XCTAssertEqual(f.train, f.train.sorted())
        }
        // Sizes ⌊(k+1)·19/4⌋ − ⌊k·19/4⌋ = 4, 5, 5, 5.
        XCTAssertEqual(folds.map(\.test.count), [4, 5, 5, 5])
    }

    func testFoldsAreReproducibleBySeedAndIndependentOfInputOrder() throws {
        let classes = Array(0..<20)
        let a = try classFolds(classes: classes, folds: 5, seed: 1)
        XCTAssertEqual(a, try classFolds(classes: classes.reversed(), folds: 5, seed: 1))
        XCTAssertNotEqual(a, try classFolds(classes: classes, folds: 5, seed: 2))
        // Shuffled, not consecutive runs of the sorted classes.
        XCTAssertNotEqual(a[0].test, [0, 1, 2, 3])
    }

    func testCrossValidateCallsBodyPerFoldAndSummarizes() throws {
        let classes = Array(0..<10)
        var seen: [[Int]] = []
        let (scores, summary) = try crossValidate(classes: classes, folds: 5, seed: 3) { train, test in
            XCTAssertEqual(train.count + test.count, 10)
            seen.append(test)
            return Float(test.reduce(0, +)) / 10  // a score that identifies the fold
        }
        XCTAssertEqual(seen, try classFolds(classes: classes, folds: 5, seed: 3).map(\.test))
        XCTAssertEqual(scores, seen.map { Float($0.reduce(0, +)) / 10 })
        // Test sets partition 0..<10, so the scores sum to 45/10 and average 0.9.
        assertClose(Double(summary.mean), 0.9, rtol: 1e-6)
        XCTAssertEqual(summary, try summarize(scores))
    }

    func testCrossValidateErrors() {
        XCTAssertThrowsError(try crossValidate(classes: [0, 1, 2], folds: 1, seed: 0) { _, _ in 0 })
        XCTAssertThrowsError(try crossValidate(classes: [0, 1, 2], folds: 4, seed: 0) { _, _ in 0 }) { error in
            XCTAssertTrue("\(error)".contains("folds"), "\(error)")
        }
        XCTAssertThrowsError(try crossValidate(classes: [0, 1, 1, 2], folds: 2, seed: 0) { _, _ in 0 }) { error in
            XCTAssertTrue("\(error)".contains("more than once"), "\(error)")
        }
        XCTAssertThrowsError(try crossValidate(classes: [0, 1, 2, 3], folds: 2, seed: 0) { _, _ in .nan })
        struct Stop: Error {}
        var calls = 0
        XCTAssertThrowsError(try crossValidate(classes: [0, 1, 2, 3], folds: 2, seed: 0) { _, _ in
            calls += 1
            throw Stop()
        }) { XCTAssertTrue($0 is Stop) }
        XCTAssertEqual(calls, 1)
    }
}

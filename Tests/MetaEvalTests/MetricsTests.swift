import XCTest
import MetaTensor
import MetaEval
import _TestSupport

final class MetricsTests: XCTestCase {
    func testAccuracyCountsMatches() throws {
        XCTAssertEqual(try accuracy(predicted: [0, 1, 2, 2], labels: [0, 1, 1, 2]), 0.75)
        XCTAssertEqual(try accuracy(predicted: [3], labels: [3]), 1)
        XCTAssertEqual(try accuracy(predicted: [1, 0], labels: [0, 1]), 0)
    }

    /// Hand-worked: labels [0,0,1,1,2,2], predictions [0,1,1,1,2,0].
    /// class 0: TP 1, FP 1 (example 5), FN 1 (example 1) → 2/(2+1+1) = 0.5
    /// class 1: TP 2, FP 1 (example 1), FN 0           → 4/(4+1)   = 0.8
    /// class 2: TP 1, FP 0, FN 1 (example 5)           → 2/(2+1)   = 2/3
    /// macro = (0.5 + 0.8 + 2/3) / 3 = 0.655556 (sklearn's f1_score(average="macro") agrees).
    func testMacroF1AgainstHandWorkedCounts() throws {
        let pred = [0, 1, 1, 1, 2, 0], labels = [0, 0, 1, 1, 2, 2]
        let per = try perClassF1(predicted: pred, labels: labels, classes: 3)
        XCTAssertEqual(per.count, 3)
        assertClose(per[0]!, 0.5, rtol: 1e-12)
        assertClose(per[1]!, 0.8, rtol: 1e-12)
        assertClose(per[2]!, 2.0 / 3, rtol: 1e-12)
        assertClose(Double(try macroF1(predicted: pred, labels: labels, classes: 3)), (0.5 + 0.8 + 2.0 / 3) / 3, rtol: 1e-6)
        // Perfect predictions score 1; accuracy and macro-F1 differ on this example.
        XCTAssertEqual(try macroF1(predicted: labels, labels: labels, classes: 3), 1)
        XCTAssertEqual(try accuracy(predicted: pred, labels: labels), 4.0 / 6)
    }

    /// The work follows the examples, not the label values: labels near 2^62
    /// with `classes` = Int.max score what the same labels renumbered 0, 1, 2
    /// do (a per-class array of that size could not be allocated at all).
    func testHugeLabelValuesCostWhatSmallOnesDo() throws {
        let big = 1 << 62
        let pred = [0, 1, 1, 1, 2, 0].map { big + $0 }, labels = [0, 0, 1, 1, 2, 2].map { big + $0 }
        XCTAssertEqual(try macroF1(predicted: pred, labels: labels, classes: Int.max),
                       try macroF1(predicted: [0, 1, 1, 1, 2, 0], labels: [0, 0, 1, 1, 2, 2], classes: 3))
        XCTAssertEqual(try f1ByClass(predicted: pred, labels: labels, classes: Int.max).keys.sorted(),
                       [big, big + 1, big + 2])
        XCTAssertThrowsError(try perClassF1(predicted: pred, labels: labels, classes: Int.max)) { error in
            XCTAssertEqual((error as? MetaError)?.kind, .outOfMemory)
        }
    }

    func testZeroDivisionConvention() throws {
        // Class 3 is neither predicted nor present: skipped, so the mean is unchanged.
        let pred = [0, 1, 1, 1, 2, 0], labels = [0, 0, 1, 1, 2, 2]
        XCTAssertNil(try perClassF1(predicted: pred, labels: labels, classes: 4)[3])
        XCTAssertEqual(try macroF1(predicted: pred, labels: labels, classes: 4),
                       try macroF1(predicted: pred, labels: labels, classes: 3))
        // Class 1 present but never predicted: F1 0 and counted.
        // class 0: TP 2, FP 2, FN 0 → 4/6; class 1: TP 0, FP 0, FN 2 → 0. Mean 1/3.
        let never = try perClassF1(predicted: [0, 0, 0, 0], labels: [0, 0, 1, 1], classes: 2)
        XCTAssertEqual(never[1], 0)
        assertClose(Double(try macroF1(predicted: [0, 0, 0, 0], labels: [0, 0, 1, 1], classes: 2)), 1.0 / 3, rtol: 1e-6)
        // Class 1 predicted but never present: F1 0 and counted.
        // class 0: TP 1, FP 0, FN 1 → 2/3; class 1: TP 0, FP 1, FN 0 → 0. Mean 1/3.
        assertClose(Double(try macroF1(predicted: [0, 1], labels: [0, 0], classes: 2)), 1.0 / 3, rtol: 1e-6)
    }

    func testMetricErrors() {
        XCTAssertThrowsError(try accuracy(predicted: [0, 1], labels: [0]))
        XCTAssertThrowsError(try accuracy(predicted: [], labels: []))
        XCTAssertThrowsError(try macroF1(predicted: [0, 1], labels: [0, 1], classes: 0))
        XCTAssertThrowsError(try macroF1(predicted: [0, 2], labels: [0, 1], classes: 2)) { error in
            XCTAssertEqual((error as? MetaError)?.kind, .indexOutOfRange)
            XCTAssertTrue("\(error)".contains("predicted[1]"), "\(error)")
        }
        XCTAssertThrowsError(try macroF1(predicted: [0, 1], labels: [-1, 1], classes: 2)) { error in
            XCTAssertTrue("\(error)".contains("labels[0]"), "\(error)")
        }
        XCTAssertThrowsError(try macroF1(predicted: [0], labels: [0, 1], classes: 2))
    }
}

final class IntervalTests: XCTestCase {
    /// numpy: x = [0.5, 0.7, 0.6, 0.8]; x.mean() = 0.65, x.std() = 0.1118034,
    /// 1.96 * x.std() / sqrt(4) = 0.1095673; x.std(ddof=1) = 0.1290994 → 0.1265175.
    func testPopulationAndSampleStdAgainstNumPy() throws {
        let s = try summarize([0.5, 0.7, 0.6, 0.8])
        assertClose(Double(s.mean), 0.65, rtol: 1e-6)
        assertClose(Double(s.std), 0.11180339887498951, rtol: 1e-6)
        assertClose(Double(s.halfWidth), 0.10956733089748971, rtol: 1e-6)
        XCTAssertEqual(s.count, 4)
        XCTAssertEqual(s.ddof, 0)
        assertClose(Double(s.lower), 0.65 - 0.10956733089748971, rtol: 1e-6)
        assertClose(Double(s.upper), 0.65 + 0.10956733089748971, rtol: 1e-6)
        let t = try summarize([0.5, 0.7, 0.6, 0.8], ddof: 1)
        assertClose(Double(t.std), 0.12909944487358058, rtol: 1e-6)
        assertClose(Double(t.halfWidth), 0.12651745597610897, rtol: 1e-6)

        // By hand: mean 0.52, squared deviations sum to 0.368, /5 → 0.0736, std 0.2712932,
        // 1.96 · 0.2712932 / √5 = 0.2377990; /4 → std 0.3033150, half-width 0.2658673.
        let u = try summarize([0.2, 0.4, 0.4, 0.6, 1.0])
        assertClose(Double(u.mean), 0.52, rtol: 1e-6)
        assertClose(Double(u.halfWidth), 0.2377989739254566, rtol: 1e-6)
        assertClose(Double(try summarize([0.2, 0.4, 0.4, 0.6, 1.0], ddof: 1).halfWidth), 0.26586733533851054, rtol: 1e-6)
    }

    func testConstantValuesHaveZeroWidthAndNoCancellation() throws {
        // 600 episodes at 0.99: only rounding separates the std from 0.
        let s = try summarize([Float](repeating: 0.99, count: 600))
        XCTAssertEqual(s.mean, 0.99, accuracy: 1e-7)
        XCTAssertLessThan(s.halfWidth, 1e-9)
        XCTAssertEqual(try summarize([0.3]).halfWidth, 0)
    }

    func testSummarizeErrors() {
        XCTAssertThrowsError(try summarize([]))
        XCTAssertThrowsError(try summarize([0.1, .nan]))
        XCTAssertThrowsError(try summarize([0.1, .infinity]))
        XCTAssertThrowsError(try summarize([0.1], ddof: 1)) { error in
            XCTAssertTrue("\(error)".contains("ddof"), "\(error)")
        }
        XCTAssertThrowsError(try summarize([0.1, 0.2], ddof: -1))
    }
}

import XCTest
import MetaTensor
import MetaData
import _TestSupport

final class TasksetTests: XCTestCase {
    /// 8 classes with label values 10, 17, ..., 59 and 6 + c examples each, in a
    /// shuffled order. Example i is the row [i, label]: an episode's x tells
    /// which examples were drawn and what their original labels were.
    func dataset() throws -> (Tensor, [Int]) {
        var labels: [Int] = []
        for c in 0..<8 { labels += [Int](repeating: 10 + 7 * c, count: 6 + c) }
        var trng = TestRandom(seed: 4)
        for i in stride(from: labels.count - 1, to: 0, by: -1) { labels.swapAt(i, Int(trng.next() % UInt64(i + 1))) }
        let rows = labels.enumerated().flatMap { [Float($0.offset), Float($0.element)] }
        return (try Tensor(shape: [labels.count, 2], scalars: rows), labels)
    }

    /// (example index, original label) of each row of x.
    func rows(_ x: Tensor) -> [(Int, Int)] {
        let s = x.scalars
        return (0..<x.shape[0]).map { (Int(s[2 * $0]), Int(s[2 * $0 + 1])) }
    }

    func testEpisodesAreBalancedRemappedAndWithoutReplacement() throws {
        let (x, labels) = try dataset()
        let ts = try Taskset(images: x, labels: labels, ways: 5, shots: 2, queries: 3)
        XCTAssertEqual(ts.classes, (0..<8).map { 10 + 7 * $0 })
        var rng = RNG(seed: 1)
        for _ in 0..<50 {
            let (task, drawn) = try ts.sampleWithClasses(rng: &rng)
            XCTAssertEqual(task.supportX.shape, [10, 2])
            XCTAssertEqual(task.queryX.shape, [15, 2])
            // Grouped by class, class 0 first.
            XCTAssertEqual(task.supportY.scalars, (0..<5).flatMap { [Float](repeating: Float($0), count: 2) })
            XCTAssertEqual(task.queryY.scalars, (0..<5).flatMap { [Float](repeating: Float($0), count: 3) })
            let s = rows(task.supportX), q = rows(task.queryX)
            // Each row is a real example whose original label is the drawn class of its new label.
            for (k, (i, l)) in s.enumerated() {
                XCTAssertEqual(labels[i], l)
                XCTAssertEqual(drawn[k / 2], l)
            }
            for (k, (i, l)) in q.enumerated() {
                XCTAssertEqual(labels[i], l)
                XCTAssertEqual(drawn[k / 3], l)
            }
            XCTAssertEqual(Set(drawn).count, 5, "classes drawn twice: \(drawn)")
            let used = (s + q).map(\.0)
            XCTAssertEqual(Set(used).count, used.count, "an example was drawn twice")
        }
    }

    func testClassZeroIsTheFirstDrawnNotTheSmallestLabel() throws {
        let (x, labels) = try dataset()
        let ts = try Taskset(images: x, labels: labels, ways: 3, shots: 1, queries: 1)
        var rng = RNG(seed: 2)
        var firstIsSmallest = 0
        var counts = [Int: Int]()
        let episodes = 800
        for _ in 0..<episodes {
            let task = try ts.sample(rng: &rng)
            let orig = rows(task.supportX).map(\.1)
            if orig[0] == orig.min() { firstIsSmallest += 1 }
            for l in orig { counts[l, default: 0] += 1 }
        }
        // A random order puts the smallest first a third of the time.
        XCTAssertGreaterThan(firstIsSmallest, episodes / 5)
        XCTAssertLessThan(firstIsSmallest, episodes / 2)
        // Each of the 8 classes appears in 3/8 of episodes: 300 expected, sd ≈ 14.
        for (l, n) in counts { XCTAssertTrue((240...360).contains(n), "class \(l) drawn \(n) times") }
        XCTAssertEqual(counts.count, 8)
    }

    func testClassesRestrictSamplingToTheSplit() throws {
        let (x, labels) = try dataset()
        let split = [17, 38, 45, 59]
        let ts = try Taskset(images: x, labels: labels, ways: 4, shots: 1, queries: 4, classes: [59, 17, 45, 38])
        XCTAssertEqual(ts.classes, split)
        var rng = RNG(seed: 3)
        for task in try ts.sample(30, rng: &rng) {
            let orig = rows(task.supportX).map(\.1) + rows(task.queryX).map(\.1)
            XCTAssertEqual(Set(orig), Set(split))
        }
    }

    func testSameSeedSameEpisodesDifferentSeedDifferent() throws {
        let (x, labels) = try dataset()
        let ts = try Taskset(images: x, labels: labels, ways: 5, shots: 1, queries: 2)
        func draw(_ seed: UInt64) throws -> [[Float]] {
            var rng = RNG(seed: seed)
            return try ts.sample(4, rng: &rng).flatMap { [$0.supportX.scalars, $0.queryX.scalars] }
        }
        XCTAssertEqual(try draw(11), try draw(11))
        XCTAssertNotEqual(try draw(11), try draw(12))
    }

    func testImagesKeepTheirTrailingShape() throws {
        let n = 12
        let images = try Tensor(shape: [n, 1, 2, 2], scalars: (0..<(4 * n)).map(Float.init))
        let ts = try Taskset(images: images, labels: (0..<n).map { $0 % 3 }, ways: 3, shots: 2, queries: 2)
        var rng = RNG(seed: 0)
        let task = try ts.sample(rng: &rng)
        XCTAssertEqual(task.supportX.shape, [6, 1, 2, 2])
        XCTAssertEqual(task.queryX.shape, [6, 1, 2, 2])
        // Every image is a whole row of the dataset: its 4 values are 4i ..< 4i + 4 for its label i % 3.
        let s = task.supportX.scalars
        for e in 0..<6 {
            let first = Int(s[4 * e])
            XCTAssertEqual(s[(4 * e)..<(4 * e + 4)].map { Int($0) }, Array(first..<(first + 4)))
            XCTAssertEqual(first % 4, 0)
        }
    }

    func testBadArgumentsNameTheArgument() throws {
        let (x, labels) = try dataset()
        func fails(_ needle: String, _ make: () throws -> Taskset, line: UInt = #line) {
            XCTAssertThrowsError(try make(), line: line) { error in
                XCTAssertTrue("\(error)".contains(needle), "\(error) does not mention \(needle)", line: line)
            }
        }
        fails("ways") { try Taskset(images: x, labels: labels, ways: 9, shots: 1, queries: 1) }
        fails("ways") { try Taskset(images: x, labels: labels, ways: 3, shots: 1, queries: 1, classes: [10, 17]) }
        fails("ways") { try Taskset(images: x, labels: labels, ways: 0, shots: 1, queries: 1) }
        fails("shots") { try Taskset(images: x, labels: labels, ways: 2, shots: -1, queries: 1) }
        fails("queries") { try Taskset(images: x, labels: labels, ways: 2, shots: 1, queries: 0) }
        // Class 10 has 6 examples.
        fails("class 10") { try Taskset(images: x, labels: labels, ways: 2, shots: 4, queries: 3) }
        fails("class 11") { try Taskset(images: x, labels: labels, ways: 2, shots: 1, queries: 1, classes: [10, 11]) }
        fails("labels") { try Taskset(images: x, labels: Array(labels.dropLast()), ways: 2, shots: 1, queries: 1) }
        fails("more than once") { try Taskset(images: x, labels: labels, ways: 2, shots: 1, queries: 1, classes: [10, 17, 10]) }
        fails("classes") { try Taskset(images: x, labels: labels, ways: 1, shots: 1, queries: 1, classes: []) }
        fails("overflows") { try Taskset(images: x, labels: labels, ways: 1, shots: Int.max, queries: 1) }
        fails("images") { try Taskset(images: Tensor(1), labels: [], ways: 1, shots: 1, queries: 1) }
    }
}

final class ClassSplitTests: XCTestCase {
    func testSplitIsDisjointCompleteAndReproducible() throws {
        let classes = Array(100..<150)
        let s = try ClassSplit(classes: classes, train: 30, validation: 8, seed: 5)
        XCTAssertEqual([s.train.count, s.validation.count, s.test.count], [30, 8, 12])
        XCTAssertEqual((s.train + s.validation + s.test).sorted(), classes)
        XCTAssertEqual(Set(s.train).count + Set(s.validation).count + Set(s.test).count, 50)
        XCTAssertEqual(s.train, s.train.sorted())
        XCTAssertEqual(s, try ClassSplit(classes: classes.reversed(), train: 30, validation: 8, seed: 5))
        XCTAssertNotEqual(s, try ClassSplit(classes: classes, train: 30, validation: 8, seed: 6))
        XCTAssertNotEqual(s.train, Array(100..<130), "not shuffled")
        // An explicit test size leaves the remaining classes out.
        let t = try ClassSplit(classes: classes, train: 30, validation: 8, test: 5, seed: 5)
        XCTAssertEqual(t.test.count, 5)
        XCTAssertEqual(t.train, s.train)
    }

    func testSplitErrors() {
        XCTAssertThrowsError(try ClassSplit(classes: [1, 2, 2], train: 1, validation: 1, seed: 0))
        XCTAssertThrowsError(try ClassSplit(classes: [1, 2, 3], train: 3, validation: 1, seed: 0))
        XCTAssertThrowsError(try ClassSplit(classes: [1, 2, 3], train: 1, validation: 1, test: 2, seed: 0))
        XCTAssertThrowsError(try ClassSplit(classes: [1, 2, 3], train: -1, validation: 1, seed: 0)) { error in
            XCTAssertTrue("\(error)".contains("train"), "\(error)")
        }
        XCTAssertThrowsError(try ClassSplit(classes: [1, 2, 3], train: 1, validation: 1, test: -1, seed: 0))
        XCTAssertThrowsError(try ClassSplit(classes: [1, 2, 3], train: Int.max, validation: Int.max, seed: 0))
    }
}

import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaData
import MetaLearners
import _TestSupport

/// The Conv4 kernels split large batches into parts that run on the worker
/// pool; how many parts depends only on the sizes, so the results are the
/// same bits whatever the number of threads.
final class ConvDeterminismTests: XCTestCase {
    func testConv4MetaGradientsDoNotDependOnThreads() throws {
        var trng = TestRandom(seed: 3)
        let n = 60
        let images = trng.tensor([n, 1, 28, 28])
        let labels = (0..<n).map { $0 % 6 }
        var rng = RNG(seed: 1)
        let proto = try Taskset(images: images, labels: labels, ways: 3, shots: 3, queries: 5)
        let task = try proto.sample(rng: &rng)
        let encoder = try Conv4(inChannels: 1, hidden: 16)
        let p = try encoder.initialParameters(rng: &rng)
        let one = try ProtoNet(encoder: encoder, pool: WorkerPool(threads: 1)).metaLossAndGrad(p, tasks: [task])
        let two = try ProtoNet(encoder: encoder, pool: WorkerPool(threads: 2)).metaLossAndGrad(p, tasks: [task])
        XCTAssertEqual(one.loss, two.loss)
        for (a, b) in zip(one.grads, two.grads) { XCTAssertEqual(a.scalars, b.scalars) }
        // Inside pool jobs (kernels' parts inline, BLAS on one thread) as outside.
        let inside = try WorkerPool(threads: 2).map(2) { _ in
            try ProtoNet(encoder: encoder, pool: WorkerPool(threads: 1)).metaLossAndGrad(p, tasks: [task])
        }
        for r in inside {
            XCTAssertEqual(one.loss, r.loss)
            for (a, b) in zip(one.grads, r.grads) { XCTAssertEqual(a.scalars, b.scalars) }
        }

        let model = try Conv4(inChannels: 1, hidden: 16, outputs: 3)
        let q = try model.initialParameters(rng: &rng)
        let tasks = try Taskset(images: images, labels: labels, ways: 3, shots: 1, queries: 4).sample(4, rng: &rng)
        let m1 = try MAML(model: model, innerLR: 0.4, loss: .crossEntropy, pool: WorkerPool(threads: 1)).metaLossAndGrad(q, tasks: tasks)
        let m2 = try MAML(model: model, innerLR: 0.4, loss: .crossEntropy, pool: WorkerPool(threads: 2)).metaLossAndGrad(q, tasks: tasks)
        XCTAssertEqual(m1.loss, m2.loss)
        for (a, b) in zip(m1.grads, m2.grads) { XCTAssertEqual(a.scalars, b.scalars) }
    }
}

// Meta-iterations per second of the engine's learners, measured in-process
// (no Python). Peers are compared in bench/*.py; this isolates the engine.
//
//     swift run -c release metaswift-bench [seconds-per-case]
import MetaSwift
#if canImport(Glibc)
import Glibc
#endif

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

// A number is seconds per case; "n100" runs exactly 100 iterations per case
// (for instruction counts under valgrind, which do not depend on load).
let budgetArg = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "2"
let fixedIterations = budgetArg.hasPrefix("n") ? Int(budgetArg.dropFirst()) : nil
let budget = Double(budgetArg) ?? 2

func measure(_ name: String, _ learner: any MetaLearner, metaBatch: Int) throws {
    var rng = RNG(seed: 0)
    let params = try learner.initialMetaParameters(rng: &rng)
    let tasks = try Sinusoid(shots: 10, queries: 10).sample(metaBatch, rng: &rng)
    _ = try learner.metaLossAndGrad(params, tasks: tasks)  // warm up
    var n = 0
    let start = now()
    while fixedIterations.map({ n < $0 }) ?? (now() - start < budget) {
        _ = try learner.metaLossAndGrad(params, tasks: tasks)
        n += 1
    }
    let rate = Double(n) / (now() - start)
    print("\(name): \(Int(rate)) meta-iterations/s (meta-batch \(metaBatch))")
}

let model = try MLP(sizes: [1, 40, 40, 1])
let only = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : nil
if only == "conv" {
    try runConvBench(seconds: budget)
    exit(0)
}
if only == "cells" {
    try runCellBench(seconds: budget)
    exit(0)
}
if only == "threads" {
    // Interleaved rounds of 1 and 2 threads on the same meta-batch; the median
    // ratio is robust to the load of a shared machine drifting between rounds.
    var r = RNG(seed: 0)
    let one = try MAML(model: model, innerLR: 0.01, innerSteps: 1, pool: WorkerPool(threads: 1))
    let two = try MAML(model: model, innerLR: 0.01, innerSteps: 1, pool: WorkerPool(threads: 2))
    let params = try one.initialMetaParameters(rng: &r)
    let tasks = try Sinusoid(shots: 10, queries: 10).sample(25, rng: &r)
    func rate(_ l: MAML) throws -> Double {
        let t = now(); var n = 0
        while now() - t < 0.25 { _ = try l.metaLossAndGrad(params, tasks: tasks); n += 1 }
        return Double(n) / (now() - t)
    }
    var ratios: [Double] = [], ones: [Double] = [], twos: [Double] = []
    for _ in 0..<9 { let a = try rate(one), b = try rate(two); ones.append(a); twos.append(b); ratios.append(b / a) }
    func median(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }
    print("MAML 2nd order, meta-batch 25: 1 thread \(Int(median(ones)))/s, 2 threads \(Int(median(twos)))/s, median ratio \(median(ratios))")
    exit(0)
}
if only == "trainer" {
    // The whole meta-step (sample, meta-gradient, Adam) against the meta-gradient
    // alone, interleaved; the difference is the serial part of a step.
    let maml = try MAML(model: model, innerLR: 0.01, innerSteps: 1)
    var r = RNG(seed: 0)
    let params = try maml.initialMetaParameters(rng: &r)
    let source = try Sinusoid(shots: 10, queries: 10)
    let tasks = try source.sample(25, rng: &r)
    var trainer = try MetaTrainer(learner: maml, metaParameters: params, optimizer: try .adam(learningRate: 1e-3),
                                  metaBatchSize: 25, seed: 1)
    var full: [Double] = [], gradOnly: [Double] = []
    for _ in 0..<7 {
        var t = now(); var n = 0
        while now() - t < 0.3 { try trainer.step(source); n += 1 }
        full.append(Double(n) / (now() - t))
        t = now(); n = 0
        while now() - t < 0.3 { _ = try maml.metaLossAndGrad(params, tasks: tasks); n += 1 }
        gradOnly.append(Double(n) / (now() - t))
    }
    func median(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }
    print("MAML 2nd order: whole step \(Int(median(full)))/s, meta-gradient alone \(Int(median(gradOnly)))/s")
    exit(0)
}
if only == "maml2" {
    try measure("MAML 2nd order, 1 thread", try MAML(model: model, innerLR: 0.01, innerSteps: 1, pool: WorkerPool(threads: 1)), metaBatch: 25)
    exit(0)
}
for threads in [1, 2] {
    let pool = WorkerPool(threads: threads)
    try measure("MAML 2nd order, \(threads) thread(s)", try MAML(model: model, innerLR: 0.01, innerSteps: 1, pool: pool), metaBatch: 25)
    try measure("MAML 1st order, \(threads) thread(s)", try MAML(model: model, innerLR: 0.01, innerSteps: 1, firstOrder: true, pool: pool), metaBatch: 25)
}

// Pool scaling: the same two independent meta-gradients, one after the other
// and then on two threads.
do {
    let maml = try MAML(model: model, innerLR: 0.01, innerSteps: 1, pool: WorkerPool(threads: 1))
    var rng = RNG(seed: 0)
    let params = try maml.initialMetaParameters(rng: &rng)
    let tasks = try Sinusoid(shots: 10, queries: 10).sample(13, rng: &rng)
    let reps = 200
    var t = now()
    for _ in 0..<reps { for _ in 0..<2 { _ = try maml.metaLossAndGrad(params, tasks: tasks) } }
    let serial = now() - t
    let pool = WorkerPool(threads: 2)
    t = now()
    for _ in 0..<reps { _ = try pool.map(2) { _ in try maml.metaLossAndGrad(params, tasks: tasks) } }
    let parallel = now() - t
    let copies = [try params.map { try $0.copy() }, try params.map { try $0.copy() }]
    let mamls = [try MAML(model: try MLP(sizes: [1, 40, 40, 1]), innerLR: 0.01, innerSteps: 1, pool: WorkerPool(threads: 1)),
                 try MAML(model: try MLP(sizes: [1, 40, 40, 1]), innerLR: 0.01, innerSteps: 1, pool: WorkerPool(threads: 1))]
    t = now()
    for _ in 0..<reps { _ = try pool.map(2) { i in try mamls[i].metaLossAndGrad(copies[i], tasks: tasks) } }
    print("pool: with nothing shared between the two jobs \(now() - t)s")
    print("pool: \(reps) x 2 chunks serial \(serial)s, on 2 threads \(parallel)s (speed-up \(serial / parallel))")
}

// GEMM shapes of a 1-40-40-1 MLP under MAML (batch of 13 tasks, 10 shots):
// GFLOP/s of the engine's matmul for each.
if only == "gemm" {
    var r = RNG(seed: 1)
    for (m, k, n, ta, tb) in [(10, 1, 40, false, false), (10, 40, 40, false, false), (10, 40, 1, false, false),
                              (10, 40, 40, false, true), (10, 1, 40, false, true), (10, 40, 1, false, true),
                              (40, 10, 40, true, false), (1, 10, 40, true, false), (40, 10, 1, true, false),
                              (40, 10, 40, true, true)] {
        let a = try Tensor.uniform([13] + (ta ? [k, m] : [m, k]), rng: &r)
        let b = try Tensor.uniform([13] + (tb ? [n, k] : [k, n]), rng: &r)
        var reps = 0
        let t = now()
        while now() - t < 0.3 { _ = try Tensor.matmul(a, b, transposeA: ta, transposeB: tb); reps += 1 }
        let secs = (now() - t) / Double(reps)
        print("m \(m) k \(k) n \(n) \(ta ? "Aᵀ" : "A ")\(tb ? "Bᵀ" : "B "): \(String(Int(2.0 * Double(13 * m * n * k) / secs / 1e6))) MFLOP/s, \(Int(secs * 1e9)) ns")
    }
    exit(0)
}

import MetaSwift
#if canImport(Glibc)
import Glibc
#endif

/// Conv4 workloads of few-shot image classification (Omniglot 28x28, one
/// channel, 64 filters): ProtoNet episodes and MAML meta-iterations per second.
///
/// - ProtoNet 5-way 5-shot 15 queries: 100 images per episode through one
///   encoder call; a step is `metaLossAndGrad` on one episode plus Adam.
/// - MAML / FOMAML 5-way 1-shot 15 queries, meta-batch 32, one inner step
///   (α = 0.4, learn2learn's Omniglot setting), plus Adam.
///
/// Peers measured on this machine type (2 cores): PyTorch ProtoNet ≈ 9.3
/// episodes/s (13.5 with channels_last); learn2learn MAML ≈ 0.23 it/s second
/// order, 0.31 first order.
///
/// `metaswift-bench <seconds | nITER> conv [proto | maml | fomaml | forward | kernels]`
/// runs one workload; `forward` is the ProtoNet encoder's forward pass alone
/// (for profiling), `kernels` times each kernel of a ProtoNet step alone
/// (fastest of 25 calls) with its GFLOP/s.
///
/// The machine is shared with other jobs, so besides episodes (iterations)
/// per second of wall time each line gives the CPU time per step (all
/// threads) and the fastest step, which move less under load.
///
/// GFLOP/s are estimates from the convolutions' multiply-adds only: a forward
/// pass is F per image, a training pass 3F (forward, dX, dW); second-order
/// MAML's support set costs about 7F (forward, backward with a graph, and the
/// backward of that backward). Everything else (BN, ReLU, pooling, im2col) is
/// counted as zero, so these are lower bounds on the work done.
func runConvBench(seconds: Double) throws {
    let fwd = conv4ForwardFLOPs(hidden: 64, side: 28)
    print("conv4 forward: \(fmt(fwd / 1e6, 1)) MFLOP per 28x28 image (convolutions only)")
    let which = CommandLine.arguments.count > 3 ? CommandLine.arguments[3] : "all"
    if which == "kernels" { try runKernelBench(images: 100); return }
    if which == "forward" {
        // The ProtoNet encoder's forward pass alone, for profiling.
        var r = RNG(seed: 4)
        let encoder = try Conv4(inChannels: 1, hidden: 64)
        let params = try encoder.initialParameters(rng: &r).map { Variable($0) }
        let x = Variable(try Tensor.uniform([100, 1, 28, 28], rng: &r))
        let per = try rate(seconds) { _ = try encoder(params, x) }
        print("Conv4 forward, 100 images: \(fmt(1e3 / per, 1)) ms (CPU \(fmt(lastCPUPerCall * 1e3, 1)) ms, fastest \(fmt(lastFastest * 1e3, 1)) ms)")
        return
    }

    var rng = RNG(seed: 0)
    // 40 classes of 20 random images: sampling cost is that of real Omniglot.
    let classes = 40, perClass = 20
    let images = try Tensor.uniform([classes * perClass, 1, 28, 28], rng: &rng)
    let labels = (0..<(classes * perClass)).map { $0 / perClass }

    if which == "all" || which == "proto" {
        let ts = try Taskset(images: images, labels: labels, ways: 5, shots: 5, queries: 15)
        let encoder = try Conv4(inChannels: 1, hidden: 64)
        let proto = ProtoNet(encoder: encoder)
        var trainer = try MetaTrainer(learner: proto, metaParameters: try proto.initialMetaParameters(rng: &rng),
                                      optimizer: .adam(learningRate: 1e-3), metaBatchSize: 1, seed: 1)
        let task = try ts.sample(rng: &rng)
        let params = try proto.initialMetaParameters(rng: &rng)
        let x = try Tensor.concat([task.supportX, task.queryX], axis: 0)
        // Phases: the encoder forward without a tape, the same with a tape,
        // and the whole step (forward, backward, Adam).
        let untaped = try rate(seconds / 3) { _ = try encoder(params.map { Variable($0) }, Variable(x)) }
        let taped = try rate(seconds / 3) {
            _ = try Autodiff.valueAndGrad(at: params.map { Variable($0) }) { p in try encoder(p, Variable(x)).sum() }
        }
        let steps = try rate(seconds) { try trainer.step(ts) }
        let gflops = steps * 3 * fwd * 100 / 1e9
        print("ProtoNet 5w5s15q: \(fmt(steps, 2)) episodes/s (\(fmt(gflops, 0)) GFLOP/s); encoder forward "
              + "\(fmt(1e3 / untaped, 1)) ms, forward+backward \(fmt(1e3 / taped, 1)) ms, step \(fmt(1e3 / steps, 1)) ms (CPU \(fmt(lastCPUPerCall * 1e3, 0)) ms, fastest \(fmt(lastFastest * 1e3, 0)) ms)")
    }

    for firstOrder in [false, true] {
        let name = firstOrder ? "fomaml" : "maml"
        guard which == "all" || which == name else { continue }
        let ts = try Taskset(images: images, labels: labels, ways: 5, shots: 1, queries: 15)
        let model = try Conv4(inChannels: 1, hidden: 64, outputs: 5)
        let maml = try MAML(model: model, innerLR: 0.4, innerSteps: 1, firstOrder: firstOrder, loss: .crossEntropy)
        var trainer = try MetaTrainer(learner: maml, metaParameters: try maml.initialMetaParameters(rng: &rng),
                                      optimizer: .adam(learningRate: 1e-3), metaBatchSize: 32, seed: 2)
        let perTask = firstOrder ? 3 * fwd * 80 : 3 * fwd * 75 + 7 * fwd * 5
        let its = try rate(seconds) { try trainer.step(ts) }
        let gflops = its * 32 * perTask / 1e9
        print("\(firstOrder ? "FOMAML" : "MAML (2nd order)") Conv4 5w1s15q, meta-batch 32: \(fmt(its, 3)) meta-iterations/s "
              + "(\(fmt(gflops, 0)) GFLOP/s), \(fmt(1e3 / its, 0)) ms each (CPU \(fmt(lastCPUPerCall * 1e3, 0)) ms, fastest \(fmt(lastFastest * 1e3, 0)) ms)")
    }
}

/// Runs `body` once to warm up, then for about `seconds` (at least twice);
/// returns calls per second of wall time. The machine is shared, so the CPU
/// time per call (all threads) is printed too: under load it moves less.
func rate(_ seconds: Double, _ body: () throws -> Void) throws -> Double {
    try body()
    var n = 0
    let start = now(), cpu0 = cpuTime()
    var fastest = Double.infinity
    while fixedIterations.map({ n < $0 }) ?? (n < 2 || now() - start < seconds) {
        let t = now()
        try body()
        fastest = min(fastest, now() - t)
        n += 1
    }
    let wall = now() - start
    lastCPUPerCall = (cpuTime() - cpu0) / Double(n)
    lastFastest = fastest
    return Double(n) / wall
}

/// CPU seconds per call and the fastest call of the last `rate`.
nonisolated(unsafe) var lastCPUPerCall = 0.0
nonisolated(unsafe) var lastFastest = 0.0

func cpuTime() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// Multiply-adds × 2 of the four 3x3 convolutions (padding 1) of Conv4 on one
/// image of side `side`, each followed by a 2x2 pool.
func conv4ForwardFLOPs(hidden: Int, side: Int) -> Double {
    var s = side, c = 1, total = 0.0
    for _ in 0..<4 {
        total += 2 * Double(s * s * hidden * c * 9)
        c = hidden
        s /= 2
    }
    return total
}

/// `x` with `digits` decimals (no Foundation in the engine's programs).
func fmt(_ x: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (x * scale).rounded() / scale
    if digits == 0 { return String(Int(r)) }
    var s = String(r)
    let dot = s.firstIndex(of: ".") ?? s.endIndex
    let have = s.distance(from: dot, to: s.endIndex) - 1
    if have < digits { s += String(repeating: "0", count: digits - max(have, 0)) }
    return s
}

/// The fastest of `reps` calls of `body`, in seconds (the fastest is the one
/// least disturbed by other processes on a shared machine).
func fastest(_ reps: Int, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var best = Double.infinity
    for _ in 0..<reps {
        let t = now()
        try body()
        best = min(best, now() - t)
    }
    return best
}

/// Each kernel of a Conv4 training step on `images` 28x28 images, alone.
func runKernelBench(images n: Int) throws {
    var rng = RNG(seed: 3)
    var side = 28, c = 1
    let f = 64
    var totals = (conv: 0.0, norm: 0.0)
    for layer in 1...4 {
        let x = try Tensor.uniform([n, side, side, c], low: -1, high: 1, rng: &rng)
        let w = try Tensor.uniform([f, 3, 3, c], low: -0.1, high: 0.1, rng: &rng)
        let b = try Tensor.zeros([f])
        let y = try Tensor.conv2dNHWC(x, w, bias: b, stride: (1, 1), padding: (1, 1))
        let g = try Tensor.uniform(y.shape, low: -1, high: 1, rng: &rng)
        let flops = 2 * Double(n * side * side * f * 9 * c)
        let tf = fastest(25) { _ = try! Tensor.conv2dNHWC(x, w, bias: b, stride: (1, 1), padding: (1, 1)) }
        let ti = fastest(25) { _ = try! Tensor.conv2dNHWCBackwardInput(g, w, imageShape: x.shape, stride: (1, 1), padding: (1, 1)) }
        let tw = fastest(25) { _ = try! Tensor.conv2dNHWCBackwardWeight(g, x, kernelSize: (3, 3), stride: (1, 1), padding: (1, 1)) }
        let (_, mean, inv) = try Tensor.conv2dNHWCWithStatistics(x, w, bias: b, stride: (1, 1), padding: (1, 1), eps: 1e-5)
        let ts = fastest(25) { _ = try! Tensor.conv2dNHWCWithStatistics(x, w, bias: b, stride: (1, 1), padding: (1, 1), eps: 1e-5) } - tf
        let gamma = try Tensor.ones([f])
        let pooled = try NormPool.forward(y, mean: mean, invStd: inv, gamma: gamma, beta: b)
        let gp = try Tensor.uniform(pooled.shape, low: -1, high: 1, rng: &rng)
        let tn = fastest(25) { _ = try! NormPool.forward(y, mean: mean, invStd: inv, gamma: gamma, beta: b) }
        let sums = try NormPool.sums(gp, y, mean: mean, invStd: inv, gamma: gamma, beta: b)
        let tsum = fastest(25) { _ = try! NormPool.sums(gp, y, mean: mean, invStd: inv, gamma: gamma, beta: b) }
        let tb = fastest(25) { _ = try! NormPool.backward(gp, y, mean: mean, invStd: inv, gamma: gamma, beta: b, sums: sums) }
        func ms(_ t: Double) -> String { fmt(t * 1e3, 2) }
        func gf(_ t: Double) -> String { fmt(flops / t / 1e9, 0) }
        print("layer \(layer) (\(n)x\(side)x\(side)x\(c) -> \(f)): conv \(ms(tf)) ms (\(gf(tf)) GFLOP/s), dx \(ms(ti)) (\(gf(ti))), "
              + "dw \(ms(tw)) (\(gf(tw))); statistics +\(ms(ts)); bn+pool+relu \(ms(tn)), sums \(ms(tsum)), backward \(ms(tb))")
        totals.conv += tf + tw + (layer > 1 ? ti : 0)
        totals.norm += ts + tn + tsum + tb
        side /= 2
        c = f
    }
    print("totals for a training step: conv \(fmt(totals.conv * 1e3, 1)) ms, batch norm + pool + relu \(fmt(totals.norm * 1e3, 1)) ms")
}

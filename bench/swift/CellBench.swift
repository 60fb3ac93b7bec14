import MetaSwift
#if canImport(Glibc)
import Glibc
#endif

/// The recurrent cells' fused pointwise primitives against their composite
/// formulation, side by side in one process, forward + backward.
///
///     swift run -c release metaswift-bench <seconds> cells
///
/// Shapes are those of coordinate-wise use: N = the parameters of Omniglot's
/// Conv4 (112,000) or of a 1-40-40-1 MLP (1,761), H = 20, 4 inputs (the LSTM
/// meta-learner's preprocessed gradient and loss). Two cases per cell:
/// - "pointwise": the gate arithmetic alone, from tracked pre-activations;
/// - "step": a whole cell step as `LSTMCell.step` runs it (the GEMMs
///   x·Wx and h·Wh and the bias are shared by both paths).
/// The loss Σ(h' + c') (Σ h' for the GRU) adds the same two ops to both.
/// Rounds alternate fused and composite; each line gives the median wall
/// time and process CPU time of a forward + backward and the median of the
/// per-round ratios of each (CPU time moves less when the machine is shared).
func runCellBench(seconds: Double) throws {
    func cpuNow() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
    var rng = RNG(seed: 0)
    func leaf(_ shape: [Int], _ scale: Float = 1) throws -> Variable {
        Variable(try Tensor.uniform(shape, low: -scale, high: scale, rng: &rng))
    }
    for n in [112_000, 1_761] {
        let h = 20, inputs = 4
        let x = try leaf([n, inputs]), hPrev = try leaf([n, h]), cPrev = try leaf([n, h])
        let wx4 = try leaf([inputs, 4 * h], 0.2), wh4 = try leaf([h, 4 * h], 0.2), b4 = try leaf([4 * h], 0.2)
        let wx3 = try leaf([inputs, 3 * h], 0.2), wh3 = try leaf([h, 3 * h], 0.2)
        let bx3 = try leaf([3 * h], 0.2), bh3 = try leaf([3 * h], 0.2)
        let z = try leaf([n, 4 * h], 3), a3 = try leaf([n, 3 * h], 3), b3 = try leaf([n, 3 * h], 3)

        typealias LSTMArithmetic = (Variable, Variable) throws -> (h: Variable, c: Variable)
        typealias GRUArithmetic = (Variable, Variable, Variable) throws -> Variable
        let lstm: [LSTMArithmetic] = [{ try Variable.lstmCell(gates: $0, cell: $1) },
                                      { try Variable.lstmCellComposite(gates: $0, cell: $1) }]
        let gru: [GRUArithmetic] = [{ try Variable.gruCell(input: $0, hidden: $1, state: $2) },
                                    { try Variable.gruCellComposite(input: $0, hidden: $1, state: $2) }]
        let cases: [(String, (Int) throws -> Void)] = [
            ("LSTM pointwise", { k in
                _ = try Autodiff.grad(at: [z, cPrev]) { v in let s = try lstm[k](v[0], v[1]); return try (s.h + s.c).sum() }
            }),
            ("LSTM step", { k in
                _ = try Autodiff.grad(at: [x, hPrev, cPrev, wx4, wh4, b4]) { v in
                    let pre = try Variable.matmul(v[0], v[3]) + Variable.matmul(v[1], v[4]) + v[5]
                    let s = try lstm[k](pre, v[2])
                    return try (s.h + s.c).sum()
                }
            }),
            ("GRU pointwise", { k in
                _ = try Autodiff.grad(at: [a3, b3, hPrev]) { v in try gru[k](v[0], v[1], v[2]).sum() }
            }),
            ("GRU step", { k in
                _ = try Autodiff.grad(at: [x, hPrev, wx3, wh3, bx3, bh3]) { v in
                    let pa = try Variable.matmul(v[0], v[2]) + v[4], pb = try Variable.matmul(v[1], v[3]) + v[5]
                    return try gru[k](pa, pb, v[1]).sum()
                }
            }),
        ]
        let filter = CommandLine.arguments.count > 3 ? CommandLine.arguments[3] : ""
        if filter.hasPrefix("profile") {
            // `cells profile-<case>-<0|1>`: one path of one case in a loop, for perf.
            let parts = filter.split(separator: "-")
            let (name, run) = cases[Int(parts[1])!]
            let t = now(); var reps = 0
            while now() - t < seconds { try run(Int(parts[2])!); reps += 1 }
            print("\(name) N=\(n) path \(parts[2]): \(fmt((now() - t) / Double(reps) * 1e3, 2)) ms")
            continue
        }
        for (name, run) in cases {
            try run(0); try run(1)  // warm up (and fill the buffer cache)
            var wall: [[Double]] = [[], []], cpu: [[Double]] = [[], []], wallRatios: [Double] = [], cpuRatios: [Double] = []
            let start = now()
            repeat {
                var w = [0.0, 0.0], c = [0.0, 0.0]
                for k in [0, 1] {
                    // Enough calls per round for a few ms of work at the small size.
                    let reps = n > 10_000 ? 1 : 20
                    let (t, u) = (now(), cpuNow())
                    for _ in 0..<reps { try run(k) }
                    (w[k], c[k]) = ((now() - t) / Double(reps), (cpuNow() - u) / Double(reps))
                    wall[k].append(w[k]); cpu[k].append(c[k])
                }
                wallRatios.append(w[1] / w[0]); cpuRatios.append(c[1] / c[0])
            } while now() - start < seconds || wallRatios.count < 5
            func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
            func ms(_ v: [Double]) -> String { fmt(median(v) * 1e3, 2) }
            print("\(name) N=\(n) H=\(h): fused \(ms(wall[0])) ms (cpu \(ms(cpu[0]))), composite \(ms(wall[1])) ms "
                  + "(cpu \(ms(cpu[1]))); composite/fused wall \(fmt(median(wallRatios), 2))x, "
                  + "cpu \(fmt(median(cpuRatios), 2))x (medians of \(wallRatios.count) rounds)")
        }
    }
}

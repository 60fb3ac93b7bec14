import COpenBLAS

/// Splitting one large kernel call into parts that run on the worker pool.
///
/// The number of parts and their bounds depend only on the problem size,
/// never on the number of threads, so a reduction over parts (summed in part
/// order) gives the same bits on one thread or two. Inside a pool job (the
/// tasks of a meta-batch already run in parallel) `WorkerPool.map` runs the
/// parts inline, one after the other.
///
/// BLAS calls inside parts are always single-threaded (the pool sets that,
/// and a lone part sets it too): OpenBLAS's two-thread sgemm rounds
/// differently from its one-thread sgemm on some shapes (measured), which
/// would make results depend on whether a call happened inside a pool job.
enum Parts {
    /// At most this many parts: enough to balance two cores, few enough that
    /// per-part partial results stay cheap to combine.
    static let maximum = 4

    /// Parts for `units` independent units of `costPerUnit` each (in float
    /// operations or touched floats): one per ~`minimumCost`, at most `maximum`
    /// and at most `units`.
    static func count(units: Int, costPerUnit: Int, minimumCost: Int = 1 << 18) -> Int {
        guard units > 1 else { return 1 }
        let total = units.multipliedReportingOverflow(by: Swift.max(costPerUnit, 1))
        let byCost = total.overflow ? maximum : total.partialValue / minimumCost
        return Swift.max(1, Swift.min(maximum, units, byCost))
    }

    /// The half-open range of units of part `p` of `parts`.
    @inline(__always)
    static func range(_ p: Int, of parts: Int, units: Int) -> Range<Int> {
        (p * units / parts)..<((p + 1) * units / parts)
    }

    /// Runs `body` for each part, on the shared pool when there is more than one.
    /// A part that throws (its scratch memory could not be had) makes the
    /// whole call throw, once every part has finished.
    static func run<T>(_ parts: Int, _ body: (Int) throws -> T) throws -> [T] {
        if parts == 1 {
            let blas = openblas_get_num_threads()
            if blas == 1 { return [try body(0)] }
            openblas_set_num_threads(1)
            defer { openblas_set_num_threads(blas) }
            return [try body(0)]
        }
        return try WorkerPool.shared.map(parts, body)
    }
}

/// Copies `n` floats (short runs are common: a 3-wide kernel row of one channel).
@inline(__always)
func copyFloats(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    var k = 0
    while k &+ 8 <= n { store8(load8(src + k), dst + k); k &+= 8 }
    while k < n { dst[k] = src[k]; k &+= 1 }
}

/// dst[0..<n] += src[0..<n].
@inline(__always)
func addFloats(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    var k = 0
    while k &+ 8 <= n { store8(load8(dst + k) + load8(src + k), dst + k); k &+= 8 }
    while k < n { dst[k] += src[k]; k &+= 1 }
}

@inline(__always)
func zeroFloats(_ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    var k = 0
    let z = SIMD8<Float>(repeating: 0)
    while k &+ 8 <= n { store8(z, dst + k); k &+= 8 }
    while k < n { dst[k] = 0; k &+= 1 }
}

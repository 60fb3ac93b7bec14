import MetaTensor

/// One few-shot task: a support set to adapt on and a query set to evaluate
/// the adapted model on.
///
/// Targets are tensors: real values for regression, class indices 0..<N stored
/// as floats for classification (exact for any realistic number of classes).
public struct Task: Sendable {
    public let supportX: Tensor
    public let supportY: Tensor
    public let queryX: Tensor
    public let queryY: Tensor

    /// Checks that inputs and targets agree in their leading (example) size and
    /// that support and query examples have the same shape.
    public init(supportX: Tensor, supportY: Tensor, queryX: Tensor, queryY: Tensor) throws {
        guard supportX.rank >= 1, queryX.rank >= 1 else {
            throw MetaError.shape("task: x_support and x_query need a leading example axis, got \(supportX.shape) and \(queryX.shape)")
        }
        guard supportY.rank >= 1, queryY.rank >= 1 else {
            throw MetaError.shape("task: y_support and y_query need a leading example axis, got \(supportY.shape) and \(queryY.shape)")
        }
        guard supportX.shape[0] == supportY.shape[0] else {
            throw MetaError.shape("task: x_support has \(supportX.shape[0]) examples but y_support has \(supportY.shape[0])")
        }
        guard queryX.shape[0] == queryY.shape[0] else {
            throw MetaError.shape("task: x_query has \(queryX.shape[0]) examples but y_query has \(queryY.shape[0])")
        }
        guard supportX.shape.dropFirst() == queryX.shape.dropFirst() else {
            throw MetaError.shape("task: x_support examples \(Array(supportX.shape.dropFirst())) differ from x_query examples \(Array(queryX.shape.dropFirst()))")
        }
        guard supportY.shape.dropFirst() == queryY.shape.dropFirst() else {
            throw MetaError.shape("task: y_support targets \(Array(supportY.shape.dropFirst())) differ from y_query targets \(Array(queryY.shape.dropFirst()))")
        }
        guard supportX.shape[0] > 0, queryX.shape[0] > 0 else {
            throw MetaError.shape("task: support and query sets must not be empty")
        }
        self.supportX = supportX
        self.supportY = supportY
        self.queryX = queryX
        self.queryY = queryY
    }
}

/// A distribution over tasks. Sampling is driven by the caller's generator,
/// so a fixed seed gives the same sequence of tasks.
/// The product of non-negative `factors`, or Int.max when it overflows.
func saturatingProduct(_ factors: [Int]) -> Int {
    var p = 1
    for f in factors {
        let (q, overflow) = p.multipliedReportingOverflow(by: f)
        if overflow { return Int.max }
        p = q
    }
    return p
}

public protocol TaskDistribution {
    func sample(rng: inout RNG) throws -> Task
    /// Floats one sampled task holds (inputs and targets of both sets), for
    /// refusing up front what memory cannot hold; saturates at Int.max.
    var floatsPerTask: Int { get }
}

extension TaskDistribution {
    /// `count` tasks, each from its own split of `rng`, so task i does not
    /// depend on how many numbers task i-1 consumed.
    public func sample(_ count: Int, rng: inout RNG) throws -> [Task] {
        try sample(count, range: 0..<max(count, 0), rng: &rng)
    }

    /// The tasks `range` of the `count` that `sample(count, rng:)` draws: the
    /// generator advances exactly as there, and only these tasks are made
    /// (a process's share of a meta-batch).
    public func sample(_ count: Int, range: Range<Int>, rng: inout RNG) throws -> [Task] {
        guard count > 0 else { throw MetaError.argument("sample: count must be positive, got \(count)") }
        guard range.lowerBound >= 0, range.upperBound <= count else {
            throw MetaError.argument("sample: tasks \(range) outside 0..<\(count)")
        }
        let (total, overflow) = floatsPerTask.multipliedReportingOverflow(by: range.count)
        try MemoryLimit.check(elements: overflow ? Int.max : total, "sample: \(range.count) tasks")
        var streams = rng.split(count)
        return try range.map { try sample(rng: &streams[$0]) }
    }
}

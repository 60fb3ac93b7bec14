import MetaTensor
import MetaAutodiff
import MetaNN

/// A problem a learned optimizer trains on (the paper's "optimizee"): a
/// starting point θ₀ and a loss f_t(θ) per step t (stochastic problems draw
/// step t's minibatch; deterministic ones ignore t). Values, so a problem is
/// the same problem however often it is run.
public protocol Optimizee: Sendable {
    var initialParameters: [Tensor] { get }
    /// f_t(θ), a one-element variable; `step` is in 0...steps of the sample.
    func loss(_ parameters: [Variable], step: Int) throws -> Variable
}

/// A distribution over optimizees: the paper's "family of functions".
public protocol OptimizeeFamily: Sendable, CustomStringConvertible {
    /// One problem, drawn with `rng`, runnable for `steps` updates (losses at steps 0...steps).
    func sample(rng: inout RNG, steps: Int) throws -> any Optimizee
}

// MARK: - Quadratics

/// f(θ) = ‖Wθ − y‖² with W (d×d) and y (d) drawn from a standard normal per
/// problem, the 10-dimensional family of the paper's section 3.1. θ₀ is
/// drawn from N(0, `initialScale`²) (0.01, as the paper's code).
public struct QuadraticFamily: OptimizeeFamily {
    public let dimension: Int
    public let initialScale: Float

    public init(dimension: Int = 10, initialScale: Float = 0.01) throws {
        guard dimension > 0, dimension <= 1 << 12 else {
            throw MetaError.argument("QuadraticFamily: dimension must be in 1...4096, got \(dimension)")
        }
        guard initialScale.isFinite, initialScale >= 0 else {
            throw MetaError.argument("QuadraticFamily: initialScale must be finite and >= 0, got \(initialScale)")
        }
        self.dimension = dimension
        self.initialScale = initialScale
    }

    public func sample(rng: inout RNG, steps: Int) throws -> any Optimizee {
        let d = dimension
        let w = try Tensor.normal([d, d], rng: &rng), y = try Tensor.normal([d, 1], rng: &rng)
        let theta = try Tensor.normal([d], std: initialScale, rng: &rng)
        return Quadratic(w: w, y: y, theta: theta)
    }

    public var description: String { "Quadratic(dim: \(dimension))" }
}

/// One quadratic ‖Wθ − y‖².
public struct Quadratic: Optimizee {
    public let w: Tensor
    public let y: Tensor
    public let theta: Tensor

    public init(w: Tensor, y: Tensor, theta: Tensor) {
        self.w = w
        self.y = y
        self.theta = theta
    }

    public var initialParameters: [Tensor] { [theta] }

    public func loss(_ parameters: [Variable], step: Int) throws -> Variable {
        guard parameters.count == 1, parameters[0].shape == theta.shape else {
            throw MetaError.shape("Quadratic: expected one parameter of shape \(theta.shape)")
        }
        let r = try Variable.matmul(Variable(w), parameters[0].reshaped([theta.count, 1])) - Variable(y)
        return try r.square().sum()
    }
}

// MARK: - A small MLP on arrays

/// An MLP with one hidden layer (the paper's section 3.2: 20 sigmoid units)
/// trained with softmax cross-entropy on minibatches of a labelled array
/// dataset. Each problem draws its initial weights (N(0, `initialScale`²),
/// zero biases) and, for every step, a minibatch of `batchSize` distinct
/// examples (the whole dataset when it is smaller).
public struct MLPFamily: OptimizeeFamily {
    public enum Activation: String, Sendable, CaseIterable { case sigmoid, relu, tanh }

    public let inputs: Tensor
    public let labels: [Int]
    public let classes: Int
    public let hidden: Int
    public let activation: Activation
    public let batchSize: Int
    public let initialScale: Float

    public init(inputs: Tensor, labels: [Int], classes: Int, hidden: Int = 20, activation: Activation = .sigmoid,
                batchSize: Int = 128, initialScale: Float = 0.1) throws {
        guard inputs.rank == 2, inputs.shape[0] > 0, inputs.shape[1] > 0 else {
            throw MetaError.shape("MLPFamily: inputs must have shape (examples, features), got \(inputs.shape)")
        }
        guard labels.count == inputs.shape[0] else {
            throw MetaError.shape("MLPFamily: \(labels.count) labels for \(inputs.shape[0]) examples")
        }
        guard classes > 1 else { throw MetaError.argument("MLPFamily: classes must be > 1, got \(classes)") }
        for l in labels where l < 0 || l >= classes {
            throw MetaError.argument("MLPFamily: label \(l) is not in 0..<\(classes)")
        }
        guard hidden > 0, batchSize > 0 else { throw MetaError.argument("MLPFamily: hidden and batchSize must be > 0") }
        guard initialScale.isFinite, initialScale >= 0 else {
            throw MetaError.argument("MLPFamily: initialScale must be finite and >= 0, got \(initialScale)")
        }
        self.inputs = inputs
        self.labels = labels
        self.classes = classes
        self.hidden = hidden
        self.activation = activation
        self.batchSize = batchSize
        self.initialScale = initialScale
    }

    public func sample(rng: inout RNG, steps: Int) throws -> any Optimizee {
        let (n, f) = (inputs.shape[0], inputs.shape[1])
        let start = [try Tensor.normal([f, hidden], std: initialScale, rng: &rng), try Tensor.zeros([hidden]),
                     try Tensor.normal([hidden, classes], std: initialScale, rng: &rng), try Tensor.zeros([classes])]
        let k = min(batchSize, n)
        var batches: [[Int]] = []
        batches.reserveCapacity(steps + 1)
        for _ in 0...steps { batches.append(try rng.choice(n, k)) }
        return MLPOptimizee(family: self, start: start, batches: batches)
    }

    public var description: String { "MLP(hidden: \(hidden) \(activation.rawValue), batch: \(batchSize), classes: \(classes))" }
}

/// One MLP problem: its initial weights and its minibatch per step.
public struct MLPOptimizee: Optimizee {
    public let family: MLPFamily
    public let start: [Tensor]
    public let batches: [[Int]]

    public var initialParameters: [Tensor] { start }

    public func loss(_ parameters: [Variable], step: Int) throws -> Variable {
        guard step >= 0, step < batches.count else {
            throw MetaError.argument("MLP problem: step \(step) is not in 0..<\(batches.count) (the steps it was drawn for)")
        }
        guard parameters.count == 4, zip(parameters, start).allSatisfy({ $0.shape == $1.shape }) else {
            throw MetaError.shape("MLP problem: expected parameters of shapes \(start.map(\.shape))")
        }
        let batch = batches[step]
        let x = try Variable(family.inputs).gather(indices: batch, axis: 0)
        let z = try Variable.matmul(x, parameters[0]) + parameters[1]
        let h: Variable
        switch family.activation {
        case .sigmoid: h = try z.sigmoid()
        case .relu: h = try z.relu()
        case .tanh: h = try z.tanh()
        }
        let logits = try Variable.matmul(h, parameters[2]) + parameters[3]
        return try softmaxCrossEntropy(logits: logits, labels: batch.map { family.labels[$0] })
    }
}

// MARK: - Several problems as one

/// Problems optimised side by side, their coordinates joined: the loss is the
/// mean of theirs. A coordinate-wise optimizer treats them exactly as if each
/// ran alone (its coordinates never interact), so a meta-batch of problems is
/// one joint problem.
public struct JointOptimizee: Optimizee {
    public let problems: [any Optimizee]
    let counts: [Int]

    public init(_ problems: [any Optimizee]) throws {
        guard !problems.isEmpty else { throw MetaError.argument("JointOptimizee: no problems") }
        self.problems = problems
        self.counts = problems.map(\.initialParameters.count)
    }

    public var initialParameters: [Tensor] { problems.flatMap(\.initialParameters) }

    public func loss(_ parameters: [Variable], step: Int) throws -> Variable {
        guard parameters.count == counts.reduce(0, +) else {
            throw MetaError.argument("JointOptimizee: expected \(counts.reduce(0, +)) parameters, got \(parameters.count)")
        }
        var total: Variable?, offset = 0
        for (p, c) in zip(problems, counts) {
            let l = try p.loss(Array(parameters[offset..<(offset + c)]), step: step)
            total = try total.map { try $0 + l } ?? l
            offset += c
        }
        return try total! * (1 / Float(problems.count))
    }
}

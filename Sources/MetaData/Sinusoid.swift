import Glibc
import MetaTensor

/// Sinusoid regression, the toy family of MAML (Finn et al. 2017, §5.1):
/// y = A·sin(x − φ) with amplitude A ~ U[0.1, 5], phase φ ~ U[0, π] and inputs
/// x ~ U[−5, 5]. Each task draws its own A and φ; support and query points are
/// drawn independently from the same sine. Inputs and targets are (n, 1).
public struct Sinusoid: TaskDistribution, Sendable {
    public let shots: Int
    public let queries: Int
    public let amplitude: ClosedRange<Float>
    public let phase: ClosedRange<Float>
    public let input: ClosedRange<Float>

    public init(shots: Int, queries: Int, amplitude: ClosedRange<Float> = 0.1...5,
                phase: ClosedRange<Float> = 0...Float.pi, input: ClosedRange<Float> = -5...5) throws {
        guard shots > 0 else { throw MetaError.argument("Sinusoid: shots must be positive, got \(shots)") }
        guard queries > 0 else { throw MetaError.argument("Sinusoid: queries must be positive, got \(queries)") }
        for (name, r) in [("amplitude", amplitude), ("phase", phase), ("input", input)] where !(r.lowerBound.isFinite && r.upperBound.isFinite) {
            throw MetaError.argument("Sinusoid: \(name) range must be finite, got \(r)")
        }
        self.shots = shots
        self.queries = queries
        self.amplitude = amplitude
        self.phase = phase
        self.input = input
    }

    /// x and y of the support and query points.
    public var floatsPerTask: Int { saturatingProduct([2, shots &+ queries < 0 ? Int.max : shots &+ queries]) }

    /// Amplitude and phase of a task, then its points.
    public func sample(rng: inout RNG) throws -> Task {
        let a = rng.uniform(amplitude.lowerBound, amplitude.upperBound)
        let p = rng.uniform(phase.lowerBound, phase.upperBound)
        let (xs, ys) = try points(shots, amplitude: a, phase: p, rng: &rng)
        let (xq, yq) = try points(queries, amplitude: a, phase: p, rng: &rng)
        return try Task(supportX: xs, supportY: ys, queryX: xq, queryY: yq)
    }

    func points(_ n: Int, amplitude a: Float, phase p: Float, rng: inout RNG) throws -> (Tensor, Tensor) {
        let x = try Tensor.uniform([n, 1], low: input.lowerBound, high: input.upperBound, rng: &rng)
        let y = try Tensor.make(shape: [n, 1]) { out, _ in
            for i in 0..<n { out[i] = a * sinf(x.storage.base[i] - p) }
        }
        return (x, y)
    }
}

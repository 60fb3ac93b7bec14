import XCTest
import MetaTensor
import MetaAutodiff
import MetaOptim

/// A toy problem: a loss of a parameter list, where to start, where the minimum is.
struct Problem {
    let name: String
    let start: [Tensor]
    let minimum: [Tensor]
    let loss: ([Variable]) throws -> Variable

    func grads(_ params: [Tensor]) throws -> [Tensor] {
        try Autodiff.grad(at: params.map { Variable($0) }, loss).map(\.value)
    }
}

/// f = ½ Σ aᵢ xᵢ² over two tensors (shapes [3] and [2, 2]), condition number 10.
let bowl: Problem = {
    let a0 = try! Tensor(shape: [3], scalars: [1, 2, 10])
    let a1 = try! Tensor(shape: [2, 2], scalars: [3, 1, 5, 8])
    return Problem(
        name: "bowl",
        start: [try! Tensor(shape: [3], scalars: [1.5, -2, 0.7]), try! Tensor(shape: [2, 2], scalars: [-1, 0.5, 2, -0.3])],
        minimum: [try! Tensor.zeros([3]), try! Tensor.zeros([2, 2])],
        loss: { x in
            let s0 = try (Variable(a0) * x[0].square()).sum()
            let s1 = try (Variable(a1) * x[1].square()).sum()
            return try (s0 + s1) * 0.5
        })
}()

/// f = (1 − x)² + 100 (y − x²)², minimum at (1, 1), from (−1.5, 2): the
/// classic curved valley. x and y are two parameters of shape [1].
let rosenbrock = Problem(
    name: "rosenbrock",
    start: [try! Tensor(shape: [1], scalars: [-1.5]), try! Tensor(shape: [1], scalars: [2])],
    minimum: [try! Tensor(shape: [1], scalars: [1]), try! Tensor(shape: [1], scalars: [1])],
    loss: { v in
        let (x, y) = (v[0], v[1])
        return try ((1 - x).square() + (y - x.square()).square() * 100).sum()
    })

/// Runs `steps` updates of `opt` on `problem` from its start.
func minimize(_ opt: GradientTransformation, _ problem: Problem, steps: Int) throws -> [Tensor] {
    var params = problem.start
    var state = try opt.initialize(params)
    for _ in 0..<steps {
        let r = try opt.update(try problem.grads(params), state: state, params: params)
        params = try applyUpdates(params, r.updates)
        state = r.state
    }
    return params
}

/// Largest |a − b| over all elements of two parameter lists.
func maxDistance(_ a: [Tensor], _ b: [Tensor]) -> Float {
    var d: Float = 0
    for (x, y) in zip(a, b) {
        for (p, q) in zip(x.scalars, y.scalars) { d = max(d, abs(p - q)) }
    }
    return d
}

/// Elementwise equality of two parameter lists, bit for bit.
func assertIdentical(_ a: [Tensor], _ b: [Tensor], _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, message, file: file, line: line)
    for (x, y) in zip(a, b) {
        XCTAssertEqual(x.shape, y.shape, message, file: file, line: line)
        XCTAssertEqual(x.scalars.map(\.bitPattern), y.scalars.map(\.bitPattern), message, file: file, line: line)
    }
}

/// Asserts that `body` throws a `MetaError` of `kind` whose message mentions `fragment`.
func assertMetaError<T>(_ kind: MetaError.Kind, mentioning fragment: String, file: StaticString = #filePath, line: UInt = #line,
                        _ body: () throws -> T) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        guard let e = error as? MetaError else { return XCTFail("not a MetaError: \(error)", file: file, line: line) }
        XCTAssertEqual(e.kind, kind, e.message, file: file, line: line)
        XCTAssertTrue(e.message.contains(fragment), "\"\(e.message)\" does not mention \"\(fragment)\"", file: file, line: line)
    }
}

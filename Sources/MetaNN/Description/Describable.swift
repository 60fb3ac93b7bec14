import MetaTensor
import MetaAutodiff

/// A model that says what it is, as data: a JSON object whose "type" is the
/// layer's name (PyTorch's class name where there is one) and whose other
/// members are its hyper-parameters under PyTorch's argument names, e.g.
///
///     {"type": "Linear", "in_features": 4, "out_features": 2, "bias": true}
///
/// `ModelBuilder.build` turns a description back into the model, and the
/// rebuilt model describes itself with the identical JSON. Python writes the
/// same descriptions, and they are stored beside the weights. A description
/// states the architecture, not the initialisation: initializers and
/// LSTMCell's forget bias shape only the first weights, which are stored
/// separately.
public protocol Describable {
    /// The "type" member of `layerDescription`.
    var layerType: String { get }
    /// Every hyper-parameter, always, in a fixed order, so the text is
    /// deterministic.
    var layerDescription: JSON { get }
}

/// A model that can say, before running, what shape its output has for an
/// input of a given shape, or why that input does not fit.
///
/// Shapes are whole inputs as `forward` receives them, batch axis first:
/// (N, C, H, W) for images, (N, features), (N, T, features) for sequences.
/// The batch size never makes a shape fail here (any N ≥ 0 passes), so a
/// per-example shape checks with N = 1; `forward` still refuses a batch that
/// batch normalisation cannot normalise.
///
/// Errors are `MetaError`s whose message starts with the layer's type and
/// names the argument at fault: `Conv2d.in_channels: 32, but its input has
/// 64 channels`. Composites (`Sequential`, `Residual`) prefix each part's
/// message with its path: `layers[4] (Conv2d).in_channels: ...`.
public protocol ShapeInferring {
    func outputShape(for input: [Int]) throws -> [Int]
}

/// A model that can be described, rebuilt and checked against an input shape:
/// what `ModelBuilder.build` returns. Every layer and preset of MetaNN is one.
public typealias Layer = Model & Describable & ShapeInferring

/// The description of any model: its own when it is `Describable`, otherwise
/// just its Swift type name (which `ModelBuilder` then refuses as unknown).
public func layerDescription(of model: any Model) -> JSON {
    (model as? Describable)?.layerDescription ?? ["type": .string(String(describing: type(of: model)))]
}

/// `layerType` of a model, or its Swift type name.
func layerType(of model: any Model) -> String {
    (model as? Describable)?.layerType ?? String(describing: type(of: model))
}

// MARK: - Error paths shared by shape inference and the builder

/// "Conv2d" at the root, "layers[3] (Conv2d)" below it.
func pathLabel(_ path: String, _ type: String) -> String {
    path.isEmpty ? type : "\(path) (\(type))"
}

/// The path of a part named `component` of the layer at `path` of `type`.
func childPath(_ path: String, _ type: String, _ component: String) -> String {
    path.isEmpty ? component : "\(pathLabel(path, type)).\(component)"
}

/// An error a leaf layer's shape inference throws: "Conv2d.in_channels: …"
/// or, with no argument at fault, "Conv2d: …".
func fitError(_ type: String, _ argument: String?, _ message: String) -> MetaError {
    MetaError.shape(argument.map { "\(type).\($0): \(message)" } ?? "\(type): \(message)")
}

/// Checks that `input` is a shape (dimensions ≥ 0, a count that fits) before
/// any arithmetic on it, so inference never overflows.
func checkInputShape(_ input: [Int], _ type: String) throws {
    _ = try ShapeMath.count(input, name: "\(type): input shape")
}

/// `part`'s output shape, with its errors prefixed by the path `component`
/// ("layers[4]", "body") and its type: "layers[4] (Conv2d).in_channels: …".
func outputShape(of part: any Model, for input: [Int], at component: String) throws -> [Int] {
    let type = layerType(of: part)
    guard let inferring = part as? ShapeInferring else {
        throw MetaError.shape("\(component) (\(type)): cannot infer the output shape of this layer")
    }
    do {
        return try inferring.outputShape(for: input)
    } catch let e as MetaError {
        let label = "\(component) (\(type))"
        if e.message.hasPrefix(type + ".") || e.message.hasPrefix(type + ":") {
            throw MetaError(e.kind, label + e.message.dropFirst(type.count))
        }
        throw MetaError(e.kind, "\(label).\(e.message)")
    }
}

/// a + b, a · b for shape arithmetic, throwing instead of trapping on overflow.
func checkedAdd(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws -> Int {
    let (r, o) = a.addingReportingOverflow(b)
    guard !o else { throw MetaError.argument("\(what()): size overflows") }
    return r
}

func checkedMultiply(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws -> Int {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    guard !o else { throw MetaError.argument("\(what()): size overflows") }
    return r
}

extension Model {
    /// The total number of parameter elements, or an error when a shape is
    /// invalid or the total overflows (a description can ask for any sizes).
    public func parameterElementCount() throws -> Int {
        var total = 0
        for spec in parameterSpecs {
            let n = try ShapeMath.count(spec.shape, name: "parameter \(spec.name)")
            total = try checkedAdd(total, n, "the parameters' total element count")
        }
        return total
    }
}

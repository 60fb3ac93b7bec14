import XCTest
import MetaTensor
import MetaAutodiff
import MetaNN
import MetaIO
import MetaStore
import _TestSupport

/// Models as files: the description and the values come back bit for bit,
/// and the metadata's checks (format, version, kind) name the file.
final class ModelFileTests: XCTestCase {
    var path: String { "/tmp/metaswift-modelfile-\(getpid())-\(name.filter(\.isLetter)).safetensors" }

    override func tearDown() { unlink(path) }

    func testAModelRoundTripsThroughItsFile() throws {
        let layers = Sequential([try Conv2d(inChannels: 1, outChannels: 4, kernelSize: 3, padding: 1),
                                 try BatchNorm2d(features: 4, trackRunningStats: true), Activation.relu,
                                 try MaxPool2d(kernelSize: 2), Flatten(), try Linear(inputs: 4 * 4 * 4, outputs: 3)])
        var rng = RNG(seed: 2)
        let params = try layers.initialParameters(rng: &rng)
        let buffers = [try Tensor.full([4], 0.5), try Tensor.full([4], 2)]
        let model = Recognition.optimized(layers, inputShape: [1, 8, 8])
        try StoredModel(model, parameters: params, buffers: buffers, inputShape: [1, 8, 8]).write(to: path)
        let back = try StoredModel.read(path: path)
        XCTAssertEqual(back.description, layers.layerDescription)
        XCTAssertEqual(back.inputShape, [1, 8, 8])
        XCTAssertEqual(back.parameters.map(\.scalars), params.map(\.scalars))
        XCTAssertEqual(back.buffers.map(\.scalars), buffers.map(\.scalars))
        let x = try Tensor(shape: [2, 1, 8, 8], scalars: (0..<128).map { Float($0 % 7) - 3 })
        let context = { ForwardContext(mode: .inference, buffers: buffers) }
        XCTAssertEqual(try back.layer(back.parameters.map { Variable($0) }, Variable(x), context: context()).value.scalars,
                       try layers(params.map { Variable($0) }, Variable(x), context: context()).value.scalars)
    }

    func testTheMetadataIsCheckedAndTheFileNamed() throws {
        let model = try Linear(inputs: 2, outputs: 1)
        var rng = RNG(seed: 1)
        let stored = try StoredModel(model, parameters: try model.initialParameters(rng: &rng), buffers: [])
        let (metadata, entries) = try stored.encoded()
        func written(_ header: [(String, String)]) throws -> String {
            try SafeTensors(entries: entries, metadata: header + metadata).write(to: path)
            return path
        }
        func refused(_ header: [(String, String)], _ expected: String, line: UInt = #line) throws {
            XCTAssertThrowsError(try StoredModel.read(path: try written(header)), line: line) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(self.path) && message.contains(expected), message, line: line)
            }
        }
        try refused([("format", "metaswift"), ("format_version", "2"), ("kind", "model")], "format version 2, newer")
        try refused([("format", "metaswift"), ("format_version", "x"), ("kind", "model")], "format_version must be")
        try refused([("format", "pt"), ("format_version", "1"), ("kind", "model")], "not \"metaswift\"")
        try refused([("format_version", "1"), ("kind", "model")], "no \"format\"")
        try refused([("format", "metaswift"), ("format_version", "1")], "no \"kind\"")
        try refused([("format", "metaswift"), ("format_version", "1"), ("kind", "learner.MAML")], "expected \"model\"")
        XCTAssertNoThrow(try StoredModel.read(path: try written(StoreFormat.header(kind: "model"))))
        XCTAssertThrowsError(try StoredModel(Undescribed(), parameters: [], buffers: [])) {
            XCTAssertTrue("\($0)".contains("has no description"), "\($0)")
        }
    }
}

/// A model with no description.
private struct Undescribed: Model {
    var parameterSpecs: [ParameterSpec] { [] }
    func initialParameters(rng: inout RNG) throws -> [Tensor] { [] }
    func forward(_ params: ArraySlice<Variable>, _ x: Variable) throws -> Variable { x }
}

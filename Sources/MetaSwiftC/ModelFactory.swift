import MetaSwift

/// Builds the models the ABI offers. One function per model kind: it parses
/// the C-level options (names as strings), initialises parameters from the
/// seed, and states what input the model accepts.
enum ModelFactory {
    static func mlp(sizes: [Int], activation: String, seed: UInt64) throws -> ModelObject {
        throw BridgeError.argument("MLP is not available yet")
    }
}

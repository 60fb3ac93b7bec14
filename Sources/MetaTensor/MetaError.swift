/// The one error type of the engine. Every layer throws it; the C ABI turns its
/// `description` into the message that `ms_last_error()` returns, so a message
/// names the argument at fault and what was expected of it.
public struct MetaError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// Shapes that cannot go together (matmul inner sizes, broadcasting, ...).
        case shapeMismatch
        /// A value outside what the operation accepts (negative size, NaN rate, ...).
        case invalidArgument
        /// An index or axis outside its range.
        case indexOutOfRange
        /// Memory the request needs and this process cannot have (see `MemoryLimit`).
        case outOfMemory
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    public static func shape(_ message: String) -> MetaError { MetaError(.shapeMismatch, message) }
    public static func argument(_ message: String) -> MetaError { MetaError(.invalidArgument, message) }
    public static func index(_ message: String) -> MetaError { MetaError(.indexOutOfRange, message) }
    public static func memory(_ message: String) -> MetaError { MetaError(.outOfMemory, message) }
}

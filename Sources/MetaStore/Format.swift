import MetaTensor
import MetaIO

/// The metadata every file metaswift writes carries, beside the tensors of a
/// safetensors file: which program wrote it, in which format version, and
/// what kind of object it holds. A reader refuses a file from a newer format
/// version (it cannot know what changed), a file another program wrote, and
/// a file of another kind than the one asked for, naming the file.
///
///     __metadata__ = {"format": "metaswift", "format_version": "1", "kind": "model", "model": "{...}", ...}
public enum StoreFormat {
    /// Metadata key: always "metaswift".
    public static let formatKey = "format"
    public static let formatName = "metaswift"
    /// Metadata key: the format version, a decimal integer.
    public static let versionKey = "format_version"
    /// The version this engine writes, and the newest it reads.
    public static let version = 1
    /// Metadata key: the kind of object ("model", "learner.MAML", "checkpoint", ...).
    public static let kindKey = "kind"

    /// The metadata a file of `kind` starts with.
    public static func header(kind: String) -> [(String, String)] {
        [(formatKey, formatName), (versionKey, String(version)), (kindKey, kind)]
    }

    /// The file's kind, after checking that metaswift wrote it in a version
    /// this engine reads; with `expected`, the kind must be one of them.
    public static func kind(of file: SafeTensors, path: String, expected: [String]? = nil) throws -> String {
        guard let format = file.metadataValue(forKey: formatKey) else {
            throw fileError(path, "no \"format\" in its metadata: not a file metaswift wrote "
                            + "(a plain safetensors file of weights loads with Module.load_state_dict)")
        }
        guard format == formatName else {
            throw fileError(path, "its metadata says format \(quotedText(format)), not \"metaswift\"")
        }
        guard let text = file.metadataValue(forKey: versionKey), let v = Int(text), v >= 1 else {
            throw fileError(path, "format_version must be a positive integer, got \(file.metadataValue(forKey: versionKey).map(quotedText) ?? "nothing")")
        }
        guard v <= version else {
            throw fileError(path, "written in format version \(v), newer than this engine reads (\(version)); "
                            + "update metaswift to load it")
        }
        guard let kind = file.metadataValue(forKey: kindKey), !kind.isEmpty else {
            throw fileError(path, "no \"kind\" in its metadata: cannot tell what object it holds")
        }
        if let expected, !expected.contains(kind) {
            throw fileError(path, "holds a \(quotedText(kind)), expected \(expected.map(quotedText).joined(separator: " or "))")
        }
        return kind
    }

    /// A JSON value stored as metadata text under `key`.
    public static func json(_ file: SafeTensors, _ key: String, path: String) throws -> JSON {
        guard let text = file.metadataValue(forKey: key) else {
            throw fileError(path, "no \(quotedText(key)) in its metadata")
        }
        do {
            return try JSON.parse(text)
        } catch let e as MetaError {
            throw fileError(path, "metadata \(quotedText(key)) is not JSON: \(e.message)")
        }
    }

    /// An error about the file at `path`: "model.safetensors: ...".
    public static func fileError(_ path: String, _ message: String) -> MetaError {
        MetaError.argument("\(path): \(message)")
    }

    /// `body()`, with any `MetaError` it throws prefixed by the file's path.
    public static func naming<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as MetaError where !e.message.hasPrefix(path + ":") {
            throw MetaError(e.kind, "\(path): \(e.message)")
        }
    }
}

/// A string in quotes, as JSON writes it (for names and values from files).
func quotedText(_ s: String) -> String {
    let limited = s.count > 200 ? String(s.prefix(200)) + "..." : s
    return (try? JSON.string(limited).serialized) ?? "\"\(limited)\""
}

import MetaTensor

/// The metadata every file metaswift writes carries, beside the tensors of a
/// safetensors file: which program wrote it, in which format version, and
/// what kind of object it holds. A reader refuses a file from a newer format
/// version (it cannot know what changed) and a file of another kind than
/// the one asked for, naming the file.
public enum StoreFormat {
    /// Metadata key: always "metaswift".
    public static let formatKey = "format"
    public static let formatName = "metaswift"
    /// Metadata key: the format version, a decimal integer.
    public static let versionKey = "format_version"
    /// The version this engine writes, and the newest it reads.
    public static let version = 1
    /// Metadata key: the kind of object ("model", "learner.MAML", "optimizer.Adam", "checkpoint", ...).
    public static let kindKey = "kind"
}

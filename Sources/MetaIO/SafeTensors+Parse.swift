import MetaTensor

extension SafeTensors {
    /// Largest header the format allows, in bytes (the reference's
    /// `MAX_HEADER_SIZE`); a larger declared size is refused before anything
    /// is allocated for it.
    public static let maxHeaderSize = 100_000_000

    /// Reads the contents of a safetensors file from its bytes (no copy of
    /// the data: entries are views into `bytes`). `source` names the bytes in
    /// messages, as `read(path:)` names the file.
    ///
    ///     let file = try SafeTensors.parse(bytes: received, source: "upload")
    ///
    /// The rules are the reference reader's (huggingface/safetensors,
    /// `SafeTensors::read_metadata` and `Metadata::validate`), so a file
    /// loads here exactly when it loads there, with the exceptions below:
    /// - 8 bytes of header size N, little-endian, N <= `maxHeaderSize` and
    ///   no larger than what follows it;
    /// - N bytes of UTF-8 JSON that start with `{` (the format's README
    ///   requires it; the reference code does not check), may end in
    ///   whitespace padding, and hold one object with distinct keys (the
    ///   README forbids duplicates; the reference code keeps the last);
    /// - `__metadata__`, if present, is an object of strings (or null, which
    ///   the reference also reads as no metadata);
    /// - every other key is a tensor: an object with "dtype" (a name in
    ///   `DType`), "shape" (non-negative integers) and "data_offsets"
    ///   ([begin, end], integers, begin <= end); other members are ignored,
    ///   as the reference ignores them;
    /// - integers are written as plain digits (no sign, fraction or
    ///   exponent: `2.0` and `2e0` are refused, as serde refuses them for
    ///   an unsigned integer) and fit in 64 bits;
    /// - end - begin is the tensor's size: the product of the shape, folded
    ///   in order with overflow checks, times the dtype's bits, in whole bytes;
    /// - the tensors, taken in order of their offsets, cover the data after
    ///   the header exactly: no hole, no overlap, nothing after the last.
    ///
    /// Traps (differences from the reference): a header that starts with
    /// whitespace, and a duplicate key, are refused; so is a shape dimension
    /// above `Int.max` (the reference reads one beside a 0, though NumPy
    /// cannot make that array), and JSON nested deeper than `JSON.maxDepth`
    /// (64) even inside ignored members. Every fault is a `MetaError` (kind
    /// `.invalidArgument`) naming `source` and, where there is one, the tensor.
    public static func parse(bytes: [UInt8], source: String = "<bytes>") throws -> SafeTensors {
        let headerSize = try checkedHeaderSize(bytes.prefix(8), totalSize: bytes.count, source: source)
        let header = bytes[8..<(8 + headerSize)]
        let dataStart = 8 + headerSize, dataLength = bytes.count - dataStart
        func fail(_ what: String) -> MetaError { MetaError.argument("\(source): \(what)") }

        guard let text = String(validating: header, as: UTF8.self) else {
            throw fail("the header is not valid UTF-8")
        }
        guard header.first == UInt8(ascii: "{") else {
            let first = header.first.map { "byte 0x\(String($0, radix: 16))" } ?? "nothing (it is empty)"
            throw fail("the header starts with \(first), not '{'")
        }
        let json: JSON
        do {
            json = try JSON.parse(text)
        } catch let e as MetaError {
            throw fail("the header is not valid JSON (\(e.message) of the header)")
        }
        guard case .object(let members) = json else { throw fail("the header is \(json.kindName), not an object") }

        let numbers = HeaderNumbers(header)
        var located: [Located] = []
        var metadata: [(String, String)] = []
        var numberIndex = 0
        for (key, value) in members {
            defer { numberIndex += value.numberCount }
            if key == "__metadata__" {
                metadata = try parseMetadata(value, fail)
                continue
            }
            located.append(try parseEntry(key, value, numbers: numbers, firstNumber: numberIndex,
                                          dataLength: dataLength, source: source))
        }
        try checkCoverage(located, dataLength: dataLength, fail)

        let entries = located.map {
            Entry(unchecked: $0.name, dtype: $0.dtype, shape: $0.shape, buffer: bytes,
                  range: (dataStart + $0.begin)..<(dataStart + $0.end))
        }
        return try SafeTensors(entries: entries, metadata: metadata)
    }

    /// The header size N from the first 8 bytes, checked against the limit
    /// and against `totalSize`, the size of the whole file.
    static func checkedHeaderSize(_ prefix: ArraySlice<UInt8>, totalSize: Int, source: String) throws -> Int {
        guard prefix.count == 8, totalSize >= 8 else {
            throw MetaError.argument("\(source): \(totalSize) bytes is too short for a safetensors file "
                                     + "(the header size alone takes 8)")
        }
        let n = prefix.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard n <= UInt64(maxHeaderSize) else {
            throw MetaError.argument("\(source): the header size \(n) is above the format's limit of "
                                     + "\(maxHeaderSize) bytes")
        }
        guard n <= UInt64(totalSize - 8) else {
            throw MetaError.argument("\(source): the header size \(n) is larger than the \(totalSize - 8) bytes "
                                     + "that follow it")
        }
        return Int(n)
    }

    /// A tensor of the header with its offsets into the data.
    struct Located {
        let name: String
        let dtype: DType
        let shape: [Int]
        let begin: Int
        let end: Int
    }

    static func parseMetadata(_ value: JSON, _ fail: (String) -> MetaError) throws -> [(String, String)] {
        switch value {
        case .null:
            return []
        case .object(let pairs):
            return try pairs.map { key, v in
                guard case .string(let s) = v else {
                    throw fail("__metadata__[\(quoted(key))] is \(v.kindName); metadata values must be strings")
                }
                return (key, s)
            }
        default:
            throw fail("__metadata__ is \(value.kindName); it must be an object of strings")
        }
    }

    /// One tensor's description. `firstNumber` is the index, among the
    /// header's numbers in text order, of the first number inside `value`.
    static func parseEntry(_ name: String, _ value: JSON, numbers: HeaderNumbers, firstNumber: Int,
                           dataLength: Int, source: String) throws -> Located {
        func fail(_ what: String) -> MetaError { MetaError.argument("\(source): tensor \(quoted(name)): \(what)") }
        guard case .object(let fields) = value else {
            throw MetaError.argument("\(source): tensor \(quoted(name)) is described by \(value.kindName), "
                                     + "not an object")
        }
        var numberBase: [String: Int] = [:]
        var k = firstNumber
        for (key, v) in fields {
            numberBase[key] = k
            k += v.numberCount
        }
        func field(_ key: String) throws -> JSON {
            guard let v = value[key] else { throw fail("the description has no \"\(key)\"") }
            return v
        }
        /// Item `i` of the array `key` as an unsigned integer; `items[..<i]` are numbers.
        func unsigned(_ key: String, _ items: [JSON], _ i: Int) throws -> UInt64 {
            guard case .number = items[i] else {
                throw fail("\(key)[\(i)] is \(items[i].kindName), expected a non-negative integer")
            }
            guard let base = numberBase[key], let lexeme = numbers.text(base + i) else {
                throw fail("\(key)[\(i)] could not be read back from the header text")
            }
            guard let v = numbers.unsigned(base + i) else {
                throw fail("\(key)[\(i)] is \(lexeme), expected a non-negative integer written in digits "
                           + "(below 2^64)")
            }
            return v
        }

        guard case .string(let dtypeName) = try field("dtype") else {
            throw fail("dtype is \(try field("dtype").kindName), expected a string such as \"F32\"")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw fail("unknown dtype \(quoted(dtypeName)) (the format knows \(DType.knownNames))")
        }

        guard case .array(let dims) = try field("shape") else {
            throw fail("shape is \(try field("shape").kindName), expected an array of non-negative integers")
        }
        var shape64: [UInt64] = []
        for i in dims.indices { shape64.append(try unsigned("shape", dims, i)) }
        if let big = shape64.firstIndex(where: { $0 > UInt64(Int.max) }) {
            throw fail("shape[\(big)] is \(shape64[big]), above the largest dimension this reader takes (\(Int.max))")
        }

        guard case .array(let offsets) = try field("data_offsets"), offsets.count == 2 else {
            let v = try field("data_offsets")
            let what = v.array.map { "an array of \($0.count)" } ?? v.kindName
            throw fail("data_offsets is \(what), expected [begin, end]")
        }
        let begin = try unsigned("data_offsets", offsets, 0), end = try unsigned("data_offsets", offsets, 1)
        guard begin <= end else { throw fail("data_offsets [\(begin), \(end)] begin after they end") }
        guard end <= UInt64(dataLength) else {
            throw fail("data_offsets [\(begin), \(end)] reach past the end of the data, which is \(dataLength) bytes")
        }
        let size = try byteSize(dtype, shape64, tensor: name, context: source)
        guard end - begin == size else {
            throw fail("\(dtype.rawValue) of shape \(shape64) takes \(size) bytes, but data_offsets "
                       + "[\(begin), \(end)] give it \(end - begin)")
        }
        return Located(name: name, dtype: dtype, shape: shape64.map { Int($0) }, begin: Int(begin), end: Int(end))
    }

    /// The tensors, in order of their offsets, must tile the data exactly:
    /// a hole or trailing bytes could hide a second file (a polyglot), and
    /// an overlap would make two tensors alias.
    static func checkCoverage(_ located: [Located], dataLength: Int, _ fail: (String) -> MetaError) throws {
        let order = located.indices.sorted {
            (located[$0].begin, located[$0].end) < (located[$1].begin, located[$1].end)
        }
        var covered = 0
        var last: Located?
        for i in order {
            let t = located[i]
            if t.begin > covered {
                throw fail("bytes \(covered)..<\(t.begin) of the data are not covered by any tensor "
                           + "(a hole before \(quoted(t.name))); the format allows no holes")
            }
            if t.begin < covered, let p = last {
                throw fail("tensors \(quoted(p.name)) (data_offsets [\(p.begin), \(p.end)]) and \(quoted(t.name)) "
                           + "([\(t.begin), \(t.end)]) overlap")
            }
            covered = t.end
            last = t
        }
        if covered != dataLength {
            throw fail("bytes \(covered)..<\(dataLength) at the end of the data are not covered by any tensor; "
                       + "the format allows no trailing bytes")
        }
    }
}

/// The numbers of a header as written, in text order: `JSON` keeps numbers as
/// `Double`s, which cannot tell `2` from `2.0` nor hold every 64-bit offset,
/// so integers are read from their digits. The header is valid JSON when
/// this runs, so skipping strings (and their escapes) is all the lexing needed.
struct HeaderNumbers {
    let bytes: ArraySlice<UInt8>
    private(set) var spans: [Range<Int>] = []

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        var i = bytes.startIndex
        let end = bytes.endIndex
        while i < end {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                while i < end {
                    let c = bytes[i]
                    if c == UInt8(ascii: "\\") { i += 2 } else { i += 1; if c == UInt8(ascii: "\"") { break } }
                }
            } else if b == UInt8(ascii: "-") || HeaderNumbers.isDigit(b) {
                let start = i
                i += 1
                while i < end, HeaderNumbers.isNumberByte(bytes[i]) { i += 1 }
                spans.append(start..<i)
            } else {
                i += 1
            }
        }
    }

    static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
    static func isNumberByte(_ b: UInt8) -> Bool {
        isDigit(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
            || b == UInt8(ascii: "+") || b == UInt8(ascii: "-")
    }

    /// Number `k` as written, or nil when there is no such number.
    func text(_ k: Int) -> String? {
        guard spans.indices.contains(k) else { return nil }
        return String(decoding: bytes[spans[k]], as: UTF8.self)
    }

    /// Number `k` when it is plain digits below 2^64, else nil.
    func unsigned(_ k: Int) -> UInt64? {
        guard spans.indices.contains(k), !spans[k].isEmpty else { return nil }
        var v: UInt64 = 0
        for b in bytes[spans[k]] {
            guard HeaderNumbers.isDigit(b) else { return nil }
            let (times10, o1) = v.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(b - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            v = sum
        }
        return v
    }
}

extension JSON {
    /// How many numbers this value holds, at any depth (text order is the
    /// order of a depth-first walk, as `HeaderNumbers` lists them).
    var numberCount: Int {
        switch self {
        case .number: return 1
        case .array(let items): return items.reduce(0) { $0 + $1.numberCount }
        case .object(let members): return members.reduce(0) { $0 + $1.1.numberCount }
        default: return 0
        }
    }
}

/// A JSON value (RFC 8259), as model descriptions use it: written by Python,
/// stored in safetensors metadata, read and written by the engine.
///
/// Objects keep their keys in the order they were written, so a value
/// serialises to the same text every time (a description stored beside its
/// weights compares byte for byte). Equality is structural and includes that
/// order: two objects with the same members in a different order differ,
/// exactly when their serialisations do.
///
/// Numbers are `Double`s. Traps: only finite numbers are JSON, so
/// `serialized` throws for NaN or ±∞; integers beyond 2⁵³ are not exact;
/// -0 prints as `0`.
///
///     let d: JSON = ["type": "Linear", "in_features": 4, "bias": true]
///     try d.serialized            // {"type":"Linear","in_features":4,"bias":true}
///     try JSON.parse("[1, 2.5]")  // .array([.number(1), .number(2.5)])
public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    /// Members in order; keys are distinct (the parser refuses duplicates).
    case object([(String, JSON)])

    /// Deepest nesting of arrays and objects that `parse` accepts.
    public static let maxDepth = 64

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }
}

// MARK: - Construction

extension JSON: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
                ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
                ExpressibleByDictionaryLiteral {
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    /// Keys in the order written.
    public init(dictionaryLiteral elements: (String, JSON)...) { self = .object(elements) }

    public init(_ value: Bool) { self = .bool(value) }
    public init(_ value: Int) { self = .number(Double(value)) }
    public init(_ value: String) { self = .string(value) }
    public init(_ values: [Int]) { self = .array(values.map { JSON($0) }) }

    /// The shortest decimal that reads back as the same `Float` (1e-05 for
    /// `Float(1e-5)`, not 9.99999974e-06), so a float32 hyper-parameter
    /// written by Python as 1e-05 describes itself back as 1e-05.
    public init(_ value: Float) {
        self = .number(value.isFinite ? (Double(value.description) ?? Double(value)) : Double(value))
    }
}

// MARK: - Access

extension JSON {
    /// The member named `key` of an object; nil for a missing key or a non-object.
    public subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    /// Element `index` of an array; nil out of range or for a non-array.
    public subscript(index: Int) -> JSON? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }

    public var isNull: Bool { if case .null = self { return true } else { return false } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var double: Double? { if case .number(let d) = self { return d } else { return nil } }
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var array: [JSON]? { if case .array(let a) = self { return a } else { return nil } }
    public var object: [(String, JSON)]? { if case .object(let o) = self { return o } else { return nil } }
    /// The keys of an object, in order.
    public var keys: [String]? { object?.map(\.0) }

    /// A number that is a whole value exactly representable as `Int` (4 and
    /// 4.0 alike, as JSON does not tell them apart); nil otherwise.
    public var int: Int? {
        guard case .number(let d) = self, d.isFinite, d == d.rounded(),
              Swift.abs(d) <= 9_007_199_254_740_992 else { return nil }
        return Int(d)
    }

    /// What kind of value this is, for messages: "a string", "an array", ...
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

// MARK: - Serialisation

extension JSON {
    /// Compact JSON text (no whitespace), object keys in stored order, numbers
    /// that are whole and below 2⁵³ without a fraction (4, not 4.0), others
    /// in the shortest form that reads back as the same `Double`. Throws
    /// `MetaError.argument` for a non-finite number, which JSON cannot hold.
    public var serialized: String {
        get throws {
            var out = ""
            try write(to: &out, path: "")
            return out
        }
    }

    func write(to out: inout String, path: String) throws {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d):
            guard d.isFinite else {
                throw MetaError.argument("JSON: \(path.isEmpty ? "value" : path) is \(d), which JSON cannot represent")
            }
            if d == d.rounded(), Swift.abs(d) < 9_007_199_254_740_992 {
                out += String(Int64(d))
            } else {
                out += d.description
            }
        case .string(let s): JSON.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                try item.write(to: &out, path: "\(path)[\(i)]")
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += "," }
                JSON.writeString(key, to: &out)
                out += ":"
                try value.write(to: &out, path: path.isEmpty ? key : "\(path).\(key)")
            }
            out += "}"
        }
    }

    /// Quotes `s`, escaping what RFC 8259 requires (quote, backslash, control
    /// characters); everything else is written as UTF-8.
    static func writeString(_ s: String, to out: inout String) {
        let hex: [Character] = Array("0123456789abcdef")
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    out += "\\u00"
                    out.append(hex[Int(scalar.value >> 4)])
                    out.append(hex[Int(scalar.value & 15)])
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

// MARK: - Parsing

extension JSON {
    /// Parses `text` as exactly one JSON value (RFC 8259, strictly): no
    /// comments, trailing commas, single quotes, leading zeros, NaN or
    /// Infinity; whitespace is space, tab, LF and CR only. Also refused:
    /// duplicate keys in an object, nesting deeper than `maxDepth`, numbers
    /// that overflow a `Double`, and \u escapes that are lone surrogates.
    /// Errors are `MetaError.argument` with the byte offset of the fault.
    public static func parse(_ text: String) throws -> JSON {
        var parser = JSONParser(bytes: Array(text.utf8))
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.at == parser.bytes.count else { throw parser.error("unexpected text after the value") }
        return value
    }
}

/// A recursive-descent parser over UTF-8 bytes. A Swift `String` is valid
/// UTF-8 already, so only the JSON grammar is checked here.
struct JSONParser {
    let bytes: [UInt8]
    var at = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func error(_ what: String, at offset: Int? = nil) -> MetaError {
        MetaError.argument("JSON: \(what) at byte \(offset ?? at)")
    }

    var peek: UInt8? { at < bytes.count ? bytes[at] : nil }

    mutating func skipWhitespace() {
        while let b = peek, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { at += 1 }
    }

    mutating func expect(_ literal: String, _ value: JSON) throws -> JSON {
        let start = at
        for b in literal.utf8 {
            guard peek == b else { throw error("invalid literal (expected '\(literal)')", at: start) }
            at += 1
        }
        return value
    }

    mutating func value(depth: Int) throws -> JSON {
        guard let b = peek else { throw error("unexpected end of input") }
        switch b {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected character '\(Unicode.Scalar(b))'")
        }
    }

    mutating func array(depth: Int) throws -> JSON {
        guard depth <= JSON.maxDepth else { throw error("nesting deeper than \(JSON.maxDepth) levels") }
        at += 1
        var items: [JSON] = []
        skipWhitespace()
        if peek == UInt8(ascii: "]") { at += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try value(depth: depth))
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "]"): at += 1; return .array(items)
            case nil: throw error("unterminated array")
            default: throw error("expected ',' or ']' in an array")
            }
        }
    }

    mutating func object(depth: Int) throws -> JSON {
        guard depth <= JSON.maxDepth else { throw error("nesting deeper than \(JSON.maxDepth) levels") }
        at += 1
        var members: [(String, JSON)] = []
        var seen = Set<String>()
        skipWhitespace()
        if peek == UInt8(ascii: "}") { at += 1; return .object(members) }
        while true {
            skipWhitespace()
            let keyStart = at
            guard peek == UInt8(ascii: "\"") else { throw error("expected a string key in an object") }
            let key = try string()
            guard seen.insert(key).inserted else { throw error("duplicate key \"\(key)\"", at: keyStart) }
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
            at += 1
            skipWhitespace()
            members.append((key, try value(depth: depth)))
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "}"): at += 1; return .object(members)
            case nil: throw error("unterminated object")
            default: throw error("expected ',' or '}' in an object")
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, converted by
    /// the standard library's correctly rounded reader.
    mutating func number() throws -> Double {
        let start = at
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.at
            while let b = p.peek, b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") { p.at += 1 }
            return p.at - s
        }
        if peek == UInt8(ascii: "-") { at += 1 }
        if peek == UInt8(ascii: "0") {
            at += 1
            if let b = peek, b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") { throw error("leading zero in a number", at: start) }
        } else if digits(&self) == 0 {
            throw error("invalid number", at: start)
        }
        if peek == UInt8(ascii: ".") {
            at += 1
            guard digits(&self) > 0 else { throw error("expected digits after '.' in a number", at: start) }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            at += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { at += 1 }
            guard digits(&self) > 0 else { throw error("expected digits in a number's exponent", at: start) }
        }
        let lexeme = String(decoding: bytes[start..<at], as: UTF8.self)
        guard let d = Double(lexeme), d.isFinite else { throw error("number \(lexeme) is out of range", at: start) }
        return d
    }

    /// A quoted string with every escape of RFC 8259, including surrogate
    /// pairs as two \u escapes; raw control characters are refused.
    mutating func string() throws -> String {
        let start = at
        at += 1
        var out = String.UnicodeScalarView()
        var runStart = at
        func flush(_ p: JSONParser, _ out: inout String.UnicodeScalarView, _ from: Int) {
            if from < p.at { out.append(contentsOf: String(decoding: p.bytes[from..<p.at], as: UTF8.self).unicodeScalars) }
        }
        while true {
            guard let b = peek else { throw error("unterminated string", at: start) }
            if b == UInt8(ascii: "\"") {
                flush(self, &out, runStart)
                at += 1
                return String(out)
            }
            if b < 0x20 { throw error("raw control character 0x\(String(b, radix: 16)) in a string (escape it)") }
            if b != UInt8(ascii: "\\") { at += 1; continue }
            flush(self, &out, runStart)
            let escapeStart = at
            at += 1
            guard let e = peek else { throw error("unterminated string", at: start) }
            at += 1
            switch e {
            case UInt8(ascii: "\""): out.append("\"")
            case UInt8(ascii: "\\"): out.append("\\")
            case UInt8(ascii: "/"): out.append("/")
            case UInt8(ascii: "b"): out.append("\u{08}")
            case UInt8(ascii: "f"): out.append("\u{0C}")
            case UInt8(ascii: "n"): out.append("\n")
            case UInt8(ascii: "r"): out.append("\r")
            case UInt8(ascii: "t"): out.append("\t")
            case UInt8(ascii: "u"):
                let unit = try hex4()
                if unit >= 0xD800, unit < 0xDC00 {
                    guard peek == UInt8(ascii: "\\"), at + 1 < bytes.count, bytes[at + 1] == UInt8(ascii: "u") else {
                        throw error("lone high surrogate \\u\(String(unit, radix: 16)) in a string", at: escapeStart)
                    }
                    at += 2
                    let low = try hex4()
                    guard low >= 0xDC00, low < 0xE000 else {
                        throw error("high surrogate not followed by a low surrogate in a string", at: escapeStart)
                    }
                    out.append(Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))!)
                } else if unit >= 0xDC00, unit < 0xE000 {
                    throw error("lone low surrogate \\u\(String(unit, radix: 16)) in a string", at: escapeStart)
                } else {
                    out.append(Unicode.Scalar(unit)!)
                }
            default:
                throw error("invalid escape '\\\(Unicode.Scalar(e))' in a string", at: escapeStart)
            }
            runStart = at
        }
    }

    /// Four hex digits of a \u escape.
    mutating func hex4() throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let b = peek else { throw error("unterminated \\u escape") }
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in a \\u escape")
            }
            v = v << 4 | UInt32(d)
            at += 1
        }
        return v
    }
}

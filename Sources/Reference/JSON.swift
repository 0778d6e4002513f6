import Wire

/// A JSON value that keeps exactly what was sent: numbers as their literal text (so `1e999` or a
/// 400-digit integer round-trips instead of becoming `inf` or trapping), object members in their
/// order, duplicates included.
///
/// The reference parses request bodies with `JSONValue.parse` rather than Foundation so that
/// hostile input has one well-defined outcome: a nesting limit checked before recursing (a
/// 100,000-deep body cannot exhaust the stack), strict UTF-8, no `NaN`/`Infinity`, no trap.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's literal text, already checked against the JSON number grammar.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// A number from an integer.
    public static func int(_ value: Int) -> JSONValue { .number(String(value)) }

    /// The member `key` of an object (the first one when duplicated), else nil.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The deepest nesting the parser accepts. Deeper documents are rejected up front, which
    /// is what keeps a recursive descent parser safe on a small thread stack.
    public static let maximumDepth = 512

    /// Parses a complete JSON text (RFC 8259, UTF-8, surrounding whitespace allowed).
    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer throws(JSONParseError) in
            var parser = JSONParser(input: buffer)
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            guard parser.position == buffer.count else { throw parser.error("unexpected data after the JSON value") }
            return value
        }
    }

    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Compact UTF-8 encoding (no spaces), members in stored order.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        encode(into: &out)
        return out
    }

    public var encodedString: String { String(decoding: encoded, as: UTF8.self) }

    public func encode(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): out.append(contentsOf: n.utf8)
        case .string(let s): JSONValue.encodeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.encode(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, member) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.encodeString(member.0, into: &out)
                out.append(UInt8(ascii: ":"))
                member.1.encode(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func encodeString(_ s: String, into out: inout [UInt8]) {
        JSONText.append(s, to: &out)
    }
}

/// Why a body is not JSON, with the byte offset where parsing stopped.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "not valid JSON at byte \(offset): \(reason)" }
}

/// Recursive descent over a byte buffer. Recursion depth is bounded by `maximumDepth`, checked
/// before each descent, so the stack used is bounded whatever the input.
struct JSONParser {
    let input: UnsafeBufferPointer<UInt8>
    var position = 0

    init(input: UnsafeBufferPointer<UInt8>) { self.input = input }

    func error(_ reason: String) -> JSONParseError { JSONParseError(offset: position, reason: reason) }

    mutating func skipWhitespace() {
        while position < input.count {
            switch input[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard input.count - position >= count else { throw error("truncated literal") }
        let start = literal.utf8Start
        for i in 0..<count where input[position + i] != start[i] { throw error("unknown literal") }
        position += count
    }

    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard position < input.count else { throw error("unexpected end of input") }
        switch input[position] {
        case UInt8(ascii: "{"):
            guard depth < JSONValue.maximumDepth else { throw error("nested deeper than \(JSONValue.maximumDepth) levels") }
            return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["):
            guard depth < JSONValue.maximumDepth else { throw error("nested deeper than \(JSONValue.maximumDepth) levels") }
            return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try parseNumber())
        default:
            // NaN and Infinity land here: they are not JSON (RFC 8259 §6).
            throw error("unexpected character")
        }
    }

    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        position += 1  // {
        var members: [(String, JSONValue)] = []
        skipWhitespace()
        if position < input.count && input[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard position < input.count, input[position] == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let key = try parseString()
            skipWhitespace()
            guard position < input.count, input[position] == UInt8(ascii: ":") else { throw error("expected ':'") }
            position += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            members.append((key, value))
            skipWhitespace()
            guard position < input.count else { throw error("unterminated object") }
            if input[position] == UInt8(ascii: ",") { position += 1; continue }
            if input[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
            throw error("expected ',' or '}'")
        }
    }

    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        position += 1  // [
        var items: [JSONValue] = []
        skipWhitespace()
        if position < input.count && input[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            guard position < input.count else { throw error("unterminated array") }
            if input[position] == UInt8(ascii: ",") { position += 1; continue }
            if input[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
            throw error("expected ',' or ']'")
        }
    }

    mutating func parseNumber() throws(JSONParseError) -> String {
        let start = position
        func digit(_ i: Int) -> Bool { i < input.count && input[i] >= UInt8(ascii: "0") && input[i] <= UInt8(ascii: "9") }
        if input[position] == UInt8(ascii: "-") { position += 1 }
        guard digit(position) else { throw error("expected a digit") }
        if input[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            while digit(position) { position += 1 }
        }
        if position < input.count && input[position] == UInt8(ascii: ".") {
            position += 1
            guard digit(position) else { throw error("expected a digit after '.'") }
            while digit(position) { position += 1 }
        }
        if position < input.count && (input[position] == UInt8(ascii: "e") || input[position] == UInt8(ascii: "E")) {
            position += 1
            if position < input.count && (input[position] == UInt8(ascii: "+") || input[position] == UInt8(ascii: "-")) { position += 1 }
            guard digit(position) else { throw error("expected a digit in the exponent") }
            while digit(position) { position += 1 }
        }
        return String(decoding: UnsafeBufferPointer(rebasing: input[start..<position]), as: UTF8.self)
    }

    mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard input.count - position >= 4 else { throw error("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let n = Hex.nibble(input[position]) else { throw error("bad \\u escape") }
            value = value << 4 | UInt32(n)
            position += 1
        }
        return value
    }

    mutating func parseString() throws(JSONParseError) -> String {
        position += 1  // opening quote
        var bytes: [UInt8] = []
        var runStart = position
        while true {
            guard position < input.count else { throw error("unterminated string") }
            let byte = input[position]
            if byte == UInt8(ascii: "\"") {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: input[runStart..<position]))
                position += 1
                break
            }
            if byte < 0x20 { throw error("control character in string") }
            if byte != UInt8(ascii: "\\") { position += 1; continue }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: input[runStart..<position]))
            position += 1
            guard position < input.count else { throw error("unterminated escape") }
            let escape = input[position]
            position += 1
            if let short = JSONText.shortEscape(escape) {
                bytes.append(short)
                runStart = position
                continue
            }
            switch escape {
            case UInt8(ascii: "u"):
                var scalar = try parseHex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard input.count - position >= 6, input[position] == UInt8(ascii: "\\"),
                          input[position + 1] == UInt8(ascii: "u") else { throw error("unpaired surrogate") }
                    position += 2
                    let low = try parseHex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw error("unpaired surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw error("unpaired surrogate")
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw error("bad \\u escape") }
                bytes.append(contentsOf: String(Character(unicode)).utf8)
            default:
                throw error("unknown escape")
            }
            runStart = position
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw error("string is not valid UTF-8") }
        return text
    }
}

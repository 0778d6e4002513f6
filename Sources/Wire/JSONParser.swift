/// Why a text is not JSON, with the byte offset where reading stopped.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "not valid JSON at byte \(offset): \(reason)" }
}

/// A 1-based line and column (in bytes) of a byte offset, computed only for error messages.
public struct TextPosition: Sendable, Equatable {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// The position of `offset` in `bytes`. A leading UTF-8 byte-order mark is not counted in
    /// the first line's columns (an editor does not show it).
    public init(offset: Int, in bytes: UnsafeBufferPointer<UInt8>) {
        var line = 1
        var lineStart = bytes.starts(with: JSONParser.byteOrderMark) ? 3 : 0
        let end = min(offset, bytes.count)
        var i = lineStart
        while i < end {
            if bytes[i] == 0x0A {
                line += 1
                lineStart = i + 1
            }
            i += 1
        }
        self.line = line
        self.column = offset - lineStart + 1
    }

    public init(offset: Int, in bytes: [UInt8]) {
        self = bytes.withUnsafeBufferPointer { TextPosition(offset: offset, in: $0) }
    }
}

extension JSONValue {
    /// The deepest nesting of arrays and objects the parser accepts. Deeper documents are
    /// refused before recursing, which keeps a recursive descent parser safe on a small thread
    /// stack whatever the input (a 100,000-deep body is one error, not a crash).
    public static let maximumDepth = 512

    /// Parses a complete JSON text (RFC 8259: UTF-8, surrounding whitespace allowed; no `NaN`,
    /// `Infinity`, comments or trailing commas). `allowingByteOrderMark` accepts a leading
    /// UTF-8 byte-order mark, which some editors write into files people edit.
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>, allowingByteOrderMark: Bool = false) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(input: bytes)
        if allowingByteOrderMark && bytes.starts(with: JSONParser.byteOrderMark) { parser.position = 3 }
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else {
            throw parser.error("unexpected \(parser.describeCurrent()) after the end of the JSON value")
        }
        return value
    }

    public static func parse(_ bytes: [UInt8], allowingByteOrderMark: Bool = false) throws(JSONParseError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer throws(JSONParseError) in
            try parse(buffer, allowingByteOrderMark: allowingByteOrderMark)
        }
    }

    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }
}

/// The one JSON parser: recursive descent over a byte buffer, strict RFC 8259, values tagged
/// with their byte offsets. Recursion depth is bounded by `JSONValue.maximumDepth`, checked
/// before each descent, so the stack used is bounded whatever the input; strings are checked
/// to be UTF-8 rather than repaired.
///
/// `JSONValue.parse` reads a whole text. A reader that words errors its own way (a profile
/// line names the field a bad value belongs to) walks the text with the public steps instead.
public struct JSONParser {
    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    public let input: UnsafeBufferPointer<UInt8>
    /// The offset of the next byte to read.
    public var position = 0

    public init(input: UnsafeBufferPointer<UInt8>) { self.input = input }

    func error(_ reason: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(offset: offset ?? position, reason: reason)
    }

    /// The byte at the current position as an error message shows it.
    public func describeCurrent() -> String {
        guard position < input.count else { return "end of input" }
        let b = input[position]
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x" + String(b, radix: 16)
    }

    public mutating func skipWhitespace() {
        while position < input.count {
            switch input[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        let start = literal.utf8Start
        guard input.count - position >= count else { throw error("expected '\(literal)'") }
        for i in 0..<count where input[position + i] != start[i] { throw error("expected '\(literal)'") }
        position += count
    }

    /// The value at the current position; `depth` is how many arrays and objects enclose it.
    public mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard position < input.count else { throw error("expected a value, found end of input") }
        let start = position
        let kind: JSONValue.Kind
        switch input[position] {
        case UInt8(ascii: "{"):
            guard depth < JSONValue.maximumDepth else { throw error("nesting deeper than \(JSONValue.maximumDepth) levels") }
            kind = try parseObject(depth: depth + 1)
        case UInt8(ascii: "["):
            guard depth < JSONValue.maximumDepth else { throw error("nesting deeper than \(JSONValue.maximumDepth) levels") }
            kind = try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): kind = .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); kind = .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); kind = .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); kind = .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): kind = .number(try parseNumber())
        default:
            // NaN and Infinity land here: they are not JSON (RFC 8259 §6).
            throw error("expected a value, found \(describeCurrent())")
        }
        return JSONValue(kind, offset: start)
    }

    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue.Kind {
        position += 1  // {
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if position < input.count && input[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard position < input.count, input[position] == UInt8(ascii: "\"") else {
                throw error("expected a quoted member name, found \(describeCurrent())")
            }
            let key = try parseString()
            skipWhitespace()
            guard position < input.count, input[position] == UInt8(ascii: ":") else {
                throw error("expected ':' after member name \(JSONText.quote(String(key.prefix(40)))), found \(describeCurrent())")
            }
            position += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            members.append((key: key, value: value))
            skipWhitespace()
            guard position < input.count else { throw error("unterminated object: expected ',' or '}'") }
            if input[position] == UInt8(ascii: ",") { position += 1; continue }
            if input[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
            throw error("expected ',' or '}' in object, found \(describeCurrent())")
        }
    }

    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue.Kind {
        position += 1  // [
        var items: [JSONValue] = []
        skipWhitespace()
        if position < input.count && input[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            guard position < input.count else { throw error("unterminated array: expected ',' or ']'") }
            if input[position] == UInt8(ascii: ",") { position += 1; continue }
            if input[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
            throw error("expected ',' or ']' in array, found \(describeCurrent())")
        }
    }

    mutating func parseNumber() throws(JSONParseError) -> String {
        let start = position
        func digit(_ i: Int) -> Bool { i < input.count && input[i] >= UInt8(ascii: "0") && input[i] <= UInt8(ascii: "9") }
        if input[position] == UInt8(ascii: "-") { position += 1 }
        guard digit(position) else { throw error("expected a digit in number") }
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
            guard digit(position) else { throw error("expected a digit in exponent") }
            while digit(position) { position += 1 }
        }
        return String(decoding: UnsafeBufferPointer(rebasing: input[start..<position]), as: UTF8.self)
    }

    mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard input.count - position >= 4 else { throw error("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let n = Hex.nibble(input[position]) else { throw error("invalid hex digit in \\u escape") }
            value = value << 4 | UInt32(n)
            position += 1
        }
        return value
    }

    /// A string at the current position (the opening quote). Runs without escapes are copied
    /// as they are; the whole is then checked to be UTF-8.
    public mutating func parseString() throws(JSONParseError) -> String {
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
            if byte < 0x20 { throw error("control character (0x\(String(byte, radix: 16))) inside a string; escape it") }
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
            guard escape == UInt8(ascii: "u") else {
                let shown = escape >= 0x21 && escape < 0x7F ? String(Character(Unicode.Scalar(escape))) : "0x" + String(escape, radix: 16)
                throw error("invalid escape '\\\(shown)'", at: position - 2)
            }
            var scalar = try parseHex4()
            if scalar >= 0xD800 && scalar < 0xDC00 {
                // A high surrogate must be followed by an escaped low surrogate.
                guard input.count - position >= 2, input[position] == UInt8(ascii: "\\"),
                      input[position + 1] == UInt8(ascii: "u") else { throw error("unpaired surrogate in \\u escape") }
                position += 2
                let low = try parseHex4()
                guard low >= 0xDC00 && low < 0xE000 else { throw error("invalid low surrogate in \\u escape") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if scalar >= 0xDC00 && scalar < 0xE000 {
                throw error("unpaired surrogate in \\u escape")
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
            bytes.append(contentsOf: String(Character(unicode)).utf8)
            runStart = position
        }
        // Checked rather than silently repaired: a file with broken encoding should be
        // reported, and a body with it is not valid JSON.
        guard let text = String(validating: bytes, as: UTF8.self) else { throw error("string is not valid UTF-8") }
        return text
    }
}

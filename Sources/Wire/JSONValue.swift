/// A JSON value that keeps exactly what was written, and where.
///
/// Numbers keep their literal text (so `1e999` or a 400-digit integer round-trips instead of
/// becoming `inf` or trapping, and whole numbers beyond `Double` precision stay exact); object
/// members keep their order, duplicates included (header lists are written as objects);
/// `true` stays distinct from `1` (a body field compared with `true` must not match the number
/// 1). A parsed value carries the byte offset of its first character, from which an error
/// message computes a line and a column only when it needs them.
public struct JSONValue: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable {
        case null
        case bool(Bool)
        /// The number's literal text, already checked against the JSON number grammar.
        case number(String)
        case string(String)
        case array([JSONValue])
        case object([(key: String, value: JSONValue)])
    }

    public var kind: Kind
    /// Byte offset of the value's first character in the parsed text; nil for values built in code.
    public var offset: Int?

    public init(_ kind: Kind, offset: Int? = nil) {
        self.kind = kind
        self.offset = offset
    }

    public static var null: JSONValue { JSONValue(.null) }
    public static func bool(_ value: Bool) -> JSONValue { JSONValue(.bool(value)) }
    /// A number from its literal text (the caller vouches that it is a JSON number).
    public static func number(_ text: String) -> JSONValue { JSONValue(.number(text)) }
    /// A number from an integer.
    public static func int(_ value: Int) -> JSONValue { JSONValue(.number(String(value))) }
    public static func string(_ value: String) -> JSONValue { JSONValue(.string(value)) }
    public static func array(_ items: [JSONValue]) -> JSONValue { JSONValue(.array(items)) }
    public static func object(_ members: [(String, JSONValue)]) -> JSONValue { JSONValue(.object(members.map { (key: $0.0, value: $0.1) })) }

    // MARK: reading

    public var stringValue: String? { if case .string(let s) = kind { return s }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = kind { return b }; return nil }
    public var arrayValue: [JSONValue]? { if case .array(let a) = kind { return a }; return nil }
    public var objectValue: [(key: String, value: JSONValue)]? { if case .object(let o) = kind { return o }; return nil }
    public var isNull: Bool { if case .null = kind { return true }; return false }

    /// A string's text or a number's digits: what a captured value puts in a later request.
    public var scalarText: String? {
        switch kind {
        case .string(let s): return s
        case .number(let n): return n
        default: return nil
        }
    }

    public var doubleValue: Double? {
        if case .number(let text) = kind { return Double(text) }
        return nil
    }

    /// The value as a whole number when it is written as one and fits. `1e3` or `2.0` are whole
    /// numbers too: accepted when exact and well inside `Double`'s integer range.
    public var intValue: Int? {
        guard case .number(let text) = kind else { return nil }
        if let n = Int(text) { return n }
        guard let d = Double(text), d.rounded() == d, abs(d) < 9.0e15 else { return nil }
        return Int(d)
    }

    /// The member `key` of an object (the first one when duplicated), else nil.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = kind else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// A short name for the value's type, for error messages ("expected a string, found an array").
    public var typeName: String {
        switch kind {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    // MARK: comparing

    /// Exact equality of what was written: number texts, member order and duplicates count;
    /// where a value was found does not.
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a.kind, b.kind) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// Structural equality, as a fixture compares a body with what it expects: numbers by value,
    /// objects by key set regardless of order.
    public static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a.kind, b.kind) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)):
            if x == y { return true }
            if let dx = Double(x), let dy = Double(y) { return dx == dy }
            return false
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            guard x.count == y.count else { return false }
            for (key, value) in x {
                guard let other = y.first(where: { $0.key == key }), equal(value, other.value) else { return false }
            }
            return true
        default:
            return false
        }
    }

    // MARK: writing

    /// Compact UTF-8 encoding (no spaces), members in stored order.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        encode(into: &out)
        return out
    }

    public var encodedString: String { String(decoding: encoded, as: UTF8.self) }

    /// Compact JSON text, as `encoded`.
    public var description: String { encodedString }

    public func encode(into out: inout [UInt8]) {
        switch kind {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): out.append(contentsOf: n.utf8)
        case .string(let s): JSONText.append(s, to: &out)
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
                JSONText.append(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                member.value.encode(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Pretty-printed JSON (two-space indent), for reports.
    public var pretty: String {
        var out: [UInt8] = []
        writePretty(indent: 0, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private func writePretty(indent: Int, into out: inout [UInt8]) {
        let pad = Array(repeating: UInt8(ascii: " "), count: 2 * (indent + 1))
        let closePad = Array(repeating: UInt8(ascii: " "), count: 2 * indent)
        switch kind {
        case .array(let items) where !items.isEmpty:
            out.append(contentsOf: "[\n".utf8)
            for (i, item) in items.enumerated() {
                out.append(contentsOf: pad)
                item.writePretty(indent: indent + 1, into: &out)
                out.append(contentsOf: (i + 1 < items.count ? ",\n" : "\n").utf8)
            }
            out.append(contentsOf: closePad)
            out.append(UInt8(ascii: "]"))
        case .object(let members) where !members.isEmpty:
            out.append(contentsOf: "{\n".utf8)
            for (i, member) in members.enumerated() {
                out.append(contentsOf: pad)
                JSONText.append(member.key, to: &out)
                out.append(contentsOf: ": ".utf8)
                member.value.writePretty(indent: indent + 1, into: &out)
                out.append(contentsOf: (i + 1 < members.count ? ",\n" : "\n").utf8)
            }
            out.append(contentsOf: closePad)
            out.append(UInt8(ascii: "}"))
        default:
            encode(into: &out)
        }
    }
}

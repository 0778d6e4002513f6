import Wire

/// Text with `{symbol}` references (`/api/v1/boards/{board}/webhooks/{webhook.open}`), parsed
/// once when the fixture is read so that an unknown symbol is a decoding error, not a skip at
/// run time. `{{` and `}}` stand for literal braces.
public struct Template: Sendable, Equatable, CustomStringConvertible {
    public enum Part: Sendable, Equatable {
        case literal(String)
        case symbol(String)
    }

    public var parts: [Part]

    public init(parts: [Part]) { self.parts = parts }

    public init(literal: String) { parts = literal.isEmpty ? [] : [.literal(literal)] }

    public var symbols: Set<String> {
        var all: Set<String> = []
        for case .symbol(let s) in parts { all.insert(s) }
        return all
    }

    /// The template as written.
    public var description: String {
        parts.map { part in
            switch part {
            case .literal(let s): return s.replacingOccurrences(of: "{", with: "{{").replacingOccurrences(of: "}", with: "}}")
            case .symbol(let s): return "{\(s)}"
            }
        }.joined()
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses `text`, checking each symbol with `isKnown` (which returns an error message or nil).
    public static func parse(_ text: String, isKnown: (String) -> String?) throws -> Template {
        var parts: [Part] = []
        var literal = ""
        var chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "{" {
                if i + 1 < chars.count, chars[i + 1] == "{" { literal.append("{"); i += 2; continue }
                guard let close = chars[(i + 1)...].firstIndex(of: "}") else {
                    throw ParseError(description: "unclosed '{' in \"\(text)\" (write {{ for a literal brace)")
                }
                let name = String(chars[(i + 1)..<close])
                if let problem = isKnown(name) { throw ParseError(description: problem) }
                if !literal.isEmpty { parts.append(.literal(literal)); literal = "" }
                parts.append(.symbol(name))
                i = close + 1
            } else if c == "}" {
                if i + 1 < chars.count, chars[i + 1] == "}" { literal.append("}"); i += 2; continue }
                throw ParseError(description: "stray '}' in \"\(text)\" (write }} for a literal brace)")
            } else {
                literal.append(c)
                i += 1
            }
        }
        chars = []
        if !literal.isEmpty { parts.append(.literal(literal)) }
        return Template(parts: parts)
    }

    /// Substitutes every symbol; `lookup` returns nil for a symbol the target cannot provide.
    public func resolve(_ lookup: (String) -> String?) throws -> String {
        var out = ""
        for part in parts {
            switch part {
            case .literal(let s): out += s
            case .symbol(let name):
                guard let value = lookup(name) else { throw MissingSymbol(name: name) }
                out += value
            }
        }
        return out
    }

    /// Symbols used in the string values (and keys) of a JSON template.
    static func symbols(inJSON json: JSONValue) -> Set<String> {
        switch json.kind {
        case .string(let s): return (try? parse(s, isKnown: { _ in nil }))?.symbols ?? []
        case .array(let items): return items.reduce(into: []) { $0.formUnion(symbols(inJSON: $1)) }
        case .object(let members):
            return members.reduce(into: []) { acc, m in
                acc.formUnion(symbols(inJSON: m.value))
                acc.formUnion((try? parse(m.key, isKnown: { _ in nil }))?.symbols ?? [])
            }
        default: return []
        }
    }

    /// Resolves every string (and key) of a JSON template.
    static func resolve(json: JSONValue, _ lookup: (String) -> String?) throws -> JSONValue {
        switch json.kind {
        case .string(let s):
            return JSONValue(.string(try parse(s, isKnown: { _ in nil }).resolve(lookup)), offset: json.offset)
        case .array(let items):
            return JSONValue(.array(try items.map { try resolve(json: $0, lookup) }), offset: json.offset)
        case .object(let members):
            return JSONValue(.object(try members.map {
                (key: try parse($0.key, isKnown: { _ in nil }).resolve(lookup), value: try resolve(json: $0.value, lookup))
            }), offset: json.offset)
        default:
            return json
        }
    }
}

/// A symbol the target does not provide (the fixture is skipped, naming it).
public struct MissingSymbol: Error, CustomStringConvertible {
    public var name: String
    public var description: String { "the target provides no {\(name)}" }
}

/// A path into a JSON document: `detail`, `items.0.id`, `*.id`, `` (the root).
/// Segments are member names, array indexes, or `*` for every element or member.
public struct JSONPath: Sendable, Equatable, CustomStringConvertible {
    public var segments: [String]

    public init(_ text: String) {
        segments = text.isEmpty || text == "$" ? [] : text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }

    public var description: String { segments.isEmpty ? "(root)" : segments.joined(separator: ".") }

    public var hasWildcard: Bool { segments.contains("*") }

    /// Every value the path reaches.
    public func values(in json: JSONValue) -> [JSONValue] {
        var current = [json]
        for segment in segments {
            var next: [JSONValue] = []
            for value in current {
                switch value.kind {
                case .object(let members):
                    if segment == "*" { next.append(contentsOf: members.map(\.value)) }
                    else if let m = members.first(where: { $0.key == segment }) { next.append(m.value) }
                case .array(let items):
                    if segment == "*" { next.append(contentsOf: items) }
                    else if let i = Int(segment), i >= 0, i < items.count { next.append(items[i]) }
                default:
                    break
                }
            }
            current = next
        }
        return current
    }
}

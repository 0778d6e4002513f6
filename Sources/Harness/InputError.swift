/// A problem in a file the user wrote (rule catalog, fixture, target file): where it is and
/// what was expected, e.g.
/// `Fixtures/suites/rate-limit.json:14:19: $.fixtures[2].steps[0].repeat: expected a whole number from 1 to 10000, found a string`.
public struct InputError: Error, CustomStringConvertible, Sendable {
    public var file: String
    /// JSONPath-style location (`$.fixtures[2].steps[0]`), or "" for file-level problems.
    public var path: String
    public var line: Int
    public var column: Int
    public var message: String

    public init(file: String, path: String = "", line: Int = 0, column: Int = 0, message: String) {
        self.file = file
        self.path = path
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        var text = file
        if line > 0 { text += ":\(line):\(column)" }
        text += ": "
        if !path.isEmpty { text += path + ": " }
        return text + message
    }
}

/// A JSON value being decoded, with the file and path it came from, so that every accessor
/// can throw an `InputError` that says exactly where and what.
public struct Node: Sendable {
    public let json: JSON
    public let path: String
    public let file: String

    public init(json: JSON, path: String = "$", file: String) {
        self.json = json
        self.path = path
        self.file = file
    }

    /// Parses `bytes` as JSON and returns the root node; syntax errors become `InputError`s.
    public static func parse(_ bytes: [UInt8], file: String) throws -> Node {
        do {
            return Node(json: try JSONParser.parse(bytes), file: file)
        } catch let e as JSONSyntaxError {
            throw InputError(file: file, line: e.line, column: e.column, message: "not valid JSON: \(e.message)")
        }
    }

    public func error(_ message: String) -> InputError {
        InputError(file: file, path: path, line: json.line, column: json.column, message: message)
    }

    public func expected(_ what: String) -> InputError {
        error("expected \(what), found \(describe(json))")
    }

    private func describe(_ value: JSON) -> String {
        switch value.kind {
        case .string(let s):
            let shown = s.count > 40 ? String(s.prefix(40)) + "…" : s
            return "the string \"\(shown)\""
        case .number(let n): return "the number \(n)"
        case .bool(let b): return "\(b)"
        default: return value.typeName
        }
    }

    // MARK: scalars

    public func string() throws -> String {
        guard let s = json.stringValue else { throw expected("a string") }
        return s
    }

    public func nonEmptyString() throws -> String {
        let s = try string()
        guard !s.isEmpty else { throw error("expected a non-empty string") }
        return s
    }

    public func bool() throws -> Bool {
        guard let b = json.boolValue else { throw expected("true or false") }
        return b
    }

    public func int(in range: ClosedRange<Int>? = nil) throws -> Int {
        let rangeText = range.map { " from \($0.lowerBound) to \($0.upperBound)" } ?? ""
        guard let n = json.intValue else { throw expected("a whole number\(rangeText)") }
        if let range, !range.contains(n) { throw error("expected a whole number\(rangeText), found \(n)") }
        return n
    }

    public func double(in range: ClosedRange<Double>? = nil) throws -> Double {
        guard let d = json.doubleValue, d.isFinite else { throw expected("a number") }
        if let range, !range.contains(d) { throw error("expected a number from \(range.lowerBound) to \(range.upperBound), found \(d)") }
        return d
    }

    public func oneOf(_ choices: [String]) throws -> String {
        let s = try string()
        guard choices.contains(s) else {
            throw error("expected one of \(choices.map { "\"\($0)\"" }.joined(separator: ", ")), found \"\(s)\"")
        }
        return s
    }

    // MARK: containers

    public var isObject: Bool { json.objectValue != nil }
    public var isArray: Bool { json.arrayValue != nil }
    public var isString: Bool { json.stringValue != nil }

    public func array() throws -> [Node] {
        guard let items = json.arrayValue else { throw expected("an array") }
        return items.enumerated().map { Node(json: $1, path: "\(path)[\($0)]", file: file) }
    }

    public func nonEmptyArray() throws -> [Node] {
        let items = try array()
        guard !items.isEmpty else { throw error("expected a non-empty array") }
        return items
    }

    /// The members of an object, in file order.
    public func members() throws -> [(key: String, node: Node)] {
        guard let members = json.objectValue else { throw expected("an object") }
        return members.map { (key: $0.key, node: Node(json: $0.value, path: Node.join(path, $0.key), file: file)) }
    }

    /// Object of strings → ordered pairs.
    public func stringPairs() throws -> [(String, String)] {
        try members().map { ($0.key, try $0.node.string()) }
    }

    public func stringArray() throws -> [String] {
        try array().map { try $0.string() }
    }

    /// A string or an array of strings, as an array.
    public func stringOrArray() throws -> [String] {
        if isString { return [try string()] }
        guard isArray else { throw expected("a string or an array of strings") }
        return try stringArray()
    }

    // MARK: object access

    /// The member `key`, or nil when absent (an explicit `null` counts as absent).
    public func optional(_ key: String) throws -> Node? {
        guard let members = json.objectValue else { throw expected("an object") }
        guard let value = members.first(where: { $0.key == key })?.value, !value.isNull else { return nil }
        return Node(json: value, path: Node.join(path, key), file: file)
    }

    public func required(_ key: String) throws -> Node {
        guard let node = try optional(key) else { throw error("missing required member \"\(key)\"") }
        return node
    }

    public func has(_ key: String) -> Bool { json[key].map { !$0.isNull } ?? false }

    /// Rejects members not in `allowed` (a misspelt key must not silently weaken a fixture)
    /// and duplicated keys. Members starting with `$` (e.g. `$comment`) are always allowed.
    public func allowOnly(_ allowed: Set<String>) throws {
        guard let members = json.objectValue else { throw expected("an object") }
        var seen: Set<String> = []
        for member in members {
            if !seen.insert(member.key).inserted {
                throw Node(json: member.value, path: Node.join(path, member.key), file: file)
                    .error("member \"\(member.key)\" appears twice")
            }
            if member.key.hasPrefix("$") || allowed.contains(member.key) { continue }
            let suggestion = Node.closest(member.key, in: allowed).map { " (did you mean \"\($0)\"?)" } ?? ""
            throw Node(json: member.value, path: Node.join(path, member.key), file: file)
                .error("unknown member \"\(member.key)\"\(suggestion); allowed: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    static func join(_ path: String, _ key: String) -> String {
        let simple = !key.isEmpty && key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } && !(key.first?.isNumber ?? true)
        return simple ? "\(path).\(key)" : "\(path)[\"\(key)\"]"
    }

    /// The allowed name within edit distance 2, to suggest for a typo.
    static func closest(_ word: String, in candidates: Set<String>) -> String? {
        var best: (String, Int)? = nil
        for c in candidates.sorted() {
            let d = editDistance(Array(word.lowercased()), Array(c.lowercased()))
            guard d <= 2 else { continue }
            if let current = best, current.1 <= d { continue }
            best = (c, d)
        }
        return best?.0
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

/// A value of a JSON file being decoded, with the file it came from and its JSON path, so that
/// every accessor can throw an `InputError` that says exactly where (line, column, path) and
/// what was expected. Files people write (rule catalogs, fixtures, target files, worlds, specs)
/// are all read through it: a misspelt member name is an error with a "did you mean", not a
/// silently weaker file.
public struct JSONCursor: Sendable {
    public let json: JSONValue
    /// JSONPath-style location (`$.fixtures[2].steps[0]`).
    public let path: String
    public let file: String
    /// The parsed text, for turning a value's byte offset into a line and a column.
    private let text: [UInt8]

    public init(json: JSONValue, path: String = "$", file: String) {
        self.init(json: json, path: path, file: file, text: [])
    }

    private init(json: JSONValue, path: String, file: String, text: [UInt8]) {
        self.json = json
        self.path = path
        self.file = file
        self.text = text
    }

    /// Parses `bytes` (a leading byte-order mark allowed) and returns the root; a syntax error
    /// becomes an `InputError` naming its line and column.
    public static func parse(_ bytes: [UInt8], file: String) throws(InputError) -> JSONCursor {
        do {
            let value = try JSONValue.parse(bytes, allowingByteOrderMark: true)
            return JSONCursor(json: value, path: "$", file: file, text: bytes)
        } catch {
            let at = TextPosition(offset: error.offset, in: bytes)
            throw InputError(file: file, line: at.line, column: at.column, message: "not valid JSON: \(error.reason)")
        }
    }

    /// The cursor for `value` found at `path` in the same file.
    public func child(_ value: JSONValue, path: String) -> JSONCursor {
        JSONCursor(json: value, path: path, file: file, text: text)
    }

    /// The cursor for the member `key` holding `value`.
    public func member(_ key: String, _ value: JSONValue) -> JSONCursor {
        child(value, path: JSONCursor.join(path, key))
    }

    // MARK: errors

    /// An error at this value: its line and column when it was parsed from the file.
    public func error(_ message: String) -> InputError {
        guard let offset = json.offset, offset <= text.count, !text.isEmpty else {
            return InputError(file: file, path: path, message: message)
        }
        let at = TextPosition(offset: offset, in: text)
        return InputError(file: file, line: at.line, column: at.column, path: path, message: message)
    }

    public func expected(_ what: String) -> InputError {
        error("expected \(what), found \(describe(json))")
    }

    private func describe(_ value: JSONValue) -> String {
        switch value.kind {
        case .string(let s):
            let shown = s.count > 40 ? String(s.prefix(40)) + "…" : s
            return "the string \"\(shown)\""
        case .number(let n): return "the number \(n)"
        case .bool(let b): return "\(b)"
        default: return value.typeName
        }
    }

    /// A bound as a message shows it: whole numbers without a fraction (`10000000`, not `1e+07`).
    static func shown(_ value: Double) -> String {
        if value.rounded() == value && abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    // MARK: scalars

    public func string() throws(InputError) -> String {
        guard let s = json.stringValue else { throw expected("a string") }
        return s
    }

    public func nonEmptyString() throws(InputError) -> String {
        let s = try string()
        guard !s.isEmpty else { throw error("expected a non-empty string") }
        return s
    }

    public func bool() throws(InputError) -> Bool {
        guard let b = json.boolValue else { throw expected("true or false") }
        return b
    }

    public func int(in range: ClosedRange<Int>? = nil) throws(InputError) -> Int {
        let rangeText = range.map { " from \($0.lowerBound) to \($0.upperBound)" } ?? ""
        guard let n = json.intValue else { throw expected("a whole number\(rangeText)") }
        if let range, !range.contains(n) { throw error("expected a whole number\(rangeText), found \(n)") }
        return n
    }

    public func double(in range: ClosedRange<Double>? = nil) throws(InputError) -> Double {
        let rangeText = range.map { " from \(JSONCursor.shown($0.lowerBound)) to \(JSONCursor.shown($0.upperBound))" } ?? ""
        guard let d = json.doubleValue, d.isFinite else { throw expected("a number\(rangeText)") }
        if let range, !range.contains(d) { throw error("expected a number\(rangeText), found \(json.scalarText ?? "\(d)")") }
        return d
    }

    public func oneOf(_ choices: [String]) throws(InputError) -> String {
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

    public func array() throws(InputError) -> [JSONCursor] {
        guard let items = json.arrayValue else { throw expected("an array") }
        return items.enumerated().map { child($1, path: "\(path)[\($0)]") }
    }

    public func nonEmptyArray() throws(InputError) -> [JSONCursor] {
        let items = try array()
        guard !items.isEmpty else { throw error("expected a non-empty array") }
        return items
    }

    /// The members of an object, in file order.
    public func members() throws(InputError) -> [(key: String, node: JSONCursor)] {
        guard let members = json.objectValue else { throw expected("an object") }
        return members.map { (key: $0.key, node: member($0.key, $0.value)) }
    }

    /// Object of strings → ordered pairs.
    public func stringPairs() throws(InputError) -> [(String, String)] {
        var pairs: [(String, String)] = []
        for m in try members() { pairs.append((m.key, try m.node.string())) }
        return pairs
    }

    public func stringArray() throws(InputError) -> [String] {
        var out: [String] = []
        for item in try array() { out.append(try item.string()) }
        return out
    }

    /// A string or an array of strings, as an array.
    public func stringOrArray() throws(InputError) -> [String] {
        if isString { return [try string()] }
        guard isArray else { throw expected("a string or an array of strings") }
        return try stringArray()
    }

    // MARK: object access

    /// The member `key`, or nil when absent (an explicit `null` counts as absent).
    public func optional(_ key: String) throws(InputError) -> JSONCursor? {
        guard let members = json.objectValue else { throw expected("an object") }
        guard let value = members.first(where: { $0.key == key })?.value, !value.isNull else { return nil }
        return member(key, value)
    }

    public func required(_ key: String) throws(InputError) -> JSONCursor {
        guard let node = try optional(key) else { throw error("missing required member \"\(key)\"") }
        return node
    }

    public func has(_ key: String) -> Bool { json[key].map { !$0.isNull } ?? false }

    /// Rejects members not in `allowed` (a misspelt key must not silently weaken a file) and
    /// duplicated keys. Members starting with `$` (e.g. `$comment`) are always allowed.
    public func allowOnly(_ allowed: Set<String>) throws(InputError) {
        guard let members = json.objectValue else { throw expected("an object") }
        var seen: Set<String> = []
        for m in members {
            if !seen.insert(m.key).inserted {
                throw member(m.key, m.value).error("member \"\(m.key)\" appears twice")
            }
            if m.key.hasPrefix("$") || allowed.contains(m.key) { continue }
            let suggestion = JSONCursor.closest(m.key, in: allowed).map { " (did you mean \"\($0)\"?)" } ?? ""
            throw member(m.key, m.value).error("unknown member \"\(m.key)\"\(suggestion); allowed: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    /// The members of an object by name, after `allowOnly(allowed)`; an explicit `null` is kept
    /// (and refused by whatever reads it).
    public func object(allowed: Set<String>) throws(InputError) -> [String: JSONCursor] {
        try allowOnly(allowed)
        var result: [String: JSONCursor] = [:]
        for m in try members() where !m.key.hasPrefix("$") { result[m.key] = m.node }
        return result
    }

    /// `path.key`, or `path["key"]` when the key is not a plain name.
    public static func join(_ path: String, _ key: String) -> String {
        let simple = !key.isEmpty && key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } && !(key.first?.isNumber ?? true)
        return simple ? "\(path).\(key)" : "\(path)[\(JSONText.quote(key))]"
    }

    /// The candidate within edit distance 2 of `word`, to suggest for a typo.
    public static func closest(_ word: String, in candidates: Set<String>) -> String? {
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

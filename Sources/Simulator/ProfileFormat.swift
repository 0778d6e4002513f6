import Reference
import Wire

// Rule: profile files are JSON Lines or CSV, read strictly. JSON Lines: one object per line
// with the fields t, client, endpoint, body_bytes, signature and optionally proxy_header
// ({"name", "value"} or null); unknown or repeated fields are errors. CSV: a header row naming
// the columns (t, client, endpoint, body_bytes, signature, and optionally proxy_header_name and
// proxy_header_value), in any order, then one row per event; RFC 4180 quoting. Blank lines are
// skipped. Times are decimal seconds with at most six decimals and no exponent, so that what is
// read is exactly what was written. Every error names the line, the column and the field.

/// The text formats of a profile.
public enum ProfileFormat: String, Sendable, CaseIterable {
    case jsonl
    case csv

    /// The format a file name suggests (`.csv` → CSV, anything else → JSON Lines).
    public static func guess(path: String) -> ProfileFormat {
        path.lowercased().hasSuffix(".csv") ? .csv : .jsonl
    }

    /// The CSV column names, required ones first.
    public static let csvColumns = ["t", "client", "endpoint", "body_bytes", "signature", "proxy_header_name", "proxy_header_value"]
    static let jsonFields = ["t", "client", "endpoint", "body_bytes", "signature", "proxy_header"]
}

/// Reads profile files.
public enum ProfileReader {
    /// Reads a whole profile from `path` (`-` for standard input) in `format` (guessed from
    /// the name when nil).
    public static func read(path: String, format: ProfileFormat? = nil) throws -> Profile {
        let format = format ?? ProfileFormat.guess(path: path)
        var profile = Profile()
        let source = path == "-" ? "<stdin>" : path
        switch format {
        case .jsonl:
            try LineReader.forEachLine(path: path) { line, number in
                guard !isBlank(line) else { return }
                let event: ProfileEvent
                do {
                    var parser = JSONLineParser(bytes: line)
                    event = try parser.parseEvent()
                } catch let problem as LineProblem {
                    throw ProfileError(source: source, line: number, column: problem.column, field: problem.field, message: problem.message)
                }
                try accept(event, into: &profile, source: source, line: number, column: nil)
            }
        case .csv:
            var columns: CSVColumns?
            var ranges: [Range<Int>] = []
            try LineReader.forEachLine(path: path) { line, number in
                guard !isBlank(line) else { return }
                if let layout = columns {
                    // Fast path: no quotes, every field well formed. Anything else goes the
                    // careful way, which also words the error.
                    if let event = layout.quickEvent(line, ranges: &ranges), acceptRaw(event, into: &profile) {
                        return
                    }
                }
                let fields: [CSVField]
                do {
                    fields = try CSVLine.split(line)
                } catch let problem as LineProblem {
                    throw ProfileError(source: source, line: number, column: problem.column, message: problem.message)
                }
                guard let layout = columns else {
                    columns = try CSVColumns(header: fields, source: source, line: number)
                    return
                }
                let event = try layout.event(from: fields, source: source, line: number)
                try accept(event, into: &profile, source: source, line: number, column: nil)
            }
            if columns == nil {
                throw ProfileError(source: source, line: 0, message: "empty CSV profile: expected a header row (\(ProfileFormat.csvColumns.prefix(5).joined(separator: ",")))")
            }
        }
        return profile
    }

    /// Checks an event and appends it. Addresses and proxy headers are checked once, when
    /// first seen (a profile repeats few of them many times).
    static func accept(_ event: ProfileEvent, into profile: inout Profile, source: String, line: Int, column: Int?) throws {
        func fail(_ problem: EventProblem) -> ProfileError {
            ProfileError(source: source, line: line, column: column, field: problem.field, message: problem.message)
        }
        if let problem = ProfileRules.checkTime(event.time, previous: profile.times.last)
            ?? ProfileRules.checkBodyBytes(event.bodyBytes) ?? ProfileRules.checkSignature(event.signature, endpoint: event.endpoint) {
            throw fail(problem)
        }
        let client: Int32
        if let id = profile.existingClientID(event.client) {
            client = id
        } else {
            if let problem = ProfileRules.checkClient(event.client) { throw fail(problem) }
            client = profile.clientID(event.client)
        }
        var proxy: Int32 = -1
        if let header = event.proxyHeader {
            if let id = profile.existingProxyID(header) {
                proxy = id
            } else {
                if let problem = ProfileRules.checkProxyHeader(header) { throw fail(problem) }
                proxy = profile.proxyID(header)
            }
        }
        profile.append(time: event.time, clientID: client, endpoint: event.endpoint, signature: event.signature,
                       bodyBytes: event.bodyBytes, proxyID: proxy)
    }

    /// The fast path's event: the client still as bytes of the line.
    struct RawEvent {
        var time: Double
        var client: UnsafeBufferPointer<UInt8>
        var endpoint: Endpoint
        var bodyBytes: Int
        var signature: SignatureMode
        var proxyHeader: ProxyHeader?
    }

    /// Appends a fast-path event; false (nothing appended) when it needs the careful path.
    static func acceptRaw(_ event: RawEvent, into profile: inout Profile) -> Bool {
        if ProfileRules.checkTime(event.time, previous: profile.times.last) != nil || ProfileRules.checkBodyBytes(event.bodyBytes) != nil
            || ProfileRules.checkSignature(event.signature, endpoint: event.endpoint) != nil {
            return false
        }
        var proxy: Int32 = -1
        if let header = event.proxyHeader {
            guard let id = profile.existingProxyID(header) ?? (ProfileRules.checkProxyHeader(header) == nil ? profile.proxyID(header) : nil) else { return false }
            proxy = id
        }
        guard let client = try? profile.clientID(bytes: event.client, check: ProfileRules.checkClient) else { return false }
        profile.append(time: event.time, clientID: client, endpoint: event.endpoint, signature: event.signature,
                       bodyBytes: event.bodyBytes, proxyID: proxy)
        return true
    }

    static func isBlank(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        line.allSatisfy { $0 == 32 || $0 == 9 || $0 == 13 }
    }

    /// Parses a time offset: digits, optionally a point and 1–6 digits. Returns seconds.
    static func parseTime(_ text: UnsafeBufferPointer<UInt8>) -> Double? {
        var micros: Int64 = 0
        var i = 0
        var intDigits = 0
        while i < text.count, text[i] >= 48, text[i] <= 57 {
            micros = micros * 10 + Int64(text[i] - 48)
            intDigits += 1
            i += 1
            if intDigits > 10 { return nil }
        }
        guard intDigits > 0 else { return nil }
        var fractionDigits = 0
        if i < text.count && text[i] == UInt8(ascii: ".") {
            i += 1
            while i < text.count, text[i] >= 48, text[i] <= 57 {
                fractionDigits += 1
                if fractionDigits > 6 { return nil }
                micros = micros * 10 + Int64(text[i] - 48)
                i += 1
            }
            guard fractionDigits > 0 else { return nil }
        }
        guard i == text.count else { return nil }
        for _ in fractionDigits..<6 { micros *= 10 }
        return Double(micros) / 1e6
    }

    static let timeExpectation = "expected seconds as a decimal number with at most 6 decimals and no exponent, like 12.5"

    /// Parses a non-negative integer of at most 10 digits.
    static func parseCount(_ text: UnsafeBufferPointer<UInt8>) -> Int? {
        guard !text.isEmpty, text.count <= 10, text.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        var n = 0
        for b in text { n = n * 10 + Int(b - 48) }
        return n
    }

    static func endpoint(_ text: String) throws(EventProblem) -> Endpoint {
        guard let endpoint = Endpoint(name: text) else {
            throw EventProblem(field: "endpoint", message: "expected webhook or agent_auth, got \(ProfileRules.quoted(text))")
        }
        return endpoint
    }

    static func signature(_ text: String) throws(EventProblem) -> SignatureMode {
        guard let mode = SignatureMode(name: text) else {
            throw EventProblem(field: "signature", message: "expected valid, missing, invalid or none, got \(ProfileRules.quoted(text))")
        }
        return mode
    }
}

/// A problem inside one line (column 1-based).
struct LineProblem: Error {
    var column: Int
    var field: String?
    var message: String
}

/// A strict parser of one JSON Lines event.
struct JSONLineParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func fail(_ message: String, field: String? = nil, at position: Int? = nil) -> LineProblem {
        LineProblem(column: (position ?? i) + 1, field: field, message: message)
    }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 32 || bytes[i] == 9 || bytes[i] == 13 { i += 1 }
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(LineProblem) {
        skipSpace()
        guard i < bytes.count, bytes[i] == byte else {
            throw fail("expected \(what), found \(found())")
        }
        i += 1
    }

    func found() -> String {
        guard i < bytes.count else { return "the end of the line" }
        let b = bytes[i]
        if b >= 0x20 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x\(String(b, radix: 16))"
    }

    mutating func parseEvent() throws(LineProblem) -> ProfileEvent {
        try expect(UInt8(ascii: "{"), "'{' (each line is one JSON object)")
        var time: Double?
        var client: String?
        var endpoint: Endpoint?
        var bodyBytes: Int?
        var signature: SignatureMode?
        var proxy: ProxyHeader??
        var seen: UInt8 = 0
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                skipSpace()
                let keyStart = i
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a field name in double quotes, found \(found())") }
                let code = try parseKey()
                guard code < ProfileFormat.jsonFields.count else {
                    i = keyStart
                    let key = try parseString(field: nil)
                    throw fail("unknown field; an event has \(ProfileFormat.jsonFields.joined(separator: ", "))", field: key, at: keyStart)
                }
                let key = ProfileFormat.jsonFields[code]
                guard seen & (1 << code) == 0 else { throw fail("field given twice", field: key, at: keyStart) }
                seen |= 1 << code
                try expect(UInt8(ascii: ":"), "':' after the field name")
                skipSpace()
                let valueStart = i
                do throws(EventProblem) {
                    switch code {
                    case 0:
                        let text = scanNumber()
                        guard let t = ProfileReader.parseTime(text) else {
                            throw EventProblem(field: "t", message: ProfileReader.timeExpectation + ", got \(describe(text))")
                        }
                        time = t
                    case 1:
                        client = try requireString(field: "client", expectation: "an address in double quotes like \"10.0.0.7\"")
                    case 2:
                        if let quick = quickMatch(CSVColumns.endpoint) {
                            endpoint = quick
                        } else {
                            endpoint = try ProfileReader.endpoint(try requireString(field: "endpoint", expectation: "\"webhook\" or \"agent_auth\""))
                        }
                    case 3:
                        let text = scanNumber()
                        guard let n = ProfileReader.parseCount(text), ProfileRules.checkBodyBytes(n) == nil else {
                            throw EventProblem(field: "body_bytes", message: "expected a whole number of bytes from 0 to \(ProfileRules.maximumBodyBytes), got \(describe(text))")
                        }
                        bodyBytes = n
                    case 4:
                        if let quick = quickMatch(CSVColumns.signature) {
                            signature = quick
                        } else {
                            signature = try ProfileReader.signature(try requireString(field: "signature", expectation: "\"valid\", \"missing\", \"invalid\" or \"none\""))
                        }
                    default:
                        proxy = try parseProxyHeader()
                    }
                } catch {
                    throw fail(error.message, field: error.field, at: valueStart)
                }
                skipSpace()
                guard i < bytes.count else { throw fail("expected ',' or '}', found the end of the line") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; break }
                throw fail("expected ',' or '}', found \(found())")
            }
        }
        skipSpace()
        guard i == bytes.count else { throw fail("unexpected \(found()) after the object (one event per line)") }
        let end = bytes.count
        guard let time else { throw fail("missing field (seconds since the start, like 1.5)", field: "t", at: end) }
        guard let client else { throw fail("missing field (the client address)", field: "client", at: end) }
        guard let endpoint else { throw fail("missing field (webhook or agent_auth)", field: "endpoint", at: end) }
        guard let bodyBytes else { throw fail("missing field (the body size in bytes)", field: "body_bytes", at: end) }
        guard let signature else { throw fail("missing field (valid, missing, invalid or none)", field: "signature", at: end) }
        return ProfileEvent(time: time, client: client, endpoint: endpoint, bodyBytes: bodyBytes, signature: signature,
                            proxyHeader: proxy ?? nil)
    }

    /// Reads a field name and returns its index in `ProfileFormat.jsonFields` (their count when
    /// it is none of them). Names without escapes are matched on their bytes.
    mutating func parseKey() throws(LineProblem) -> Int {
        var j = i + 1
        while j < bytes.count && bytes[j] != UInt8(ascii: "\"") && bytes[j] != UInt8(ascii: "\\") { j += 1 }
        if j < bytes.count && bytes[j] == UInt8(ascii: "\"") {
            let name = UnsafeBufferPointer(rebasing: bytes[(i + 1)..<j])
            i = j + 1
            for (k, known) in JSONLineParser.keyBytes.enumerated() where known.count == name.count {
                var same = true
                for m in 0..<name.count where known[m] != name[m] { same = false; break }
                if same { return k }
            }
            return ProfileFormat.jsonFields.count
        }
        let text = try parseString(field: nil)
        return ProfileFormat.jsonFields.firstIndex(of: text) ?? ProfileFormat.jsonFields.count
    }

    static let keyBytes: [[UInt8]] = ProfileFormat.jsonFields.map { Array($0.utf8) }

    /// A quoted string without escapes at `i` that `match` recognises: consumed, and what
    /// `match` made of it; nil (nothing consumed) otherwise.
    mutating func quickMatch<T>(_ match: (UnsafeBufferPointer<UInt8>) -> T?) -> T? {
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return nil }
        var j = i + 1
        while j < bytes.count && bytes[j] != UInt8(ascii: "\"") && bytes[j] != UInt8(ascii: "\\") && bytes[j] >= 0x20 { j += 1 }
        guard j < bytes.count, bytes[j] == UInt8(ascii: "\""), let value = match(UnsafeBufferPointer(rebasing: bytes[(i + 1)..<j])) else { return nil }
        i = j + 1
        return value
    }

    func describe(_ text: UnsafeBufferPointer<UInt8>) -> String {
        text.isEmpty ? found() : ProfileRules.quoted(String(decoding: text, as: UTF8.self))
    }

    /// The bytes of a number-like token (up to a delimiter).
    mutating func scanNumber() -> UnsafeBufferPointer<UInt8> {
        let start = i
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: ",") || b == UInt8(ascii: "}") || b == 32 || b == 9 || b == 13 { break }
            i += 1
        }
        return UnsafeBufferPointer(rebasing: bytes[start..<i])
    }

    mutating func requireString(field: String, expectation: String) throws(EventProblem) -> String {
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else {
            throw EventProblem(field: field, message: "expected \(expectation), found \(found())")
        }
        do {
            return try parseString(field: field)
        } catch {
            throw EventProblem(field: field, message: error.message)
        }
    }

    mutating func parseProxyHeader() throws(EventProblem) -> ProxyHeader? {
        if i + 4 <= bytes.count, bytes[i] == UInt8(ascii: "n"), bytes[i + 1] == UInt8(ascii: "u"), bytes[i + 2] == UInt8(ascii: "l"), bytes[i + 3] == UInt8(ascii: "l") {
            i += 4
            return nil
        }
        let expectation = "{\"name\": …, \"value\": …} or null"
        guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else {
            throw EventProblem(field: "proxy_header", message: "expected \(expectation), found \(found())")
        }
        i += 1
        var name: String?
        var value: String?
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else {
                    throw EventProblem(field: "proxy_header", message: "expected \"name\" or \"value\", found \(found())")
                }
                let key: String
                do { key = try parseString(field: "proxy_header") } catch { throw EventProblem(field: "proxy_header", message: error.message) }
                guard key == "name" || key == "value" else {
                    throw EventProblem(field: "proxy_header.\(key)", message: "unknown field; proxy_header has name and value")
                }
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else {
                    throw EventProblem(field: "proxy_header.\(key)", message: "expected ':', found \(found())")
                }
                i += 1
                skipSpace()
                let text = try requireString(field: "proxy_header.\(key)", expectation: "a string")
                if key == "name" {
                    guard name == nil else { throw EventProblem(field: "proxy_header.name", message: "field given twice") }
                    name = text
                } else {
                    guard value == nil else { throw EventProblem(field: "proxy_header.value", message: "field given twice") }
                    value = text
                }
                skipSpace()
                guard i < bytes.count else { throw EventProblem(field: "proxy_header", message: "expected ',' or '}', found the end of the line") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; break }
                throw EventProblem(field: "proxy_header", message: "expected ',' or '}', found \(found())")
            }
        }
        guard let name else { throw EventProblem(field: "proxy_header.name", message: "missing (the header name, like X-Forwarded-For)") }
        guard let value else { throw EventProblem(field: "proxy_header.value", message: "missing (the header value the client sends)") }
        return ProxyHeader(name: name, value: value)
    }

    /// Parses a JSON string at `i` (which is at the opening quote).
    mutating func parseString(field: String?) throws(LineProblem) -> String {
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
                i += 1
                return text
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw fail("control character inside a string", field: field) }
            i += 1
        }
        var out = Array(bytes[start..<i])
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                return String(decoding: out, as: UTF8.self)
            }
            if b < 0x20 { throw fail("control character inside a string", field: field) }
            if b != UInt8(ascii: "\\") { out.append(b); i += 1; continue }
            i += 1
            guard i < bytes.count else { break }
            let e = bytes[i]
            i += 1
            if let short = JSONText.shortEscape(e) { out.append(short); continue }
            switch e {
            case UInt8(ascii: "u"):
                var scalar = try hex4(field: field)
                if (0xD800...0xDBFF).contains(scalar) {
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate in \\u escape", field: field)
                    }
                    i += 2
                    let low = try hex4(field: field)
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate in \\u escape", field: field) }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw fail("unpaired surrogate in \\u escape", field: field)
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape", field: field) }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default:
                throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))' in a string", field: field, at: i - 2)
            }
        }
        throw fail("unterminated string", field: field, at: start - 1)
    }

    mutating func hex4(field: String?) throws(LineProblem) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("\\u needs four hex digits", field: field) }
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let d = Hex.nibble(bytes[i]) else { throw fail("\\u needs four hex digits", field: field) }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }
}

/// One CSV field: its text and the column where it started.
struct CSVField {
    var text: String
    var column: Int
}

/// RFC 4180 field splitting of one line (quoted fields may contain commas and doubled quotes;
/// a line break inside a quoted field is not supported: one event per line).
enum CSVLine {
    static func split(_ line: UnsafeBufferPointer<UInt8>) throws(LineProblem) -> [CSVField] {
        var fields: [CSVField] = []
        var i = 0
        while true {
            let start = i
            if i < line.count && line[i] == UInt8(ascii: "\"") {
                i += 1
                var out: [UInt8] = []
                var closed = false
                while i < line.count {
                    if line[i] == UInt8(ascii: "\"") {
                        if i + 1 < line.count && line[i + 1] == UInt8(ascii: "\"") {
                            out.append(UInt8(ascii: "\""))
                            i += 2
                            continue
                        }
                        i += 1
                        closed = true
                        break
                    }
                    out.append(line[i])
                    i += 1
                }
                guard closed else { throw LineProblem(column: start + 1, message: "unterminated quoted field (a field cannot span lines)") }
                guard i == line.count || line[i] == UInt8(ascii: ",") else {
                    throw LineProblem(column: i + 1, message: "expected ',' after a quoted field")
                }
                fields.append(CSVField(text: String(decoding: out, as: UTF8.self), column: start + 1))
            } else {
                while i < line.count && line[i] != UInt8(ascii: ",") {
                    if line[i] == UInt8(ascii: "\"") { throw LineProblem(column: i + 1, message: "a quote inside an unquoted field (quote the whole field and double the quote)") }
                    i += 1
                }
                fields.append(CSVField(text: String(decoding: UnsafeBufferPointer(rebasing: line[start..<i]), as: UTF8.self), column: start + 1))
            }
            if i >= line.count { return fields }
            i += 1  // the comma
        }
    }

    /// A field as CSV writes it: quoted when it holds a comma, a quote or a line break.
    static func quoted(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 10 || $0 == 13 }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// The column layout a CSV header declares.
struct CSVColumns {
    var index: [String: Int] = [:]
    var count: Int
    /// Position of each of `ProfileFormat.csvColumns` (-1 when absent).
    var positions: [Int] = []

    init(header: [CSVField], source: String, line: Int) throws(ProfileError) {
        count = header.count
        for field in header {
            let name = String(field.text.trimmingASCIIWhitespace())
            guard ProfileFormat.csvColumns.contains(name) else {
                throw ProfileError(source: source, line: line, column: field.column,
                                   message: "unknown column \(ProfileRules.quoted(name)) in the header row; columns are \(ProfileFormat.csvColumns.joined(separator: ", "))")
            }
            guard index[name] == nil else {
                throw ProfileError(source: source, line: line, column: field.column, message: "column \(name) appears twice in the header row")
            }
            index[name] = index.count
        }
        for name in ProfileFormat.csvColumns.prefix(5) where index[name] == nil {
            throw ProfileError(source: source, line: line, message: "the header row lacks the column \(name) (required: \(ProfileFormat.csvColumns.prefix(5).joined(separator: ",")))")
        }
        if (index["proxy_header_name"] == nil) != (index["proxy_header_value"] == nil) {
            throw ProfileError(source: source, line: line, message: "proxy_header_name and proxy_header_value go together: give both columns or neither")
        }
        positions = ProfileFormat.csvColumns.map { index[$0] ?? -1 }
    }

    func event(from fields: [CSVField], source: String, line: Int) throws(ProfileError) -> ProfileEvent {
        guard fields.count == count else {
            throw ProfileError(source: source, line: line, column: fields.last.map { $0.column },
                               message: "expected \(count) fields as in the header row, found \(fields.count)")
        }
        func field(_ name: String) -> CSVField { fields[index[name] ?? 0] }
        func problem(_ name: String, _ message: String) -> ProfileError {
            ProfileError(source: source, line: line, column: field(name).column, field: name, message: message)
        }
        let tField = field("t")
        let time: Double? = Array(tField.text.utf8).withUnsafeBufferPointer { ProfileReader.parseTime($0) }
        guard let time else { throw problem("t", ProfileReader.timeExpectation + ", got \(ProfileRules.quoted(tField.text))") }
        let bytesText = field("body_bytes").text
        let bodyBytes: Int? = Array(bytesText.utf8).withUnsafeBufferPointer { ProfileReader.parseCount($0) }
        guard let bodyBytes, ProfileRules.checkBodyBytes(bodyBytes) == nil else {
            throw problem("body_bytes", "expected a whole number of bytes from 0 to \(ProfileRules.maximumBodyBytes), got \(ProfileRules.quoted(bytesText))")
        }
        let endpoint: Endpoint
        let signature: SignatureMode
        do throws(EventProblem) {
            endpoint = try ProfileReader.endpoint(field("endpoint").text)
            signature = try ProfileReader.signature(field("signature").text)
        } catch {
            throw problem(error.field, error.message)
        }
        var proxy: ProxyHeader?
        if let n = index["proxy_header_name"], let v = index["proxy_header_value"] {
            let name = fields[n].text, value = fields[v].text
            if name.isEmpty != value.isEmpty && name.isEmpty {
                throw problem("proxy_header_name", "a proxy header value needs a name")
            }
            if !name.isEmpty { proxy = ProxyHeader(name: name, value: value) }
        }
        return ProfileEvent(time: time, client: field("client").text, endpoint: endpoint, bodyBytes: bodyBytes,
                            signature: signature, proxyHeader: proxy)
    }

    /// The event of a line without quotes whose fields all parse, or nil (then the careful
    /// path reads it and words any error). `ranges` is scratch space reused across lines.
    func quickEvent(_ line: UnsafeBufferPointer<UInt8>, ranges: inout [Range<Int>]) -> ProfileReader.RawEvent? {
        ranges.removeAll(keepingCapacity: true)
        var start = 0
        for i in 0..<line.count {
            let b = line[i]
            if b == UInt8(ascii: ",") {
                ranges.append(start..<i)
                start = i + 1
            } else if b == UInt8(ascii: "\"") {
                return nil
            }
        }
        ranges.append(start..<line.count)
        guard ranges.count == count else { return nil }
        let t = positions[0], c = positions[1], e = positions[2], b = positions[3], g = positions[4]
        func field(_ k: Int) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: line[ranges[k]]) }
        guard let time = ProfileReader.parseTime(field(t)), let bodyBytes = ProfileReader.parseCount(field(b)),
              let endpoint = CSVColumns.endpoint(field(e)), let signature = CSVColumns.signature(field(g)) else { return nil }
        var proxy: ProxyHeader?
        if positions[5] >= 0 && positions[6] >= 0 {
            let name = field(positions[5]), value = field(positions[6])
            if !name.isEmpty {
                proxy = ProxyHeader(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
            } else if !value.isEmpty {
                return nil
            }
        }
        return ProfileReader.RawEvent(time: time, client: field(c), endpoint: endpoint, bodyBytes: bodyBytes, signature: signature, proxyHeader: proxy)
    }

    static func equals(_ bytes: UnsafeBufferPointer<UInt8>, _ text: StaticString) -> Bool {
        guard bytes.count == text.utf8CodeUnitCount else { return false }
        let p = text.utf8Start
        for i in 0..<bytes.count where bytes[i] != p[i] { return false }
        return true
    }

    static func endpoint(_ bytes: UnsafeBufferPointer<UInt8>) -> Endpoint? {
        if equals(bytes, "webhook") { return .webhook }
        if equals(bytes, "agent_auth") { return .agentAuth }
        return nil
    }

    static func signature(_ bytes: UnsafeBufferPointer<UInt8>) -> SignatureMode? {
        if equals(bytes, "valid") { return .valid }
        if equals(bytes, "missing") { return .missing }
        if equals(bytes, "invalid") { return .invalid }
        if equals(bytes, "none") { return SignatureMode.none }
        return nil
    }
}

/// Writes profiles as JSON Lines or CSV. The output depends only on the events: times with six
/// decimals, fields in a fixed order.
public enum ProfileWriter {
    /// Writes the header (CSV) — call once before the events.
    public static func writeHeader(format: ProfileFormat, withProxyColumns: Bool, to sink: ByteSink) throws(FileError) {
        guard format == .csv else { return }
        let columns = withProxyColumns ? ProfileFormat.csvColumns : Array(ProfileFormat.csvColumns.prefix(5))
        try sink.write(columns.joined(separator: ",") + "\n")
    }

    /// A client address as the format writes it (quoted for CSV when needed; a JSON string
    /// literal for JSON Lines): encode once per client, not once per event.
    public static func encodedClient(_ client: String, format: ProfileFormat) -> [UInt8] {
        switch format {
        case .jsonl:
            var out: [UInt8] = []
            JSONText.append(client, to: &out)
            return out
        case .csv:
            return Array(CSVLine.quoted(client).utf8)
        }
    }

    @inline(__always)
    static func append(_ text: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    static func signatureText(_ signature: SignatureMode) -> StaticString {
        switch signature {
        case .valid: return "valid"
        case .missing: return "missing"
        case .invalid: return "invalid"
        case .none: return "none"
        }
    }

    /// Appends one event's line to `out`; `client` comes from `encodedClient`.
    public static func appendEvent(format: ProfileFormat, time: Double, client: UnsafeBufferPointer<UInt8>, endpoint: Endpoint, bodyBytes: Int,
                                   signature: SignatureMode, proxy: ProxyHeader?, withProxyColumns: Bool, to out: inout [UInt8]) {
        switch format {
        case .jsonl:
            append(#"{"t":"#, to: &out)
            ProfileRules.appendTime(time, to: &out)
            append(#","client":"#, to: &out)
            out.append(contentsOf: client)
            append(endpoint == .webhook ? #","endpoint":"webhook","body_bytes":"# : #","endpoint":"agent_auth","body_bytes":"#, to: &out)
            ProfileRules.appendInteger(Int64(bodyBytes), to: &out)
            append(#","signature":""#, to: &out)
            append(signatureText(signature), to: &out)
            out.append(UInt8(ascii: "\""))
            if let proxy {
                append(#","proxy_header":{"name":"#, to: &out)
                JSONText.append(proxy.name, to: &out)
                append(#","value":"#, to: &out)
                JSONText.append(proxy.value, to: &out)
                out.append(UInt8(ascii: "}"))
            }
            append("}\n", to: &out)
        case .csv:
            ProfileRules.appendTime(time, to: &out)
            out.append(UInt8(ascii: ","))
            out.append(contentsOf: client)
            append(endpoint == .webhook ? ",webhook," : ",agent_auth,", to: &out)
            ProfileRules.appendInteger(Int64(bodyBytes), to: &out)
            out.append(UInt8(ascii: ","))
            append(signatureText(signature), to: &out)
            if withProxyColumns {
                out.append(UInt8(ascii: ","))
                if let proxy {
                    out.append(contentsOf: CSVLine.quoted(proxy.name).utf8)
                    out.append(UInt8(ascii: ","))
                    out.append(contentsOf: CSVLine.quoted(proxy.value).utf8)
                } else {
                    out.append(UInt8(ascii: ","))
                }
            }
            out.append(10)
        }
    }

    /// Writes a whole profile.
    public static func write(_ profile: Profile, format: ProfileFormat, to sink: ByteSink) throws(FileError) {
        let proxies = !profile.proxyIDs.isEmpty
        try writeHeader(format: format, withProxyColumns: proxies, to: sink)
        // Every client encoded once, into one array: no per-event string work or reference counting.
        var encoded: [UInt8] = []
        var starts: [Int] = [0]
        for client in profile.clients {
            encoded.append(contentsOf: encodedClient(client, format: format))
            starts.append(encoded.count)
        }
        var failure: FileError?
        profile.times.withUnsafeBufferPointer { times in
        profile.kinds.withUnsafeBufferPointer { kinds in
        profile.bodyBytes.withUnsafeBufferPointer { bodies in
        profile.clientIDs.withUnsafeBufferPointer { clientIDs in
        encoded.withUnsafeBufferPointer { encoded in
            for i in 0..<times.count {
                let kind = kinds[i]
                let c = Int(clientIDs[i])
                let client = UnsafeBufferPointer(rebasing: encoded[starts[c]..<starts[c + 1]])
                let proxy = proxies ? profile.proxyHeader(at: i) : nil
                do throws(FileError) {
                    try sink.withBuffer { out in
                        appendEvent(format: format, time: times[i], client: client, endpoint: kind & 1 == 0 ? .webhook : .agentAuth,
                                    bodyBytes: Int(bodies[i]), signature: SignatureMode(rawValue: (kind >> 1) & 3) ?? .none,
                                    proxy: proxy, withProxyColumns: proxies, to: &out)
                    }
                } catch {
                    failure = error
                    return
                }
            }
        }}}}}
        if let failure { throw failure }
        try sink.flush()
    }
}

/// CSV output helpers for reports outside this module.
public enum CSVText {
    /// `text` as one CSV field (quoted when it holds a comma, a quote or a line break).
    public static func field(_ text: String) -> String { CSVLine.quoted(text) }
}

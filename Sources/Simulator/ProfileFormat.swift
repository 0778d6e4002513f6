import Reference

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
            try LineReader.forEachLine(path: path) { line, number in
                guard !isBlank(line) else { return }
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

    static func accept(_ event: ProfileEvent, into profile: inout Profile, source: String, line: Int, column: Int?) throws {
        if let problem = ProfileRules.check(event, previous: profile.times.last) {
            throw ProfileError(source: source, line: line, column: column, field: problem.field, message: problem.message)
        }
        profile.append(event)
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
        var seen: Set<String> = []
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                skipSpace()
                let keyStart = i
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a field name in double quotes, found \(found())") }
                let key = try parseString(field: nil)
                guard ProfileFormat.jsonFields.contains(key) else {
                    throw fail("unknown field; an event has \(ProfileFormat.jsonFields.joined(separator: ", "))", field: key, at: keyStart)
                }
                guard seen.insert(key).inserted else { throw fail("field given twice", field: key, at: keyStart) }
                try expect(UInt8(ascii: ":"), "':' after the field name")
                skipSpace()
                let valueStart = i
                do throws(EventProblem) {
                    switch key {
                    case "t":
                        let text = scanNumber()
                        guard let t = ProfileReader.parseTime(text) else {
                            throw EventProblem(field: "t", message: ProfileReader.timeExpectation + ", got \(describe(text))")
                        }
                        time = t
                    case "client":
                        client = try requireString(field: "client", expectation: "an address in double quotes like \"10.0.0.7\"")
                    case "endpoint":
                        endpoint = try ProfileReader.endpoint(try requireString(field: "endpoint", expectation: "\"webhook\" or \"agent_auth\""))
                    case "body_bytes":
                        let text = scanNumber()
                        guard let n = ProfileReader.parseCount(text), ProfileRules.checkBodyBytes(n) == nil else {
                            throw EventProblem(field: "body_bytes", message: "expected a whole number of bytes from 0 to \(ProfileRules.maximumBodyBytes), got \(describe(text))")
                        }
                        bodyBytes = n
                    case "signature":
                        signature = try ProfileReader.signature(try requireString(field: "signature", expectation: "\"valid\", \"missing\", \"invalid\" or \"none\""))
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
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
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
            let b = bytes[i]
            let d: UInt32
            switch b {
            case 48...57: d = UInt32(b - 48)
            case 65...70: d = UInt32(b - 55)
            case 97...102: d = UInt32(b - 87)
            default: throw fail("\\u needs four hex digits", field: field)
            }
            v = v << 4 | d
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

    init(header: [CSVField], source: String, line: Int) throws(ProfileError) {
        count = header.count
        for field in header {
            let name = field.text.trimmingWhitespace()
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

    /// Column where `field` starts, for errors found after parsing.
    func column(of name: String, in fields: [CSVField]) -> Int? {
        index[name].map { fields[$0].column }
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

    /// Appends one event's line to `out`.
    public static func appendEvent(format: ProfileFormat, time: Double, client: String, endpoint: Endpoint, bodyBytes: Int,
                                   signature: SignatureMode, proxy: ProxyHeader?, withProxyColumns: Bool, to out: inout [UInt8]) {
        switch format {
        case .jsonl:
            out.append(contentsOf: #"{"t":"#.utf8)
            ProfileRules.appendTime(time, to: &out)
            out.append(contentsOf: #","client":"#.utf8)
            JSONOutput.appendString(client, to: &out)
            out.append(contentsOf: #","endpoint":""#.utf8)
            out.append(contentsOf: endpoint.name.utf8)
            out.append(contentsOf: #"","body_bytes":"#.utf8)
            ProfileRules.appendInteger(Int64(bodyBytes), to: &out)
            out.append(contentsOf: #","signature":""#.utf8)
            out.append(contentsOf: signature.name.utf8)
            out.append(UInt8(ascii: "\""))
            if let proxy {
                out.append(contentsOf: #","proxy_header":{"name":"#.utf8)
                JSONOutput.appendString(proxy.name, to: &out)
                out.append(contentsOf: #","value":"#.utf8)
                JSONOutput.appendString(proxy.value, to: &out)
                out.append(UInt8(ascii: "}"))
            }
            out.append(contentsOf: "}\n".utf8)
        case .csv:
            ProfileRules.appendTime(time, to: &out)
            out.append(UInt8(ascii: ","))
            out.append(contentsOf: CSVLine.quoted(client).utf8)
            out.append(UInt8(ascii: ","))
            out.append(contentsOf: endpoint.name.utf8)
            out.append(UInt8(ascii: ","))
            ProfileRules.appendInteger(Int64(bodyBytes), to: &out)
            out.append(UInt8(ascii: ","))
            out.append(contentsOf: signature.name.utf8)
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
        for i in 0..<profile.count {
            let endpoint = profile.endpoint(at: i), signature = profile.signature(at: i)
            let client = profile.clients[Int(profile.clientIDs[i])]
            let proxy = profile.proxyHeader(at: i)
            try sink.withBuffer { out in
                appendEvent(format: format, time: profile.times[i], client: client, endpoint: endpoint,
                            bodyBytes: Int(profile.bodyBytes[i]), signature: signature, proxy: proxy,
                            withProxyColumns: proxies, to: &out)
            }
        }
        try sink.flush()
    }
}

/// CSV output helpers for reports outside this module.
public enum CSVText {
    /// `text` as one CSV field (quoted when it holds a comma, a quote or a line break).
    public static func field(_ text: String) -> String { CSVLine.quoted(text) }
}

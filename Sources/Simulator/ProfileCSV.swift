import Reference
import Wire

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

    init(header: [CSVField], source: String, line: Int) throws(InputError) {
        count = header.count
        for field in header {
            let name = String(field.text.trimmingASCIIWhitespace())
            guard ProfileFormat.csvColumns.contains(name) else {
                throw InputError(file: source, line: line, column: field.column,
                                   message: "unknown column \(ProfileRules.quoted(name)) in the header row; columns are \(ProfileFormat.csvColumns.joined(separator: ", "))")
            }
            guard index[name] == nil else {
                throw InputError(file: source, line: line, column: field.column, message: "column \(name) appears twice in the header row")
            }
            index[name] = index.count
        }
        for name in ProfileFormat.csvColumns.prefix(5) where index[name] == nil {
            throw InputError(file: source, line: line, message: "the header row lacks the column \(name) (required: \(ProfileFormat.csvColumns.prefix(5).joined(separator: ",")))")
        }
        if (index["proxy_header_name"] == nil) != (index["proxy_header_value"] == nil) {
            throw InputError(file: source, line: line, message: "proxy_header_name and proxy_header_value go together: give both columns or neither")
        }
        positions = ProfileFormat.csvColumns.map { index[$0] ?? -1 }
    }

    func event(from fields: [CSVField], source: String, line: Int) throws(InputError) -> ProfileEvent {
        guard fields.count == count else {
            throw InputError(file: source, line: line, column: fields.last.map { $0.column },
                               message: "expected \(count) fields as in the header row, found \(fields.count)")
        }
        func field(_ name: String) -> CSVField { fields[index[name] ?? 0] }
        func problem(_ name: String, _ message: String) -> InputError {
            InputError(file: source, line: line, column: field(name).column, path: name, message: message)
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

/// CSV output helpers for reports outside this module.
public enum CSVText {
    /// `text` as one CSV field (quoted when it holds a comma, a quote or a line break).
    public static func field(_ text: String) -> String { CSVLine.quoted(text) }
}

import Reference
import Wire

// Rule: vegeta's JSON results (`vegeta encode --to json`, one object per line) record, per
// request, "code" (0 when the request failed without an answer, with "error" saying why),
// "timestamp" (RFC 3339 with nanoseconds, when the request was sent), "seq", and in recent
// versions the request "url". The event a result belongs to is read from the URL's
// `mcsec_event=<index>` (targets exported by `mcsec profile --format vegeta` carry it); without
// a URL, "seq" is taken as the index, which holds when vegeta read the targets in order
// (`-lazy`) and sent each once.

public enum VegetaResults {
    /// Reads a results file into observations (send times in seconds since 1970).
    public static func read(path: String) throws -> [ObservedStatus] {
        var observations: [ObservedStatus] = []
        let source = path == "-" ? "<stdin>" : path
        try LineReader.forEachLine(path: path) { line, number in
            guard !ProfileReader.isBlank(line) else { return }
            func fail(_ field: String?, _ message: String) -> InputError {
                InputError(file: source, line: number, path: field, message: message)
            }
            let value: JSONValue
            do throws(JSONParseError) {
                value = try JSONValue.parse(line)
            } catch {
                throw InputError(file: source, line: number, column: error.offset + 1, message: "not a JSON result: \(error.reason)")
            }
            guard case .object = value.kind else { throw fail(nil, "expected a JSON object (one vegeta result per line)") }
            guard case .number(let codeText)? = value["code"]?.kind, let code = Int(codeText), code >= 0, code <= 999 else {
                throw fail("code", "expected the HTTP status as a number (0 for a failed request)")
            }
            guard let stamp = value["timestamp"]?.stringValue else {
                throw fail("timestamp", "expected the send time as an RFC 3339 string")
            }
            guard let sentAt = RFC3339.seconds(stamp) else {
                throw fail("timestamp", "expected an RFC 3339 time like 2024-05-01T12:00:00.123456789Z, got \(ProfileRules.quoted(stamp))")
            }
            var index: Int?
            if let url = value["url"]?.stringValue, let q = url.range(of: "mcsec_event=") {
                index = Int(url[q.upperBound...].prefix { $0.isNumber })
                if index == nil { throw fail("url", "mcsec_event= is not followed by an event index") }
            }
            if index == nil, case .number(let seqText)? = value["seq"]?.kind { index = Int(seqText) }
            guard let index else {
                throw fail("url", "cannot tell which event this is: no url with mcsec_event=N and no seq")
            }
            let error = value["error"]?.stringValue
            observations.append(ObservedStatus(index: index, sentAt: sentAt, status: code == 0 ? nil : code,
                                               error: code == 0 ? (error?.isEmpty == false ? error : "request failed") : nil))
        }
        return observations
    }
}

/// RFC 3339 timestamps to seconds since 1970.
public enum RFC3339 {
    public static func seconds(_ text: String) -> Double? {
        let b = Array(text.utf8)
        func digits(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= b.count else { return nil }
            var n = 0
            for i in start..<(start + count) {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                n = n * 10 + Int(b[i] - 48)
            }
            return n
        }
        guard b.count >= 20, let year = digits(0, 4), b[4] == 45, let month = digits(5, 2), b[7] == 45, let day = digits(8, 2),
              b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == 32,
              let hour = digits(11, 2), b[13] == 58, let minute = digits(14, 2), b[16] == 58, let second = digits(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second <= 60 else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count && b[i] == UInt8(ascii: ".") {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count && b[i] >= 48 && b[i] <= 57 {
                fraction += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i < b.count else { return nil }
        var offset = 0
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            guard let h = digits(i + 1, 2), i + 3 < b.count, b[i + 3] == 58, let m = digits(i + 4, 2) else { return nil }
            offset = sign * (h * 3600 + m * 60)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        // Days since 1970-01-01 of a civil date (proleptic Gregorian).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let whole = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Double(whole) + fraction
    }
}

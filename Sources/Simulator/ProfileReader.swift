import Reference
import Wire

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
                // Fast path: the common shape of an event, plain strings. Anything else goes
                // through the shared JSON parser, which also words the error.
                if let event = JSONLinesEvent.quickEvent(line), acceptRaw(event, into: &profile) {
                    return
                }
                let event = try JSONLinesEvent.event(line, source: source, line: number)
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
                do throws(LineProblem) {
                    fields = try CSVLine.split(line)
                } catch {
                    throw InputError(file: source, line: number, column: error.column, message: error.message)
                }
                guard let layout = columns else {
                    columns = try CSVColumns(header: fields, source: source, line: number)
                    return
                }
                let event = try layout.event(from: fields, source: source, line: number)
                try accept(event, into: &profile, source: source, line: number, column: nil)
            }
            if columns == nil {
                throw InputError(file: source, message: "empty CSV profile: expected a header row (\(ProfileFormat.csvColumns.prefix(5).joined(separator: ",")))")
            }
        }
        return profile
    }

    /// Checks an event and appends it. Addresses and proxy headers are checked once, when
    /// first seen (a profile repeats few of them many times).
    static func accept(_ event: ProfileEvent, into profile: inout Profile, source: String, line: Int, column: Int?) throws {
        func fail(_ problem: EventProblem) -> InputError {
            InputError(file: source, line: line, column: column, path: problem.field, message: problem.message)
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

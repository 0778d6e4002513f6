import Reference
import Wire

/// Reads profile files.
public enum ProfileReader {
    /// Reads a whole profile from `path` (`-` for standard input) in `format` (guessed from
    /// the name when nil).
    public static func read(path: String, format: ProfileFormat? = nil) throws -> Profile {
        var parser = ProfileLineParser(path: path, format: format)
        var profile = Profile()
        try LineReader.forEachLine(path: path) { line, number in
            try parser.add(line, number: number, to: &profile)
        }
        try parser.finish()
        return profile
    }

    /// The name of `path` in error messages.
    static func sourceName(_ path: String) -> String { path == "-" ? "<stdin>" : path }

    /// Checks an event and appends it; `previous` is the time of the event before it.
    /// Addresses and proxy headers are checked once, when first seen (a profile repeats few of
    /// them many times).
    static func accept(_ event: ProfileEvent, previous: Double?, into profile: inout Profile, source: String, line: Int, column: Int?) throws(InputError) {
        func fail(_ problem: EventProblem) -> InputError {
            InputError(file: source, line: line, column: column, path: problem.field, message: problem.message)
        }
        if let problem = ProfileRules.checkTime(event.time, previous: previous)
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
    static func acceptRaw(_ event: RawEvent, previous: Double?, into profile: inout Profile) -> Bool {
        if ProfileRules.checkTime(event.time, previous: previous) != nil || ProfileRules.checkBodyBytes(event.bodyBytes) != nil
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

/// Reads a profile file's lines, one at a time and in order, into a `Profile`: the one parser
/// of both the whole-file reader and the chunked one (`ProfileFileEvents`), so both accept the
/// same files, word the same errors and give clients and proxy headers the same ids. Only what
/// spans lines is kept here (the CSV header, the last time), so the events may go to a profile
/// that is emptied between lines.
struct ProfileLineParser {
    let format: ProfileFormat
    /// The file's name in errors.
    let source: String
    private var columns: CSVColumns?
    /// Scratch space of the CSV fast path, reused across lines.
    private var ranges: [Range<Int>] = []
    /// The time of the last event read, which the next must not precede.
    private(set) var lastTime: Double?

    /// A parser of the file at `path` in `format` (guessed from the name when nil).
    init(path: String, format: ProfileFormat? = nil) {
        self.format = format ?? ProfileFormat.guess(path: path)
        source = ProfileReader.sourceName(path)
    }

    /// Reads line `number` (without its terminator), appending its event, if any, to `profile`.
    mutating func add(_ line: UnsafeBufferPointer<UInt8>, number: Int, to profile: inout Profile) throws(InputError) {
        guard !ProfileReader.isBlank(line) else { return }
        switch format {
        case .jsonl:
            // Fast path: the common shape of an event, plain strings. Anything else goes
            // through the shared JSON parser, which also words the error.
            if let event = JSONLinesEvent.quickEvent(line), ProfileReader.acceptRaw(event, previous: lastTime, into: &profile) {
                lastTime = event.time
                return
            }
            let event = try JSONLinesEvent.event(line, source: source, line: number)
            try ProfileReader.accept(event, previous: lastTime, into: &profile, source: source, line: number, column: nil)
            lastTime = event.time
        case .csv:
            if let layout = columns {
                // Fast path: no quotes, every field well formed. Anything else goes the
                // careful way, which also words the error.
                if let event = layout.quickEvent(line, ranges: &ranges), ProfileReader.acceptRaw(event, previous: lastTime, into: &profile) {
                    lastTime = event.time
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
            try ProfileReader.accept(event, previous: lastTime, into: &profile, source: source, line: number, column: nil)
            lastTime = event.time
        }
    }

    /// Checks what only the end of the file shows: a CSV file needs its header row.
    func finish() throws(InputError) {
        if format == .csv && columns == nil {
            throw InputError(file: source, message: "empty CSV profile: expected a header row (\(ProfileFormat.csvColumns.prefix(5).joined(separator: ",")))")
        }
    }
}

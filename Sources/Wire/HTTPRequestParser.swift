#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A request the server cannot serve, and the status that says why (400, 413, 414, 431, 501,
/// 505, …). `detail` names the problem so the client's author can fix it.
public struct HTTPProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let detail: String

    public init(status: Int, detail: String) {
        self.status = status
        self.detail = detail
    }

    public var description: String { "\(status) \(HTTPStatus.reason(status)): \(detail)" }
}

/// Size limits on what the server reads before a handler sees the request.
public struct HTTPLimits: Sendable {
    /// The request line (method, target, version). Longer → 414.
    public var requestLineBytes = 8 * 1024
    /// All header field lines together. Larger → 431.
    public var headerBlockBytes = 32 * 1024
    /// Header field lines. More → 431.
    public var headerFields = 100
    /// A `Content-Length` body up to this size is read in full before the handler runs; larger
    /// (and chunked) bodies are streamed to the handler instead.
    public var bufferedBodyBytes = 64 * 1024
    /// One chunk-size line including extensions. Longer → 400.
    public var chunkLineBytes = 4 * 1024
    /// The trailer section of a chunked body. Larger → 400.
    public var trailerBytes = 8 * 1024

    public init() {}
}

/// How a request's body is delimited on the wire (RFC 9112 §6.3).
enum MessageBodyLength: Equatable {
    case none
    case length(Int)
    case chunked
}

/// The parsed head of a request, with the framing and connection decisions already made.
struct RequestHead {
    var method: String
    var target: String
    var minorVersion: Int
    var headers: HTTPFields
    var bodyLength: MessageBodyLength
    var keepAlive: Bool
    var expectsContinue: Bool
    var isHEAD: Bool
}

/// The HTTP/1.1 request-head rules the server enforces (RFC 9110, RFC 9112), chosen strict
/// wherever the RFCs allow a choice, because the server is an oracle other implementations are
/// compared with and because every leniency in framing is a request-smuggling opportunity:
///
/// - Lines end in CRLF. A bare LF (RFC 9112 §2.2 *allows* accepting it) is rejected with 400,
///   in the head and in chunked framing alike; a bare CR is rejected too.
/// - Request line ≤ `requestLineBytes` (else 414); header block ≤ `headerBlockBytes` and
///   ≤ `headerFields` lines (else 431). Up to 8 empty lines before the request line are ignored
///   (RFC 9112 §2.2 robustness for clients that add CRLF after a body).
/// - Method is a token; the target is visible ASCII; the version is exactly `HTTP/1.0` or
///   `HTTP/1.1` (any other well-formed version, e.g. the HTTP/2 preface → 505; malformed → 400).
/// - Field names are tokens with no whitespace before the colon; obs-fold (a line starting with
///   SP/HTAB), NUL, CR, LF and other controls in values → 400.
/// - HTTP/1.1 needs exactly one `Host` (RFC 9112 §3.2) → else 400.
/// - `Content-Length` must be one field of digits only with no overflow. Any duplicate, even an
///   identical one (RFC 9110 §8.6 allows either), is rejected: one rule is easier to check.
/// - `Transfer-Encoding` with `Content-Length`, in an HTTP/1.0 request, not ending in `chunked`,
///   or naming `chunked` twice → 400; another coding before `chunked` (gzip, …) → 501.
/// - `Expect: 100-continue` is honoured in HTTP/1.1; any other expectation → 417.
enum HTTPRequestParser {
    static let cr: UInt8 = 13
    static let lf: UInt8 = 10
    static let sp: UInt8 = 32
    static let htab: UInt8 = 9

    /// RFC 9110 `tchar`.
    @inline(__always)
    static func isTokenChar(_ b: UInt8) -> Bool {
        HTTPGrammar.isTokenByte(b)
    }

    /// Bytes allowed in a field value: VCHAR, obs-text, SP, HTAB.
    @inline(__always)
    static func isFieldValueChar(_ b: UInt8) -> Bool {
        b >= 0x20 ? b != 0x7F : b == htab
    }

    static func bad(_ detail: String) -> HTTPProtocolError { HTTPProtocolError(status: 400, detail: detail) }

    /// Finds where a request head ends in a buffer that grows between calls, doing the size
    /// checks as bytes arrive so an over-long head is refused without being buffered whole.
    /// Each byte is examined once however the request is split across reads.
    struct HeadScanner {
        private var offset = 0
        private var lineStart = 0
        private var headStart = 0
        private var lines = 0
        private var methodIndex = 0
        private var methodDone = false
        private var headerBlockStart = 0

        enum Result: Equatable {
            case incomplete
            /// The head is `start..<end` (end is just past the blank line). Bytes before
            /// `start` are ignorable empty lines.
            case complete(start: Int, end: Int)
            case failed(HTTPProtocolError)
        }

        init() {}

        /// Refuses garbage (a TLS handshake, binary noise) before waiting for a line end: the
        /// request line must start with a token followed by a space.
        private mutating func checkMethod(_ buffer: UnsafeRawBufferPointer) -> Result? {
            while !methodDone && methodIndex < buffer.count {
                let b = buffer[methodIndex]
                if b == HTTPRequestParser.sp && methodIndex > headStart {
                    methodDone = true
                    break
                }
                if (b == HTTPRequestParser.cr || b == HTTPRequestParser.lf) && methodIndex == headStart {
                    break  // an empty line before the request line; handled by the line scan
                }
                if !HTTPRequestParser.isTokenChar(b) {
                    return .failed(HTTPRequestParser.bad("the request line must start with a method (a token such as GET or POST)"))
                }
                methodIndex += 1
            }
            return nil
        }

        /// Continues scanning `buffer`, which must start where the previous call's started.
        mutating func scan(_ buffer: UnsafeRawBufferPointer, limits: HTTPLimits) -> Result {
            let n = buffer.count
            guard let base = buffer.baseAddress else { return .incomplete }
            if let failure = checkMethod(buffer) { return failure }
            while offset < n {
                guard let found = memchr(base + offset, Int32(HTTPRequestParser.lf), n - offset) else {
                    offset = n
                    break
                }
                let lfIndex = base.distance(to: UnsafeRawPointer(found))
                offset = lfIndex + 1
                guard lfIndex > lineStart, buffer[lfIndex - 1] == HTTPRequestParser.cr else {
                    return .failed(HTTPRequestParser.bad("bare LF line ending; lines must end with CRLF"))
                }
                let contentLength = lfIndex - 1 - lineStart
                if lines == 0 {
                    if contentLength == 0 {
                        // Empty line before the request line: skip it (bounded).
                        guard headStart < 16 else {
                            return .failed(HTTPRequestParser.bad("too many empty lines before the request line"))
                        }
                        lineStart = offset
                        headStart = offset
                        methodIndex = offset
                        if let failure = checkMethod(buffer) { return failure }
                        continue
                    }
                    if contentLength > limits.requestLineBytes {
                        return .failed(HTTPProtocolError(status: 414, detail: "request line longer than \(limits.requestLineBytes) bytes"))
                    }
                    if !methodDone {
                        return .failed(HTTPRequestParser.bad("malformed request line; expected 'METHOD target HTTP/1.1'"))
                    }
                    headerBlockStart = offset
                } else {
                    if offset - headerBlockStart > limits.headerBlockBytes + 2 {
                        return .failed(HTTPProtocolError(status: 431, detail: "header block larger than \(limits.headerBlockBytes) bytes"))
                    }
                    if contentLength == 0 {
                        return .complete(start: headStart, end: offset)
                    }
                    if lines > limits.headerFields {
                        return .failed(HTTPProtocolError(status: 431, detail: "more than \(limits.headerFields) header fields"))
                    }
                }
                lines += 1
                lineStart = offset
            }
            // Incomplete: make sure what is pending is still within the limits.
            if lines == 0 {
                if n - headStart > limits.requestLineBytes + 2 {
                    return .failed(HTTPProtocolError(status: 414, detail: "request line longer than \(limits.requestLineBytes) bytes"))
                }
            } else if n - headStart > limits.requestLineBytes + 2 + limits.headerBlockBytes {
                return .failed(HTTPProtocolError(status: 431, detail: "header block larger than \(limits.headerBlockBytes) bytes"))
            } else if lines > limits.headerFields {
                return .failed(HTTPProtocolError(status: 431, detail: "more than \(limits.headerFields) header fields"))
            }
            return .incomplete
        }
    }

    /// Parses a complete head (request line through the blank line, CRLF-terminated lines as
    /// guaranteed by `HeadScanner`) and decides framing and persistence.
    static func parseHead(_ head: UnsafeRawBufferPointer, limits: HTTPLimits) throws(HTTPProtocolError) -> RequestHead {
        let n = head.count
        guard let lineEnd = firstCRLF(head, from: 0) else { throw bad("incomplete request line") }

        // Request line: method SP target SP version.
        var sp1 = 0
        while sp1 < lineEnd && head[sp1] != sp { sp1 += 1 }
        guard sp1 > 0, sp1 < lineEnd else { throw bad("malformed request line; expected 'METHOD target HTTP/1.1'") }
        for i in 0..<sp1 where !isTokenChar(head[i]) {
            throw bad("the method must be a token (letters, digits, !#$%&'*+-.^_`|~)")
        }
        var sp2 = sp1 + 1
        while sp2 < lineEnd && head[sp2] != sp { sp2 += 1 }
        guard sp2 < lineEnd, sp2 > sp1 + 1 else {
            throw bad("malformed request line; expected 'METHOD target HTTP/1.1' with single spaces")
        }
        for i in (sp1 + 1)..<sp2 where head[i] < 0x21 || head[i] > 0x7E {
            throw bad("the request target contains a byte that is not visible ASCII (percent-encode it)")
        }
        let minor = try parseVersion(head, from: sp2 + 1, to: lineEnd)
        let method = string(head, 0, sp1)
        let target = try normalizeTarget(string(head, sp1 + 1, sp2), method: method)

        // Header fields.
        var headers = HTTPFields()
        // One allocation for a typical request's fields instead of one per doubling.
        headers.reserveCapacity(8)
        var contentLength: Int? = nil
        var contentLengthCount = 0
        var transferEncodings: [String] = []
        var hostCount = 0
        var hostValue = ""
        var wantsClose = false
        var wantsKeepAlive = false
        var expectation: String? = nil
        var fieldCount = 0
        var lineStart = lineEnd + 2
        while lineStart < n {
            guard let end = firstCRLF(head, from: lineStart) else { throw bad("header line without CRLF") }
            if end == lineStart { break }  // the blank line
            fieldCount += 1
            if fieldCount > limits.headerFields {
                throw HTTPProtocolError(status: 431, detail: "more than \(limits.headerFields) header fields")
            }
            let first = head[lineStart]
            if first == sp || first == htab {
                throw bad("obsolete line folding (a header line starting with whitespace) is not accepted")
            }
            var colon = lineStart
            while colon < end && head[colon] != UInt8(ascii: ":") {
                guard isTokenChar(head[colon]) else {
                    if head[colon] == sp || head[colon] == htab {
                        throw bad("whitespace between a header name and its colon is not allowed")
                    }
                    throw bad("a header name must be a token; found byte 0x\(Hex.encode([head[colon]]))")
                }
                colon += 1
            }
            guard colon < end, colon > lineStart else { throw bad("header line without a name and a colon") }
            var valueStart = colon + 1
            var valueEnd = end
            while valueStart < valueEnd && (head[valueStart] == sp || head[valueStart] == htab) { valueStart += 1 }
            while valueEnd > valueStart && (head[valueEnd - 1] == sp || head[valueEnd - 1] == htab) { valueEnd -= 1 }
            for i in valueStart..<valueEnd where !isFieldValueChar(head[i]) {
                throw bad(head[i] == 0 ? "NUL byte in a header value" : "control character 0x\(Hex.encode([head[i]])) in a header value")
            }
            let name = string(head, lineStart, colon)
            let value = string(head, valueStart, valueEnd)
            switch colon - lineStart {
            case 4 where equalsLowercase(head, lineStart, "host"):
                hostCount += 1
                hostValue = value
            case 6 where equalsLowercase(head, lineStart, "expect"):
                expectation = value
            case 10 where equalsLowercase(head, lineStart, "connection"):
                if let (close, keepAlive) = connectionOptions(head, valueStart, valueEnd) {
                    wantsClose = wantsClose || close
                    wantsKeepAlive = wantsKeepAlive || keepAlive
                } else {
                    for token in value.split(separator: ",") {
                        let t = token.trimmingSpaces
                        if HTTPFields.equalNames(t, "close") { wantsClose = true }
                        if HTTPFields.equalNames(t, "keep-alive") { wantsKeepAlive = true }
                    }
                }
            case 14 where equalsLowercase(head, lineStart, "content-length"):
                contentLengthCount += 1
                contentLength = try parseContentLength(head, valueStart, valueEnd)
            case 17 where equalsLowercase(head, lineStart, "transfer-encoding"):
                transferEncodings.append(value)
            default:
                break
            }
            headers.append(name, value)
            lineStart = end + 2
        }

        if minor == 1 {
            guard hostCount == 1 else {
                throw bad(hostCount == 0 ? "HTTP/1.1 request without a Host header" : "more than one Host header")
            }
            guard !hostValue.utf8.contains(where: { $0 == sp || $0 == htab || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "@") }) else {
                throw bad("invalid Host header value")
            }
        } else if hostCount > 1 {
            throw bad("more than one Host header")
        }
        if contentLengthCount > 1 {
            throw bad("more than one Content-Length header")
        }

        var bodyLength = MessageBodyLength.none
        if !transferEncodings.isEmpty {
            if contentLengthCount > 0 { throw bad("both Transfer-Encoding and Content-Length are present") }
            if minor == 0 { throw bad("Transfer-Encoding is not allowed in an HTTP/1.0 request") }
            try checkTransferCodings(transferEncodings)
            bodyLength = .chunked
        } else if let length = contentLength, length > 0 {
            bodyLength = .length(length)
        }

        var expectsContinue = false
        if let expectation, minor == 1 {
            if HTTPFields.equalNames(expectation, "100-continue") {
                expectsContinue = true
            } else if !expectation.isEmpty {
                throw HTTPProtocolError(status: 417, detail: "unsupported expectation '\(expectation)'; only 100-continue is supported")
            }
        }

        return RequestHead(
            method: method, target: target, minorVersion: minor, headers: headers, bodyLength: bodyLength,
            keepAlive: minor == 1 ? !wantsClose : (wantsKeepAlive && !wantsClose),
            expectsContinue: expectsContinue && bodyLength != .none,
            isHEAD: method == "HEAD")
    }

    static func firstCRLF(_ p: UnsafeRawBufferPointer, from: Int) -> Int? {
        // The first CRLF is the first LF with a CR before it: memchr finds each LF.
        guard let base = p.baseAddress else { return nil }
        var i = from + 1
        while i < p.count {
            guard let found = memchr(base + i, Int32(lf), p.count - i) else { return nil }
            let at = base.distance(to: UnsafeRawPointer(found))
            if p[at - 1] == cr { return at - 1 }
            i = at + 1
        }
        return nil
    }

    /// Whether a `Connection` value lists `close` and `keep-alive` (ASCII case-insensitively),
    /// read from its bytes; nil when it has non-ASCII bytes (then it is read as text, where a
    /// combining mark after a comma makes one Character of them).
    static func connectionOptions(_ p: UnsafeRawBufferPointer, _ from: Int, _ to: Int) -> (close: Bool, keepAlive: Bool)? {
        var close = false, keepAlive = false
        var start = from
        while start <= to {
            var end = start
            while end < to && p[end] != UInt8(ascii: ",") {
                if p[end] >= 0x80 { return nil }
                end += 1
            }
            var a = start, b = end
            while a < b && (p[a] == sp || p[a] == htab) { a += 1 }
            while b > a && (p[b - 1] == sp || p[b - 1] == htab) { b -= 1 }
            if b - a == 5 && equalsLowercase(p, a, "close") { close = true }
            if b - a == 10 && equalsLowercase(p, a, "keep-alive") { keepAlive = true }
            start = end + 1
        }
        return (close, keepAlive)
    }

    @inline(__always)
    static func string(_ p: UnsafeRawBufferPointer, _ from: Int, _ to: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: p[from..<to]), as: UTF8.self)
    }

    /// Compares bytes at `from` with an all-lowercase ASCII name, folding the input's case.
    @inline(__always)
    static func equalsLowercase(_ p: UnsafeRawBufferPointer, _ from: Int, _ lower: StaticString) -> Bool {
        let count = lower.utf8CodeUnitCount
        let name = lower.utf8Start
        for i in 0..<count {
            var b = p[from + i]
            if b >= 65 && b <= 90 { b |= 0x20 }
            if b != name[i] { return false }
        }
        return true
    }

    static func parseVersion(_ p: UnsafeRawBufferPointer, from: Int, to: Int) throws(HTTPProtocolError) -> Int {
        let h = UInt8(ascii: "H"), t = UInt8(ascii: "T"), pp = UInt8(ascii: "P")
        guard to - from == 8, p[from] == h, p[from + 1] == t, p[from + 2] == t, p[from + 3] == pp,
              p[from + 4] == UInt8(ascii: "/"), p[from + 6] == UInt8(ascii: "."),
              (0x30...0x39).contains(p[from + 5]), (0x30...0x39).contains(p[from + 7]) else {
            throw bad("malformed HTTP version; expected HTTP/1.1 or HTTP/1.0")
        }
        let major = Int(p[from + 5] - 0x30), minor = Int(p[from + 7] - 0x30)
        guard major == 1, minor <= 1 else {
            throw HTTPProtocolError(status: 505, detail: "HTTP/\(major).\(minor) is not supported; use HTTP/1.1 or HTTP/1.0")
        }
        return minor
    }

    /// Origin form is kept as is; absolute form (`http://host/path?q`, RFC 9112 §3.2.2) becomes
    /// origin form; `*` is allowed only for OPTIONS and authority form only for CONNECT.
    static func normalizeTarget(_ target: String, method: String) throws(HTTPProtocolError) -> String {
        guard let first = target.utf8.first else { throw bad("empty request target") }
        if first == UInt8(ascii: "/") { return target }
        if target == "*" {
            guard method == "OPTIONS" else { throw bad("the '*' target is only valid with OPTIONS") }
            return target
        }
        let bytes = Array(target.utf8)
        if let schemeEnd = absoluteFormAuthorityStart(bytes) {
            var i = schemeEnd
            while i < bytes.count && bytes[i] != UInt8(ascii: "/") && bytes[i] != UInt8(ascii: "?") { i += 1 }
            guard i < bytes.count else { return "/" }
            let rest = String(decoding: bytes[i...], as: UTF8.self)
            return bytes[i] == UInt8(ascii: "?") ? "/" + rest : rest
        }
        if method == "CONNECT" { return target }
        throw bad("the request target must start with '/' (origin form) or be an absolute http(s) URL")
    }

    /// Index just after `http://` or `https://` (any case), or nil for other targets.
    static func absoluteFormAuthorityStart(_ bytes: [UInt8]) -> Int? {
        for scheme in ["http://", "https://"] {
            let s = Array(scheme.utf8)
            guard bytes.count >= s.count else { continue }
            var match = true
            for i in 0..<s.count {
                var b = bytes[i]
                if b >= 65 && b <= 90 { b |= 0x20 }
                if b != s[i] { match = false; break }
            }
            if match { return s.count }
        }
        return nil
    }

    static func parseContentLength(_ p: UnsafeRawBufferPointer, _ from: Int, _ to: Int) throws(HTTPProtocolError) -> Int {
        guard from < to else { throw bad("empty Content-Length") }
        var value = 0
        for i in from..<to {
            let b = p[i]
            guard b >= 0x30 && b <= 0x39 else {
                throw bad("Content-Length must be digits only (got '\(string(p, from, to))')")
            }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(b - 0x30))
            guard !o1, !o2, sum <= (1 << 62) else { throw bad("Content-Length is too large") }
            value = sum
        }
        return value
    }

    static func checkTransferCodings(_ values: [String]) throws(HTTPProtocolError) {
        var codings: [Substring] = []
        for value in values {
            for element in value.split(separator: ",", omittingEmptySubsequences: false) {
                let trimmed = element.trimmingSpaces
                if trimmed.isEmpty { continue }
                codings.append(trimmed)
            }
        }
        guard let last = codings.last else { throw bad("empty Transfer-Encoding") }
        guard HTTPFields.equalNames(last, "chunked") else {
            throw bad("Transfer-Encoding must end with chunked in a request (got '\(last)')")
        }
        for coding in codings.dropLast() {
            if HTTPFields.equalNames(coding, "chunked") { throw bad("chunked is applied more than once") }
            throw HTTPProtocolError(status: 501, detail: "transfer coding '\(coding)' is not supported; send chunked only")
        }
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (HTTP's OWS).
    var trimmingSpaces: Substring {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return Substring(s)
    }
}

extension HTTPFields {
    @inline(__always)
    static func equalNames(_ a: Substring, _ b: String) -> Bool { equalNames(String(a), b) }
}

/// Decodes the chunked transfer coding (RFC 9112 §7.1) incrementally, from whatever pieces the
/// socket delivers. Strict: hex sizes only (at most 15 significant digits), chunk extensions
/// must be well-formed (`;name[=token|"quoted"]`, whitespace only around `;` and `=`), every
/// line ends in CRLF (bare LF or CR → 400), chunk data must be followed by CRLF, trailer fields
/// are validated like header fields (and then discarded).
struct ChunkedDecoder {
    private enum State {
        case sizeLine
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailerLine
        case done
    }

    private var state = State.sizeLine
    private var line: [UInt8] = []
    private var sawCR = false
    private var trailerBytes = 0
    let limits: HTTPLimits

    init(limits: HTTPLimits) { self.limits = limits }

    var isDone: Bool { if case .done = state { return true } else { return false } }

    private static func bad(_ detail: String) -> HTTPProtocolError { HTTPRequestParser.bad(detail) }

    /// Consumes bytes from `input`, passing body data to `emit`. Returns how many bytes were
    /// consumed: all of them, unless the body ended first (the rest belongs to the next request).
    mutating func feed(_ input: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) -> Void) throws(HTTPProtocolError) -> Int {
        var i = 0
        let n = input.count
        while i < n {
            switch state {
            case .done:
                return i
            case .data(let remaining):
                let take = min(remaining, n - i)
                emit(UnsafeRawBufferPointer(rebasing: input[i..<(i + take)]))
                i += take
                state = remaining == take ? .dataCR : .data(remaining: remaining - take)
            case .dataCR:
                guard input[i] == HTTPRequestParser.cr else { throw Self.bad("chunk data is longer than its chunk size (expected CRLF)") }
                i += 1
                state = .dataLF
            case .dataLF:
                guard input[i] == HTTPRequestParser.lf else { throw Self.bad("chunk data must be followed by CRLF") }
                i += 1
                state = .sizeLine
            case .sizeLine, .trailerLine:
                let b = input[i]
                i += 1
                if sawCR {
                    guard b == HTTPRequestParser.lf else { throw Self.bad("bare CR in chunked framing") }
                    sawCR = false
                    try finishLine()
                    continue
                }
                if b == HTTPRequestParser.cr { sawCR = true; continue }
                if b == HTTPRequestParser.lf { throw Self.bad("bare LF in chunked framing; lines must end with CRLF") }
                line.append(b)
                if case .sizeLine = state, line.count > limits.chunkLineBytes {
                    throw Self.bad("chunk-size line longer than \(limits.chunkLineBytes) bytes")
                }
                if case .trailerLine = state {
                    trailerBytes += 1
                    if trailerBytes > limits.trailerBytes { throw Self.bad("chunked trailer section larger than \(limits.trailerBytes) bytes") }
                }
            }
        }
        return i
    }

    private mutating func finishLine() throws(HTTPProtocolError) {
        defer { line.removeAll(keepingCapacity: true) }
        if case .trailerLine = state {
            if line.isEmpty { state = .done; return }
            try Self.checkTrailerField(line)
            return
        }
        let size = try Self.parseSizeLine(line)
        state = size == 0 ? .trailerLine : .data(remaining: size)
    }

    static func parseSizeLine(_ line: [UInt8]) throws(HTTPProtocolError) -> Int {
        var i = 0
        var size = 0
        var significant = 0
        while i < line.count, let digit = Hex.nibble(line[i]) {
            if size != 0 || digit != 0 { significant += 1 }
            guard significant <= 15 else { throw bad("chunk size is too large") }
            size = size << 4 | Int(digit)
            i += 1
        }
        guard i > 0 else { throw bad("chunk size must be hexadecimal digits") }
        // chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] )
        func skipWhitespace() { while i < line.count && (line[i] == HTTPRequestParser.sp || line[i] == HTTPRequestParser.htab) { i += 1 } }
        while true {
            let before = i
            skipWhitespace()
            if i == line.count {
                guard before == i else { throw bad("whitespace after the chunk size") }
                return size
            }
            guard line[i] == UInt8(ascii: ";") else { throw bad("invalid character after the chunk size (0x\(Hex.encode([line[i]])))") }
            i += 1
            skipWhitespace()
            let nameStart = i
            while i < line.count && HTTPRequestParser.isTokenChar(line[i]) { i += 1 }
            guard i > nameStart else { throw bad("chunk extension without a name") }
            let afterName = i
            skipWhitespace()
            if i < line.count && line[i] == UInt8(ascii: "=") {
                i += 1
                skipWhitespace()
                if i < line.count && line[i] == UInt8(ascii: "\"") {
                    i += 1
                    var closed = false
                    while i < line.count {
                        let c = line[i]
                        if c == UInt8(ascii: "\"") { closed = true; i += 1; break }
                        if c == UInt8(ascii: "\\") {
                            guard i + 1 < line.count, HTTPRequestParser.isFieldValueChar(line[i + 1]) else {
                                throw bad("invalid escape in a chunk extension value")
                            }
                            i += 2
                            continue
                        }
                        guard HTTPRequestParser.isFieldValueChar(c) else { throw bad("control character in a chunk extension value") }
                        i += 1
                    }
                    guard closed else { throw bad("unterminated quoted chunk extension value") }
                } else {
                    let valueStart = i
                    while i < line.count && HTTPRequestParser.isTokenChar(line[i]) { i += 1 }
                    guard i > valueStart else { throw bad("chunk extension '=' without a value") }
                }
            } else {
                i = afterName  // whitespace after a name is only allowed before ';' or '='
            }
        }
    }

    static func checkTrailerField(_ line: [UInt8]) throws(HTTPProtocolError) {
        guard let first = line.first, first != HTTPRequestParser.sp, first != HTTPRequestParser.htab else {
            throw bad("obsolete line folding in the chunked trailer")
        }
        var i = 0
        while i < line.count && line[i] != UInt8(ascii: ":") {
            guard HTTPRequestParser.isTokenChar(line[i]) else { throw bad("invalid trailer field name") }
            i += 1
        }
        guard i > 0, i < line.count else { throw bad("trailer line without a name and a colon") }
        for b in line[(i + 1)...] where !HTTPRequestParser.isFieldValueChar(b) {
            throw bad("control character in a trailer field value")
        }
    }
}

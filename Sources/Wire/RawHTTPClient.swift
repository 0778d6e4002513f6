#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How `RawHTTPConnection.send` frames a request body.
public enum BodyFraming: Sendable, Equatable {
    /// `Content-Length` = the body's real size (added unless the request already has one).
    case contentLength
    /// `Content-Length: N` whatever the body's real size: the bytes given are sent as they are.
    case declaredLength(Int)
    /// `Transfer-Encoding: chunked` (added unless present), the body cut into chunks of this size
    /// (each written separately, so `writeDelay` paces them).
    case chunked(chunkSize: Int)
    /// No framing header: the body bytes (if any) follow the head as they are.
    case none
}

/// A client-side failure: what went wrong, in words a test report can show.
public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One TCP connection that sends exactly the bytes it is asked to (declared lengths that lie,
/// chunked bodies with chosen chunk sizes, pipelined requests, slow writes, raw bytes that are
/// not valid HTTP) and parses what comes back. Unlike URLSession it can choose its local source
/// address (`127.0.0.x`) so per-IP behaviour can be tested from one machine.
///
/// Every step has a timeout (`timeout` seconds of no progress): connect, each write, each read.
/// While a request body is being sent and no earlier response is outstanding, a response that
/// arrives early (say a 413 after the limit) stops the upload instead of pushing the rest into a
/// server that has stopped reading; `stoppedSendingEarly` then tells so.
public final class RawHTTPConnection {
    public let host: String
    public let port: Int
    public var timeout: Double
    /// When > 0, every write is cut into pieces of this many bytes.
    public var writePieceSize = 0
    /// Pause after each written piece, chunk or raw write (seconds); 0 for none.
    public var writeDelay: Double = 0
    /// Largest response body accepted (protects the client from an endless response).
    public var maxResponseBytes = 64 << 20
    /// Interim (1xx) responses received since the last `send` that had no earlier request
    /// outstanding.
    public private(set) var informational: [HTTPResponse] = []
    /// The status line of the last response, e.g. `HTTP/1.1 200 OK`.
    public private(set) var lastStatusLine = ""
    /// The last `send` did not send the whole body because a response arrived first (or the
    /// server closed the connection).
    public private(set) var stoppedSendingEarly = false
    /// Body bytes the last `send` actually wrote.
    public private(set) var bodyBytesSent = 0

    private var fd: Int32
    private var received: [UInt8] = []
    private var receivedStart = 0
    private var sawEOF = false
    /// For each request sent and not yet answered: was it a HEAD (whose response has no body)?
    private var outstanding: [Bool] = []

    public init(host: String, port: Int, sourceAddress: String? = nil, timeout: Double = 5) throws {
        signal(SIGPIPE, SIG_IGN)
        self.host = host
        self.port = port
        self.timeout = timeout
        do {
            fd = try Socket.connect(host: host, port: port, source: sourceAddress, timeout: timeout)
        } catch {
            throw HTTPClientError("cannot connect to \(host):\(port)\(sourceAddress.map { " from \($0)" } ?? ""): \(error)")
        }
    }

    /// A connection over a stream descriptor that is already connected to the server by
    /// other means (one end of a socket pair whose other end is a TLS tunnel, say); the
    /// connection owns it from now on. `host` and `port` name the server in messages.
    public init(connected descriptor: Int32, host: String, port: Int, timeout: Double = 5) {
        signal(SIGPIPE, SIG_IGN)
        self.host = host
        self.port = port
        self.timeout = timeout
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
        fd = descriptor
    }

    deinit { if fd >= 0 { Platform.close(fd) } }

    /// The local port of this connection (distinguishes connections in server logs).
    public var localPort: Int? { fd >= 0 ? Socket.localPort(fd) : nil }

    /// Half-closes: the server sees the end of the request stream, responses can still arrive.
    public func shutdownWrite() {
        if fd >= 0 { shutdown(fd, Int32(SHUT_WR)) }
    }

    public func close() {
        if fd >= 0 {
            Platform.close(fd)
            fd = -1
        }
    }

    // MARK: Sending

    /// Sends a request: request line, the headers verbatim and in order (plus `Host` when
    /// absent, plus the framing header `framing` calls for), then the body framed as asked.
    public func send(_ request: HTTPRequest, framing: BodyFraming = .contentLength) throws {
        stoppedSendingEarly = false
        bodyBytesSent = 0
        var headers = request.headers
        if !headers.contains("Host") { headers.append("Host", port == 80 ? host : "\(host):\(port)") }
        var body: HTTPBody = request.body
        switch framing {
        case .contentLength:
            if case .stream = body {
                guard let all = try body.collect(limit: 1 << 30) else { throw HTTPClientError("body larger than 1 GiB; use chunked framing") }
                body = .bytes(all)
            }
            if case .bytes(let bytes) = body, !headers.contains("Content-Length"), !(bytes.isEmpty && !HTTPRequest.methodHasBody(request.method)) {
                headers.append("Content-Length", String(bytes.count))
            }
        case .declaredLength(let n):
            if !headers.contains("Content-Length") { headers.append("Content-Length", String(n)) }
        case .chunked:
            if !headers.contains("Transfer-Encoding") { headers.append("Transfer-Encoding", "chunked") }
        case .none:
            break
        }
        let head = HTTPRequest.encodeHead(method: request.method, target: request.target, headers: headers)
        let onlyRequestInFlight = outstanding.isEmpty
        if onlyRequestInFlight { informational = [] }
        outstanding.append(request.method == "HEAD")
        try write(head)

        let expectsContinue = headers["Expect"].map { HTTPFields.equalNames($0.trimmingSpaces, "100-continue") } ?? false
        if expectsContinue && onlyRequestInFlight {
            // Like curl: wait briefly for 100 Continue (or an early final answer) before the body.
            if try awaitContinue(within: min(1, timeout)) == false {
                stoppedSendingEarly = true
                return
            }
        }
        try sendBody(body, framing: framing, watchForResponse: onlyRequestInFlight)
    }

    private func sendBody(_ body: HTTPBody, framing: BodyFraming, watchForResponse: Bool) throws {
        var nextPiece: () throws -> [UInt8]?
        switch body {
        case .bytes(let bytes):
            var done = bytes.isEmpty
            nextPiece = {
                guard !done else { return nil }
                done = true
                return bytes
            }
        case .stream(let stream):
            nextPiece = { try stream.nextChunk() }
        }
        var pieces: [[UInt8]] = []
        while true {
            guard let data = try nextPiece() else { break }
            switch framing {
            case .chunked(let size):
                let chunkSize = max(1, size)
                var start = 0
                pieces.removeAll()
                while start < data.count {
                    let end = min(data.count, start + chunkSize)
                    var chunk = Array(String(end - start, radix: 16).utf8)
                    chunk.append(contentsOf: [13, 10])
                    chunk.append(contentsOf: data[start..<end])
                    chunk.append(contentsOf: [13, 10])
                    pieces.append(chunk)
                    start = end
                }
            default:
                pieces = data.isEmpty ? [] : [data]
            }
            for piece in pieces {
                if watchForResponse && responseArrivedEarly() {
                    stoppedSendingEarly = true
                    return
                }
                do {
                    try write(piece)
                } catch let error as HTTPClientError {
                    // The server may have answered and closed while we were still sending.
                    if watchForResponse && responseArrivedEarly() {
                        stoppedSendingEarly = true
                        return
                    }
                    throw error
                }
                bodyBytesSent += piece.count
            }
        }
        if case .chunked = framing {
            if watchForResponse && responseArrivedEarly() {
                stoppedSendingEarly = true
                return
            }
            try write(Array("0\r\n\r\n".utf8))
        }
    }

    /// Sends bytes exactly as given (split and paced by `writePieceSize`/`writeDelay`).
    public func sendRaw(_ bytes: [UInt8]) throws {
        try write(bytes)
    }

    /// Sends bytes in pieces of `pieceSize`, pausing `delay` seconds after each.
    public func sendRaw(_ bytes: [UInt8], pieceSize: Int, delay: Double) throws {
        let savedSize = writePieceSize, savedDelay = writeDelay
        defer { writePieceSize = savedSize; writeDelay = savedDelay }
        writePieceSize = max(1, pieceSize)
        writeDelay = delay
        try write(bytes)
    }

    private func write(_ bytes: [UInt8]) throws {
        guard fd >= 0 else { throw HTTPClientError("connection is closed") }
        let piece = writePieceSize > 0 ? writePieceSize : max(1, bytes.count)
        var start = 0
        repeat {
            let end = min(bytes.count, start + piece)
            do {
                try bytes.withUnsafeBytes { all in
                    try Socket.sendAll(fd, UnsafeRawBufferPointer(rebasing: all[start..<end]),
                                       deadline: Socket.monotonicNanos() &+ Socket.nanos(timeout))
                }
            } catch {
                throw HTTPClientError("sending to \(host):\(port): \(error)")
            }
            if writeDelay > 0 { usleep(UInt32(min(writeDelay, 60) * 1_000_000)) }
            start = end
        } while start < bytes.count
    }

    /// True when a final response (or the end of the connection) is already waiting. Interim
    /// 1xx responses that arrived are consumed into `informational`.
    private func responseArrivedEarly() -> Bool {
        guard fd >= 0 else { return true }
        while Socket.isReadable(fd) {
            guard readAvailable() else { break }
        }
        if sawEOF && bufferedCount == 0 { return true }
        while let interim = try? peekInterim() {
            informational.append(interim)
        }
        return bufferedCount > 0 || sawEOF
    }

    /// Waits for `100 Continue`: true to send the body, false when a final response came first.
    private func awaitContinue(within seconds: Double) throws -> Bool {
        let deadline = Socket.monotonicNanos() &+ Socket.nanos(seconds)
        while true {
            if let interim = try peekInterim() {
                informational.append(interim)
                return true
            }
            if bufferedCount > 0 || sawEOF { return false }
            guard Socket.wait(fd, events: Int16(POLLIN), deadline: deadline) else { return true }
            guard readAvailable() else { return false }
        }
    }

    // MARK: Receiving

    private var bufferedCount: Int { received.count - receivedStart }

    /// One non-blocking read into the receive buffer. False on end of stream or error.
    @discardableResult
    private func readAvailable() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            compactIfNeeded()
            received.append(contentsOf: chunk[0..<n])
            return true
        }
        if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            sawEOF = true
            return false
        }
        return true
    }

    private func compactIfNeeded() {
        if receivedStart > 0 && receivedStart >= received.count / 2 {
            received.removeFirst(receivedStart)
            receivedStart = 0
        }
    }

    /// Reads more, waiting up to `timeout` for progress. Throws on timeout; false at EOF.
    private func readMore() throws -> Bool {
        guard fd >= 0 else { throw HTTPClientError("connection is closed") }
        if sawEOF { return false }
        guard Socket.wait(fd, events: Int16(POLLIN), deadline: Socket.monotonicNanos() &+ Socket.nanos(timeout)) else {
            throw HTTPClientError("no response from \(host):\(port) within \(timeout) s")
        }
        return readAvailable()
    }

    /// Reads the next final response (skipping and recording interim 1xx responses).
    public func readResponse() throws -> HTTPResponse {
        while true {
            let (statusLine, status, headers, headEnd) = try readHead()
            consume(headEnd)
            if (100...199).contains(status) && status != 101 {
                informational.append(HTTPResponse(status: status, headers: headers))
                continue
            }
            lastStatusLine = statusLine
            let isHEAD = outstanding.isEmpty ? false : outstanding.removeFirst()
            var body: [UInt8] = []
            if isHEAD || status == 204 || status == 304 || (100...199).contains(status) {
                // no body
            } else if let te = headers["Transfer-Encoding"], te.lowercased().contains("chunked") {
                body = try readChunkedBody()
            } else if let cl = headers["Content-Length"] {
                guard let length = Int(cl.trimmingSpaces), length >= 0 else {
                    throw HTTPClientError("response has an invalid Content-Length '\(cl)'")
                }
                guard length <= maxResponseBytes else { throw HTTPClientError("response body of \(length) bytes exceeds the client limit") }
                while bufferedCount < length {
                    guard try readMore() else { throw HTTPClientError("connection closed after \(bufferedCount) of \(length) body bytes") }
                }
                body = Array(received[receivedStart..<(receivedStart + length)])
                consume(length)
            } else {
                while try readMore() {
                    guard bufferedCount <= maxResponseBytes else { throw HTTPClientError("response body exceeds the client limit") }
                }
                body = Array(received[receivedStart...])
                consume(bufferedCount)
            }
            return HTTPResponse(status: status, headers: headers, body: body)
        }
    }

    private func consume(_ count: Int) {
        receivedStart += count
        if receivedStart == received.count {
            received.removeAll(keepingCapacity: true)
            receivedStart = 0
        }
    }

    /// A complete interim response at the front of the buffer, consumed; nil otherwise.
    private func peekInterim() throws -> HTTPResponse? {
        guard let end = headEnd() else { return nil }
        let (_, status, headers) = try parseHead(end)
        guard (100...199).contains(status), status != 101 else { return nil }
        consume(end)
        return HTTPResponse(status: status, headers: headers)
    }

    private func headEnd() -> Int? {
        var i = receivedStart
        while i < received.count {
            if received[i] == 10 {
                if i + 1 < received.count && received[i + 1] == 10 { return i + 2 - receivedStart }
                if i + 2 < received.count && received[i + 1] == 13 && received[i + 2] == 10 { return i + 3 - receivedStart }
            }
            i += 1
        }
        return nil
    }

    private func readHead() throws -> (String, Int, HTTPFields, Int) {
        while true {
            if let end = headEnd() {
                let (line, status, headers) = try parseHead(end)
                return (line, status, headers, end)
            }
            guard bufferedCount < 64 * 1024 else { throw HTTPClientError("response head larger than 64 KiB") }
            guard try readMore() else {
                throw HTTPClientError(bufferedCount == 0
                    ? "connection closed by \(host):\(port) without a response"
                    : "connection closed in the middle of a response head")
            }
        }
    }

    private func parseHead(_ length: Int) throws -> (String, Int, HTTPFields) {
        // Split on bytes: as Characters, "\r\n" is one grapheme and would not split on "\n".
        var lines = received[receivedStart..<(receivedStart + length)]
            .split(separator: 10, omittingEmptySubsequences: false)
            .map { line -> Substring in
                let trimmed = line.last == 13 ? line.dropLast() : line
                return Substring(String(decoding: trimmed, as: UTF8.self))
            }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let statusLine = lines.first else { throw HTTPClientError("empty response head") }
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), parts[1].count == 3, let status = Int(parts[1]) else {
            throw HTTPClientError("malformed status line '\(statusLine.prefix(100))'")
        }
        var headers = HTTPFields()
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { throw HTTPClientError("malformed response header line '\(line.prefix(100))'") }
            headers.append(String(line[..<colon]), String(line[line.index(after: colon)...].trimmingSpaces))
        }
        return (String(statusLine), status, headers)
    }

    private func readChunkedBody() throws -> [UInt8] {
        var decoder = ChunkedDecoder(limits: HTTPLimits())
        var body: [UInt8] = []
        while true {
            if bufferedCount > 0 {
                let consumed = try received[receivedStart...].withUnsafeBytes { input in
                    try decoder.feed(input) { body.append(contentsOf: $0) }
                }
                consume(consumed)
                guard body.count <= maxResponseBytes else { throw HTTPClientError("response body exceeds the client limit") }
                if decoder.isDone { return body }
            }
            guard try readMore() else { throw HTTPClientError("connection closed in the middle of a chunked response") }
        }
    }

    /// Waits up to `seconds` for the server to close the connection (discarding anything it
    /// still sends). True when it closed.
    public func waitForClose(within seconds: Double) -> Bool {
        guard fd >= 0 else { return true }
        let deadline = Socket.monotonicNanos() &+ Socket.nanos(seconds)
        while !sawEOF {
            guard Socket.wait(fd, events: Int16(POLLIN), deadline: deadline) else { return false }
            consume(bufferedCount)
            readAvailable()
        }
        return true
    }
}

extension HTTPRequest {
    /// The request line and the fields in order, ending with the empty line.
    public static func encodeHead(method: String, target: String, headers: HTTPFields) -> [UInt8] {
        var head: [UInt8] = []
        head.reserveCapacity(headSize(method: method, target: target, headers: headers))
        appendHead(method: method, target: target, headers: headers, to: &head)
        return head
    }

    /// The bytes `encodeHead` makes, counted (to size a buffer once).
    static func headSize(method: String, target: String, headers: HTTPFields) -> Int {
        var size = method.utf8.count + target.utf8.count + 14
        for field in headers { size += field.name.utf8.count + field.value.utf8.count + 4 }
        return size
    }

    static func appendHead(method: String, target: String, headers: HTTPFields, to head: inout [UInt8]) {
        head.append(contentsOf: method.utf8)
        head.append(32)
        head.append(contentsOf: target.utf8)
        head.append(contentsOf: " HTTP/1.1\r\n".utf8)
        for field in headers {
            head.append(contentsOf: field.name.utf8)
            head.append(58)
            head.append(32)
            head.append(contentsOf: field.value.utf8)
            head.append(13)
            head.append(10)
        }
        head.append(13)
        head.append(10)
    }

    static func methodHasBody(_ method: String) -> Bool {
        method == "POST" || method == "PUT" || method == "PATCH"
    }

    /// The whole request as one run of bytes, its body framed by `Content-Length` (added when
    /// absent, for a body or a method that carries one), as `RawHTTPConnection.send` sends it by
    /// default. A streamed body is not encoded here: nil.
    public func encoded() -> [UInt8]? {
        guard case .bytes(let body) = body else { return nil }
        // The head as `encodeHead` writes it with `Content-Length` appended to the fields (when
        // it is needed), then the body, into one buffer sized once.
        let length = !headers.contains("Content-Length") && !(body.isEmpty && !Self.methodHasBody(method)) ? String(body.count) : nil
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.headSize(method: method, target: target, headers: headers) + (length.map { $0.utf8.count + 18 } ?? 0) + body.count)
        Self.appendHead(method: method, target: target, headers: headers, to: &bytes)
        if let length {
            bytes.removeLast(2)
            bytes.append(contentsOf: "Content-Length: ".utf8)
            bytes.append(contentsOf: length.utf8)
            bytes.append(contentsOf: "\r\n\r\n".utf8)
        }
        bytes.append(contentsOf: body)
        return bytes
    }
}

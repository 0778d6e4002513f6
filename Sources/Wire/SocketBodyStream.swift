#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A request body read from the socket on demand (on a worker thread).
final class SocketBodyStream: HTTPBodyStream, @unchecked Sendable {
    private let connection: Connection
    private let bodyLength: MessageBodyLength
    private var remaining: Int
    private var decoder: ChunkedDecoder
    private var pending: [UInt8]
    private var expectsContinue: Bool
    private let timeout: Double
    private let writeTimeout: Double
    private let grace: Double
    private let minimumRate: Double
    /// When the handler first asked for bytes (0 until then): the start of the rate rule.
    private var firstPull: UInt64 = 0
    /// Body bytes (with chunk framing) received so far, for the rate rule.
    private var received: Int
    private var finished = false
    private var failure: HTTPProtocolError?
    private var leftover: [UInt8] = []
    private let lock = Lock()
    private static let readSize = 64 * 1024

    init(connection: Connection, head: RequestHead, limits: HTTPLimits, timeouts: HTTPServer.Timeouts) {
        self.connection = connection
        self.bodyLength = head.bodyLength
        if case .length(let n) = head.bodyLength { remaining = n } else { remaining = 0 }
        self.decoder = ChunkedDecoder(limits: limits)
        self.pending = connection.pending
        // A client that already sent body bytes did not wait for 100 Continue.
        self.expectsContinue = head.expectsContinue && connection.pending.isEmpty
        self.timeout = timeouts.body
        self.writeTimeout = timeouts.write
        self.grace = timeouts.bodyGrace
        self.minimumRate = timeouts.bodyMinimumRate
        self.received = connection.pending.count
        if head.bodyLength == .none { finished = true }
    }

    func nextChunk() throws -> [UInt8]? {
        try lock.withLock { try next() }
    }

    /// Whether the body was read to its end, the protocol error if it was malformed, and the
    /// bytes read past its end (the next pipelined request).
    func finish() -> (complete: Bool, failure: HTTPProtocolError?, leftover: [UInt8]) {
        lock.withLock { (finished, failure, leftover) }
    }

    private func next() throws -> [UInt8]? {
        if let failure { throw failure }
        if finished { return nil }
        if firstPull == 0 { firstPull = Socket.monotonicNanos() }
        if expectsContinue {
            expectsContinue = false
            let interim = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
            try Socket.sendAll(connection.fd, interim, deadline: Socket.monotonicNanos() &+ Socket.nanos(writeTimeout))
        }
        while true {
            if !pending.isEmpty {
                switch bodyLength {
                case .length:
                    let take = min(remaining, pending.count)
                    let chunk = Array(pending[0..<take])
                    remaining -= take
                    pending.removeFirst(take)
                    if remaining == 0 {
                        finished = true
                        leftover = pending
                        pending = []
                    }
                    return chunk
                case .chunked:
                    var out: [UInt8] = []
                    let consumed: Int
                    do {
                        consumed = try pending.withUnsafeBytes { input in
                            try decoder.feed(input) { out.append(contentsOf: $0) }
                        }
                    } catch {
                        let framingError = (error as? HTTPProtocolError) ?? HTTPRequestParser.bad("malformed chunked body")
                        failure = framingError
                        throw framingError
                    }
                    if decoder.isDone {
                        finished = true
                        leftover = Array(pending[consumed...])
                        pending = []
                    } else {
                        pending.removeAll(keepingCapacity: true)
                    }
                    if !out.isEmpty { return out }
                    if finished { return nil }
                case .none:
                    finished = true
                    return nil
                }
            }
            // Read more from the socket: exactly what remains for a Content-Length body (so the
            // next pipelined request stays in the socket), a buffer's worth for chunked.
            let want = bodyLength == .chunked ? Self.readSize : min(remaining, Self.readSize)
            // Wait for the next bytes until the stall deadline or, if earlier, the moment the
            // average rate would fall below the minimum.
            var deadline = Socket.monotonicNanos() &+ Socket.nanos(timeout)
            var rateBound = false
            if minimumRate > 0 {
                let allowed = firstPull &+ Socket.nanos(grace + Double(received) / minimumRate)
                if allowed < deadline {
                    deadline = allowed
                    rateBound = true
                }
            }
            // The buffer is allocated only once bytes are there, and trimmed to what arrived:
            // a thousand uploads that trickle must not each pin a 64 KiB buffer while waiting.
            var buffer: [UInt8] = []
            let n: Int
            do {
                guard Socket.wait(connection.fd, events: Int16(POLLIN), deadline: deadline) else {
                    throw SocketError("recv (nothing arrived in time)", code: ETIMEDOUT)
                }
                buffer = [UInt8](repeating: 0, count: want)
                n = try buffer.withUnsafeMutableBytes {
                    try Socket.receive(connection.fd, into: $0, deadline: deadline)
                }
            } catch let error as SocketError where error.code == ETIMEDOUT {
                let detail = rateBound
                    ? "request body arrived slower than \(Int(minimumRate)) bytes/s (\(received) bytes after \(Int(grace + Double(received) / minimumRate)) s)"
                    : "request body stalled for \(timeout) s"
                let timedOut = HTTPProtocolError(status: 408, detail: detail)
                failure = timedOut
                throw timedOut
            } catch {
                let broken = HTTPProtocolError(status: 400, detail: "connection failed while reading the body")
                failure = broken
                throw broken
            }
            if n == 0 {
                let early = HTTPProtocolError(status: 400, detail: "connection closed before the end of the body")
                failure = early
                throw early
            }
            received &+= n
            if n < want / 2 {
                pending = Array(buffer[0..<n])
            } else {
                if n < want { buffer.removeSubrange(n...) }
                pending = buffer
            }
        }
    }
}

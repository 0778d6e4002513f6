@preconcurrency import Glibc
import Synchronization

/// An HTTP/1.1 server on real sockets, hardened for use as an oracle that hostile or broken
/// clients talk to.
///
/// Architecture:
/// - **Event loops** (one per core by default, epoll, non-blocking sockets) own every connection
///   that is idle, reading a head, or writing a response, so an idle keep-alive connection costs
///   a descriptor and a few hundred bytes, never a thread. Loop 0 accepts and deals connections
///   out round-robin, so load is spread evenly over the loops.
/// - A request whose head and `Content-Length` body (up to `HTTPLimits.bufferedBodyBytes`) are
///   buffered, or whose chunked body is already complete in the buffer, is *complete*.
///   With `Execution.eventLoop` a complete request runs on the loop thread (the fast path); with
///   `Execution.workerThreads` (the default, safe for handlers that block) it goes to a worker.
/// - A request with a large, chunked-and-incomplete, or `Expect: 100-continue` body always goes
///   to a **worker** thread: the handler gets an `HTTPBodyStream` that pulls from the socket
///   (sending `100 Continue` on the first pull), so a handler with a size limit stops reading at
///   limit + 1 bytes and nothing else is buffered. If the handler leaves body bytes unread, the
///   response carries `Connection: close` and the connection is closed after it, without
///   draining the body.
/// - Every server-initiated close after a response is a lingering close: `shutdown(SHUT_WR)`
///   sends the response and a FIN, then bytes still arriving are discarded for a short bounded
///   time, so the client reads the response instead of a connection reset.
/// - Workers are bounded (`Options.maxWorkers`); queued work waits. A header that does not
///   arrive within `Timeouts.header` gets 408 (slowloris); idle keep-alive connections are
///   closed after `Timeouts.idle`; a body that stalls for `Timeouts.body` gets 408.
///
/// Protocol errors (400, 408, 413, 414, 417, 431, 501, 505) are rendered by
/// `Options.errorResponder` when set, otherwise by the handler's
/// `handleProtocolError(status:detail:)`, so they carry the same headers as its other responses.
public final class HTTPServer: Sendable {
    /// Where handlers run when the whole request is already buffered.
    public enum Execution: Sendable {
        /// On the event-loop thread: fastest, but only for handlers that never block (the loop's
        /// other connections wait while the handler runs).
        case eventLoop
        /// On a worker thread: for handlers that may block (network calls, locks held long).
        case workerThreads
    }

    public struct Timeouts: Sendable {
        /// From the first byte of a request until its head (and buffered body) is complete.
        public var header: Double = 10
        /// How long a keep-alive connection may sit between requests.
        public var idle: Double = 60
        /// How long a streamed body may stall between reads.
        public var body: Double = 30
        /// How long the client may refuse to read a response that does not fit the socket buffer.
        public var write: Double = 10
        /// How long a closing connection keeps discarding a client's unread request bytes.
        public var linger: Double = 2
        public init() {}
    }

    /// What the server did for one request, for access logs.
    public struct AccessRecord: Sendable {
        /// "-" when the request line could not be parsed.
        public var method: String
        public var target: String
        public var status: Int
        /// Response body bytes.
        public var bytes: Int
        /// Seconds from the request's first byte to the response being queued for sending.
        public var duration: Double
        /// The socket's peer address.
        public var client: String
    }

    public struct Options: Sendable {
        public var host = "127.0.0.1"
        /// 0 picks a free port; `start()` returns it.
        public var port = 0
        public var execution: Execution = .workerThreads
        /// Event-loop threads (default: one per available core).
        public var eventLoops = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        public var maxWorkers = 64
        /// Connections beyond this are answered 503 and closed.
        public var maxConnections = 16_384
        public var backlog: Int32 = 1024
        public var limits = HTTPLimits()
        public var timeouts = Timeouts()
        /// Stop discarding a closing connection's incoming bytes after this many. Must exceed
        /// what loopback socket buffers hold (several MiB), or a client still uploading gets a
        /// reset before it has read the response.
        public var lingerBytes = 64 << 20
        /// Renders the server's own error responses; overrides the handler's
        /// `handleProtocolError(status:detail:)`.
        public var errorResponder: (@Sendable (Int, String) -> HTTPResponse)?
        /// Called once per response (from loop or worker threads; keep it cheap).
        public var accessLog: (@Sendable (AccessRecord) -> Void)?
        public init() {}
    }

    private let handler: any HTTPHandler
    private let options: Options
    private let running = Mutex<ServerCore?>(nil)
    private let boundPort = Atomic<Int>(0)

    public init(handler: any HTTPHandler, options: Options = .init()) {
        self.handler = handler
        self.options = options
    }

    deinit { stop() }

    /// Binds, starts the loops, and returns the bound port. Throws when the address cannot be
    /// bound or the server is already running.
    @discardableResult
    public func start() throws -> Int {
        try running.withLock { core in
            guard core == nil else { throw SocketError("start (server already running)", code: EALREADY) }
            let started = try ServerCore.start(handler: handler, options: options)
            core = started
            boundPort.store(started.port, ordering: .releasing)
            return started.port
        }
    }

    /// Stops accepting, closes idle connections, lets in-flight requests finish (briefly), and
    /// joins every thread. Safe to call more than once.
    public func stop() {
        let core = running.withLock { core -> ServerCore? in
            defer { core = nil }
            return core
        }
        core?.stop()
    }

    /// The bound port (0 before `start()`).
    public var port: Int { boundPort.load(ordering: .acquiring) }

    /// Connections currently open (for monitoring and tests).
    public var openConnections: Int {
        running.withLock { $0?.connectionCount.load(ordering: .relaxed) ?? 0 }
    }
}

extension HTTPHandler {
    /// The default rendering of the server's protocol errors: `{"detail": "..."}` as JSON.
    public func handleProtocolError(status: Int, detail: String) -> HTTPResponse {
        HTTPServer.plainErrorResponse(status: status, detail: detail)
    }
}

extension HTTPServer {
    public static func plainErrorResponse(status: Int, detail: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"],
                     body: Array("{\"detail\":\(JSONText.quote(detail))}".utf8))
    }
}

/// Minimal JSON string quoting (error bodies, JSON log lines) without Foundation.
public enum JSONText {
    public static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = Hex.encode([UInt8(scalar.value)])
                    out += "\\u00" + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// The running server: listener, loops, workers. Lives from `start()` to `stop()`.
final class ServerCore: @unchecked Sendable {
    let handler: any HTTPHandler
    let options: Options
    let listener: Int32
    let port: Int
    let workers: WorkerPool
    let stopping = Atomic<Bool>(false)
    let connectionCount = Atomic<Int>(0)
    private(set) var loops: [EventLoop] = []
    private var threads: [OSThread] = []
    /// Connections a worker owns, so `stop()` can unblock them.
    private let workerOwned = Mutex<Set<Int32>>([])

    typealias Options = HTTPServer.Options

    private init(handler: any HTTPHandler, options: Options, listener: Int32, port: Int) {
        self.handler = handler
        self.options = options
        self.listener = listener
        self.port = port
        self.workers = WorkerPool(maxThreads: max(1, options.maxWorkers))
    }

    static func start(handler: any HTTPHandler, options: Options) throws -> ServerCore {
        signal(SIGPIPE, SIG_IGN)
        let (fd, port) = try Socket.listen(host: options.host, port: options.port, backlog: options.backlog)
        let core = ServerCore(handler: handler, options: options, listener: fd, port: port)
        do {
            for index in 0..<max(1, options.eventLoops) {
                core.loops.append(try EventLoop(core: core, index: index))
            }
            for loop in core.loops {
                core.threads.append(try OSThread.start { loop.run() })
            }
        } catch {
            core.stop()
            throw error
        }
        return core
    }

    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for loop in loops { loop.wake() }
        for thread in threads { thread.join() }
        threads.removeAll()
        // In-flight worker requests get a moment to finish, then their sockets are shut down so
        // a worker blocked on a slow client returns promptly.
        let deadline = Socket.monotonicNanos() &+ 1_000_000_000
        while workers.busyCount > 0 && Socket.monotonicNanos() < deadline { usleep(5_000) }
        workerOwned.withLock { fds in for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) } }
        workers.shutdown()
        for loop in loops { loop.release() }
        close(listener)
    }

    func markWorkerOwned(_ fd: Int32, _ owned: Bool) {
        workerOwned.withLock { fds in
            if owned { fds.insert(fd) } else { fds.remove(fd) }
        }
    }

    /// Closes a connection a worker owns (removing it from the registry first so `stop()`
    /// never touches a reused descriptor number).
    func closeWorkerOwned(_ connection: Connection) {
        markWorkerOwned(connection.fd, false)
        close(connection.fd)
        connectionCount.subtract(1, ordering: .relaxed)
    }

    func errorResponse(_ error: HTTPProtocolError) -> HTTPResponse {
        if let responder = options.errorResponder { return responder(error.status, error.detail) }
        return handler.handleProtocolError(status: error.status, detail: error.detail)
    }

    // MARK: Worker path

    /// Runs a request on a worker thread: flushes responses queued for earlier pipelined
    /// requests, gives the handler the body (buffered or streamed), writes the response, and
    /// returns the connection to its loop (or closes it).
    func runOnWorker(_ job: WorkerJob) {
        let connection = job.connection
        let timeouts = options.timeouts
        do {
            if !connection.output.isEmpty {
                try Socket.sendAll(connection.fd, Array(connection.output[connection.outputOffset...]),
                                   deadline: Socket.monotonicNanos() &+ Socket.nanos(timeouts.write))
                connection.output.removeAll()
                connection.outputOffset = 0
            }
            var keepAlive = job.head.keepAlive
            var response: HTTPResponse
            let requestTarget = job.head.target
            switch job.body {
            case .buffered(let bytes):
                let request = HTTPRequest(method: job.head.method, target: job.head.target, headers: job.head.headers,
                                          body: .bytes(bytes), peer: connection.peer)
                response = handler.handle(request)
            case .stream:
                let stream = SocketBodyStream(connection: connection, head: job.head, limits: options.limits,
                                              timeout: timeouts.body, writeTimeout: timeouts.write)
                connection.pending = []
                let request = HTTPRequest(method: job.head.method, target: job.head.target, headers: job.head.headers,
                                          body: .stream(stream), peer: connection.peer)
                response = handler.handle(request)
                let outcome = stream.finish()
                if let failure = outcome.failure {
                    response = errorResponse(failure)
                    keepAlive = false
                } else if !outcome.complete {
                    keepAlive = false
                } else {
                    connection.pending = outcome.leftover
                }
            }
            if stopping.load(ordering: .relaxed) { keepAlive = false }
            var out: [UInt8] = []
            HTTPResponseEncoder.encode(response, isHEAD: job.head.isHEAD, minorVersion: job.head.minorVersion,
                                       keepAlive: keepAlive, date: HTTPDate.now(), into: &out)
            try Socket.sendAll(connection.fd, out, deadline: Socket.monotonicNanos() &+ Socket.nanos(timeouts.write))
            log(method: job.head.method, target: requestTarget, status: response.status, bytes: response.body.count,
                started: job.started, client: connection.peer)
            if !keepAlive {
                shutdown(connection.fd, Int32(SHUT_WR))
                connection.phase = .lingering
            } else {
                connection.phase = .head
            }
        } catch {
            closeWorkerOwned(connection)
            return
        }
        markWorkerOwned(connection.fd, false)
        if !connection.loop.returnFromWorker(connection) {
            close(connection.fd)
            connectionCount.subtract(1, ordering: .relaxed)
        }
    }

    @inline(__always)
    func log(method: String, target: String, status: Int, bytes: Int, started: UInt64, client: String) {
        guard let accessLog = options.accessLog else { return }
        let elapsed = Socket.monotonicNanos() &- started
        accessLog(HTTPServer.AccessRecord(method: method, target: target, status: status, bytes: bytes,
                                          duration: Double(elapsed) / 1e9, client: client))
    }
}

/// A request handed to a worker.
struct WorkerJob: @unchecked Sendable {
    enum Body {
        case buffered([UInt8])
        case stream
    }
    let connection: Connection
    let head: RequestHead
    let body: Body
    let started: UInt64
}

/// A bounded pool of worker threads, started on demand.
final class WorkerPool: @unchecked Sendable {
    private let condition = ConditionLock()
    private let maxThreads: Int
    private var queue: [WorkerJob] = []
    private var queueHead = 0
    private var idle = 0
    private var busy = 0
    private var threads: [OSThread] = []
    private var stopped = false

    init(maxThreads: Int) { self.maxThreads = maxThreads }

    var busyCount: Int { condition.withLock { busy + (queue.count - queueHead) } }

    /// Queues a job; returns false when the pool is shut down (the caller then closes).
    func submit(_ job: WorkerJob, run: @escaping @Sendable (WorkerJob) -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return false }
        queue.append(job)
        if idle > 0 {
            condition.signal()
        } else if threads.count < maxThreads {
            if let thread = try? OSThread.start({ [self] in work(run) }) {
                threads.append(thread)
            }
        }
        return true
    }

    private func work(_ run: @Sendable (WorkerJob) -> Void) {
        while true {
            condition.lock()
            while queueHead == queue.count && !stopped {
                idle += 1
                condition.wait()
                idle -= 1
            }
            if queueHead == queue.count {
                condition.unlock()
                return
            }
            let job = queue[queueHead]
            queueHead += 1
            if queueHead == queue.count {
                queue.removeAll(keepingCapacity: true)
                queueHead = 0
            }
            busy += 1
            condition.unlock()
            run(job)
            condition.withLock { busy -= 1 }
        }
    }

    /// Lets queued jobs drain, then joins every thread.
    func shutdown() {
        let toJoin: [OSThread] = condition.withLock {
            stopped = true
            condition.broadcast()
            return threads
        }
        for thread in toJoin { thread.join() }
    }
}

/// A request body read from the socket on demand (on a worker thread).
final class SocketBodyStream: HTTPBodyStream, @unchecked Sendable {
    private let connection: Connection
    private let framing: RequestFraming
    private var remaining: Int
    private var decoder: ChunkedDecoder
    private var pending: [UInt8]
    private var expectsContinue: Bool
    private let timeout: Double
    private let writeTimeout: Double
    private var finished = false
    private var failure: HTTPProtocolError?
    private var leftover: [UInt8] = []
    private let lock = Lock()
    private static let readSize = 64 * 1024

    init(connection: Connection, head: RequestHead, limits: HTTPLimits, timeout: Double, writeTimeout: Double) {
        self.connection = connection
        self.framing = head.framing
        if case .length(let n) = head.framing { remaining = n } else { remaining = 0 }
        self.decoder = ChunkedDecoder(limits: limits)
        self.pending = connection.pending
        // A client that already sent body bytes did not wait for 100 Continue.
        self.expectsContinue = head.expectsContinue && connection.pending.isEmpty
        self.timeout = timeout
        self.writeTimeout = writeTimeout
        if head.framing == .none { finished = true }
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
        if expectsContinue {
            expectsContinue = false
            let interim = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
            try Socket.sendAll(connection.fd, interim, deadline: Socket.monotonicNanos() &+ Socket.nanos(writeTimeout))
        }
        while true {
            if !pending.isEmpty {
                switch framing {
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
            let want = framing == .chunked ? Self.readSize : min(remaining, Self.readSize)
            var buffer = [UInt8](repeating: 0, count: want)
            let n: Int
            do {
                n = try buffer.withUnsafeMutableBytes {
                    try Socket.receive(connection.fd, into: $0, deadline: Socket.monotonicNanos() &+ Socket.nanos(timeout))
                }
            } catch let error as SocketError where error.code == ETIMEDOUT {
                let timedOut = HTTPProtocolError(status: 408, detail: "request body stalled for \(timeout) s")
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
            if n < want { buffer.removeSubrange(n...) }
            pending = buffer
        }
    }
}

/// Serialises responses: one contiguous buffer per response (one `send`), server-owned framing
/// headers (`Content-Length`, `Connection`, `Date`), and header fields with invalid names or
/// values dropped so a handler cannot split a response with CR/LF.
enum HTTPResponseEncoder {
    private static let crlf: [UInt8] = [13, 10]

    static func encode(_ response: HTTPResponse, isHEAD: Bool, minorVersion: Int, keepAlive: Bool,
                       date: [UInt8], into out: inout [UInt8]) {
        var status = response.status
        // A final response cannot be 1xx (the client would wait for another): treat nonsense
        // from a handler as the internal error it is.
        if status < 200 || status > 999 { status = 500 }
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        out.append(UInt8(0x30 + status / 100))
        out.append(UInt8(0x30 + status / 10 % 10))
        out.append(UInt8(0x30 + status % 10))
        out.append(32)
        out.append(contentsOf: HTTPStatus.reason(status).utf8)
        out.append(contentsOf: crlf)
        var hasDate = false
        for field in response.headers {
            var name = field.name
            var value = field.value
            name.withUTF8 { n in
                value.withUTF8 { v in
                    switch n.count {
                    case 4 where equalsLowercase(n, "date"):
                        hasDate = true
                    case 10 where equalsLowercase(n, "connection"),
                         14 where equalsLowercase(n, "content-length"),
                         17 where equalsLowercase(n, "transfer-encoding"):
                        return  // framing is the server's job
                    default:
                        break
                    }
                    guard !n.isEmpty else { return }
                    for b in n where !HTTPRequestParser.isTokenChar(b) { return }
                    for b in v where !HTTPRequestParser.isFieldValueChar(b) { return }
                    out.append(contentsOf: n)
                    out.append(58)
                    out.append(32)
                    out.append(contentsOf: v)
                    out.append(13)
                    out.append(10)
                }
            }
        }
        if !hasDate { out.append(contentsOf: date) }
        let bodyAllowed = status >= 200 && status != 204 && status != 304
        if bodyAllowed {
            out.append(contentsOf: "Content-Length: ".utf8)
            appendDecimal(response.body.count, to: &out)
            out.append(contentsOf: crlf)
        }
        if !keepAlive {
            out.append(contentsOf: "Connection: close\r\n".utf8)
        } else if minorVersion == 0 {
            out.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        out.append(contentsOf: crlf)
        if bodyAllowed && !isHEAD { out.append(contentsOf: response.body) }
    }

    static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        if value == 0 { out.append(0x30); return }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var v = value.magnitude
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while v > 0 && count < 20 {
                d[count] = UInt8(0x30 + v % 10)
                v /= 10
                count += 1
            }
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(d[i]) }
        }
    }

    @inline(__always)
    static func equalsLowercase(_ bytes: UnsafeBufferPointer<UInt8>, _ lower: StaticString) -> Bool {
        guard bytes.count == lower.utf8CodeUnitCount else { return false }
        let name = lower.utf8Start
        for i in 0..<bytes.count {
            var b = bytes[i]
            if b >= 65 && b <= 90 { b |= 0x20 }
            if b != name[i] { return false }
        }
        return true
    }
}

/// The `Date` header line (RFC 9110 §5.6.7 IMF-fixdate), e.g. `Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n`.
enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func now() -> [UInt8] { line(for: time(nil)) }

    static func line(for seconds: time_t) -> [UInt8] {
        var t = seconds
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let day = days[Int(max(0, min(6, parts.tm_wday)))]
        let month = months[Int(max(0, min(11, parts.tm_mon)))]
        let text = "Date: \(day), \(two(parts.tm_mday)) \(month) \(parts.tm_year + 1900) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT\r\n"
        return Array(text.utf8)
    }
}

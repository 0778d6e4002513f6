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
///   to an **upload thread** (see below): the handler gets an `HTTPBodyStream` that pulls from the socket
///   (sending `100 Continue` on the first pull), so a handler with a size limit stops reading at
///   limit + 1 bytes and nothing else is buffered. If the handler leaves body bytes unread, the
///   response carries `Connection: close` and the connection is closed after it, without
///   draining the body.
/// - Every server-initiated close after a response is a lingering close: `shutdown(SHUT_WR)`
///   sends the response and a FIN, then bytes still arriving are discarded for a short bounded
///   time, so the client reads the response instead of a connection reset.
/// - Slow or idle clients must not hold up anyone else. Idle and slow-head clients cost no
///   thread (they sit in a loop; a head that does not arrive within `Timeouts.header` gets 408,
///   slowloris). Slow *bodies* are the hard case: a handler is synchronous, so while it pulls
///   a body that trickles in, it holds its thread: it cannot be parked without one (that
///   would need an asynchronous handler API, and every handler is synchronous). So the
///   threads are split by what they wait on, and bodies are made to keep moving:
///   - **Complete requests** run on the worker pool (`Options.maxWorkers` threads, a queue of
///     `Options.maxQueuedRequests` in front). Its threads only wait on the handler itself, so
///     uploads can never take them away from a fresh small request. A request that finds the
///     queue full, or waited in it longer than `Timeouts.queue`, is answered 503 at once
///     instead of queueing without end.
///   - **Streamed bodies** run on a separate, elastic pool: a thread per upload, started on
///     demand up to `Options.maxStreamingRequests` (1,024 by default; a thread waiting on a
///     socket costs about 20 KiB resident: 1,024 trickling uploads to `mcsec serve` add 18 MB),
///     ended when idle. Beyond that an upload is answered
///     503 and closed without reading its body, rather than queued behind the others.
///   - A body must keep moving: 408 when nothing arrives for `Timeouts.body`, or when it falls
///     below an average of `Timeouts.bodyMinimumRate` bytes/s after `Timeouts.bodyGrace`
///     (Apache's mod_reqtimeout rule and defaults: 20 s plus 1 s per 500 bytes). So a client
///     trickling a few bytes a second holds its thread for about 20 s, not for as long as it
///     likes, while a large upload at any reasonable speed is never cut off.
///   Idle keep-alive connections are closed after `Timeouts.idle`.
/// - Out of descriptors (`EMFILE`/`ENFILE` from `accept`): the loop stops watching the
///   listener for 100 ms instead of spinning on it; waiting clients stay in the kernel's
///   backlog and are accepted once descriptors are free again. `Options.eventLog` hears of it.
///
/// Protocol errors (400, 408, 413, 414, 417, 431, 501, 503, 505) are rendered by
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
        /// A streamed body may take `bodyGrace` seconds plus one second per
        /// `bodyMinimumRate` bytes received (counted from the handler's first read); slower
        /// gets 408. 0 disables the rate rule (the stall rule still applies).
        public var bodyGrace: Double = 20
        /// Bytes per second a streamed body must average once `bodyGrace` is used up.
        public var bodyMinimumRate: Double = 500
        /// How long a complete request may wait for a worker before it is answered 503.
        public var queue: Double = 10
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
        /// Threads running handlers of complete requests.
        public var maxWorkers = 64
        /// Complete requests waiting for a worker; more are answered 503.
        public var maxQueuedRequests = 4096
        /// Requests whose body is streamed to the handler at the same time (each holds a thread
        /// while its client sends); more are answered 503 and closed.
        public var maxStreamingRequests = 1024
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
        /// Called with a one-line message for conditions an operator should know about (the
        /// process ran out of descriptors and stopped accepting for a moment); at most once a
        /// second per event-loop thread, so a persisting condition cannot flood the log.
        public var eventLog: (@Sendable (String) -> Void)?
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

/// The running server: listener, loops, workers. Lives from `start()` to `stop()`.
final class ServerCore: @unchecked Sendable {
    let handler: any HTTPHandler
    let options: Options
    let listener: Int32
    let port: Int
    /// Complete requests (bounded, queued).
    let workers: WorkerPool
    /// Requests whose body is read while the handler runs (elastic, never queued).
    let streams: WorkerPool
    let stopping = Atomic<Bool>(false)
    let connectionCount = Atomic<Int>(0)
    /// Numbers connections in the order they were accepted (`HTTPRequest.connection`).
    let connectionSerial = Atomic<UInt64>(0)
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
        let maxWorkers = max(1, options.maxWorkers)
        self.workers = WorkerPool(maxThreads: maxWorkers, maxQueued: options.maxQueuedRequests, keepIdle: maxWorkers)
        self.streams = WorkerPool(maxThreads: max(1, options.maxStreamingRequests), maxQueued: 0, keepIdle: 4)
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
        while workers.busyCount + streams.busyCount > 0 && Socket.monotonicNanos() < deadline { usleep(5_000) }
        workerOwned.withLock { fds in for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) } }
        workers.shutdown()
        streams.shutdown()
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
                let waited = Socket.monotonicNanos() &- job.submitted
                if timeouts.queue > 0 && waited > Socket.nanos(timeouts.queue) {
                    // The client has probably given up; running it now would only make the
                    // requests queued behind it wait longer.
                    response = errorResponse(Self.overloaded("no worker was free within \(timeouts.queue) s"))
                    keepAlive = false
                } else {
                    let request = HTTPRequest(method: job.head.method, target: job.head.target, headers: job.head.headers,
                                              body: .bytes(bytes), peer: connection.peer, connection: connection.serial)
                    response = handler.handle(request)
                }
            case .stream:
                let stream = SocketBodyStream(connection: connection, head: job.head, limits: options.limits,
                                              timeouts: timeouts)
                connection.pending = []
                let request = HTTPRequest(method: job.head.method, target: job.head.target, headers: job.head.headers,
                                          body: .stream(stream), peer: connection.peer, connection: connection.serial)
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

    /// The 503 for a request the server has no capacity for right now.
    static func overloaded(_ reason: String) -> HTTPProtocolError {
        HTTPProtocolError(status: 503, detail: "server busy: \(reason); retry later")
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
    /// When the request's first byte arrived (for the access log).
    let started: UInt64
    /// When it was handed to a pool (for `Timeouts.queue`).
    var submitted: UInt64 = 0

    var isStreaming: Bool {
        if case .stream = body { return true }
        return false
    }
}

/// A bounded pool of threads, started on demand, that run handlers.
///
/// The server keeps two (see `HTTPServer`): one for complete requests, whose threads are busy
/// only while a handler computes or waits on a backend, with a bounded queue in front; and one
/// for requests whose body is still arriving, whose threads mostly wait on a client, with no
/// queue at all (a request that finds no thread is refused at once rather than left waiting
/// behind uploads that may take minutes). Threads beyond `keepIdle` end as soon as they find
/// nothing to do, so a burst of uploads does not leave a thousand idle threads behind.
final class WorkerPool: @unchecked Sendable {
    enum Admission {
        case accepted
        /// Every thread is taken and the queue is full (or no thread could be started).
        case busy
        /// The pool is shut down.
        case stopped
    }

    private let condition = ConditionLock()
    private let maxThreads: Int
    private let maxQueued: Int
    private let keepIdle: Int
    private var queue: [WorkerJob] = []
    private var queueHead = 0
    private var idle = 0
    private var busy = 0
    private var alive = 0
    private var stopped = false

    init(maxThreads: Int, maxQueued: Int, keepIdle: Int) {
        self.maxThreads = max(1, maxThreads)
        self.maxQueued = max(0, maxQueued)
        self.keepIdle = max(0, keepIdle)
    }

    /// Jobs running or waiting.
    var busyCount: Int { condition.withLock { busy + (queue.count - queueHead) } }

    /// Threads alive (running a job, idle, or just started).
    var threadCount: Int { condition.withLock { alive } }

    /// Runs `job` on an idle thread, a new thread, or (room permitting) queues it.
    func submit(_ job: WorkerJob, run: @escaping @Sendable (WorkerJob) -> Void) -> Admission {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return .stopped }
        // Idle threads not yet claimed by a queued job (a signalled thread stays counted as
        // idle until it wakes, so queued jobs are subtracted).
        let waiting = queue.count - queueHead
        if idle - waiting > 0 {
            queue.append(job)
            condition.signal()
            return .accepted
        }
        if alive < maxThreads, (try? OSThread.start(detached: true, { [self] in work(run) })) != nil {
            alive += 1
            queue.append(job)
            return .accepted
        }
        // No thread for it now: queue it only if some thread will come for it.
        guard alive > 0, waiting - max(0, idle) < maxQueued else { return .busy }
        queue.append(job)
        return .accepted
    }

    private func work(_ run: @Sendable (WorkerJob) -> Void) {
        condition.lock()
        while true {
            while queueHead == queue.count && !stopped && alive <= keepIdle {
                idle += 1
                condition.wait()
                idle -= 1
            }
            if queueHead == queue.count {
                // Shut down, or more threads than are kept idle: end this one.
                alive -= 1
                condition.broadcast()
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
            condition.lock()
            busy -= 1
        }
    }

    /// Lets queued jobs drain, then waits until every thread has ended.
    func shutdown() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while alive > 0 { condition.wait() }
        condition.unlock()
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
        self.framing = head.framing
        if case .length(let n) = head.framing { remaining = n } else { remaining = 0 }
        self.decoder = ChunkedDecoder(limits: limits)
        self.pending = connection.pending
        // A client that already sent body bytes did not wait for 100 Continue.
        self.expectsContinue = head.expectsContinue && connection.pending.isEmpty
        self.timeout = timeouts.body
        self.writeTimeout = timeouts.write
        self.grace = timeouts.bodyGrace
        self.minimumRate = timeouts.bodyMinimumRate
        self.received = connection.pending.count
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
        if firstPull == 0 { firstPull = Socket.monotonicNanos() }
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

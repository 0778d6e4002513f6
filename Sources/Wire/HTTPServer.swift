#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// An HTTP/1.1 server on real sockets, hardened for use as an oracle that hostile or broken
/// clients talk to: event loops own idle and reading connections (no thread each), complete
/// requests run on a bounded worker pool (or inline, `Execution.eventLoop`), streamed bodies on
/// an elastic upload pool with stall and minimum-rate timeouts, and every server-initiated
/// close lingers so the client reads its response. docs/event-loop.md explains the design.
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
        public var eventLoops = Platform.processorCount
        /// How the loops learn which sockets are ready; nil: from `MCSEC_EVENT_BACKEND`, else
        /// the platform's best (`EventBackend.fromProcessEnvironment()`).
        public var eventBackend: EventBackend? = nil
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

    /// The event backend of the running server (nil when stopped).
    public var eventBackend: EventBackend? {
        running.withLock { $0?.backend }
    }

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

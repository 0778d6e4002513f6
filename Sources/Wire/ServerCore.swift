#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The running server: listener, loops, workers. Lives from `start()` to `stop()`.
final class ServerCore: @unchecked Sendable {
    let handler: any HTTPHandler
    let options: Options
    let listener: Int32
    let port: Int
    let backend: EventBackend
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

    private init(handler: any HTTPHandler, options: Options, listener: Int32, port: Int, backend: EventBackend) {
        self.handler = handler
        self.options = options
        self.listener = listener
        self.port = port
        self.backend = backend
        let maxWorkers = max(1, options.maxWorkers)
        self.workers = WorkerPool(maxThreads: maxWorkers, maxQueued: options.maxQueuedRequests, keepIdle: maxWorkers)
        self.streams = WorkerPool(maxThreads: max(1, options.maxStreamingRequests), maxQueued: 0, keepIdle: 4)
    }

    static func start(handler: any HTTPHandler, options: Options) throws -> ServerCore {
        signal(SIGPIPE, SIG_IGN)
        let backend = try options.eventBackend ?? EventBackend.fromProcessEnvironment()
        let (fd, port) = try Socket.listen(host: options.host, port: options.port, backlog: options.backlog)
        let core = ServerCore(handler: handler, options: options, listener: fd, port: port, backend: backend)
        do {
            for index in 0..<max(1, options.eventLoops) {
                core.loops.append(try EventLoop(core: core, index: index, readiness: backend.makeReadiness()))
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

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Many HTTP/1.1 requests in flight from one thread: non-blocking connections, each carrying one
/// request at a time and kept alive for the next, watched by the same readiness sources as the
/// server's event loop (epoll, or poll(2)). Built for load generation: the caller decides when
/// each request starts (`start`) and learns when it ended (`run`), and nothing blocks in between,
/// so one thread keeps tens of thousands of requests a second on schedule where a thread per
/// request in flight could not.
///
/// Every request is sent from a source: an index into the source addresses given at creation
/// (each a local IP literal the socket binds before connecting, so a server sees many clients
/// from one machine), or -1 for the system's choice. Idle connections are kept per source, up to
/// `maxIdleConnections` in all, and stay watched: one that the server closes is dropped when it
/// happens, not discovered by the next request. A request on a reused connection that fails
/// before any byte of an answer (the server closed it meanwhile) is sent once more on a new
/// connection. A request makes progress or fails: `timeout` seconds without a byte in either
/// direction end it.
///
/// Not thread-safe: create, use and close it on one thread.
public final class HTTPClientLoop {
    public struct Options: Sendable {
        /// Seconds without progress (connecting, writing, reading) before a request fails.
        public var timeout = 5.0
        /// Idle keep-alive connections kept, over all sources.
        public var maxIdleConnections = 1024
        public var backend = EventBackend.platformDefault
        public init() {}
    }

    /// How one request ended.
    public struct Completion: Sendable {
        /// The caller's tag from `start`.
        public let tag: Int
        /// The final status, or nil when the request failed.
        public let status: Int?
        /// Why it failed (nil when answered).
        public let error: String?
        /// When its first byte was written (`HTTPClientLoop.now()`), or when it failed unsent.
        public let sentAt: Double
    }

    private enum Phase {
        case connecting
        case writing
        case awaiting
        case idle
    }

    private final class Link {
        let fd: Int32
        let source: Int
        var phase: Phase
        var request: [UInt8] = []
        var written = 0
        var tag = 0
        var head = false
        var reused = false
        /// In the idle list of its source (idle, or connecting ahead of use).
        var pooled = false
        var sentAt = 0.0
        var lastProgress: UInt64
        var watchingWrite: Bool
        var scanner = HTTPResponseScanner()

        init(fd: Int32, source: Int, phase: Phase, now: UInt64, watchingWrite: Bool) {
            self.fd = fd
            self.source = source
            self.phase = phase
            lastProgress = now
            self.watchingWrite = watchingWrite
        }
    }

    public let options: Options
    private let server: sockaddr_storage
    private let serverName: String
    private let sources: [String]
    private var sourceAddresses: [sockaddr_storage?]
    private let readiness: any Readiness
    private var links = DescriptorTable<Link>()
    /// Idle connections per source (index `source + 1`, so -1 has a place).
    private var idle: [[Int32]]
    private var idleCount = 0
    private var busy = 0
    private var finished: [Completion] = []
    private let readBuffer: UnsafeMutableRawBufferPointer
    private let timeoutNanos: UInt64
    private var lastSweep: UInt64 = 0
    private var closed = false

    /// Requests started and not yet completed.
    public var inFlight: Int { busy }
    /// Connections open (in flight, connecting or idle).
    public var openConnections: Int { links.count }

    /// - Parameters:
    ///   - host, port: the server (resolved once, here).
    ///   - sources: local addresses requests can be sent from (`start`'s `source` indexes it).
    public init(host: String, port: Int, sources: [String] = [], options: Options = Options()) throws {
        signal(SIGPIPE, SIG_IGN)
        guard let first = try Socket.resolve(host: host, port: port, passive: false).first else {
            throw SocketError("resolving \(host)", code: EADDRNOTAVAIL)
        }
        server = first
        serverName = "\(host):\(port)"
        self.sources = sources
        sourceAddresses = [sockaddr_storage?](repeating: nil, count: sources.count)
        self.options = options
        readiness = try options.backend.makeReadiness()
        idle = [[Int32]](repeating: [], count: sources.count + 1)
        readBuffer = .allocate(byteCount: 64 * 1024, alignment: 16)
        timeoutNanos = Socket.nanos(options.timeout)
    }

    deinit { close() }

    /// Monotonic seconds (the clock of `sentAt` and of `run`'s deadline).
    public static func now() -> Double {
        Double(Socket.monotonicNanos()) * 1e-9
    }

    /// Closes every connection; requests in flight are abandoned without a completion.
    public func close() {
        guard !closed else { return }
        closed = true
        for fd in links.keys {
            readiness.closing(fd)
            Platform.close(fd)
        }
        links = DescriptorTable()
        readiness.release()
        readBuffer.deallocate()
    }

    /// Opens an idle connection from `source` ahead of use, so the first request from it does not
    /// wait for the handshake. False when it cannot be opened (it will be tried again when needed).
    @discardableResult
    public func preconnect(source: Int) -> Bool {
        guard idleCount < options.maxIdleConnections, let link = try? open(source: source) else { return false }
        // Still connecting, it goes to the idle list now; it becomes idle once writable.
        pool(link)
        return true
    }

    /// Starts `request` (complete bytes: head and body) from `source`; `tag` comes back in its
    /// completion. `head`: it is a HEAD request (its answer has no body).
    public func start(tag: Int, request: [UInt8], source: Int = -1, head: Bool = false) {
        precondition(source >= -1 && source < sources.count, "source index out of range")
        busy += 1
        let now = Socket.monotonicNanos()
        if let fd = idle[source + 1].popLast(), let link = links[fd] {
            idleCount -= 1
            link.pooled = false
            link.reused = true
            begin(link, tag: tag, request: request, head: head, now: now)
            return
        }
        startFresh(tag: tag, request: request, source: source, head: head, now: now)
    }

    /// Runs the connections until `deadline` (monotonic seconds) or until at least one request has
    /// completed, and appends the completions to `completions`. The wait's timeout is kept to
    /// the nanosecond where the system allows (epoll_pwait2, ppoll), so a caller scheduling
    /// requests is woken at its deadline, not up to a millisecond later.
    public func run(until deadline: Double, completions: inout [Completion]) {
        while true {
            let remaining = deadline - Self.now()
            // At most 50 ms at a time, so that stalled requests are swept on time.
            let timeout = finished.isEmpty && remaining > 0 ? Int64(min(remaining, 0.05) * 1e9) : 0
            let count = readiness.wait(timeoutNanos: timeout)
            for index in 0..<max(count, 0) {
                let event = readiness.event(at: index)
                guard let link = links[event.fd] else { continue }
                if event.writable && link.watchingWrite { writable(link) }
                if event.readable, links[event.fd] === link { readable(link) }
            }
            sweep()
            if !finished.isEmpty {
                completions.append(contentsOf: finished)
                finished.removeAll(keepingCapacity: true)
                return
            }
            if deadline - Self.now() <= 0 { return }
        }
    }

    // MARK: Connections

    private func startFresh(tag: Int, request: [UInt8], source: Int, head: Bool, now: UInt64) {
        let link: Link
        do {
            link = try open(source: source)
        } catch {
            fail(tag: tag, error: "cannot connect to \(serverName)\(source >= 0 ? " from \(sources[source])" : ""): \(error)")
            return
        }
        link.reused = false
        begin(link, tag: tag, request: request, head: head, now: now)
    }

    /// A new non-blocking connection, connected or connecting, watched.
    private func open(source: Int) throws -> Link {
        var address = server
        let fd = try Socket.newSocket(family: address.ss_family)
        if source >= 0 {
            if sourceAddresses[source] == nil {
                let local = try Socket.resolve(host: sources[source], port: 0, passive: false)
                guard let match = local.first(where: { $0.ss_family == address.ss_family }) else {
                    Platform.close(fd)
                    throw SocketError("binding source address \(sources[source]) (address family differs from the server's)", code: EAFNOSUPPORT)
                }
                sourceAddresses[source] = match
            }
            var from = sourceAddresses[source]!
            let fromLength = Socket.length(of: from)
            let bound = withUnsafePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, fromLength) } }
            guard bound == 0 else {
                let failure = SocketError("binding source address \(sources[source])")
                Platform.close(fd)
                throw failure
            }
        }
        let length = Socket.length(of: address)
        let status = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Platform.connect(fd, $0, length) } }
        if status != 0 && errno != EINPROGRESS {
            let failure = SocketError("connect")
            Platform.close(fd)
            throw failure
        }
        Socket.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        let connecting = status != 0
        guard readiness.add(fd, connecting ? .write : .read) else {
            let failure = SocketError("watching a connection")
            Platform.close(fd)
            throw failure
        }
        let link = Link(fd: fd, source: source, phase: connecting ? .connecting : .idle, now: Socket.monotonicNanos(), watchingWrite: connecting)
        links[fd] = link
        return link
    }

    private func begin(_ link: Link, tag: Int, request: [UInt8], head: Bool, now: UInt64) {
        link.tag = tag
        link.request = request
        link.written = 0
        link.head = head
        link.lastProgress = now
        link.scanner.expectResponse(head: head)
        if link.phase == .connecting {
            // Written once the handshake completes.
            return
        }
        link.phase = .writing
        write(link)
    }

    private func write(_ link: Link) {
        if link.written == 0 { link.sentAt = Self.now() }
        while link.written < link.request.count {
            let n = link.request.withUnsafeBytes { bytes in
                send(link.fd, bytes.baseAddress! + link.written, bytes.count - link.written, Platform.sendFlags)
            }
            if n > 0 {
                link.written += n
                link.lastProgress = Socket.monotonicNanos()
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                watch(link, write: true)
                return
            }
            broken(link, error: "sending: \(SocketError("send"))")
            return
        }
        link.phase = .awaiting
        watch(link, write: false)
    }

    private func watch(_ link: Link, write: Bool) {
        guard link.watchingWrite != write else { return }
        link.watchingWrite = write
        readiness.modify(link.fd, write ? .write : .read)
    }

    private func writable(_ link: Link) {
        switch link.phase {
        case .connecting:
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(link.fd, SOL_SOCKET, SO_ERROR, &soError, &length)
            guard soError == 0 else {
                broken(link, error: "cannot connect to \(serverName)\(link.source >= 0 ? " from \(sources[link.source])" : ""): \(SocketError("connect", code: soError))")
                return
            }
            if link.pooled {
                // Connected ahead of use: now idle, watched for the server closing it.
                link.phase = .idle
                watch(link, write: false)
                return
            }
            link.phase = .writing
            write(link)
        case .writing:
            write(link)
        case .awaiting, .idle:
            watch(link, write: false)
        }
    }

    private func readable(_ link: Link) {
        let n = recv(link.fd, readBuffer.baseAddress, readBuffer.count, 0)
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return }
        if link.pooled {
            // An idle connection has nothing to say: the server closed it (or sent junk), or a
            // connection opened ahead of use failed.
            drop(link)
            return
        }
        if link.phase == .connecting {
            // The handshake failed; the write side reports why.
            writable(link)
            return
        }
        if n < 0 {
            broken(link, error: "receiving: \(SocketError("recv"))")
            return
        }
        if n == 0 {
            // The end of the connection: the end of a close-delimited answer, or an answer cut short.
            switch link.scanner.finish() {
            case .complete(let status, _, _): complete(link, status: status, keepAlive: false)
            case .malformed(let why): broken(link, error: why)
            case .needMore: broken(link, error: "the connection closed")
            }
            return
        }
        link.lastProgress = Socket.monotonicNanos()
        switch link.scanner.feed(UnsafeRawBufferPointer(start: readBuffer.baseAddress, count: n)) {
        case .needMore:
            break
        case .complete(let status, let keepAlive, let consumed):
            // Bytes after the answer to the only request sent cannot belong to anything.
            complete(link, status: status, keepAlive: keepAlive && consumed == n && link.phase == .awaiting)
        case .malformed(let problem):
            broken(link, error: "the answer is not HTTP this client can read: \(problem)")
        }
    }

    private func complete(_ link: Link, status: Int, keepAlive: Bool) {
        finished.append(Completion(tag: link.tag, status: status, error: nil, sentAt: link.sentAt))
        busy -= 1
        link.request = []
        if keepAlive && idleCount < options.maxIdleConnections {
            link.phase = .idle
            watch(link, write: false)
            pool(link)
        } else {
            drop(link)
        }
    }

    /// The request on `link` failed: sent once more on a new connection when the link was
    /// reused and nothing of an answer had come (the server had closed it), else failed.
    private func broken(_ link: Link, error: String) {
        let retry = link.reused && link.scanner.bytesSeen == 0
        let (tag, request, head, source) = (link.tag, link.request, link.head, link.source)
        let waitedOn = !link.pooled
        drop(link)
        // Nobody waits on a connection opened ahead of use; it is simply gone.
        guard waitedOn else { return }
        if retry {
            startFresh(tag: tag, request: request, source: source, head: head, now: Socket.monotonicNanos())
        } else {
            fail(tag: tag, error: error, sentAt: link.written > 0 ? link.sentAt : nil)
        }
    }

    private func fail(tag: Int, error: String, sentAt: Double? = nil) {
        finished.append(Completion(tag: tag, status: nil, error: error, sentAt: sentAt ?? Self.now()))
        busy -= 1
    }

    private func pool(_ link: Link) {
        link.pooled = true
        idle[link.source + 1].append(link.fd)
        idleCount += 1
    }

    private func drop(_ link: Link) {
        if link.pooled { removeIdle(link) }
        readiness.closing(link.fd)
        Platform.close(link.fd)
        links[link.fd] = nil
    }

    private func removeIdle(_ link: Link) {
        let slot = link.source + 1
        if let at = idle[slot].lastIndex(of: link.fd) {
            idle[slot].remove(at: at)
            idleCount -= 1
        }
        link.pooled = false
    }

    /// Fails the requests that made no progress for `timeout` (checked a few times a second).
    private func sweep() {
        let now = Socket.monotonicNanos()
        guard now &- lastSweep >= 50_000_000 else { return }
        lastSweep = now
        var stalled: [Link] = []
        for link in links.values where link.phase != .idle && now &- link.lastProgress > timeoutNanos {
            // (A connection opened ahead of use that never completes its handshake goes too.)
            stalled.append(link)
        }
        for link in stalled {
            let what = link.phase == .connecting ? "connecting" : link.phase == .writing ? "sending" : "waiting for the answer"
            link.reused = false  // a timeout is not a closed keep-alive connection: no retry
            broken(link, error: "no progress for \(options.timeout) s while \(what)")
        }
    }
}

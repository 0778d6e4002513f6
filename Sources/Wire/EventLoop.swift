#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A loop that owns a set of connections: reads heads, runs complete requests (inline or on a
/// worker), writes responses, enforces timeouts. Readiness comes from its `Readiness` (epoll or
/// poll). See docs/event-loop.md for the design.
final class EventLoop: @unchecked Sendable {
    private enum Item {
        case adopt(fd: Int32, peer: String)
        case returned(Connection)
    }

    private struct Inbox {
        var items: [Item] = []
        var closed = false
    }

    private enum Next {
        case readMore
        case close
        case handoff(WorkerJob)
    }

    unowned let core: ServerCore
    let index: Int
    private let readiness: any Readiness
    private var connections = DescriptorTable<Connection>()
    private let inbox = Mutex(Inbox())
    private let readBuffer: UnsafeMutableRawBufferPointer
    private var now: UInt64 = Socket.monotonicNanos()
    private var dateLine: [UInt8] = []
    private var dateSecond: time_t = 0
    private var nextLoop = 0
    private var acceptPaused = false
    private var acceptPausedUntil: UInt64 = 0
    /// When the last "accepting paused" event was reported (0: never).
    private var lastAcceptPauseReport: UInt64 = 0
    private var lastSweep: UInt64 = 0
    private let sweepInterval: UInt64
    private let limits: HTTPLimits
    private let timeouts: HTTPServer.Timeouts
    private let inline: Bool

    private static let readSize = 64 * 1024

    init(core: ServerCore, index: Int, readiness: any Readiness) throws {
        self.core = core
        self.index = index
        limits = core.options.limits
        timeouts = core.options.timeouts
        inline = core.options.execution == .eventLoop
        let smallest = [timeouts.header, timeouts.idle, timeouts.body, timeouts.write, timeouts.linger]
            .filter { $0 > 0 }.min() ?? 1
        sweepInterval = max(Socket.nanos(min(0.25, smallest / 4)), 5_000_000)
        self.readiness = readiness
        if index == 0 && !readiness.add(core.listener, .read) {
            let failure = SocketError("watching the listener")
            readiness.release()
            throw failure
        }
        readBuffer = .allocate(byteCount: Self.readSize, alignment: 16)
    }

    /// Frees the loop's descriptors and buffer (after its thread has ended).
    func release() {
        readiness.release()
        readBuffer.deallocate()
    }

    func wake() {
        readiness.wake()
    }

    /// Gives the loop a connection back from a worker. False when the loop has stopped (the
    /// caller then closes the connection).
    func returnFromWorker(_ connection: Connection) -> Bool {
        post(.returned(connection))
    }

    private func post(_ item: Item) -> Bool {
        let accepted = inbox.withLock { box -> Bool in
            guard !box.closed else { return false }
            box.items.append(item)
            return true
        }
        if accepted { wake() }
        return accepted
    }

    // MARK: The loop

    func run() {
        lastSweep = Socket.monotonicNanos()
        while !core.stopping.load(ordering: .relaxed) {
            let timeoutMs = Int32(max(1, sweepInterval / 1_000_000))
            let n = readiness.wait(timeoutMs: timeoutMs)
            now = Socket.monotonicNanos()
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            for i in 0..<n {
                let event = readiness.event(at: i)
                let fd = event.fd
                if fd == core.listener && index == 0 {
                    acceptConnections()
                    continue
                }
                guard let connection = connections[fd] else { continue }
                if event.writable && connection.writeBlocked {
                    if flush(connection) { drive(connection, fresh: nil) }
                    continue
                }
                if event.readable {
                    onReadable(connection)
                }
            }
            processInbox()
            if now &- lastSweep >= sweepInterval {
                lastSweep = now
                sweep()
            }
        }
        shutdownLoop()
    }

    private func shutdownLoop() {
        let leftovers = inbox.withLock { box -> [Item] in
            box.closed = true
            defer { box.items = [] }
            return box.items
        }
        for item in leftovers {
            switch item {
            case .adopt(let fd, _):
                close(fd)
                core.connectionCount.subtract(1, ordering: .relaxed)
            case .returned(let connection):
                close(connection.fd)
                core.connectionCount.subtract(1, ordering: .relaxed)
            }
        }
        for connection in connections.values {
            // Deliver whatever response is already queued (best effort, no waiting).
            if connection.outputOffset < connection.output.count {
                connection.output.withUnsafeBytes { out in
                    _ = send(connection.fd, out.baseAddress! + connection.outputOffset,
                             out.count - connection.outputOffset, Platform.sendFlags)
                }
            }
            closeNow(connection)
        }
    }

    private func processInbox() {
        let items = inbox.withLock { box -> [Item] in
            defer { box.items.removeAll(keepingCapacity: true) }
            return box.items
        }
        for item in items {
            switch item {
            case .adopt(let fd, let peer):
                adopt(fd: fd, peer: peer)
            case .returned(let connection):
                connections[connection.fd] = connection
                guard readiness.add(connection.fd, .read) else {
                    closeNow(connection)
                    continue
                }
                if case .lingering = connection.phase {
                    connection.deadline = now &+ Socket.nanos(timeouts.linger)
                    connection.lingerBudget = core.options.lingerBytes
                    continue
                }
                connection.phase = .head
                connection.inRequest = false
                connection.scanner = HTTPRequestParser.HeadScanner()
                connection.deadline = now &+ Socket.nanos(timeouts.idle)
                if !connection.pending.isEmpty { drive(connection, fresh: nil) }
            }
        }
    }

    private func adopt(fd: Int32, peer: String) {
        let connection = Connection(fd: fd, peer: peer, loop: self)
        guard readiness.add(fd, .read) else {
            close(fd)
            core.connectionCount.subtract(1, ordering: .relaxed)
            return
        }
        connection.deadline = now &+ Socket.nanos(timeouts.idle)
        connections[fd] = connection
    }

    private func acceptConnections() {
        let loops = core.loops
        for _ in 0..<64 {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Platform.acceptNonBlocking(core.listener, $0, &length)
                }
            }
            if fd < 0 {
                switch errno {
                case EINTR, ECONNABORTED:
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors: stop accepting for a moment instead of spinning on a
                    // listener that stays readable.
                    let code = errno
                    if let eventLog = core.options.eventLog,
                       lastAcceptPauseReport == 0 || now &- lastAcceptPauseReport >= 1_000_000_000 {
                        lastAcceptPauseReport = now
                        let name = code == EMFILE ? "EMFILE" : code == ENFILE ? "ENFILE" : code == ENOBUFS ? "ENOBUFS" : "ENOMEM"
                        eventLog("http.accept_paused error=\(name) detail=\"\(String(cString: strerror(code)))\" connections=\(core.connectionCount.load(ordering: .relaxed)): new connections wait in the listen backlog; raise the descriptor limit (ulimit -n) or lower the load")
                    }
                    readiness.remove(core.listener)
                    acceptPaused = true
                    acceptPausedUntil = now &+ 100_000_000
                    return
                default:
                    return
                }
            }
            let peer = Socket.endpoint(address)?.ip ?? "unknown"
            if core.connectionCount.load(ordering: .relaxed) >= core.options.maxConnections {
                refuse(fd)
                continue
            }
            core.connectionCount.add(1, ordering: .relaxed)
            Socket.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            let target = loops[nextLoop % loops.count]
            nextLoop &+= 1
            if target === self {
                adopt(fd: fd, peer: peer)
            } else if !target.post(.adopt(fd: fd, peer: peer)) {
                close(fd)
                core.connectionCount.subtract(1, ordering: .relaxed)
            }
        }
    }

    /// Over the connection limit: a best-effort 503 and close.
    private func refuse(_ fd: Int32) {
        var out: [UInt8] = []
        let response = core.errorResponse(HTTPProtocolError(status: 503, detail: "too many connections; retry later"))
        HTTPResponseEncoder.encode(response, isHEAD: false, minorVersion: 1, keepAlive: false, date: currentDate(), into: &out)
        out.withUnsafeBytes { _ = send(fd, $0.baseAddress, $0.count, Platform.sendFlags) }
        shutdown(fd, Int32(SHUT_WR))
        close(fd)
    }

    private func currentDate() -> [UInt8] {
        let second = time(nil)
        if second != dateSecond {
            dateSecond = second
            dateLine = HTTPDate.line(for: second)
        }
        return dateLine
    }

    // MARK: Reading and processing

    private func onReadable(_ connection: Connection) {
        let n = recv(connection.fd, readBuffer.baseAddress, readBuffer.count, 0)
        if n < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
            closeNow(connection)
            return
        }
        if case .lingering = connection.phase {
            connection.lingerBudget -= n
            if n == 0 || connection.lingerBudget <= 0 { closeNow(connection) }
            return
        }
        if n == 0 {
            // The client closed (or half-closed) its side: finish sending what is queued, then close.
            if connection.outputOffset < connection.output.count {
                connection.closeAfterOutput = true
                _ = flush(connection)
            } else {
                closeNow(connection)
            }
            return
        }
        if connection.pending.isEmpty {
            drive(connection, fresh: UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]))
        } else {
            connection.pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]))
            drive(connection, fresh: nil)
        }
    }

    /// Processes buffered bytes (`fresh`, straight from the read buffer, or the connection's
    /// pending bytes), then sends responses, hands off, or closes.
    private func drive(_ connection: Connection, fresh: UnsafeRawBufferPointer?) {
        let next: Next
        if let fresh {
            let (consumed, outcome) = process(connection, fresh)
            if consumed < fresh.count, !isClose(outcome) {
                connection.pending = Array(UnsafeRawBufferPointer(rebasing: fresh[consumed...]))
            }
            next = outcome
        } else {
            let buffered = connection.pending
            connection.pending = []
            let (consumed, outcome) = buffered.withUnsafeBytes { process(connection, $0) }
            if consumed < buffered.count, !isClose(outcome) {
                connection.pending = consumed == 0 ? buffered : Array(buffered[consumed...])
            }
            next = outcome
        }
        switch next {
        case .readMore:
            if flush(connection) { refreshDeadline(connection) }
        case .close:
            connection.closeAfterOutput = true
            connection.pending = []
            _ = flush(connection)
        case .handoff(let job):
            handoff(connection, job)
        }
    }

    private func isClose(_ next: Next) -> Bool {
        if case .close = next { return true }
        return false
    }

    private func refreshDeadline(_ connection: Connection) {
        if connection.inRequest {
            connection.deadline = connection.requestStarted &+ Socket.nanos(timeouts.header)
        } else {
            connection.deadline = now &+ Socket.nanos(timeouts.idle)
        }
    }

    /// Parses and serves every complete request in `bytes`; returns how many bytes were used.
    private func process(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) -> (Int, Next) {
        var offset = 0
        while true {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            switch connection.phase {
            case .head:
                if rest.isEmpty { return (offset, .readMore) }
                if !connection.inRequest {
                    connection.inRequest = true
                    connection.requestStarted = now
                }
                switch connection.scanner.scan(rest, limits: limits) {
                case .incomplete:
                    return (offset, .readMore)
                case .failed(let error):
                    respondError(connection, error, method: "-", target: "-")
                    return (bytes.count, .close)
                case .complete(let start, let end):
                    connection.scanner = HTTPRequestParser.HeadScanner()
                    let head: RequestHead
                    do {
                        head = try HTTPRequestParser.parseHead(UnsafeRawBufferPointer(rebasing: rest[start..<end]), limits: limits)
                    } catch {
                        respondError(connection, error, method: "-", target: "-")
                        return (bytes.count, .close)
                    }
                    offset += end
                    switch head.bodyLength {
                    case .none:
                        if let next = serve(connection, head, body: []) { return (offset, next) }
                    case .length(let length) where length <= limits.bufferedBodyBytes && !head.expectsContinue:
                        connection.phase = .body(head, length: length)
                    case .chunked where !head.expectsContinue:
                        // A small chunked body often arrives with its head: decode it here.
                        var decoder = ChunkedDecoder(limits: limits)
                        var body: [UInt8] = []
                        let body_rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
                        let consumed: Int
                        do {
                            consumed = try decoder.feed(body_rest) { piece in
                                if body.count <= limits.bufferedBodyBytes { body.append(contentsOf: piece) }
                            }
                        } catch {
                            respondError(connection, error, method: head.method, target: head.target)
                            return (bytes.count, .close)
                        }
                        if decoder.isDone && body.count <= limits.bufferedBodyBytes {
                            offset += consumed
                            if let next = serve(connection, head, body: body) { return (offset, next) }
                        } else {
                            return (offset, .handoff(streamJob(connection, head)))
                        }
                    default:
                        return (offset, .handoff(streamJob(connection, head)))
                    }
                }
            case .body(let head, let length):
                guard rest.count >= length else { return (offset, .readMore) }
                let body = Array(UnsafeRawBufferPointer(rebasing: rest[0..<length]))
                offset += length
                connection.phase = .head
                if let next = serve(connection, head, body: body) { return (offset, next) }
            case .worker, .lingering:
                return (offset, .readMore)
            }
        }
    }

    private func streamJob(_ connection: Connection, _ head: RequestHead) -> WorkerJob {
        connection.inRequest = false
        return WorkerJob(connection: connection, head: head, body: .stream, started: connection.requestStarted)
    }

    /// Runs a complete request inline, or returns the hand-off to a worker. Returns nil to keep
    /// processing pipelined requests.
    private func serve(_ connection: Connection, _ head: RequestHead, body: [UInt8]) -> Next? {
        connection.inRequest = false
        guard inline else {
            return .handoff(WorkerJob(connection: connection, head: head, body: .buffered(body), started: connection.requestStarted))
        }
        let request = HTTPRequest(method: head.method, target: head.target, headers: head.headers,
                                  body: .bytes(body), peer: connection.peer, connection: connection.serial)
        let response = core.handler.handle(request)
        let keepAlive = head.keepAlive && !core.stopping.load(ordering: .relaxed)
        HTTPResponseEncoder.encode(response, isHEAD: head.isHEAD, minorVersion: head.minorVersion,
                                   keepAlive: keepAlive, date: currentDate(), into: &connection.output)
        core.log(method: head.method, target: head.target, status: response.status, bytes: response.body.count,
                 started: connection.requestStarted, client: connection.peer)
        return keepAlive ? nil : .close
    }

    private func respondError(_ connection: Connection, _ error: HTTPProtocolError, method: String, target: String) {
        connection.inRequest = false
        let response = core.errorResponse(error)
        HTTPResponseEncoder.encode(response, isHEAD: false, minorVersion: 1, keepAlive: false,
                                   date: currentDate(), into: &connection.output)
        core.log(method: method, target: target, status: response.status, bytes: response.body.count,
                 started: connection.requestStarted, client: connection.peer)
    }

    /// Gives the connection to a worker (complete requests) or an upload thread (streamed
    /// bodies). When that pool has no room, the connection stays here and gets a 503 and a
    /// close: the client learns at once, and a streamed body is not read.
    private func handoff(_ connection: Connection, _ job: WorkerJob) {
        readiness.remove(connection.fd)
        connections.removeValue(forKey: connection.fd)
        connection.phase = .worker
        connection.writeBlocked = false
        core.markWorkerOwned(connection.fd, true)
        let core = self.core
        var job = job
        job.submitted = now
        let pool = job.isStreaming ? core.streams : core.workers
        switch pool.submit(job, run: { core.runOnWorker($0) }) {
        case .accepted:
            return
        case .stopped:
            core.closeWorkerOwned(connection)
        case .busy:
            core.markWorkerOwned(connection.fd, false)
            connections[connection.fd] = connection
            guard readiness.add(connection.fd, .read) else {
                closeNow(connection)
                return
            }
            connection.phase = .head
            let reason = job.isStreaming
                ? "\(core.options.maxStreamingRequests) uploads already in progress"
                : "the queue of \(core.options.maxQueuedRequests) waiting requests is full"
            respondError(connection, ServerCore.overloaded(reason), method: job.head.method, target: job.head.target)
            connection.closeAfterOutput = true
            connection.pending = []
            _ = flush(connection)
        }
    }

    // MARK: Writing and closing

    /// Sends queued output. Returns true when everything was sent and the connection stays
    /// open for more requests; false when the write is pending, or the connection is closing.
    private func flush(_ connection: Connection) -> Bool {
        while connection.outputOffset < connection.output.count {
            let n = connection.output.withUnsafeBytes { out in
                send(connection.fd, out.baseAddress! + connection.outputOffset,
                     out.count - connection.outputOffset, Platform.sendFlags)
            }
            if n > 0 {
                connection.outputOffset += n
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                if !connection.writeBlocked {
                    connection.writeBlocked = true
                    readiness.modify(connection.fd, .write)
                }
                connection.deadline = now &+ Socket.nanos(timeouts.write)
                return false
            }
            closeNow(connection)
            return false
        }
        if connection.output.capacity > 256 * 1024 {
            connection.output = []
        } else {
            connection.output.removeAll(keepingCapacity: true)
        }
        connection.outputOffset = 0
        if connection.writeBlocked {
            connection.writeBlocked = false
            readiness.modify(connection.fd, .read)
        }
        if connection.closeAfterOutput {
            startLinger(connection)
            return false
        }
        return true
    }

    private func startLinger(_ connection: Connection) {
        shutdown(connection.fd, Int32(SHUT_WR))
        connection.phase = .lingering
        connection.pending = []
        connection.deadline = now &+ Socket.nanos(timeouts.linger)
        connection.lingerBudget = core.options.lingerBytes
    }

    private func closeNow(_ connection: Connection) {
        connections.removeValue(forKey: connection.fd)
        readiness.closing(connection.fd)
        close(connection.fd)
        core.connectionCount.subtract(1, ordering: .relaxed)
    }

    /// Enforces deadlines: 408 for a head that is too slow, close for idle, stuck-writing and
    /// lingering connections. Also resumes accepting after running out of descriptors.
    private func sweep() {
        if acceptPaused && now >= acceptPausedUntil {
            acceptPaused = false
            _ = readiness.add(core.listener, .read)
        }
        var expired: [Connection] = []
        for connection in connections.values where now >= connection.deadline {
            expired.append(connection)
        }
        for connection in expired {
            if connection.writeBlocked {
                closeNow(connection)
                continue
            }
            switch connection.phase {
            case .head, .body:
                if connection.inRequest {
                    respondError(connection, HTTPProtocolError(status: 408, detail: "the request did not arrive within \(timeouts.header) s"),
                                 method: "-", target: "-")
                    connection.closeAfterOutput = true
                    connection.pending = []
                    _ = flush(connection)
                } else {
                    closeNow(connection)
                }
            case .lingering, .worker:
                closeNow(connection)
            }
        }
    }
}

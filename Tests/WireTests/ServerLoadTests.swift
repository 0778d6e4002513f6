#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization
import Testing
import TestSupport
import Wire

/// Raises this process's descriptor limit (tests that hold thousands of sockets open).
private func ensureDescriptorLimit(_ wanted: rlim_t) {
    var limit = rlimit()
    getrlimit(Platform.openFilesResource, &limit)
    if limit.rlim_cur < wanted {
        limit.rlim_cur = min(wanted, limit.rlim_max)
        setrlimit(Platform.openFilesResource, &limit)
    }
}

extension Trait where Self == ConditionTrait {
    /// The test measures the server process (memory, descriptors, CPU time) through /proc, or
    /// sets its descriptor limit with prlimit: Linux only.
    static var readsProc: Self {
        .enabled(if: FileManager.default.fileExists(atPath: "/proc/self/status"), "needs /proc and prlimit (Linux)")
    }
}

private func threadCount() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Threads:") }) else { return nil }
    return line.split(separator: "\t").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
}

/// True when a response (or the close of the connection) has already arrived: a brief look
/// (1 ms), not a wait. The connection must not be used from another thread meanwhile.
private func hasAnswer(_ connection: RawHTTPConnection) -> Bool {
    let timeout = connection.timeout
    connection.timeout = 0.001
    defer { connection.timeout = timeout }
    do {
        _ = try connection.readResponse()
        return true
    } catch {
        // Only "nothing yet" is no answer; a close or a partial response is one.
        return !"\(error)".contains("no response from")
    }
}

/// A body of `total` bytes produced piece by piece (the same piece repeated), so the client
/// never holds more than one piece.
final class RepeatingStream: HTTPBodyStream, @unchecked Sendable {
    private let piece: [UInt8]
    private var remaining: Int
    init(total: Int, pieceSize: Int) {
        piece = [UInt8](repeating: UInt8(ascii: "x"), count: pieceSize)
        remaining = total
    }
    func nextChunk() throws -> [UInt8]? {
        guard remaining > 0 else { return nil }
        let n = min(remaining, piece.count)
        remaining -= n
        return n == piece.count ? piece : Array(piece[0..<n])
    }
}

@Suite struct ServerLoadTests {
    @Test(arguments: [HTTPServer.Execution.eventLoop, .workerThreads])
    func idleConnectionsDoNotDelayAFreshClient(execution: HTTPServer.Execution) throws {
        ensureDescriptorLimit(4096)
        // No timeout may end the idle connections while the test runs, however slow the machine.
        try withServer(configure: { options in
            options.execution = execution
            options.timeouts.header = 600
            options.timeouts.idle = 600
        }) { port in
            var idle: [RawHTTPConnection] = []
            for i in 0..<500 {
                let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
                if i % 2 == 0 {
                    // Half are keep-alive connections idle after a request...
                    try connection.send(HTTPRequest(method: "GET", target: "/healthz"))
                    _ = try connection.readResponse()
                } else {
                    // ...half are in the middle of a request head.
                    try connection.sendRaw(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n".utf8))
                }
                idle.append(connection)
            }
            // The fresh client is answered while the half-sent requests are still unanswered.
            // (The 30 s timeout only detects a hang: speed is measured by `mcsec bench`.)
            let fresh = try RawHTTPConnection(host: "127.0.0.1", port: port, timeout: 30)
            try fresh.send(HTTPRequest(method: "GET", target: "/healthz"))
            let response = try fresh.readResponse()
            #expect(response.status == 200)
            let answeredEarly = idle.indices.filter { $0 % 2 == 1 && hasAnswer(idle[$0]) }
            #expect(answeredEarly.isEmpty,
                    "\(answeredEarly.count) half-sent requests answered before they were complete, e.g. \(answeredEarly.prefix(5))")
            // The idle ones are still served afterwards.
            try idle[0].send(HTTPRequest(method: "GET", target: "/healthz"))
            #expect(try idle[0].readResponse().status == 200)
            try idle[1].sendRaw(Array("\r\n".utf8))
            #expect(try idle[1].readResponse().status == 200)
        }
    }

    @Test(arguments: [HTTPServer.Execution.eventLoop, .workerThreads])
    func thousandConcurrentKeepAliveConnectionsAreServed(execution: HTTPServer.Execution) throws {
        ensureDescriptorLimit(4096)
        try withServer(configure: { $0.execution = execution; $0.maxWorkers = 16 }) { port in
            var connections: [RawHTTPConnection] = []
            for _ in 0..<1000 {
                connections.append(try RawHTTPConnection(host: "127.0.0.1", port: port, timeout: 10))
            }
            for round in 0..<2 {
                // Every connection has a request outstanding at once.
                for (i, connection) in connections.enumerated() {
                    try connection.send(HTTPRequest(method: "POST", target: "/echo", body: .bytes(Array("\(round):\(i)".utf8))))
                }
                var answered = 0
                for (i, connection) in connections.enumerated() {
                    let response = try connection.readResponse()
                    if response.status == 200 && response.bodyText == "\(round):\(i)" { answered += 1 }
                }
                #expect(answered == 1000)
            }
            #if os(Linux)
            // The thread count comes from /proc.
            let threads = try #require(threadCount(), "no Threads: line in /proc/self/status")
            #expect(threads < 200, "1000 connections must not mean 1000 threads (\(threads))")
            #endif
        }
    }

    @Test(.requiresMcsecBinary, .readsProc,
          arguments: [BodyFraming.chunked(chunkSize: 256 * 1024), .declaredLength(1 << 30)])
    func gigabyteUploadToWebhookIngestGets413WithBoundedMemory(framing: BodyFraming) throws {
        let serve = try ServeProcess.start()
        defer { serve.process.terminate() }
        let target = "/api/v1/boards/b0000000-0000-4000-8000-00000000a001/webhooks/c0000000-0000-4000-8000-00000000a001"
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: serve.port, timeout: 30)
        let gigabyte = 1 << 30
        try connection.send(HTTPRequest(method: "POST", target: target, body: .stream(RepeatingStream(total: gigabyte, pieceSize: 1 << 20))),
                            framing: framing)
        let response = try connection.readResponse()
        #expect(response.status == 413)
        #expect(response.bodyText.contains("Payload exceeds maximum size of 1048576 bytes."))
        #expect(connection.stoppedSendingEarly)
        #expect(connection.bodyBytesSent < gigabyte)
        #expect(connection.waitForClose(within: 10))
        let memory = try #require(serve.memory())
        #expect(memory.peak < 64 << 20, "peak resident memory \(memory.peak / 1024) KiB")
        print("1 GiB upload (\(framing)): 413 after \(connection.bodyBytesSent / 1024) KiB sent; server peak RSS \(memory.peak / 1024) KiB")

        // The server is still fine.
        let next = try RawHTTPConnection(host: "127.0.0.1", port: serve.port)
        try next.send(HTTPRequest(method: "GET", target: "/healthz"))
        #expect(try next.readResponse().status == 200)
    }

    @Test(.requiresMcsecBinary, .readsProc)
    func clientThatIgnoresThe413IsCutOff() throws {
        // A client that keeps pushing after the 413 (never reads) must not make the server read
        // the whole body: it discards a bounded amount and closes.
        let serve = try ServeProcess.start()
        defer { serve.process.terminate() }
        let target = "/api/v1/boards/b0000000-0000-4000-8000-00000000a001/webhooks/c0000000-0000-4000-8000-00000000a001"
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: serve.port, timeout: 10)
        try connection.sendRaw(Array("POST \(target) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".utf8))
        let chunk = Array("100000\r\n".utf8) + [UInt8](repeating: 120, count: 1 << 20) + Array("\r\n".utf8)
        var sent = 0
        do {
            for _ in 0..<1024 {
                try connection.sendRaw(chunk)
                sent += 1
            }
        } catch {
            // Expected: the server closed the connection.
        }
        #expect(sent < 1024, "the server kept reading the whole gigabyte")
        let memory = try #require(serve.memory())
        #expect(memory.peak < 64 << 20)
    }
}

/// Clients that send a request head announcing a large body, then trickle it a byte at a time
/// from a background thread (a few bytes per second each) until stopped.
final class TricklingClients: @unchecked Sendable {
    let connections: [RawHTTPConnection]
    private let stopRequested = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private var running = false

    init(count: Int, port: Int, target: String = "/echo", declared: Int = 1 << 20) throws {
        var connections: [RawHTTPConnection] = []
        for _ in 0..<count {
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port, timeout: 5)
            try connection.sendRaw(Array("POST \(target) HTTP/1.1\r\nHost: x\r\nContent-Length: \(declared)\r\n\r\nab".utf8))
            connections.append(connection)
        }
        self.connections = connections
    }

    /// Sends one byte to every connection every `interval` seconds.
    func start(interval: Double = 0.25) {
        running = true
        let thread = Thread { [self] in
            while !stopRequested.load(ordering: .relaxed) {
                for connection in connections { try? connection.sendRaw([UInt8(ascii: "x")]) }
                usleep(useconds_t(interval * 1_000_000))
            }
            finished.signal()
        }
        thread.start()
    }

    /// Stops trickling (waits for the sending thread, so the connections can be read from).
    func stop() {
        guard running else { return }
        running = false
        stopRequested.store(true, ordering: .relaxed)
        finished.wait()
    }
}

/// A handler whose `/wait` route blocks until the gate opens (a handler stuck on a backend).
final class Gate: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    func open(_ count: Int) { for _ in 0..<count { semaphore.signal() } }
    /// Waits for `open`; the 60 s limit only keeps a failed test from hanging for ever.
    func pass() { _ = semaphore.wait(timeout: .now() + 60) }
}

private func gatedHandler(_ gate: Gate) -> HandlerFunction {
    HandlerFunction { request in
        if request.path == "/wait" {
            gate.pass()
            return HTTPResponse(status: 200, body: Array("waited".utf8))
        }
        return TestHandler().handle(request)
    }
}

@Suite struct SlowClientTests {
    @Test(arguments: [HTTPServer.Execution.workerThreads, .eventLoop])
    func slowUploadsDoNotDelayAFreshRequest(execution: HTTPServer.Execution) throws {
        // 100 uploads trickling a few bytes a second to a handler that reads its body as a
        // stream: more than the 64 workers. Every request goes through a worker in
        // `.workerThreads` mode, so this fails if uploads and requests share the workers.
        // No body timeout may end the uploads while the test runs, however slow the machine.
        try withServer(configure: { options in
            options.execution = execution
            options.timeouts.body = 600
            options.timeouts.bodyGrace = 600
        }) { port in
            let trickling = try TricklingClients(count: 100, port: port)
            trickling.start()
            defer { trickling.stop() }
            // Let the uploads reach their handlers.
            usleep(300_000)
            // The 30 s timeout only detects a hang: speed is measured by `mcsec bench`.
            let fresh = try RawHTTPConnection(host: "127.0.0.1", port: port, timeout: 30)
            try fresh.send(HTTPRequest(method: "GET", target: "/healthz"))
            let response = try fresh.readResponse()
            #expect(response.status == 200)
            // A small POST (buffered, then run like any complete request) is served as well.
            try fresh.send(HTTPRequest(method: "POST", target: "/echo", body: .bytes(Array("hi".utf8))))
            #expect(try fresh.readResponse().bodyText == "hi")
            // ...while every upload is still in progress: none of them has been answered.
            trickling.stop()
            let answered = trickling.connections.filter(hasAnswer).count
            #expect(answered == 0, "\(answered) of the 100 uploads finished before the fresh requests were answered")
        }
    }

    @Test func bodyBelowTheMinimumRateGets408() throws {
        // The clients never stall longer than the stall timeout (a byte every 0.1 s, timeout
        // 0.5 s), so only the rate rule can cut them off: 0.5 s of grace, then 1000 bytes/s.
        try withServer(configure: { options in
            options.execution = .workerThreads
            options.timeouts.body = 0.5
            options.timeouts.bodyGrace = 0.5
            options.timeouts.bodyMinimumRate = 1000
        }) { port in
            let trickling = try TricklingClients(count: 10, port: port)
            trickling.start(interval: 0.1)
            // A long upload that keeps above the rate is not affected: 200 KB over about 1 s,
            // well past the grace period.
            let steady = try RawHTTPConnection(host: "127.0.0.1", port: port)
            steady.writePieceSize = 10_000
            steady.writeDelay = 0.05
            let body = [UInt8](repeating: 7, count: 200_000)
            try steady.send(HTTPRequest(method: "POST", target: "/echo", body: .bytes(body)))
            let accepted = try steady.readResponse()
            #expect(accepted.status == 200)
            #expect(accepted.body.count == body.count)
            trickling.stop()
            for connection in trickling.connections {
                let response = try connection.readResponse()
                #expect(response.status == 408)
                #expect(response.bodyText.contains("slower than 1000 bytes/s"), "\(response.bodyText)")
                #expect(response.headers["Connection"] == "close")
            }
        }
    }

    @Test func uploadsBeyondTheLimitGet503AndSmallRequestsStillPass() throws {
        try withServer(configure: { options in
            options.execution = .workerThreads
            options.maxStreamingRequests = 4
        }) { port in
            let trickling = try TricklingClients(count: 4, port: port)
            trickling.start()
            usleep(200_000)
            let extra = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try extra.send(HTTPRequest(method: "POST", target: "/echo", body: .bytes([UInt8](repeating: 1, count: 200_000))))
            let refused = try extra.readResponse()
            #expect(refused.status == 503)
            #expect(refused.bodyText.contains("4 uploads already in progress"))
            #expect(refused.headers["Connection"] == "close")
            #expect(extra.waitForClose(within: 5))

            let small = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try small.send(HTTPRequest(method: "POST", target: "/echo", body: .bytes(Array("small".utf8))))
            #expect(try small.readResponse().bodyText == "small")

            // Once the uploads are gone their threads are free again.
            trickling.stop()
            for connection in trickling.connections { connection.close() }
            var served = false
            for _ in 0..<100 where !served {
                let again = try RawHTTPConnection(host: "127.0.0.1", port: port)
                try again.send(HTTPRequest(method: "POST", target: "/echo", body: .bytes([UInt8](repeating: 2, count: 100_000))))
                served = try again.readResponse().status == 200
                if !served { usleep(20_000) }
            }
            #expect(served)
        }
    }

    @Test func fullWorkerQueueGets503AtOnce() throws {
        let gate = Gate()
        try withServer(gatedHandler(gate), configure: { options in
            options.execution = .workerThreads
            options.maxWorkers = 1
            options.maxQueuedRequests = 1
        }) { port in
            defer { gate.open(10) }
            let busy = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try busy.send(HTTPRequest(method: "GET", target: "/wait"))
            usleep(100_000)  // the one worker is now stuck in the handler
            let queued = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try queued.send(HTTPRequest(method: "GET", target: "/healthz"))
            usleep(100_000)
            // The 30 s timeout only detects a hang.
            let refused = try RawHTTPConnection(host: "127.0.0.1", port: port, timeout: 30)
            try refused.send(HTTPRequest(method: "GET", target: "/healthz"))
            let response = try refused.readResponse()
            #expect(response.status == 503)
            #expect(response.bodyText.contains("the queue of 1 waiting requests is full"))
            // At once: refused while the worker is still stuck and the queued request waits.
            #expect(!hasAnswer(busy) && !hasAnswer(queued), "the 503 came only once the worker was free")
            gate.open(1)
            #expect(try busy.readResponse().status == 200)
            #expect(try queued.readResponse().status == 200)
        }
    }

    @Test func requestThatWaitedTooLongForAWorkerGets503() throws {
        let gate = Gate()
        try withServer(gatedHandler(gate), configure: { options in
            options.execution = .workerThreads
            options.maxWorkers = 1
            options.timeouts.queue = 0.2
        }) { port in
            defer { gate.open(10) }
            let busy = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try busy.send(HTTPRequest(method: "GET", target: "/wait"))
            usleep(100_000)
            let queued = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try queued.send(HTTPRequest(method: "GET", target: "/healthz"))
            usleep(400_000)
            gate.open(1)
            #expect(try busy.readResponse().status == 200)
            let late = try queued.readResponse()
            #expect(late.status == 503)
            #expect(late.bodyText.contains("no worker was free within 0.2 s"))
            // Without a queue, requests go straight through again.
            let next = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try next.send(HTTPRequest(method: "GET", target: "/healthz"))
            #expect(try next.readResponse().status == 200)
        }
    }

    @Test(.requiresMcsecBinary, .readsProc)
    func runningOutOfDescriptorsPausesAcceptingAndResumes() throws {
        let serve = try ServeProcess.start()
        defer { serve.process.terminate() }
        let open = try #require(serve.openDescriptors())
        // Room for a few connections only.
        try serve.setDescriptorLimit(soft: open + 6)
        let limited = Date()
        var held: [RawHTTPConnection] = []
        var waiting: RawHTTPConnection?
        for _ in 0..<32 {
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: serve.port, timeout: 1)
            try connection.send(HTTPRequest(method: "GET", target: "/healthz"))
            if (try? connection.readResponse())?.status == 200 {
                held.append(connection)
            } else {
                waiting = connection
                break
            }
        }
        let blocked = try #require(waiting, "the server accepted 32 connections with a limit of \(open + 6) descriptors")
        #expect(held.count >= 3)
        // Out of descriptors, the server waits instead of spinning on the listener: it uses a
        // small part of the time that passes, where a spinning accept loop takes a whole core.
        // (A ratio of the time measured, not a speed claim: a slow machine only makes both longer.)
        let cpuBefore = try #require(serve.cpuSeconds())
        let wallBefore = Date()
        usleep(500_000)
        let cpuAfter = try #require(serve.cpuSeconds())
        let wall = Date().timeIntervalSince(wallBefore)
        #expect(cpuAfter - cpuBefore < wall / 2, "\(cpuAfter - cpuBefore) s of CPU in \(wall) s while out of descriptors")
        // ...and says so on stderr, once a second at most, not once per attempt: in T seconds
        // since the limit was set, at most T + 1 lines.
        func reports() -> Int {
            serve.process.stderr.split(separator: "\n").filter { $0.hasPrefix("http.accept_paused error=EMFILE") }.count
        }
        let reportDeadline = Date().addingTimeInterval(30)
        while reports() == 0 && Date() < reportDeadline { usleep(10_000) }
        let count = reports()
        let sinceLimit = Date().timeIntervalSince(limited)
        #expect(count >= 1 && Double(count) <= sinceLimit.rounded(.down) + 1,
                "\(count) accept_paused lines in \(sinceLimit) s; stderr: \(serve.process.stderr.suffix(1000))")
        // Descriptors come free: the waiting client is accepted and answered (30 s: a hang detector).
        for connection in held { connection.close() }
        blocked.timeout = 30
        let response = try blocked.readResponse()
        #expect(response.status == 200)
        #expect(serve.process.isRunning)
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization
import Testing
import Wire

/// Feeds `bytes` to a scanner in pieces of `piece` bytes and collects every outcome that is not
/// `needMore`, with the bytes left over after each complete response fed again (as the client
/// loop never does, but a pipelining reader would).
private func scan(_ bytes: [UInt8], piece: Int, head: Bool = false, atEnd: Bool = false) -> [HTTPResponseScanner.Outcome] {
    var scanner = HTTPResponseScanner()
    scanner.expectResponse(head: head)
    var outcomes: [HTTPResponseScanner.Outcome] = []
    var offset = 0
    var carried: [UInt8] = []
    while offset < bytes.count || !carried.isEmpty {
        var chunk = carried
        carried = []
        if chunk.isEmpty {
            chunk = Array(bytes[offset..<min(bytes.count, offset + piece)])
            offset += chunk.count
        }
        let outcome = chunk.withUnsafeBytes { scanner.feed($0) }
        switch outcome {
        case .needMore:
            continue
        case .complete(let status, let keepAlive, let consumed):
            outcomes.append(.complete(status: status, keepAlive: keepAlive, consumed: 0))
            scanner.expectResponse(head: head)
            carried = Array(chunk[consumed...])
        case .malformed:
            outcomes.append(outcome)
            return outcomes
        }
    }
    if atEnd { outcomes.append(scanner.finish()) }
    return outcomes
}

private func done(_ status: Int, keepAlive: Bool = true) -> HTTPResponseScanner.Outcome {
    .complete(status: status, keepAlive: keepAlive, consumed: 0)
}

@Suite("HTTP response scanner: framing and reuse, whatever the piece size")
struct HTTPResponseScannerTests {
    struct Vector: Sendable, CustomStringConvertible {
        let name: String
        let bytes: String
        var head = false
        var atEnd = false
        let expected: [HTTPResponseScanner.Outcome]
        var description: String { name }
    }

    static let vectors: [Vector] = [
        Vector(name: "Content-Length body", bytes: "HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nhello",
               expected: [done(202)]),
        Vector(name: "two responses back to back", bytes: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n",
               expected: [done(200), done(429)]),
        Vector(name: "chunked with an extension and a trailer",
               bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: v\r\n\r\n",
               expected: [done(200)]),
        Vector(name: "chunked with bare LF line ends", bytes: "HTTP/1.1 200 OK\nTransfer-Encoding: gzip, chunked\n\n3\nabc\n0\n\n",
               expected: [done(200)]),
        Vector(name: "204 has no body even with a Content-Length", bytes: "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
               expected: [done(204)]),
        Vector(name: "304 has no body", bytes: "HTTP/1.1 304 Not Modified\r\n\r\n", expected: [done(304)]),
        Vector(name: "the answer to HEAD has no body", bytes: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", head: true,
               expected: [done(200)]),
        Vector(name: "interim 100 then the final answer", bytes: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx",
               expected: [done(201)]),
        Vector(name: "stray line ends before the status line", bytes: "\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
               expected: [done(200)]),
        Vector(name: "Connection: close ends reuse", bytes: "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
               expected: [done(413, keepAlive: false)]),
        Vector(name: "HTTP/1.0 closes unless keep-alive", bytes: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
               expected: [done(200, keepAlive: false)]),
        Vector(name: "HTTP/1.0 with keep-alive is reused", bytes: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
               expected: [done(200)]),
        Vector(name: "no framing: the body runs to the end of the connection", bytes: "HTTP/1.1 200 OK\r\n\r\nall of this", atEnd: true,
               expected: [done(200, keepAlive: false)]),
        Vector(name: "a transfer coding other than chunked runs to the end", bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz", atEnd: true,
               expected: [done(200, keepAlive: false)]),
        Vector(name: "cut short in the body", bytes: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", atEnd: true,
               expected: [.malformed("the connection closed in the middle of the answer")]),
        Vector(name: "not a status line", bytes: "SSH-2.0-OpenSSH\r\n\r\n",
               expected: [.malformed("'SSH-2.0-OpenSSH' is not an HTTP/1.x status line")]),
        Vector(name: "two different lengths", bytes: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
               expected: [.malformed("two different Content-Length values")]),
        Vector(name: "a length that is not a number", bytes: "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
               expected: [.malformed("Content-Length '+5' is not a number")]),
        Vector(name: "a chunk size that is not hexadecimal", bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
               expected: [.malformed("chunk size 'zz' is not hexadecimal")]),
        Vector(name: "101 to a request that asked for nothing", bytes: "HTTP/1.1 101 Switching Protocols\r\n\r\n",
               expected: [.malformed("101 Switching Protocols to a request that asked for no upgrade")]),
    ]

    @Test("each vector gives the same outcomes fed whole, byte by byte, and in pieces of 3 and 7", arguments: vectors)
    func vector(_ v: Vector) {
        let bytes = Array(v.bytes.utf8)
        for piece in [bytes.count, 1, 3, 7] {
            #expect(scan(bytes, piece: max(piece, 1), head: v.head, atEnd: v.atEnd) == v.expected, "piece size \(piece)")
        }
    }

    @Test("consumed counts exactly the bytes of the first response")
    func consumedCount() {
        var scanner = HTTPResponseScanner()
        scanner.expectResponse()
        let first = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
        let bytes = Array((first + "HTTP/1.1 404 Not Found\r\n").utf8)
        let outcome = bytes.withUnsafeBytes { scanner.feed($0) }
        #expect(outcome == .complete(status: 200, keepAlive: true, consumed: first.utf8.count))
    }

    @Test("a head longer than the limit is refused, not collected without end")
    func endlessHead() {
        var scanner = HTTPResponseScanner()
        scanner.expectResponse()
        var outcome = Array("HTTP/1.1 200 OK\r\n".utf8).withUnsafeBytes { scanner.feed($0) }
        let line = Array("X-Filler: \(String(repeating: "a", count: 1000))\r\n".utf8)
        for _ in 0..<100 where outcome == .needMore {
            outcome = line.withUnsafeBytes { scanner.feed($0) }
        }
        #expect(outcome == .malformed("response head longer than \(HTTPResponseScanner.maxHeadBytes) bytes"))
    }
}

/// Records the source address and connection of every request the server sees.
private final class Seen: @unchecked Sendable {
    let lock = NSLock()
    var peers: [String] = []
    var connections = Set<UInt64>()
    func add(_ request: HTTPRequest) {
        lock.lock()
        defer { lock.unlock() }
        peers.append(request.peer ?? "")
        if let c = request.connection { connections.insert(c) }
    }
}

private func runAll(_ loop: HTTPClientLoop, expecting count: Int, within seconds: Double = 10) -> [HTTPClientLoop.Completion] {
    var completions: [HTTPClientLoop.Completion] = []
    let deadline = HTTPClientLoop.now() + seconds
    while completions.count < count && HTTPClientLoop.now() < deadline {
        loop.run(until: min(deadline, HTTPClientLoop.now() + 0.1), completions: &completions)
    }
    return completions
}

private func get(_ path: String, port: Int) -> [UInt8] {
    Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n".utf8)
}

@Suite("HTTP client loop: many requests in flight from one thread")
struct HTTPClientLoopTests {
    @Test("requests from several source addresses are answered, each from its address, over reused connections")
    func sourcesAndReuse() throws {
        let seen = Seen()
        let server = HTTPServer(handler: HandlerFunction { request in
            seen.add(request)
            return HTTPResponse(status: request.path == "/missing" ? 404 : 200, body: Array("ok".utf8))
        })
        let port = try server.start()
        defer { server.stop() }
        let sources = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        let loop = try HTTPClientLoop(host: "127.0.0.1", port: port, sources: sources)
        defer { loop.close() }
        // Three rounds of one request per source: the second and third reuse the connections.
        var completions: [HTTPClientLoop.Completion] = []
        for round in 0..<3 {
            for (s, _) in sources.enumerated() {
                loop.start(tag: round * 10 + s, request: get(s == 2 ? "/missing" : "/x", port: port), source: s)
            }
            #expect(loop.inFlight == 3)
            completions += runAll(loop, expecting: 3)
        }
        #expect(completions.count == 9)
        for c in completions {
            #expect(c.status == (c.tag % 10 == 2 ? 404 : 200), "tag \(c.tag): \(c.error ?? "")")
        }
        #expect(Set(seen.peers) == Set(sources))
        #expect(seen.connections.count == 3)
        #expect(loop.inFlight == 0)
        #expect(loop.openConnections == 3)
    }

    @Test("a thousand requests, a hundred in flight at a time, all answered")
    func manyInFlight() throws {
        let server = HTTPServer(handler: HandlerFunction { _ in HTTPResponse(status: 200, body: [UInt8](repeating: 65, count: 3000)) })
        let port = try server.start()
        defer { server.stop() }
        let loop = try HTTPClientLoop(host: "127.0.0.1", port: port)
        defer { loop.close() }
        var completions: [HTTPClientLoop.Completion] = []
        var started = 0
        let deadline = HTTPClientLoop.now() + 20
        while completions.count < 1000 && HTTPClientLoop.now() < deadline {
            while started < 1000 && loop.inFlight < 100 {
                loop.start(tag: started, request: get("/n/\(started)", port: port))
                started += 1
            }
            loop.run(until: HTTPClientLoop.now() + 0.1, completions: &completions)
        }
        #expect(completions.count == 1000)
        #expect(completions.allSatisfy { $0.status == 200 })
        #expect(Set(completions.map(\.tag)).count == 1000)
        #expect(loop.openConnections <= 100)
    }

    @Test("a chunked answer, then a close-delimited one, from a scripted server")
    func framingOverSockets() throws {
        let chunked = try ScriptedServer(until: Array("\r\n\r\n".utf8),
                                         reply: Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n0\r\n\r\n".utf8),
                                         closeAfterReply: false, holdOpen: 1)
        let loop = try HTTPClientLoop(host: "127.0.0.1", port: chunked.port)
        defer { loop.close() }
        loop.start(tag: 1, request: get("/", port: chunked.port))
        let first = runAll(loop, expecting: 1)
        #expect(first.first?.status == 200)
        #expect(loop.openConnections == 1)

        let untilClose = try ScriptedServer(until: Array("\r\n\r\n".utf8), reply: Array("HTTP/1.1 203 Whatever\r\n\r\nbody to the end".utf8))
        let second = try HTTPClientLoop(host: "127.0.0.1", port: untilClose.port)
        defer { second.close() }
        second.start(tag: 2, request: get("/", port: untilClose.port))
        let answered = runAll(second, expecting: 1)
        #expect(answered.first?.status == 203)
        #expect(second.openConnections == 0)
    }

    @Test("an idle connection the server closed is dropped, and the next request goes out on a new one")
    func serverClosesIdle() throws {
        var options = HTTPServer.Options()
        options.timeouts.idle = 0.2
        let server = HTTPServer(handler: HandlerFunction { _ in HTTPResponse(status: 200) }, options: options)
        let port = try server.start()
        defer { server.stop() }
        let loop = try HTTPClientLoop(host: "127.0.0.1", port: port)
        defer { loop.close() }
        loop.start(tag: 1, request: get("/", port: port))
        #expect(runAll(loop, expecting: 1).first?.status == 200)
        #expect(loop.openConnections == 1)
        // The server's idle timeout closes it; the loop notices while it runs.
        var none: [HTTPClientLoop.Completion] = []
        let until = HTTPClientLoop.now() + 1
        while loop.openConnections > 0 && HTTPClientLoop.now() < until { loop.run(until: HTTPClientLoop.now() + 0.05, completions: &none) }
        #expect(loop.openConnections == 0)
        #expect(none.isEmpty)
        loop.start(tag: 2, request: get("/", port: port))
        #expect(runAll(loop, expecting: 1).first?.status == 200)
    }

    @Test("a server that never answers fails the request after the timeout; a closed port fails at once")
    func failures() throws {
        let silent = try ScriptedServer(until: Array("never".utf8), reply: [], holdOpen: 2)
        var options = HTTPClientLoop.Options()
        options.timeout = 0.3
        let loop = try HTTPClientLoop(host: "127.0.0.1", port: silent.port, options: options)
        defer { loop.close() }
        loop.start(tag: 7, request: get("/", port: silent.port))
        let timedOut = runAll(loop, expecting: 1, within: 3)
        #expect(timedOut.first?.status == nil)
        #expect(timedOut.first?.error?.contains("no progress for 0.3 s while waiting for the answer") == true, "\(timedOut)")

        // A port nobody listens on: bind one, learn its number, close it.
        let probe = HTTPServer(handler: HandlerFunction { _ in HTTPResponse(status: 200) })
        let closedPort = try probe.start()
        probe.stop()
        let refused = try HTTPClientLoop(host: "127.0.0.1", port: closedPort, options: options)
        defer { refused.close() }
        refused.start(tag: 8, request: get("/", port: closedPort))
        let failed = runAll(refused, expecting: 1, within: 3)
        #expect(failed.first?.tag == 8)
        #expect(failed.first?.error?.contains("connect") == true, "\(failed)")
    }

    @Test("the same requests over the poll(2) backend")
    func pollBackend() throws {
        let server = HTTPServer(handler: HandlerFunction { _ in HTTPResponse(status: 201) })
        let port = try server.start()
        defer { server.stop() }
        var options = HTTPClientLoop.Options()
        options.backend = .poll
        let loop = try HTTPClientLoop(host: "127.0.0.1", port: port, sources: ["127.0.0.5"], options: options)
        defer { loop.close() }
        #expect(loop.preconnect(source: 0))
        for i in 0..<50 { loop.start(tag: i, request: get("/", port: port), source: 0) }
        let all = runAll(loop, expecting: 50)
        #expect(all.count == 50)
        #expect(all.allSatisfy { $0.status == 201 })
    }

    @Test("run(until:) with nothing to do returns at its deadline, never before, on both backends", arguments: EventBackend.available)
    func deadlineKept(_ backend: EventBackend) throws {
        var options = HTTPClientLoop.Options()
        options.backend = backend
        let loop = try HTTPClientLoop(host: "127.0.0.1", port: 9, options: options)
        defer { loop.close() }
        var none: [HTTPClientLoop.Completion] = []
        for wait in [0.000_3, 0.002, 0.02] {
            let deadline = HTTPClientLoop.now() + wait
            loop.run(until: deadline, completions: &none)
            #expect(HTTPClientLoop.now() >= deadline, "returned early for a wait of \(wait) s")
        }
        #expect(none.isEmpty)
    }
}

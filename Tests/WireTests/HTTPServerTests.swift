import Foundation
import Testing
import Wire

/// The handler the server tests run against: small, predictable routes.
/// - `GET /healthz` → 200 `ok`
/// - `POST /echo` → 200 with the body (reads it as a stream, at most `limit` bytes, else 413)
/// - `POST /ignore` → 200 without reading the body
/// - `GET /big` → 200 with 8 MiB (more than socket buffers hold)
/// - `GET /peer` → 200 with the peer address
/// - anything else → 404
struct TestHandler: HTTPHandler {
    var limit = 1 << 20

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        switch (request.method, request.path) {
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
            return HTTPResponse(status: 200, headers: ["Content-Type": "text/plain"], body: Array("ok".utf8))
        case ("POST", "/echo"):
            do {
                guard let body = try request.body.collect(limit: limit) else {
                    return HTTPResponse(status: 413, body: Array("too large".utf8))
                }
                return HTTPResponse(status: 200, headers: ["X-Body-Length": String(body.count)], body: body)
            } catch {
                return HTTPResponse(status: 400, body: Array("\(error)".utf8))
            }
        case ("POST", "/ignore"):
            return HTTPResponse(status: 200, body: Array("ignored".utf8))
        case ("GET", "/big"):
            return HTTPResponse(status: 200, body: [UInt8](repeating: UInt8(ascii: "b"), count: 8 << 20))
        case ("GET", "/peer"):
            return HTTPResponse(status: 200, body: Array((request.peer ?? "none").utf8))
        default:
            return HTTPResponse(status: 404, body: Array("not found".utf8))
        }
    }

    func handleProtocolError(status: Int, detail: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["X-Protocol-Error": "yes"], body: Array(detail.utf8))
    }
}

/// Starts a server for the duration of `body` and stops it afterwards.
func withServer<T>(_ handler: any HTTPHandler = TestHandler(), configure: (inout HTTPServer.Options) -> Void = { _ in },
                   _ body: (Int) throws -> T) throws -> T {
    var options = HTTPServer.Options()
    configure(&options)
    let server = HTTPServer(handler: handler, options: options)
    let port = try server.start()
    defer { server.stop() }
    return try body(port)
}

@Suite struct HTTPServerTests {
    @Test(arguments: [HTTPServer.Execution.eventLoop, .workerThreads])
    func servesGetAndKeepsAlive(execution: HTTPServer.Execution) throws {
        try withServer(configure: { $0.execution = execution }) { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            for _ in 0..<3 {
                try connection.send(HTTPRequest(method: "GET", target: "/healthz"))
                let response = try connection.readResponse()
                #expect(response.status == 200)
                #expect(response.bodyText == "ok")
                #expect(response.headers["Connection"] == nil)
                #expect(response.headers["Date"]?.hasSuffix(" GMT") == true)
            }
        }
    }

    @Test(arguments: [HTTPServer.Execution.eventLoop, .workerThreads])
    func echoesBodiesOfEverySize(execution: HTTPServer.Execution) throws {
        try withServer(configure: { $0.execution = execution }) { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            for size in [0, 1, 1000, 64 * 1024, 64 * 1024 + 1, 300_000] {
                let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }
                try connection.send(HTTPRequest(method: "POST", target: "/echo", body: .bytes(body)))
                let response = try connection.readResponse()
                #expect(response.status == 200)
                #expect(response.body == body, "size \(size)")
            }
        }
    }

    @Test(arguments: [1, 7, 4096, 100_000])
    func decodesChunkedBodies(chunkSize: Int) throws {
        try withServer { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            let body = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
            try connection.send(HTTPRequest(method: "POST", target: "/echo", body: .bytes(body)), framing: .chunked(chunkSize: chunkSize))
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect(response.body == body)
            // The connection stays usable after a streamed body.
            try connection.send(HTTPRequest(method: "GET", target: "/healthz"))
            #expect(try connection.readResponse().status == 200)
        }
    }

    @Test func smallChunkedBodyIsServedInline() throws {
        try withServer(configure: { $0.execution = .eventLoop }) { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try connection.sendRaw(Array("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;name=value\r\nabc\r\n2\r\nde\r\n0\r\nTrailer-Field: 1\r\n\r\n".utf8))
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyText == "abcde")
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        try withServer(configure: { $0.execution = .eventLoop }) { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            var raw: [UInt8] = []
            for i in 0..<50 {
                raw += Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(String(i).count)\r\n\r\n\(i)".utf8)
            }
            try connection.sendRaw(raw)
            for i in 0..<50 {
                let response = try connection.readResponse()
                #expect(response.bodyText == String(i))
            }
        }
    }

    @Test func limitStopsAStreamedBodyAndClosesWithoutDraining() throws {
        try withServer(TestHandler(limit: 100_000)) { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            let body = [UInt8](repeating: 65, count: 8 << 20)
            try connection.send(HTTPRequest(method: "POST", target: "/echo", body: .bytes(body)), framing: .chunked(chunkSize: 16 * 1024))
            let response = try connection.readResponse()
            #expect(response.status == 413)
            #expect(response.headers["Connection"] == "close")
            #expect(connection.stoppedSendingEarly)
            #expect(connection.bodyBytesSent < body.count)
            #expect(connection.waitForClose(within: 5))
        }
    }

    @Test func unreadBodyClosesTheConnection() throws {
        try withServer { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            let body = [UInt8](repeating: 66, count: 200_000)
            try connection.send(HTTPRequest(method: "POST", target: "/ignore", body: .bytes(body)))
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect(response.headers["Connection"] == "close")
            #expect(connection.waitForClose(within: 5))
        }
    }

    @Test func expectContinueIsAnsweredWhenTheHandlerReads() throws {
        try withServer { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try connection.send(HTTPRequest(method: "POST", target: "/echo", headers: ["Expect": "100-continue"], body: .bytes(Array("hello".utf8))))
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyText == "hello")
            #expect(connection.informational.map(\.status) == [100])
        }
    }

    @Test func expectContinueIsNotSentWhenTheHandlerAnswersFirst() throws {
        try withServer { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try connection.send(HTTPRequest(method: "POST", target: "/ignore", headers: ["Expect": "100-continue"], body: .bytes(Array("hello".utf8))))
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect(connection.informational.isEmpty)
            #expect(connection.stoppedSendingEarly)
            #expect(response.headers["Connection"] == "close")
        }
    }

    @Test func headResponsesHaveNoBody() throws {
        try withServer(configure: { $0.execution = .eventLoop }) { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try connection.send(HTTPRequest(method: "HEAD", target: "/healthz"))
            let head = try connection.readResponse()
            #expect(head.status == 200)
            #expect(head.headers["Content-Length"] == "2")
            #expect(head.body.isEmpty)
            try connection.send(HTTPRequest(method: "GET", target: "/healthz"))
            #expect(try connection.readResponse().bodyText == "ok")
        }
    }

    @Test func http10ClosesUnlessKeepAliveIsAsked() throws {
        try withServer { port in
            let plain = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try plain.sendRaw(Array("GET /healthz HTTP/1.0\r\n\r\n".utf8))
            let first = try plain.readResponse()
            #expect(first.status == 200)
            #expect(first.headers["Connection"] == "close")
            #expect(plain.waitForClose(within: 5))

            let kept = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try kept.sendRaw(Array("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".utf8))
            let second = try kept.readResponse()
            #expect(second.headers["Connection"] == "keep-alive")
            try kept.sendRaw(Array("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".utf8))
            #expect(try kept.readResponse().status == 200)
        }
    }

    @Test func connectionCloseIsHonoured() throws {
        try withServer(configure: { $0.execution = .eventLoop }) { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try connection.send(HTTPRequest(method: "GET", target: "/healthz", headers: ["Connection": "close"]))
            let response = try connection.readResponse()
            #expect(response.headers["Connection"] == "close")
            #expect(connection.waitForClose(within: 5))
        }
    }

    @Test(arguments: [
        ("Connection: upgrade, Close", true), ("Connection: \tclose\t", true), ("Connection: CLOSE,keep-alive", true),
        ("Connection: closed", false), ("Connection: keep-alive", false), ("Connection: ,", false), ("Connection: close-ish, x", false),
        ("Connection: te\r\nConnection: close", true), ("Connection: caf\u{E9}, close", true), ("Connection: caf\u{E9}", false),
    ])
    func connectionTokensDecideClosing(field: String, closes: Bool) throws {
        try withServer(configure: { $0.execution = .eventLoop }) { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try connection.sendRaw(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\(field)\r\n\r\n".utf8))
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect((response.headers["Connection"] == "close") == closes)
            if closes { #expect(connection.waitForClose(within: 5)) }
        }
    }

    @Test func peerIsTheSocketAddress() throws {
        try withServer { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port, sourceAddress: "127.0.0.7")
            try connection.send(HTTPRequest(method: "GET", target: "/peer", headers: ["X-Forwarded-For": "1.2.3.4"]))
            #expect(try connection.readResponse().bodyText == "127.0.0.7")
        }
    }

    @Test func protocolErrorsGoThroughTheHandlerHook() throws {
        try withServer { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try connection.sendRaw(Array("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".utf8))
            let response = try connection.readResponse()
            #expect(response.status == 400)
            #expect(response.headers["X-Protocol-Error"] == "yes")
        }
        let custom: @Sendable (Int, String) -> HTTPResponse = { status, _ in
            HTTPResponse(status: status, headers: ["X-Custom": "1"])
        }
        try withServer(configure: { $0.errorResponder = custom }) { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try connection.sendRaw(Array("BAD\u{1}METHOD / HTTP/1.1\r\n\r\n".utf8))
            let response = try connection.readResponse()
            #expect(response.status == 400)
            #expect(response.headers["X-Custom"] == "1")
        }
    }

    @Test func responseHeadersThatCouldSplitTheResponseAreDropped() throws {
        let handler = HandlerFunction { _ in
            HTTPResponse(status: 200, headers: ["X-Good": "yes", "X-Bad": "a\r\nInjected: 1", "Bad Name": "x"], body: [])
        }
        try withServer(handler) { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try connection.send(HTTPRequest(method: "GET", target: "/"))
            let response = try connection.readResponse()
            #expect(response.headers["X-Good"] == "yes")
            #expect(response.headers["X-Bad"] == nil)
            #expect(response.headers["Injected"] == nil)
        }
    }

    @Test func framingHeadersAreTheServersAndInterimStatusesCannotBeFinal() throws {
        let handler = HandlerFunction { request in
            if request.path == "/interim" { return HTTPResponse(status: 102, body: Array("x".utf8)) }
            return HTTPResponse(status: 200, headers: ["Content-Length": "999", "Transfer-Encoding": "chunked",
                                                       "connection": "close", "Date": "Mon, 01 Jan 2024 00:00:00 GMT"],
                                body: Array("four".utf8))
        }
        try withServer(handler) { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try connection.send(HTTPRequest(method: "GET", target: "/"))
            let response = try connection.readResponse()
            #expect(response.bodyText == "four")
            #expect(response.headers.values("Content-Length") == ["4"])
            #expect(!response.headers.contains("Transfer-Encoding"))
            #expect(!response.headers.contains("Connection"))
            #expect(response.headers.values("Date") == ["Mon, 01 Jan 2024 00:00:00 GMT"])
            try connection.send(HTTPRequest(method: "GET", target: "/interim"))
            #expect(try connection.readResponse().status == 500)
        }
    }

    @Test(arguments: [HTTPServer.Execution.eventLoop, .workerThreads])
    func responsesLargerThanSocketBuffersAreWrittenInPieces(execution: HTTPServer.Execution) throws {
        try withServer(configure: { $0.execution = execution }) { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            // Three pipelined requests before reading anything: the server must wait for the
            // client to read (not spin, not drop), then continue.
            for _ in 0..<3 { try connection.send(HTTPRequest(method: "GET", target: "/big")) }
            for _ in 0..<3 {
                let response = try connection.readResponse()
                #expect(response.body.count == 8 << 20)
            }
            try connection.send(HTTPRequest(method: "GET", target: "/healthz"))
            #expect(try connection.readResponse().bodyText == "ok")
        }
    }

    @Test func clientThatNeverReadsIsDroppedAfterTheWriteTimeout() throws {
        var options = HTTPServer.Options()
        options.execution = .eventLoop
        options.timeouts.write = 0.3
        let server = HTTPServer(handler: TestHandler(), options: options)
        let port = try server.start()
        defer { server.stop() }
        let stuck = try RawHTTPConnection(host: "127.0.0.1", port: port)
        for _ in 0..<3 { try stuck.send(HTTPRequest(method: "GET", target: "/big")) }
        do {
            let other = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try other.send(HTTPRequest(method: "GET", target: "/healthz", headers: ["Connection": "close"]))
            #expect(try other.readResponse().bodyText == "ok")
        }
        // Without reading a byte, the stuck client's connection is closed by the server.
        let deadline = Date().addingTimeInterval(10)
        while server.openConnections > 0 && Date() < deadline { usleep(10_000) }
        #expect(server.openConnections == 0)
        _ = stuck
    }

    @Test func connectionsBeyondTheLimitGet503() throws {
        try withServer(configure: { $0.maxConnections = 2 }) { port in
            let first = try RawHTTPConnection(host: "127.0.0.1", port: port)
            let second = try RawHTTPConnection(host: "127.0.0.1", port: port)
            for connection in [first, second] {
                try connection.send(HTTPRequest(method: "GET", target: "/healthz"))
                #expect(try connection.readResponse().status == 200)
            }
            let third = try RawHTTPConnection(host: "127.0.0.1", port: port)
            let refused = try third.readResponse()
            #expect(refused.status == 503)
            #expect(refused.headers["X-Protocol-Error"] == "yes")
            #expect(third.waitForClose(within: 5))
            first.close()
            // Room again once a connection has gone.
            var served = false
            for _ in 0..<100 where !served {
                let again = try RawHTTPConnection(host: "127.0.0.1", port: port)
                try? again.send(HTTPRequest(method: "GET", target: "/healthz"))
                served = (try? again.readResponse().status) == 200
            }
            #expect(served)
        }
    }

    @Test func stopIsPromptAndRepeatable() throws {
        let server = HTTPServer(handler: TestHandler())
        let port = try server.start()
        #expect(port > 0 && server.port == port)
        let idle = try RawHTTPConnection(host: "127.0.0.1", port: port)
        _ = idle
        server.stop()
        server.stop()
        #expect(throws: HTTPClientError.self) {
            let again = try RawHTTPConnection(host: "127.0.0.1", port: port, timeout: 1)
            try again.send(HTTPRequest(method: "GET", target: "/healthz"))
            _ = try again.readResponse()
        }
    }
}

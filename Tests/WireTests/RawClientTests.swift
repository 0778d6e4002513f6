#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing
import TestSupport
import Wire

/// A one-connection TCP server for checking what the raw client puts on the wire: it accepts
/// one connection, reads until `until` appears in what it received (or `readBytes` bytes, or the
/// client closes), replies with `reply` bytes, and closes if asked.
final class ScriptedServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let condition = NSCondition()
    private var captured: [UInt8] = []
    private var finished = false

    init(until marker: [UInt8]? = nil, readBytes: Int? = nil, reply: [UInt8], closeAfterReply: Bool = true, holdOpen: Double = 0) throws {
        let fd = socket(AF_INET, Platform.streamSocket, 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        listen(fd, 4)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return finish() }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { break }
                let done = condition.withLock { () -> Bool in
                    captured += buffer[0..<n]
                    if let readBytes, captured.count >= readBytes { return true }
                    if let marker, captured.count >= marker.count,
                       captured.indices.dropLast(marker.count - 1).contains(where: { captured[$0..<($0 + marker.count)].elementsEqual(marker) }) {
                        return true
                    }
                    return false
                }
                if done { break }
            }
            _ = reply.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Platform.sendFlags) }
            if holdOpen > 0 { usleep(UInt32(holdOpen * 1_000_000)) }
            if closeAfterReply { close(client) }
            finish()
        }
        thread.start()
    }

    private func finish() {
        condition.withLock {
            finished = true
            condition.broadcast()
        }
    }

    /// What the client sent (waits up to 5 s for the exchange to finish).
    func received() -> [UInt8] {
        condition.withLock {
            let deadline = Date().addingTimeInterval(5)
            while !finished && condition.wait(until: deadline) {}
            return captured
        }
    }

    deinit { close(listener) }
}

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
private let okReply = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)

@Suite struct RawClientTests {
    @Test func headersAreSentVerbatimInOrderWithHostAdded() throws {
        let server = try ScriptedServer(until: Array("\r\n\r\n".utf8), reply: okReply)
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: server.port)
        let headers = HTTPFields([("x-lower", "1"), ("X-Dup", "a"), ("X-DUP", "b"), ("Weird", "  spaced  ")])
        try connection.send(HTTPRequest(method: "GET", target: "/p?q=1", headers: headers))
        #expect(try connection.readResponse().bodyText == "ok")
        #expect(text(server.received()) == "GET /p?q=1 HTTP/1.1\r\nx-lower: 1\r\nX-Dup: a\r\nX-DUP: b\r\nWeird:   spaced  \r\nHost: 127.0.0.1:\(server.port)\r\n\r\n")
    }

    @Test func givenHostIsKeptAndNotDuplicated() throws {
        let server = try ScriptedServer(until: Array("\r\n\r\n".utf8), reply: okReply)
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: server.port)
        try connection.send(HTTPRequest(method: "GET", target: "/", headers: ["host": "example.test"]))
        _ = try connection.readResponse()
        #expect(text(server.received()) == "GET / HTTP/1.1\r\nhost: example.test\r\n\r\n")
    }

    @Test func declaredLengthMayLie() throws {
        let server = try ScriptedServer(until: Array("abc".utf8), reply: okReply)
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: server.port)
        try connection.send(HTTPRequest(method: "POST", target: "/", body: .bytes(Array("abc".utf8))), framing: .declaredLength(10))
        _ = try connection.readResponse()
        #expect(text(server.received()).hasSuffix("Content-Length: 10\r\n\r\nabc"))
    }

    @Test func contentLengthIsTheRealSize() throws {
        let server = try ScriptedServer(until: Array("hello".utf8), reply: okReply)
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: server.port)
        try connection.send(HTTPRequest(method: "POST", target: "/", body: .bytes(Array("hello".utf8))))
        _ = try connection.readResponse()
        #expect(text(server.received()).hasSuffix("Content-Length: 5\r\n\r\nhello"))
    }

    @Test func chunkedUsesTheChosenChunkSize() throws {
        let server = try ScriptedServer(until: Array("0\r\n\r\n".utf8), reply: okReply)
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: server.port)
        try connection.send(HTTPRequest(method: "POST", target: "/", body: .bytes(Array("hello".utf8))), framing: .chunked(chunkSize: 2))
        _ = try connection.readResponse()
        #expect(text(server.received()).hasSuffix("Transfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n2\r\nll\r\n1\r\no\r\n0\r\n\r\n"))
    }

    @Test func streamBodiesAreChunkedAsTheyCome() throws {
        let server = try ScriptedServer(until: Array("0\r\n\r\n".utf8), reply: okReply)
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: server.port)
        let stream = ChunkListStream([Array("abc".utf8), Array("defgh".utf8)])
        try connection.send(HTTPRequest(method: "POST", target: "/", body: .stream(stream)), framing: .chunked(chunkSize: 4))
        _ = try connection.readResponse()
        #expect(text(server.received()).hasSuffix("\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n1\r\nh\r\n0\r\n\r\n"))
    }

    @Test func rawBytesAreSentUntouched() throws {
        let raw: [UInt8] = [0x47, 0x45, 0x54, 0x00, 0xff, 0x0a, 0x0d]
        let server = try ScriptedServer(readBytes: raw.count, reply: okReply)
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: server.port)
        try connection.sendRaw(raw, pieceSize: 1, delay: 0.001)
        _ = try connection.readResponse()
        #expect(server.received() == raw)
    }

    @Test func parsesChunkedResponses() throws {
        let reply = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n".utf8)
        let server = try ScriptedServer(until: Array("\r\n\r\n".utf8), reply: reply)
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: server.port)
        try connection.send(HTTPRequest(method: "GET", target: "/"))
        let response = try connection.readResponse()
        #expect(response.bodyText == "abcde")
        #expect(response.headers["X-A"] == "1")
    }

    @Test func parsesCloseDelimitedResponses() throws {
        let reply = Array("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end".utf8)
        let server = try ScriptedServer(until: Array("\r\n\r\n".utf8), reply: reply)
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: server.port)
        try connection.send(HTTPRequest(method: "GET", target: "/"))
        let response = try connection.readResponse()
        #expect(response.bodyText == "until the end")
        #expect(connection.lastStatusLine == "HTTP/1.0 200 OK")
    }

    @Test func skipsInterimResponsesAndRecordsThem() throws {
        let reply = Array("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n".utf8)
        let server = try ScriptedServer(until: Array("\r\n\r\n".utf8), reply: reply)
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: server.port)
        try connection.send(HTTPRequest(method: "GET", target: "/"))
        let response = try connection.readResponse()
        #expect(response.status == 201)
        #expect(connection.informational.map(\.status) == [100, 102])
    }

    @Test func headResponseHasNoBodyDespiteContentLength() throws {
        let reply = Array("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n".utf8)
        let server = try ScriptedServer(until: Array("GET".utf8), reply: reply)
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: server.port)
        try connection.send(HTTPRequest(method: "HEAD", target: "/"))
        try connection.send(HTTPRequest(method: "GET", target: "/"))
        #expect(try connection.readResponse().body.isEmpty)
        #expect(try connection.readResponse().status == 204)
    }

    @Test func readTimesOutWhenTheServerIsSilent() throws {
        let server = try ScriptedServer(until: Array("never".utf8), reply: [])
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: server.port, timeout: 0.2)
        try connection.send(HTTPRequest(method: "GET", target: "/"))
        #expect(throws: HTTPClientError.self) { try connection.readResponse() }
    }

    @Test func truncatedResponseIsAnError() throws {
        let reply = Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".utf8)
        let server = try ScriptedServer(until: Array("\r\n\r\n".utf8), reply: reply)
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: server.port)
        try connection.send(HTTPRequest(method: "GET", target: "/"))
        #expect(throws: HTTPClientError.self) { try connection.readResponse() }
    }

    @Test func refusedConnectionIsAClearError() throws {
        let port = try FreePort.find()
        let error = #expect(throws: HTTPClientError.self) { try RawHTTPConnection(host: "127.0.0.1", port: port, timeout: 1) }
        #expect(error?.description.contains("cannot connect to 127.0.0.1:\(port)") == true)
    }

    @Test func sourceAddressIsWhatTheServerSees() throws {
        try withServer { port in
            for source in ["127.0.0.2", "127.0.0.3"] {
                let connection = try RawHTTPConnection(host: "127.0.0.1", port: port, sourceAddress: source)
                try connection.send(HTTPRequest(method: "GET", target: "/peer"))
                #expect(try connection.readResponse().bodyText == source)
            }
        }
    }

    @Test func pipelinedRequestsAndSlowWritesAgainstTheServer() throws {
        try withServer { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            connection.writePieceSize = 7
            connection.writeDelay = 0.001
            for i in 0..<3 {
                try connection.send(HTTPRequest(method: "POST", target: "/echo", body: .bytes(Array("body \(i)".utf8))))
            }
            for i in 0..<3 {
                #expect(try connection.readResponse().bodyText == "body \(i)")
            }
        }
    }
}

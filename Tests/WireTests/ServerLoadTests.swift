@preconcurrency import Glibc
import Foundation
import Testing
import TestSupport
import Wire

/// Raises this process's descriptor limit (tests that hold thousands of sockets open).
private func ensureDescriptorLimit(_ wanted: rlim_t) {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    if limit.rlim_cur < wanted {
        limit.rlim_cur = min(wanted, limit.rlim_max)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}

private func threadCount() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Threads:") }) else { return nil }
    return line.split(separator: "\t").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
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
        try withServer(configure: { $0.execution = execution }) { port in
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
            let started = Date()
            let fresh = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try fresh.send(HTTPRequest(method: "GET", target: "/healthz"))
            let response = try fresh.readResponse()
            let elapsed = Date().timeIntervalSince(started)
            #expect(response.status == 200)
            #expect(elapsed < 1, "a fresh client waited \(elapsed) s behind 500 idle connections")
            print("idle connections (\(execution)): fresh client answered in \(String(format: "%.2f", elapsed * 1000)) ms with 500 idle connections open")
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
            if let threads = threadCount() {
                #expect(threads < 200, "1000 connections must not mean 1000 threads (\(threads))")
            }
        }
    }

    @Test(.enabled(if: TestPaths.mcsecBinary != nil, "the mcsec binary is not built"),
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

    @Test(.enabled(if: TestPaths.mcsecBinary != nil, "the mcsec binary is not built"))
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

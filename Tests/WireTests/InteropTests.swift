#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TestSupport
import Wire

private let curlPath = ExternalTool.curl.executable

/// Runs curl to completion; returns its exit status, stdout and stderr.
private func curl(_ arguments: [String]) throws -> (status: Int32?, stdout: String, stderr: String) {
    guard let curlPath else { throw ChildProcessError(message: "curl is not installed") }
    let process = try ChildProcess(executable: curlPath, arguments: ["--max-time", "20"] + arguments)
    let status = process.waitForExit(timeout: 30)
    return (status, process.stdoutLines.joined(separator: "\n"), process.stderr)
}

private func temporaryFile(_ bytes: [UInt8]) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("mcsec-interop-\(UUID().uuidString)")
    try Data(bytes).write(to: url)
    return url
}

private func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
}

@Suite struct CurlInteropTests {
    @Test(.requires(.curl))
    func getAndKeepAliveReuse() throws {
        try withServer { port in
            let result = try curl(["-sv", "http://127.0.0.1:\(port)/healthz", "http://127.0.0.1:\(port)/healthz"])
            #expect(result.status == 0)
            #expect(result.stdout == "okok")
            #expect(result.stderr.contains("Re-using existing connection"), "curl reuses the keep-alive connection")
        }
    }

    @Test(.requires(.curl),
          arguments: [false, true])
    func postBodyRoundTrips(chunked: Bool) throws {
        try withServer { port in
            let body = pseudoRandomBytes(300_000, seed: chunked ? 1 : 2)
            let input = try temporaryFile(body)
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("mcsec-out-\(UUID().uuidString)")
            defer {
                try? FileManager.default.removeItem(at: input)
                try? FileManager.default.removeItem(at: output)
            }
            var arguments = ["-sS", "-o", output.path, "-w", "%{http_code}", "--data-binary", "@\(input.path)",
                             "-H", "Content-Type: application/octet-stream"]
            if chunked { arguments += ["-H", "Transfer-Encoding: chunked"] }
            let result = try curl(arguments + ["http://127.0.0.1:\(port)/echo"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "200")
            #expect(try Data(contentsOf: output) == Data(body))
        }
    }

    @Test(.requires(.curl))
    func largeUploadGets100Continue() throws {
        try withServer(TestHandler(limit: 4 << 20)) { port in
            let body = pseudoRandomBytes(2 << 20, seed: 3)
            let input = try temporaryFile(body)
            defer { try? FileManager.default.removeItem(at: input) }
            let result = try curl(["-sv", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "@\(input.path)",
                                   "-H", "Expect: 100-continue", "http://127.0.0.1:\(port)/echo"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "200")
            #expect(result.stderr.contains("HTTP/1.1 100 Continue"))
        }
    }

    @Test(.requires(.curl))
    func oversizedChunkedUploadGets413() throws {
        try withServer(TestHandler(limit: 1 << 20)) { port in
            let input = try temporaryFile(pseudoRandomBytes(8 << 20, seed: 4))
            defer { try? FileManager.default.removeItem(at: input) }
            let result = try curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "@\(input.path)",
                                   "-H", "Transfer-Encoding: chunked", "http://127.0.0.1:\(port)/echo"])
            #expect(result.stdout == "413", "exit \(String(describing: result.status)): \(result.stderr)")
        }
    }
}

@Suite struct URLSessionInteropTests {
    @Test func getAndPost() async throws {
        let server = HTTPServer(handler: TestHandler())
        let port = try server.start()
        defer { server.stop() }
        let session = URLSession(configuration: .ephemeral)
        let (data, response) = try await session.data(from: URL(string: "http://127.0.0.1:\(port)/healthz")!)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        #expect(String(decoding: data, as: UTF8.self) == "ok")

        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/echo")!)
        request.httpMethod = "POST"
        let body = Data(pseudoRandomBytes(100_000, seed: 5))
        request.httpBody = body
        let (echoed, postResponse) = try await session.data(for: request)
        #expect((postResponse as? HTTPURLResponse)?.statusCode == 200)
        #expect(echoed == body)
        #expect((postResponse as? HTTPURLResponse)?.value(forHTTPHeaderField: "X-Body-Length") == "100000")
    }

    @Test func streamedUploadAndErrorStatus() async throws {
        let server = HTTPServer(handler: TestHandler())
        let port = try server.start()
        defer { server.stop() }
        let session = URLSession(configuration: .ephemeral)
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/echo")!)
        request.httpMethod = "POST"
        let body = Data(pseudoRandomBytes(70_000, seed: 6))
        request.httpBodyStream = InputStream(data: body)
        let (echoed, response) = try await session.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        #expect(echoed == body)

        let (_, missing) = try await session.data(from: URL(string: "http://127.0.0.1:\(port)/nowhere")!)
        #expect((missing as? HTTPURLResponse)?.statusCode == 404)
    }
}

/// `mcsec serve` as a separate process: what users run.
@Suite(.requiresMcsecBinary)
struct ServeCommandTests {
    @Test func servesTheReferenceAndStopsOnSIGTERM() throws {
        let serve = try ServeProcess.start()
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: serve.port)
        try connection.send(HTTPRequest(method: "GET", target: "/healthz"))
        let health = try connection.readResponse()
        #expect(health.status == 200)
        #expect(health.headers["X-Content-Type-Options"] == "nosniff")

        // A request the HTTP layer refuses still carries the service's headers and error shape.
        let bad = try RawHTTPConnection(host: "127.0.0.1", port: serve.port)
        try bad.sendRaw(Array("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".utf8))
        let refused = try bad.readResponse()
        #expect(refused.status == 400)
        #expect(refused.headers["X-Content-Type-Options"] == "nosniff")
        #expect(refused.headers["X-Frame-Options"] == "DENY")
        #expect(refused.headers["Referrer-Policy"] == "strict-origin-when-cross-origin")
        #expect(refused.headers["X-Request-Id"] != nil)
        let json = try JSONSerialization.jsonObject(with: Data(refused.body)) as? [String: Any]
        #expect(json?["detail"] is String)
        #expect(json?["request_id"] as? String == refused.headers["X-Request-Id"])

        serve.process.send(signal: SIGTERM)
        #expect(serve.process.waitForExit(timeout: 10) == 0)
        #expect(serve.process.stderr.contains("access method=GET target=/healthz status=200 bytes=11"))
        #expect(serve.process.stderr.contains("status=400"))
    }

    @Test func envFlagsOverrideTheEnvironment() throws {
        let serve = try ServeProcess.start(arguments: ["--env", "SECURITY_HEADER_X_FRAME_OPTIONS=SAMEORIGIN",
                                                       "--env", "SECURITY_HEADER_X_CONTENT_TYPE_OPTIONS="],
                                           environment: ["SECURITY_HEADER_X_FRAME_OPTIONS": "DENY", "SECURITY_HEADER_REFERRER_POLICY": "no-referrer"])
        defer { serve.process.terminate() }
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: serve.port)
        try connection.send(HTTPRequest(method: "GET", target: "/nowhere"))
        let response = try connection.readResponse()
        #expect(response.headers["X-Frame-Options"] == "SAMEORIGIN")
        #expect(response.headers["Referrer-Policy"] == "no-referrer")
        #expect(response.headers["X-Content-Type-Options"] == nil, "a blank value disables the header")
    }

    @Test func invalidConfigurationExits2NamingTheVariable() throws {
        let binary = try #require(TestPaths.mcsecBinary)
        let process = try ChildProcess(executable: binary, arguments: ["serve", "--port", "0", "--env", "WEBHOOK_MAX_PAYLOAD_BYTES=lots"])
        #expect(process.waitForExit(timeout: 10) == 2)
        #expect(process.stderr.contains("WEBHOOK_MAX_PAYLOAD_BYTES"))
        #expect(process.stdoutLines.isEmpty)

        let badFlag = try ChildProcess(executable: binary, arguments: ["serve", "--env", "NOEQUALS"])
        #expect(badFlag.waitForExit(timeout: 10) == 2)
        #expect(badFlag.stderr.contains("KEY=VALUE"))
    }

    @Test func jsonAccessLogLinesParse() throws {
        let serve = try ServeProcess.start(arguments: ["--log-format", "json"])
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: serve.port, sourceAddress: "127.0.0.9")
        try connection.send(HTTPRequest(method: "GET", target: "/api/v1/agent/healthz", headers: ["X-Agent-Token": "wrong-token-value"]))
        #expect(try connection.readResponse().status == 401)
        serve.process.send(signal: SIGINT)
        #expect(serve.process.waitForExit(timeout: 10) == 0)
        let lines = serve.process.stderr.split(separator: "\n").map(String.init)
        let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == lines.count, "every stderr line is a JSON object: \(lines)")
        let access = objects.first { $0["event"] as? String == "access" }
        #expect(access?["status"] as? Int == 401)
        #expect(access?["client"] as? String == "127.0.0.9")
        #expect(access?["target"] as? String == "/api/v1/agent/healthz")
        let service = objects.first { $0["event"] as? String == "service" }
        #expect((service?["line"] as? String)?.contains("token_prefix=wrong-") == true)
    }

    @Test func deeplyNestedPayloadsDoNotCrashTheServer() throws {
        // Handlers recurse on loop and worker threads alike (the JSON parser goes 512 levels
        // deep): their stacks must be big enough. 1 KB runs inline, 1 MB on a worker.
        let serve = try ServeProcess.start()
        defer { serve.process.terminate() }
        let target = "/api/v1/boards/b0000000-0000-4000-8000-00000000a001/webhooks/c0000000-0000-4000-8000-00000000a001"
        for depth in [511, 500_000] {
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: serve.port, sourceAddress: "127.0.0.\(depth % 200 + 20)")
            let body = [UInt8](repeating: UInt8(ascii: "["), count: depth) + [UInt8](repeating: UInt8(ascii: "]"), count: depth)
            try connection.send(HTTPRequest(method: "POST", target: target, headers: ["Content-Type": "application/json"], body: .bytes(body)))
            #expect(try connection.readResponse().status == 202)
        }
        #expect(serve.process.isRunning)
    }

    @Test func perIPLimitUsesTheSocketPeer() throws {
        let serve = try ServeProcess.start()
        defer { serve.process.terminate() }
        let target = "/api/v1/boards/b0000000-0000-4000-8000-00000000a001/webhooks/c0000000-0000-4000-8000-00000000a001"
        let first = try RawHTTPConnection(host: "127.0.0.1", port: serve.port, sourceAddress: "127.0.0.2")
        var statuses: [Int] = []
        for i in 0..<61 {
            // A spoofed X-Forwarded-For from an untrusted peer must not pick the limiter key.
            try first.send(HTTPRequest(method: "POST", target: target, headers: ["X-Forwarded-For": "10.9.\(i).1"],
                                       body: .bytes(Array("{}".utf8))))
            statuses.append(try first.readResponse().status)
        }
        #expect(statuses.prefix(60).allSatisfy { $0 == 202 })
        #expect(statuses.last == 429)
        let second = try RawHTTPConnection(host: "127.0.0.1", port: serve.port, sourceAddress: "127.0.0.3")
        try second.send(HTTPRequest(method: "POST", target: target, body: .bytes(Array("{}".utf8))))
        #expect(try second.readResponse().status == 202)
    }
}

import Testing
import Reference
import TestSupport
import Wire

/// The reference service behind the real HTTP server, fed mutated requests over sockets
/// (seeded): whatever arrives, every answer carries the security headers and a request id, no
/// answer is an internal error, and the service keeps serving.
@Suite struct ServiceMutationTests {
    static func seeds() -> [[UInt8]] {
        let body = #"{"event":"deploy","ok":true}"#
        let signature = WebhookSignature.headerValue(secret: Seed.signedHook.secret ?? "", body: Array(body.utf8))
        let token = Seed.boardAgent.token ?? ""
        return [
            "POST \(Seed.ingestPath(Seed.signedHook)) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "X-Hub-Signature-256: \(signature)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)",
            "POST \(Seed.ingestPath(Seed.openHook)) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-GitHub-Event: push\r\n\r\n"
                + "5\r\nhello\r\n0\r\n\r\n",
            "GET /api/v1/agent/boards HTTP/1.1\r\nHost: x\r\nX-Agent-Token: \(token)\r\n\r\n",
            "GET /api/v1/boards/\(Seed.acmeOps.id)/memory HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n\r\n",
            "GET /api/v1/gateways/\(Seed.acme.id) HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.4\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        ].map { Array($0.utf8) }
    }

    static let alphabet: [UInt8] = Array("\r\n :;=,/-\"0123456789abcdef{}".utf8) + [0x00, 0x7F, 0xFF]

    @Test func mutatedRequestsAreAnsweredWithTheSecurityHeadersAndNeverAnInternalError() throws {
        let service = ReferenceService(configuration: .defaults, world: Seed.world)
        let server = HTTPServer(handler: service)
        let port = try server.start()
        defer { server.stop() }
        let seeds = Self.seeds()
        var random = SplitMix64(seed: 0x7365_7276_6963_6501)
        var answered = 0
        for index in 0..<600 {
            let input = ByteMutation.mutate(seeds[index % seeds.count], alphabet: Self.alphabet, using: &random)
            let name = "case \(index): \(ByteMutation.shown(input))"
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port, timeout: 5)
            defer { connection.close() }
            try connection.sendRaw(input)
            connection.shutdownWrite()
            // A HEAD made by a mutation would be framed without a body; stop reading there.
            let mayBeHEAD = ByteMutation.shown(input).contains("HEAD")
            while !mayBeHEAD, let response = try? connection.readResponse() {
                answered += 1
                #expect(response.status < 500 || [501, 503, 505].contains(response.status), "\(response.status) for \(name)")
                #expect(response.headers["X-Content-Type-Options"] == "nosniff", "\(response.status) for \(name)")
                #expect(response.headers["X-Frame-Options"] == "DENY", "\(response.status) for \(name)")
                #expect(response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", "\(response.status) for \(name)")
                #expect(response.headers["X-Request-Id"] != nil, "\(response.status) for \(name)")
            }
            #expect(connection.waitForClose(within: 5), "the server did not close the connection: \(name)")
        }
        #expect(answered > 300, "only \(answered) answers: the mutations hardly reach the service")
        let probe = try RawHTTPConnection(host: "127.0.0.1", port: port)
        try probe.send(HTTPRequest(method: "GET", target: "/healthz"))
        #expect(try probe.readResponse().status == 200)
    }
}

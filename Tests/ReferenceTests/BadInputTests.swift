import Testing
import Reference
import Wire

/// Whatever a client sends, the service answers with an HTTP response: never a trap.
@Suite struct BadInputTests {
    static let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
    static let deepObjects = String(repeating: "{\"a\":", count: 100_000) + "1" + String(repeating: "}", count: 100_000)

    @Test(arguments: [
        "NaN", "-Infinity", "{\"a\": NaN}", "[1e999999]", "123456789012345678901234567890e123456789", "-0.0e-0",
        "{\"a\":1,\"a\":2}", "\"\\ud800\"", "\"\\udc00\\ud800\"", "\"\\u00zz\"", "[1,]", "{,}", "\u{FEFF}{}", "{\"a\":\"\u{1}\"}", "tru", "nul",
        deep, deepObjects, String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
    ])
    func malformedOrHostileJSONBodiesAreAcceptedAsTextOrJSON(text: String) {
        let h = Harnessed()
        let r = h.post(Seed.openHook, body: Array(text.utf8))
        #expect(r.status == 202)
        #expect(h.service.storedPayloads(boardID: Seed.acmeOps.id, webhookID: Seed.openHook.id).first?.rawBody == Array(text.utf8))
        let read = h.send("GET", Seed.ingestPath(Seed.openHook) + "/payloads", headers: [("Authorization", "Bearer " + Seed.owner.token!)])
        #expect(read.status == 200)
        #expect(read.json != nil, "the read-back must itself be valid JSON")
    }

    @Test func invalidUTF8Bodies() {
        let h = Harnessed()
        for body: [UInt8] in [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0x22, 0xF8, 0x22], [0x00], [0xE2, 0x82]] {
            #expect(h.post(Seed.openHook, body: body).status == 202)
        }
        let read = h.send("GET", "/api/v1/boards/\(Seed.acmeOps.id)/memory", headers: [("Authorization", "Bearer " + Seed.owner.token!)])
        #expect(read.status == 200)
        #expect(read.json?["total"] == .int(6))
    }

    @Test func absurdHeaderValues() {
        let h = Harnessed()
        let mega = String(repeating: "A", count: 1 << 20)
        let nul = "a\u{0}b\u{0}"
        let names = ["X-Agent-Token", "Authorization", "X-Request-Id", "X-Forwarded-For", "Forwarded", "Content-Length",
                     "X-Hub-Signature-256", "X-Webhook-Signature", "Content-Type", "User-Agent", "X-Custom-Signature"]
        for value in [mega, nul, "\u{7F}\u{1}", String(repeating: "\u{1F600}", count: 10_000), "Bearer " + mega] {
            let headers = names.map { ($0, value) }
            for (method, path) in [("GET", "/healthz"), ("GET", "/api/v1/agent/healthz"), ("GET", "/api/v1/agent/boards"),
                                   ("POST", Seed.ingestPath(Seed.signedHook)), ("POST", Seed.ingestPath(Seed.openHook)),
                                   ("GET", "/api/v1/gateways"), ("POST", "/api/v1/gateways/sessions/s/message?board_id=\(Seed.acmeOps.id)")] {
                let r = h.send(method, path, headers: headers, body: Array("{}".utf8))
                #expect(r.status >= 200 && r.status < 600)
                #expect(r.headers["X-Content-Type-Options"] == "nosniff")
                for line in h.service.log.lines { #expect(line.utf8.count < 1000, "log lines stay bounded") }
            }
        }
    }

    @Test func manyHeaders() {
        let h = Harnessed()
        let headers = (0..<10_000).map { ("X-H\($0)", "v\($0)") }
        #expect(h.post(Seed.openHook, headers: headers).status == 202)
        #expect(h.service.storedPayloads(boardID: Seed.acmeOps.id, webhookID: Seed.openHook.id).first?.headers.count == 10_000)
    }

    @Test func absurdTargets() {
        let h = Harnessed()
        let targets = [
            "/" + String(repeating: "a/", count: 100_000), "/api/v1/boards/" + String(repeating: "%", count: 10_000) + "/webhooks/x",
            "/api/v1/gateways/sessions/\u{0}/message?board_id=%ZZ&board_id=%00", "/api/v1/gateways/sessions/x/message?" + String(repeating: "&", count: 100_000),
            "/api/v1/boards/\u{1F600}/memory", "http://example.com/healthz", "?", "/?#", "/api/v1/gateways/%2e%2e",
            "/api/v1/gateways/sessions/x/message?board_id=" + String(repeating: "9", count: 100_000),
        ]
        for method in ["GET", "POST", "", "G\u{0}T", String(repeating: "X", count: 100_000)] {
            for target in targets {
                let r = h.send(method, target, headers: [("Authorization", "Bearer " + Seed.owner.token!)])
                #expect([400, 401, 403, 404, 405, 422].contains(r.status), "\(method.prefix(10)) \(target.prefix(60)) → \(r.status)")
                #expect(r.headers["X-Frame-Options"] == "DENY")
                #expect(r.json != nil)
            }
        }
    }

    @Test func validationErrorEchoesABoundedInput() {
        let long = String(repeating: "z", count: 100_000)
        let r = Harnessed().send("POST", Seed.ingestPath(long, Seed.openHook.id))
        #expect(r.status == 422)
        #expect(r.body.count < 2000)
    }

    @Test func missingPeerDoesNotTrap() {
        let h = Harnessed()
        #expect(h.post(Seed.openHook, peer: nil).status == 202)
        #expect(h.send("GET", "/api/v1/agent/healthz", peer: nil).status == 401)
        #expect(h.service.log.lines.last?.hasSuffix("client=unknown") == true)
    }
}

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

/// Seeded random requests assembled from the pieces the routes look at (valid and broken ids,
/// tokens, sizes, proxy headers, bodies): every one gets a well-formed answer.
@Suite struct RandomRequestTests {
    @Test func randomRequestsAlwaysGetAWellFormedResponse() {
        var rng = SplitMix64(seed: 0x5EED)
        func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }
        let h = Harnessed()
        let ids = [Seed.acmeOps.id, Seed.globexMain.id, Seed.openHook.id, Seed.signedHook.id, Seed.disabledHook.id,
                   Seed.customHook.id, Seed.acmeOps.id.uppercased(), "00000000-0000-4000-8000-000000000000", "x", "", "%", "..",
                   "\u{0}", String(repeating: "f", count: 32), String(repeating: "z", count: 5000), "\u{1F600}"]
        let words = ["api", "v1", "boards", "webhooks", "memory", "payloads", "agent", "healthz", "readyz", "gateways",
                     "sessions", "message", "__mcsec", "fault"]
        let tokens = [Seed.boardAgent.token!, Seed.mainAgent.token!, Seed.orphanAgent.token!, Seed.owner.token!,
                      Seed.member.token!, "wrong", "", " ", "\u{7F}", String(repeating: "t", count: 5000)]
        let headerValues: [() -> (String, String)] = [
            { ("X-Agent-Token", pick(tokens)) },
            { ("Authorization", pick(["Bearer ", "bearer ", "Basic ", ""]) + pick(tokens)) },
            { ("Content-Length", pick(["0", "16", "-1", "abc", "99999999999999999999", " 3 ", ""])) },
            { ("X-Hub-Signature-256", pick(["sha256=", "SHA256=", "", "  "]) + pick(["00", String(repeating: "a", count: 64), "zz"])) },
            { ("X-Webhook-Signature", pick(["sha256=00", ""])) },
            { ("X-Custom-Signature", pick(["sha256=00", " "])) },
            { ("Forwarded", pick(["for=192.0.2.1", "for=\"[2001:db8::1]:80\"", "for=unknown", "for=", "\"\"\"", "for=1.2.3.4:99999"])) },
            { ("X-Forwarded-For", pick(["192.0.2.9, 10.0.0.1", "garbage", "", "[::1]:1"])) },
            { ("X-Request-Id", pick(["abc", "", "a b", String(repeating: "r", count: 200)])) },
            { ("Content-Type", pick(["application/json", "text/plain", "\u{0}"])) },
        ]
        let bodies: [[UInt8]] = [[], Array("{}".utf8), Array("{\"content\":\"hi\"}".utf8), Array("NaN".utf8), [0xFF, 0xFE],
                                 Array(String(repeating: "[", count: 3000).utf8), [UInt8](repeating: 0x61, count: 70_000)]
        var c = Configuration.defaults
        c.testRoutes = true
        c.webhookMaxPayloadBytes = 64 << 10
        c.trustedProxies = (try? TrustedProxies.parse("10.0.0.0/8, ::1")) ?? .none
        let service = ReferenceService(configuration: c, world: Seed.world, time: h.clock)
        var seen = Set<Int>()
        let hooks = [Seed.openHook, Seed.signedHook, Seed.disabledHook, Seed.customHook, Seed.globexHook]
        for step in 0..<3000 {
            // Mostly real routes with real or broken ids, sometimes a path of random words.
            let hook = pick(hooks)
            let board = rng.next() % 4 == 0 ? pick(ids) : hook.boardID
            let webhook = rng.next() % 4 == 0 ? pick(ids) : hook.id
            let routes: [(String, String)] = [
                ("GET", "/healthz"), ("POST", "/api/v1/boards/\(board)/webhooks/\(webhook)"),
                ("POST", "/api/v1/boards/\(board)/webhooks/\(webhook)"), ("POST", "/api/v1/boards/\(board)/webhooks/\(webhook)"),
                ("GET", "/api/v1/boards/\(board)/webhooks/\(webhook)/payloads"), ("GET", "/api/v1/boards/\(board)/memory"),
                ("GET", "/api/v1/agent/healthz"), ("GET", "/api/v1/agent/boards"), ("GET", "/api/v1/gateways"),
                ("GET", "/api/v1/gateways/\(pick(ids))"), ("POST", "/api/v1/gateways/sessions/\(pick(ids))/message?board_id=\(board)"),
                ("GET", "/__mcsec/fault"),
                ("GET", "/" + (0..<(1 + Int(rng.next() % 6))).map { _ in rng.next() % 3 == 0 ? pick(ids) : pick(words) }.joined(separator: "/")),
            ]
            var (method, target) = pick(routes)
            if rng.next() % 8 == 0 { method = pick(["GET", "POST", "PUT", "DELETE", "HEAD", ""]) }
            let headers = (0..<Int(rng.next() % 6)).map { _ in pick(headerValues)() }
            let body = pick(bodies)
            // Mostly one client, so the limits are reached too.
            let peer = rng.next() % 2 == 0 ? "203.0.113.7" : pick(["10.0.0.1", "::1", "2001:db8::7", "", "not an address"] as [String?] + [nil])
            let request: HTTPRequest
            if rng.next() % 2 == 0 {
                request = HTTPRequest(method: method, target: target, headers: HTTPFields(headers), body: .bytes(body), peer: peer)
            } else {
                let half = body.count / 2
                request = HTTPRequest(method: method, target: target, headers: HTTPFields(headers),
                                      body: .stream(ChunkListStream([Array(body[..<half]), Array(body[half...])])), peer: peer)
            }
            let r = service.handle(request)
            guard r.status >= 200 && r.status < 600, r.headers["X-Content-Type-Options"] == "nosniff",
                  r.headers.values("X-Request-Id").count == 1, (try? JSONValue.parse(r.body)) != nil else {
                Issue.record("step \(step): \(method) \(target.prefix(80)) → \(r.status) \(r.bodyText.prefix(120))")
                return
            }
            seen.insert(r.status)
            if step % 1000 == 999 { h.clock.advance(by: 61) }
        }
        // The requests reach every outcome, not just the router's 404.
        let outcomes: Set<Int> = [200, 202, 401, 403, 404, 405, 410, 413, 422, 429, 500]
        #expect(outcomes.isSubset(of: seen), "missing: \(outcomes.subtracting(seen).sorted())")
    }
}

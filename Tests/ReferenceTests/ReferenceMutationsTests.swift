import Spec
import Testing
import Reference
import Wire

/// Each mutation breaks exactly its own rule: the probe for that rule fails on the mutated
/// service and every other probe still passes. This is what lets a suite prove it can fail.
@Suite struct ReferenceMutationsTests {
    static var configuration: Configuration {
        var c = Configuration.defaults
        c.testRoutes = true
        c.webhookMaxPayloadBytes = 20
        return c
    }

    /// A check of one rule: true when the service behaves as documented.
    struct Probe: Sendable, CustomStringConvertible {
        let name: String
        let breaksUnder: ReferenceMutations
        /// Broader mutations that contain this one's fault (trusting proxy headers from anyone
        /// trusts them from loopback too): they break the probe as well, by design.
        var alsoBrokenBy: ReferenceMutations = []
        let check: @Sendable (Harnessed) -> Bool
        var description: String { name }

        init(name: String, breaksUnder: ReferenceMutations, alsoBrokenBy: ReferenceMutations = [],
             check: @escaping @Sendable (Harnessed) -> Bool) {
            self.name = name
            self.breaksUnder = breaksUnder
            self.alsoBrokenBy = alsoBrokenBy
            self.check = check
        }
    }

    static let probes: [Probe] = [
        Probe(name: "headers on 5xx", breaksUnder: .noHeadersOn5xx, alsoBrokenBy: [.nosniffNotSent, .frameOptionsSameOrigin]) { h in
            let r = h.send("GET", "/__mcsec/fault")
            return r.status == 500 && r.headers["X-Content-Type-Options"] == "nosniff" && r.headers["X-Frame-Options"] == "DENY"
        },
        Probe(name: "limit is exact", breaksUnder: .limitOffByOne, alsoBrokenBy: [.ingestAnswers200, .ingestUsesAgentLimiter, .unsignedWebhookChecked]) { h in
            let statuses = (0..<61).map { _ in h.post(Seed.openHook, peer: "198.51.100.10").status }
            return statuses.prefix(60).allSatisfy { $0 == 202 } && statuses[60] == 429
        },
        Probe(name: "refused attempts recorded", breaksUnder: .blockedAttemptsNotRecorded) { h in
            for _ in 0..<70 { _ = h.post(Seed.openHook, peer: "198.51.100.11") }
            var stillClosed = true
            for _ in 0..<90 {
                h.clock.advance(by: 1)
                for _ in 0..<2 where h.post(Seed.openHook, peer: "198.51.100.11").status != 429 { stillClosed = false }
            }
            return stillClosed
        },
        Probe(name: "signature checked", breaksUnder: .skipSignatureCheck) { h in
            h.post(Seed.signedHook, headers: [("X-Hub-Signature-256", "sha256=00")]).status == 403 && h.post(Seed.signedHook).status == 403
        },
        Probe(name: "streamed size checked", breaksUnder: .sizeCheckedOnlyByContentLength,
              alsoBrokenBy: [.oversizeAnswered400, .payloadLimitNotConfigurable]) { h in
            h.send("POST", Seed.ingestPath(Seed.openHook), headers: [("Content-Length", "2")], chunks: [[UInt8](repeating: 0x61, count: 40)], peer: "198.51.100.12").status == 413
        },
        Probe(name: "proxy headers only from trusted peers", breaksUnder: .trustProxyHeadersFromAnyone) { h in
            for i in 0..<70 { _ = h.post(Seed.openHook, headers: [("X-Forwarded-For", "192.0.2.\(i)")], peer: "198.51.100.13") }
            return h.post(Seed.openHook, headers: [("X-Forwarded-For", "192.0.2.200")], peer: "198.51.100.13").status == 429
        },
        Probe(name: "token prefix only in logs", breaksUnder: .logWholeToken, alsoBrokenBy: .noTokenPrefixLogged) { h in
            let token = "agt-attacker-guess-0123456789"
            _ = h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", token)], peer: "198.51.100.14")
            return !h.service.log.lines.isEmpty && !h.service.log.lines.contains { $0.contains(token) }
                && h.service.log.lines.contains { $0.contains("token_prefix=agt-at ") }
        },
        Probe(name: "credentials not stored with payloads", breaksUnder: .storesEveryHeader,
              alsoBrokenBy: [.ingestAnswers200, .unsignedWebhookChecked]) { h in
            guard h.post(Seed.openHook, headers: [("Authorization", "Bearer secret"), ("X-Trace", "t1")], peer: "198.51.100.15").status == 202,
                  let stored = h.service.storedPayloads(boardID: Seed.acmeOps.id, webhookID: Seed.openHook.id).last else { return false }
            let names = stored.headers.map(\.name)
            return names.contains("x-trace") && !names.contains("authorization")
        },
        Probe(name: "a webhook's own signature header alone", breaksUnder: .signatureHeaderFallback,
              alsoBrokenBy: [.skipSignatureCheck, .ingestAnswers200, .plainSHA256NotHMAC]) { h in
            let body = Array(#"{"a":1}"#.utf8)
            let right = WebhookSignature.headerValue(secret: Seed.customHook.secret!, body: body)
            return h.post(Seed.customHook, body: body, headers: [("X-Hub-Signature-256", right)], peer: "198.51.100.16").status == 403
                && h.post(Seed.customHook, body: body, headers: [("X-Custom-Signature", right)], peer: "198.51.100.16").status == 202
        },
        Probe(name: "main agents scoped on reads by id", breaksUnder: .mainAgentUnscopedReads) { h in
            let token = [("X-Agent-Token", Seed.mainAgent.token!)]
            return h.send("GET", "/api/v1/agent/boards/\(Seed.globexMain.id)", headers: token, peer: "198.51.100.17").status == 403
                && h.send("GET", "/api/v1/agent/boards/\(Seed.acmeSales.id)", headers: token, peer: "198.51.100.17").status == 200
        },
        Probe(name: "proxy headers not believed from loopback", breaksUnder: .trustProxyHeadersFromLoopback,
              alsoBrokenBy: .trustProxyHeadersFromAnyone) { h in
            for i in 0..<70 { _ = h.post(Seed.openHook, headers: [("X-Forwarded-For", "192.0.2.\(i)")], peer: "127.0.0.1") }
            return h.post(Seed.openHook, headers: [("X-Forwarded-For", "192.0.2.201")], peer: "127.0.0.1").status == 429
        },
        // Security headers
        Probe(name: "nosniff by default", breaksUnder: .nosniffNotSent) { h in
            h.send("GET", "/healthz").headers["X-Content-Type-Options"] == "nosniff"
        },
        Probe(name: "X-Frame-Options DENY by default", breaksUnder: .frameOptionsSameOrigin) { h in
            h.send("GET", "/healthz").headers["X-Frame-Options"] == "DENY"
        },
        Probe(name: "Referrer-Policy by default", breaksUnder: .referrerPolicyDowngrade) { h in
            h.send("GET", "/healthz").headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        },
        Probe(name: "no Permissions-Policy by default", breaksUnder: .permissionsPolicyByDefault) { h in
            h.send("GET", "/healthz").headers["Permissions-Policy"] == nil
        },
        Probe(name: "a blank header variable disables the header", breaksUnder: .blankHeaderNotDisabling) { h in
            var c = configuration
            c.securityHeaders.referrerPolicy = nil
            return h.with(c).send("GET", "/healthz").headers["Referrer-Policy"] == nil
        },
        // Rate limiting
        Probe(name: "webhook ingest has its own limiter", breaksUnder: .ingestUsesAgentLimiter) { h in
            for _ in 0..<22 { _ = h.send("GET", "/api/v1/agent/healthz", headers: agentToken, peer: "198.51.100.20") }
            return h.post(Seed.openHook, peer: "198.51.100.20").status != 429
        },
        Probe(name: "429 says Too Many Requests", breaksUnder: .rateLimitDetailChanged) { h in
            let last = (0..<70).map { _ in h.post(Seed.openHook, peer: "198.51.100.21") }.last!
            return last.status == 429 && last.detail == "Too Many Requests"
        },
        Probe(name: "failed user authentication not limited", breaksUnder: .userAuthFailuresLimited) { h in
            (0..<30).allSatisfy { i in
                h.send("GET", "/api/v1/gateways", headers: [("Authorization", "Bearer not-a-user-\(i)")], peer: "198.51.100.22").status == 401
            }
        },
        Probe(name: "invalid agent tokens count", breaksUnder: .invalidTokensNotCounted) { h in
            for i in 0..<25 { _ = h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", "wrong-\(i)")], peer: "198.51.100.23") }
            return h.send("GET", "/api/v1/agent/healthz", headers: agentToken, peer: "198.51.100.23").status == 429
        },
        Probe(name: "clients behind a trusted proxy are told apart", breaksUnder: .trustedProxiesIgnored) { h in
            let t = h.with(trustedLoopback)
            return (0..<70).allSatisfy { i in t.post(Seed.openHook, headers: [("X-Forwarded-For", "192.0.2.\(i)")], peer: "127.0.0.1").status != 429 }
        },
        Probe(name: "the leftmost X-Forwarded-For entry", breaksUnder: .rightmostForwardedFor) { h in
            let t = h.with(trustedLoopback)
            let statuses = (0..<70).map { i in t.post(Seed.openHook, headers: [("X-Forwarded-For", "192.0.2.1, 10.0.0.\(i)")], peer: "127.0.0.1").status }
            return statuses.last == 429
        },
        Probe(name: "user reads of board memory not counted", breaksUnder: .userReadsCounted) { h in
            (0..<30).allSatisfy { _ in
                h.send("GET", "/api/v1/boards/\(Seed.acmeOps.id)/memory", headers: [("Authorization", "Bearer \(Seed.admin.token!)")], peer: "198.51.100.24").status == 200
            }
        },
        Probe(name: "limiter fails open", breaksUnder: .limiterFailsClosed) { h in
            let failing = Harnessed(configuration: configuration, mutations: h.service.mutations, store: FailingStore())
            return failing.post(Seed.openHook, peer: "198.51.100.25").status != 429
        },
        // Signatures
        Probe(name: "no secret, no check", breaksUnder: .unsignedWebhookChecked) { h in
            h.post(Seed.openHook, peer: "198.51.100.26").status != 403
        },
        Probe(name: "X-Hub-Signature-256 read", breaksUnder: .hubHeaderIgnored, alsoBrokenBy: .plainSHA256NotHMAC) { h in
            h.post(Seed.signedHook, signHeader: "X-Hub-Signature-256", peer: "198.51.100.27").status != 403
        },
        Probe(name: "X-Webhook-Signature read", breaksUnder: .webhookSignatureHeaderIgnored, alsoBrokenBy: .plainSHA256NotHMAC) { h in
            h.post(Seed.signedHook, signHeader: "X-Webhook-Signature", peer: "198.51.100.28").status != 403
        },
        Probe(name: "HMAC, not a plain hash", breaksUnder: .plainSHA256NotHMAC, alsoBrokenBy: .skipSignatureCheck) { h in
            let body = Array(#"{"event":"ping"}"#.utf8)
            let plain = "sha256=" + Hex.encode(SHA256.hash(Array(Seed.signedHook.secret!.utf8) + body))
            return h.post(Seed.signedHook, body: body, headers: [("X-Hub-Signature-256", plain)], peer: "198.51.100.29").status == 403
        },
        Probe(name: "a wrong X-Hub-Signature-256 is not rescued", breaksUnder: .anySignatureHeaderAccepted,
              alsoBrokenBy: [.skipSignatureCheck, .hubHeaderIgnored]) { h in
            let body = Array(#"{"event":"ping"}"#.utf8)
            return h.post(Seed.signedHook, body: body, headers: [("X-Hub-Signature-256", "sha256=" + String(repeating: "0", count: 64)),
                                                                 ("X-Webhook-Signature", WebhookSignature.headerValue(secret: Seed.signedHook.secret!, body: body))],
                          peer: "198.51.100.30").status == 403
        },
        Probe(name: "prefix and hex in any case", breaksUnder: .signatureHexCaseSensitive, alsoBrokenBy: [.plainSHA256NotHMAC, .hubHeaderIgnored]) { h in
            let body = Array(#"{"event":"ping"}"#.utf8)
            let value = "SHA256=" + WebhookSignature.expectedHex(secret: Seed.signedHook.secret!, body: body).uppercased()
            return h.post(Seed.signedHook, body: body, headers: [("X-Hub-Signature-256", value)], peer: "198.51.100.31").status != 403
        },
        // Payload size (the probes' limit is 20 bytes)
        Probe(name: "the configured payload limit", breaksUnder: .payloadLimitNotConfigurable) { h in
            h.send("POST", Seed.ingestPath(Seed.openHook), headers: [("Content-Length", "40")], body: Array(repeating: 0x61, count: 40), peer: "198.51.100.32").status >= 400
        },
        Probe(name: "over the limit is 413", breaksUnder: .oversizeAnswered400, alsoBrokenBy: .payloadLimitNotConfigurable) { h in
            h.send("POST", Seed.ingestPath(Seed.openHook), headers: [("Content-Length", "21")], body: Array(repeating: 0x61, count: 21), peer: "198.51.100.33").status == 413
        },
        Probe(name: "the 413 detail names the limit", breaksUnder: .sizeDetailWithoutByteCount, alsoBrokenBy: .payloadLimitNotConfigurable) { h in
            h.send("POST", Seed.ingestPath(Seed.openHook), headers: [("Content-Length", "21")], body: Array(repeating: 0x61, count: 21), peer: "198.51.100.34").detail
                == "Payload exceeds maximum size of 20 bytes."
        },
        Probe(name: "exactly the limit accepted", breaksUnder: .exactlyTheLimitRefused) { h in
            let status = h.send("POST", Seed.ingestPath(Seed.openHook), headers: [("Content-Length", "20")], body: Array(repeating: 0x61, count: 20), peer: "198.51.100.35").status
            return status != 413 && status != 400
        },
        // Gateway tokens
        Probe(name: "raw phase returns the token", breaksUnder: .gatewayTokenDropped) { h in
            h.send("GET", "/api/v1/gateways/\(acmeGateway)", headers: adminBearer).json?["token"] != nil
        },
        Probe(name: "redacted phase returns has_token alone", breaksUnder: .tokenAndHasToken) { h in
            var c = configuration
            c.gatewayTokenExposure = .redacted
            let json = h.with(c).send("GET", "/api/v1/gateways/\(acmeGateway)", headers: adminBearer).json
            return json?["has_token"] != nil && json?["token"] == nil
        },
        Probe(name: "another organization's gateway is not found", breaksUnder: .gatewayReadAnyOrganization) { h in
            let other = Seed.world.gateways.first { $0.organizationID == Seed.globex.id }!.id
            return h.send("GET", "/api/v1/gateways/\(other)", headers: adminBearer).status == 404
        },
        // Prompt injection, token logging
        Probe(name: "payloads wrapped in board memory", breaksUnder: .payloadNotWrapped, alsoBrokenBy: .unsignedWebhookChecked) { h in
            _ = h.post(Seed.openHook, peer: "198.51.100.36")
            return h.service.memoryEntries(boardID: Seed.acmeOps.id).last?.content.contains(ExternalDataBoundary.beginLine) == true
        },
        Probe(name: "the token prefix is logged", breaksUnder: .noTokenPrefixLogged) { h in
            _ = h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", "agt-attacker-guess-0123456789")], peer: "198.51.100.37")
            return h.service.log.lines.contains { $0.contains("token_prefix=agt-at") }
        },
        Probe(name: "a valid token is never logged", breaksUnder: .validTokenLogged) { h in
            _ = h.send("GET", "/api/v1/agent/healthz", headers: agentToken, peer: "198.51.100.38")
            return !h.service.log.lines.contains { $0.contains(Seed.boardAgent.token!) }
        },
        // Tenancy, session messages
        Probe(name: "board agents scoped on reads by id", breaksUnder: .boardAgentUnscopedReads) { h in
            h.send("GET", "/api/v1/agent/boards/\(Seed.globexMain.id)", headers: agentToken, peer: "198.51.100.39").status == 403
        },
        Probe(name: "an orphan main agent is refused", breaksUnder: .orphanAgentSeesEveryBoard) { h in
            h.send("GET", "/api/v1/agent/boards", headers: [("X-Agent-Token", Seed.orphanAgent.token!)], peer: "198.51.100.40").status == 403
        },
        Probe(name: "session messages need an admin", breaksUnder: .sessionMessageAnyMember) { h in
            h.send("POST", "/api/v1/gateways/sessions/s1/message?board_id=\(Seed.acmeOps.id)",
                   headers: [("Authorization", "Bearer \(Seed.member.token!)")]).status == 403
        },
        Probe(name: "session messages stay in the organization", breaksUnder: .sessionMessageAnyOrganization) { h in
            h.send("POST", "/api/v1/gateways/sessions/s1/message?board_id=\(Seed.globexMain.id)", headers: adminBearer).status == 403
        },
        // Errors and framework behaviour
        Probe(name: "errors carry request_id", breaksUnder: .errorWithoutRequestID) { h in
            h.send("GET", "/api/v1/no-such-route").json?["request_id"] != nil
        },
        Probe(name: "a client's request id is echoed", breaksUnder: .requestIDNotEchoed) { h in
            h.send("GET", "/healthz", headers: [("X-Request-Id", "probe-request-1")]).headers["X-Request-Id"] == "probe-request-1"
        },
        Probe(name: "upper-case UUIDs accepted", breaksUnder: .upperCaseUUIDRefused) { h in
            h.send("GET", "/api/v1/agent/boards/\(Seed.acmeOps.id.uppercased())", headers: agentToken, peer: "198.51.100.41").status == 200
        },
        Probe(name: "a board id that is not a UUID is 422", breaksUnder: .nonUUIDIDNotFound) { h in
            h.send("POST", Seed.ingestPath("not-a-uuid", Seed.openHook.id), body: Array("{}".utf8), peer: "198.51.100.42").status == 422
        },
        Probe(name: "trailing slash redirected", breaksUnder: .trailingSlash404) { h in
            h.send("GET", "/api/v1/agent/healthz/").status == 307
        },
        Probe(name: "user routes 401 first", breaksUnder: .userRoutes404Before401) { h in
            h.send("GET", "/api/v1/boards/b0000000-0000-4000-8000-00000000ffff").status == 401
        },
        // Agent authentication
        Probe(name: "agent healthz names the agent", breaksUnder: .agentHealthzMinimal) { h in
            h.send("GET", "/api/v1/agent/healthz", headers: agentToken, peer: "198.51.100.43").json?["agent_id"] != nil
        },
        Probe(name: "X-Agent-Token before Bearer", breaksUnder: .bearerBeforeXAgentToken) { h in
            h.send("GET", "/api/v1/agent/healthz", headers: agentToken + [("Authorization", "Bearer unknown-0123456789")], peer: "198.51.100.44").status == 200
        },
        Probe(name: "an unknown agent token is 401", breaksUnder: .unknownToken403) { h in
            h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", "unknown-0123456789")], peer: "198.51.100.45").status == 401
        },
        // Webhook ingest
        Probe(name: "unknown board before the limiter", breaksUnder: .limitBeforeBoard) { h in
            for _ in 0..<70 { _ = h.post(Seed.openHook, peer: "198.51.100.46") }
            return h.send("POST", Seed.ingestPath("b0000000-0000-4000-8000-00000000ffff", Seed.openHook.id), body: Array("{}".utf8), peer: "198.51.100.46").status == 404
        },
        Probe(name: "a webhook only on its own board", breaksUnder: .otherBoardsWebhookAccepted) { h in
            h.send("POST", Seed.ingestPath(Seed.acmeOps.id, Seed.globexHook.id), body: Array("{}".utf8), peer: "198.51.100.47").status == 404
        },
        Probe(name: "a disabled webhook is 410", breaksUnder: .disabledWebhookAccepted) { h in
            h.post(Seed.disabledHook, peer: "198.51.100.48").status == 410
        },
        Probe(name: "accepted is 202", breaksUnder: .ingestAnswers200, alsoBrokenBy: .unsignedWebhookChecked) { h in
            h.post(Seed.openHook, peer: "198.51.100.49").status == 202
        },
        Probe(name: "an empty body is stored as {}", breaksUnder: .emptyBodyStoredAsText, alsoBrokenBy: .unsignedWebhookChecked) { h in
            _ = h.post(Seed.openHook, body: [], peer: "198.51.100.50")
            return h.service.storedPayloads(boardID: Seed.acmeOps.id, webhookID: Seed.openHook.id).last?.body == .json(.object([]))
        },
        Probe(name: "webhook management needs a user", breaksUnder: .webhookGetUnauthenticated) { h in
            h.send("GET", Seed.ingestPath(Seed.openHook)).status == 401
        },
        // The stall itself needs a real Redis (LiveRedisFaultTests); here the wait it decides.
        Probe(name: "a short wait for Redis", breaksUnder: .redisWaitsOnStall) { h in
            ReferenceMutations.redisTimeout(configured: 0.05, mutations: h.service.mutations) <= 0.05
        },
    ]

    static let agentToken = [("X-Agent-Token", Seed.boardAgent.token!)]
    static var adminBearer: [(String, String)] { [("Authorization", "Bearer \(Seed.admin.token!)")] }
    static var acmeGateway: String { Seed.world.gateways.first { $0.organizationID == Seed.acme.id }!.id }
    static var trustedLoopback: Configuration {
        var c = configuration
        c.trustedProxies = TrustedProxies.parseLeniently("127.0.0.0/8")
        return c
    }

    @Test(arguments: probes)
    func theRealReferencePassesEveryProbe(probe: Probe) {
        #expect(probe.check(Harnessed(configuration: Self.configuration)))
    }

    @Test(arguments: ReferenceMutations.named.map(\.mutation))
    func eachMutationBreaksExactlyItsOwnRule(mutation: ReferenceMutations) {
        #expect(Self.probes.contains { $0.breaksUnder == mutation }, "every mutation has a probe")
        for probe in Self.probes {
            let passed = probe.check(Harnessed(configuration: Self.configuration, mutations: mutation))
            if probe.breaksUnder == mutation || probe.alsoBrokenBy.contains(mutation) {
                #expect(!passed, "\(mutation) should break '\(probe.name)'")
            } else {
                #expect(passed, "\(mutation) should leave '\(probe.name)' intact")
            }
        }
    }

    @Test func limitOffByOneAppliesToAgentAuthToo() {
        let h = Harnessed(mutations: .limitOffByOne)
        let statuses = (0..<22).map { _ in h.send("GET", "/api/v1/agent/healthz").status }
        #expect(statuses.filter { $0 == 401 }.count == 21)
        #expect(statuses.last == 429)
    }

    @Test func namesRoundTrip() {
        for (name, mutation, _) in ReferenceMutations.named {
            #expect(ReferenceMutations(name: name) == mutation)
            #expect(mutation.description == name)
        }
        #expect(ReferenceMutations(name: "nope") == nil)
        #expect(ReferenceMutations().description == "none")
        #expect(ReferenceMutations([.logWholeToken, .noHeadersOn5xx]).description == "no-headers-on-5xx,log-whole-token")
    }
}

/// A limiter store that fails every call, as an unreachable Redis does.
struct FailingStore: RateLimitStore {
    struct Down: Error {}
    func record(policy: RateLimitPolicy, client: String, now: Double) throws -> Bool { throw Down() }
}

extension Harnessed {
    /// A fresh service with the same mutations and another configuration.
    func with(_ configuration: Configuration) -> Harnessed {
        Harnessed(configuration: configuration, mutations: service.mutations)
    }
}

@Suite struct WorldTests {
    @Test func bundledWorldHasEveryEntityTheSuitesNeed() {
        let w = Seed.world
        #expect(w.organizations.count >= 2)
        #expect(Set(w.gateways.map(\.organizationID)) == Set(w.organizations.map(\.id)))
        #expect(w.webhooks.contains { $0.secret == nil && $0.enabled })
        #expect(w.webhooks.contains { $0.secret != nil && $0.signatureHeader == nil && $0.enabled })
        #expect(w.webhooks.contains { !$0.enabled })
        #expect(w.webhooks.contains { $0.secret != nil && $0.signatureHeader != nil })
        #expect(w.agents.contains { $0.boardID != nil })
        #expect(w.agents.contains { a in a.boardID == nil && w.gateways.contains { $0.id == a.gatewayID } })
        #expect(w.agents.contains { a in a.boardID == nil && !w.gateways.contains { $0.id == a.gatewayID } })
        #expect(w.users.contains { $0.memberships.first.map { Tenancy.adminRoles.contains($0.role) } == true })
        #expect(w.users.contains { $0.memberships.first?.role == "member" })
        #expect(Set(w.boards.map(\.organizationID)).count >= 2)
    }

    func decode(_ json: String) -> String? {
        do {
            _ = try World.decode(Data(json.utf8), file: "test.json")
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func validationNamesTheProblem() {
        let org = #"{"id":"0a000000-0000-4000-8000-000000000001","name":"o"}"#
        #expect(decode("{}")?.contains("missing \"organizations\"") == true)
        #expect(decode("not json")?.contains("test.json") == true)
        #expect(decode(#"{"organizations":[{"id":"x","name":"o"}],"gateways":[],"boards":[],"webhooks":[],"agents":[],"users":[]}"#)?.contains("not a lower-case hyphenated UUID") == true)
        #expect(decode(#"{"organizations":[\#(org),\#(org)],"gateways":[],"boards":[],"webhooks":[],"agents":[],"users":[]}"#)?.contains("appears twice") == true)
        #expect(decode(#"{"organizations":[\#(org)],"gateways":[],"boards":[{"id":"b0000000-0000-4000-8000-000000000001","organization_id":"0a000000-0000-4000-8000-000000000009","name":"b"}],"webhooks":[],"agents":[],"users":[]}"#)?.contains("unknown organization") == true)
        #expect(decode(#"{"organizations":[\#(org)],"gateways":[],"boards":[],"webhooks":[],"agents":[],"users":[{"id":"u","name":"u","token":"t","memberships":[{"organization_id":"0a000000-0000-4000-8000-000000000001","role":"root"}]}]}"#)?.contains("role 'root'") == true)
        #expect(decode(#"{"organizations":[\#(org)],"gateways":[],"boards":[],"webhooks":[],"agents":[],"users":[{"id":"u","name":"u","memberships":[]}]}"#)?.contains("neither token") == true)
    }

    @Test func loadingAMissingFileSaysWhatToDo() {
        do {
            _ = try World.load(from: URL(fileURLWithPath: "/nonexistent/world.json"))
            Issue.record("loaded")
        } catch {
            #expect("\(error)".contains("MCSEC_FIXTURES"))
        }
    }

    @Test func uuidText() {
        #expect(UUIDText.canonical("B0000000-0000-4000-8000-00000000A001") == "b0000000-0000-4000-8000-00000000a001")
        #expect(UUIDText.canonical("b00000000000400080000000000a0001") == "b0000000-0000-4000-8000-00000a0001".replacingOccurrences(of: "00000a0001", with: "0000000a0001"))
        #expect(UUIDText.canonical("b0000000-0000-4000-8000-00000000a00g") == nil)
        #expect(UUIDText.canonical("b0000000_0000-4000-8000-00000000a001") == nil)
        #expect(UUIDText.canonical("") == nil)
        #expect(UUIDText.canonical("b0000000-0000-4000-8000-00000000a001") == "b0000000-0000-4000-8000-00000000a001")
        #expect(UUIDText.canonical("{b0000000-0000-4000-8000-00000000A001}") == "b0000000-0000-4000-8000-00000000a001")
        #expect(UUIDText.canonical("b0000000-0000-4000-8000-00000000a0011") == nil)
        #expect(UUIDText.canonical("b0000000-0000-4000-8000-00000000a00-") == nil)
    }
}

import Foundation

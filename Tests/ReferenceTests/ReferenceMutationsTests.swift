import Testing
import Reference
import Wire

/// Each mutation breaks exactly its own rule: the probe for that rule fails on the mutated
/// service and every other probe still passes. This is what lets a suite prove it can fail.
@Suite struct ReferenceMutationsTests {
    static var configuration: Configuration {
        var c = Configuration.defaults
        c.testRoutes = true
        c.webhookMaxPayloadBytes = 16
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
        Probe(name: "headers on 5xx", breaksUnder: .noHeadersOn5xx) { h in
            let r = h.send("GET", "/__mcsec/fault")
            return r.status == 500 && r.headers["X-Content-Type-Options"] == "nosniff" && r.headers["X-Frame-Options"] == "DENY"
        },
        Probe(name: "limit is exact", breaksUnder: .limitOffByOne) { h in
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
        Probe(name: "streamed size checked", breaksUnder: .sizeCheckedOnlyByContentLength) { h in
            h.send("POST", Seed.ingestPath(Seed.openHook), headers: [("Content-Length", "2")], chunks: [[UInt8](repeating: 0x61, count: 40)], peer: "198.51.100.12").status == 413
        },
        Probe(name: "proxy headers only from trusted peers", breaksUnder: .trustProxyHeadersFromAnyone) { h in
            for i in 0..<70 { _ = h.post(Seed.openHook, headers: [("X-Forwarded-For", "192.0.2.\(i)")], peer: "198.51.100.13") }
            return h.post(Seed.openHook, headers: [("X-Forwarded-For", "192.0.2.200")], peer: "198.51.100.13").status == 429
        },
        Probe(name: "token prefix only in logs", breaksUnder: .logWholeToken) { h in
            let token = "agt-attacker-guess-0123456789"
            _ = h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", token)], peer: "198.51.100.14")
            return !h.service.log.lines.isEmpty && !h.service.log.lines.contains { $0.contains(token) }
                && h.service.log.lines.contains { $0.contains("token_prefix=agt-at ") }
        },
        Probe(name: "credentials not stored with payloads", breaksUnder: .storesEveryHeader) { h in
            guard h.post(Seed.openHook, headers: [("Authorization", "Bearer secret"), ("X-Trace", "t1")], peer: "198.51.100.15").status == 202,
                  let stored = h.service.storedPayloads(boardID: Seed.acmeOps.id, webhookID: Seed.openHook.id).last else { return false }
            let names = stored.headers.map(\.name)
            return names.contains("x-trace") && !names.contains("authorization")
        },
        Probe(name: "a webhook's own signature header alone", breaksUnder: .signatureHeaderFallback, alsoBrokenBy: .skipSignatureCheck) { h in
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
    ]

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
    }
}

import Foundation

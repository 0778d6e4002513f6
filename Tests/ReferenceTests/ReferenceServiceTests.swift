import Foundation
import Spec
import Testing
import Reference
import Wire

@Suite struct ReferenceServiceTests {
    @Test func bundledWorldLoads() throws {
        let world = try World.bundled()
        #expect(world.organizations.count >= 2)
        #expect(world.boards.contains { $0.organizationID == Seed.acme.id })
        #expect(world.boards.contains { $0.organizationID == Seed.globex.id })
    }

    @Test func healthAnswersOK() {
        let h = Harnessed()
        for path in ["/healthz", "/readyz"] {
            let r = h.send("GET", path)
            #expect(r.status == 200)
            #expect(r.bodyText == #"{"ok":true}"#)
            #expect(r.headers["X-Request-Id"]?.isEmpty == false)
            #expect(r.headers["X-Content-Type-Options"] == "nosniff")
        }
    }

    @Test func openWebhookAcceptsAndStores() {
        let h = Harnessed()
        let r = h.post(Seed.openHook)
        #expect(r.status == 202)
        #expect(r.json?["ok"] == .bool(true))
        let stored = h.service.storedPayloads(boardID: Seed.acmeOps.id, webhookID: Seed.openHook.id)
        #expect(stored.count == 1)
        #expect(stored.first?.id == r.json?["payload_id"]?.stringValue)
    }
}

/// The service is one value shared by every connection thread: concurrent requests must be
/// limited and stored exactly as sequential ones are.
@Suite struct ConcurrentServiceTests {
    @Test func concurrentIngestFromOneAddressAdmitsExactlyTheLimitAndLosesNothing() async {
        let h = Harnessed()
        let statuses = await withTaskGroup(of: [(Int, String?)].self) { group in
            for task in 0..<8 {
                group.addTask {
                    (0..<20).map { i in
                        let r = h.post(Seed.openHook, body: Array("{\"task\":\(task),\"i\":\(i)}".utf8))
                        return (r.status, r.json?["payload_id"]?.stringValue)
                    }
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        let accepted = statuses.filter { $0.0 == 202 }
        #expect(accepted.count == RateLimitPolicy.webhookIngest.maxRequests)
        #expect(statuses.filter { $0.0 == 429 }.count == 160 - RateLimitPolicy.webhookIngest.maxRequests)
        let stored = h.service.storedPayloads(boardID: Seed.acmeOps.id, webhookID: Seed.openHook.id)
        #expect(Set(stored.map(\.id)) == Set(accepted.compactMap(\.1)))
        #expect(stored.count == accepted.count)
        #expect(h.service.memoryEntries(boardID: Seed.acmeOps.id).count == accepted.count)
    }

    @Test func concurrentAgentAuthenticationAdmitsExactlyTheLimit() async {
        let h = Harnessed()
        let token = Seed.boardAgent.token!
        let statuses = await withTaskGroup(of: [Int].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    (0..<10).map { _ in h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", token)]).status }
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(statuses.filter { $0 == 200 }.count == RateLimitPolicy.agentAuth.maxRequests)
        #expect(statuses.filter { $0 == 429 }.count == 80 - RateLimitPolicy.agentAuth.maxRequests)
    }
}

import Foundation
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

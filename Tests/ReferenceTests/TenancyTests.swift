import Testing
import Reference
import Wire

@Suite struct TenancyTests {
    func boards(_ agent: World.Agent, _ h: Harnessed = Harnessed()) -> HTTPResponse {
        h.send("GET", "/api/v1/agent/boards", headers: [("X-Agent-Token", agent.token!)])
    }

    func ids(_ r: HTTPResponse) -> [String] {
        (r.json?["items"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
    }

    @Test func boardAgentSeesOnlyItsBoard() {
        let r = boards(Seed.boardAgent)
        #expect(r.status == 200)
        #expect(ids(r) == [Seed.acmeOps.id])
        #expect(r.json?["total"] == .int(1))
    }

    @Test func mainAgentSeesItsGatewaysOrganizationOnly() {
        let acme = boards(Seed.mainAgent)
        #expect(Set(ids(acme)) == [Seed.acmeOps.id, Seed.acmeSales.id])
        #expect(!ids(acme).contains(Seed.globexMain.id))
        #expect(ids(boards(Seed.globexAgent)) == [Seed.globexMain.id])
    }

    @Test func mainAgentWhoseGatewayIsMissingIs403() {
        let r = boards(Seed.orphanAgent)
        #expect(r.status == 403)
        #expect(r.detail == "Agent gateway not found; cannot determine organization scope.")
    }

    @Test func pureRule() {
        let world = Seed.world
        if case .success(let b) = Tenancy.boardsVisible(to: Seed.mainAgent, in: world) {
            #expect(b.allSatisfy { $0.organizationID == Seed.acme.id })
        } else { Issue.record("expected boards") }
        #expect(Tenancy.boardsVisible(to: Seed.orphanAgent, in: world) == .failure(Tenancy.Denial(status: 403, detail: Tenancy.gatewayNotFoundDetail)))
    }

    func message(_ user: World.User?, board: String?, body: [UInt8] = Array(#"{"content":"hi"}"#.utf8), h: Harnessed = Harnessed()) -> HTTPResponse {
        var target = "/api/v1/gateways/sessions/agent:main:main/message"
        if let board { target += "?board_id=\(board)" }
        let headers = user.map { [("Authorization", "Bearer " + $0.token!)] } ?? []
        return h.send("POST", target, headers: headers, body: body)
    }

    @Test func sessionMessageByAnOrganizationAdmin() {
        let h = Harnessed()
        for user in [Seed.owner, Seed.admin] {
            let r = message(user, board: Seed.acmeOps.id, h: h)
            #expect(r.status == 200)
            #expect(r.json == .object([("ok", .bool(true))]))
        }
        #expect(h.service.sessionMessages().count == 2)
        #expect(h.service.sessionMessages().first?.content == "hi")
        #expect(h.service.sessionMessages().first?.sessionID == "agent:main:main")
    }

    @Test func sessionMessageByAPlainMemberIs403() {
        let r = message(Seed.member, board: Seed.acmeOps.id)
        #expect(r.status == 403)
        #expect(r.detail == Tenancy.adminRequiredDetail)
    }

    @Test func sessionMessageAboutAnotherOrganizationsBoardIs403EvenForAnAdmin() {
        let h = Harnessed()
        let r = message(Seed.owner, board: Seed.globexMain.id, h: h)
        #expect(r.status == 403)
        #expect(r.detail == Tenancy.otherOrganizationDetail)
        #expect(message(Seed.globexAdmin, board: Seed.acmeOps.id, h: h).status == 403)
        #expect(message(Seed.globexAdmin, board: Seed.globexMain.id, h: h).status == 200)
        #expect(h.service.sessionMessages().count == 1)
    }

    @Test func sessionMessageEdgeCases() {
        #expect(message(nil, board: Seed.acmeOps.id).status == 401)
        let missing = message(Seed.owner, board: nil)
        #expect(missing.status == 422)
        #expect(missing.json?["detail"]?.arrayValue?.first?["loc"] == .array([.string("query"), .string("board_id")]))
        #expect(message(Seed.owner, board: "nope").status == 422)
        #expect(message(Seed.owner, board: "00000000-0000-4000-8000-000000000000").status == 404)
        // The non-admin is refused before their parameters are looked at.
        #expect(message(Seed.member, board: "nope").status == 403)
        #expect(message(Seed.owner, board: Seed.acmeOps.id, body: []).status == 200)
        #expect(message(Seed.owner, board: Seed.acmeOps.id, body: [0xFF, 0x00]).status == 200)
    }
}

@Suite struct GatewayTokenExposureTests {
    func get(_ path: String, _ user: World.User, phase: GatewayTokenExposure.Phase) -> HTTPResponse {
        var c = Configuration.defaults
        c.gatewayTokenExposure = phase
        return Harnessed(configuration: c).send("GET", path, headers: [("Authorization", "Bearer " + user.token!)])
    }

    var acmeGateway: World.Gateway { Seed.world.gateway(named: "acme-gateway")! }
    var globexGateway: World.Gateway { Seed.world.gateway(named: "globex-gateway")! }

    @Test func rawPhaseReturnsTheToken() {
        let list = get("/api/v1/gateways", Seed.member, phase: .raw)
        #expect(list.status == 200)
        let items = list.json?["items"]?.arrayValue ?? []
        #expect(items.count == 1)
        #expect(items.first?["token"]?.stringValue == acmeGateway.token)
        #expect(items.first?["has_token"] == nil)
        #expect(items.first.map(GatewayTokenExposure.observe) == .phase(.raw))
        let one = get("/api/v1/gateways/\(acmeGateway.id)", Seed.member, phase: .raw)
        #expect(one.json?["token"]?.stringValue == acmeGateway.token)
    }

    @Test func redactedPhaseReturnsHasTokenAndNeverTheToken() {
        for path in ["/api/v1/gateways", "/api/v1/gateways/\(acmeGateway.id)"] {
            let r = get(path, Seed.member, phase: .redacted)
            #expect(r.status == 200)
            #expect(!r.bodyText.contains(acmeGateway.token!))
            let gateway = r.json?["items"]?.arrayValue?.first ?? r.json
            #expect(gateway?["has_token"] == .bool(true))
            #expect(gateway.map(GatewayTokenExposure.observe) == .phase(.redacted))
        }
    }

    @Test func gatewaysAreOrganizationScoped() {
        let list = get("/api/v1/gateways", Seed.globexAdmin, phase: .raw)
        #expect(list.json?["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [globexGateway.id])
        #expect(get("/api/v1/gateways/\(acmeGateway.id)", Seed.globexAdmin, phase: .raw).status == 404)
        #expect(get("/api/v1/gateways/not-a-uuid", Seed.globexAdmin, phase: .raw).status == 422)
        #expect(Harnessed().send("GET", "/api/v1/gateways").status == 401)
    }

    @Test func observationClassifiesEveryShape() {
        #expect(GatewayTokenExposure.observe(.object([("token", .string("t"))])) == .phase(.raw))
        #expect(GatewayTokenExposure.observe(.object([("has_token", .bool(false))])) == .phase(.redacted))
        #expect(GatewayTokenExposure.observe(.object([("token", .string("t")), ("has_token", .bool(true))])) == .both)
        #expect(GatewayTokenExposure.observe(.object([("id", .string("g"))])) == .neither)
    }
}

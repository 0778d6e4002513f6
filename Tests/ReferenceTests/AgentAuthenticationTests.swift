import Testing
import Reference
import Wire

@Suite struct AgentAuthenticationTests {
    func token(_ agent: World.Agent) -> String { agent.token! }

    @Test func tokenFromXAgentTokenElseBearerInAnyCase() {
        #expect(AgentAuthentication.presentedToken(HTTPFields([("X-Agent-Token", " abc ")])) == "abc")
        #expect(AgentAuthentication.presentedToken(HTTPFields([("Authorization", "Bearer abc")])) == "abc")
        #expect(AgentAuthentication.presentedToken(HTTPFields([("authorization", "bEaReR   abc  ")])) == "abc")
        #expect(AgentAuthentication.presentedToken(HTTPFields([("X-Agent-Token", "one"), ("Authorization", "Bearer two")])) == "one")
        #expect(AgentAuthentication.presentedToken(HTTPFields([("X-Agent-Token", " "), ("Authorization", "Bearer two")])) == "two")
        #expect(AgentAuthentication.presentedToken(HTTPFields([("Authorization", "Basic abc")])) == nil)
        #expect(AgentAuthentication.presentedToken(HTTPFields([("Authorization", "Bearer ")])) == nil)
        #expect(AgentAuthentication.presentedToken(HTTPFields([("Authorization", "Bearerabc")])) == nil)
        #expect(AgentAuthentication.presentedToken(HTTPFields()) == nil)
    }

    @Test(arguments: ["X-Agent-Token", "Authorization"])
    func healthReportsTheAgent(header: String) {
        let h = Harnessed()
        let value = header == "Authorization" ? "Bearer " + token(Seed.boardAgent) : token(Seed.boardAgent)
        let r = h.send("GET", "/api/v1/agent/healthz", headers: [(header, value)])
        #expect(r.status == 200)
        let j = r.json
        #expect(j?["ok"] == .bool(true))
        #expect(j?["agent_id"]?.stringValue == Seed.boardAgent.id)
        #expect(j?["board_id"]?.stringValue == Seed.acmeOps.id)
        #expect(j?["gateway_id"]?.stringValue == Seed.boardAgent.gatewayID)
        #expect(j?["status"]?.stringValue == "online")
        #expect(j?["is_board_lead"] == .bool(true))
        let main = h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", token(Seed.mainAgent))])
        #expect(main.json?["board_id"] == .null)
    }

    @Test func missingOrUnknownTokenIs401() {
        let h = Harnessed()
        #expect(h.send("GET", "/api/v1/agent/healthz").status == 401)
        #expect(h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", "agt-not-a-real-token")]).status == 401)
        #expect(h.send("GET", "/api/v1/agent/healthz", headers: [("Authorization", "Bearer " + Seed.owner.token!)]).status == 401)
        #expect(h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", String(repeating: "x", count: 1_000_000))]).status == 401)
    }

    @Test func failureLogCarriesAtMostSixCharactersOfTheToken() {
        let h = Harnessed()
        let presented = "agt-guess-0123456789abcdef"
        _ = h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", presented)], peer: "198.51.100.4")
        #expect(h.service.log.lines == ["agent_auth.failed token_prefix=agt-gu client=198.51.100.4"])
        for line in h.service.log.lines { #expect(!line.contains(presented)) }
        #expect(AgentAuthentication.failureLine(token: "ab", client: "::1") == "agent_auth.failed token_prefix=ab client=::1")
        #expect(AgentAuthentication.failureLine(token: nil, client: "::1") == "agent_auth.failed token_prefix= client=::1")
    }

    @Test func aTokenCannotForgeLogLines() {
        let line = AgentAuthentication.failureLine(token: "a\nb c=d", client: "1.2.3.4")
        #expect(!line.contains("\n"))
        #expect(line.components(separatedBy: "=").count == 3)
    }

    @Test func successfulAuthenticationLogsNothing() {
        let h = Harnessed()
        _ = h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", token(Seed.boardAgent))])
        #expect(h.service.log.lines.isEmpty)
    }

    @Test func theServiceKeepsNoRawToken() {
        let h = Harnessed()
        for agent in h.service.world.agents {
            #expect(agent.token == nil)
            #expect(agent.tokenHash?.count == 64)
        }
        for user in h.service.world.users { #expect(user.token == nil) }
        let hash = TokenRedaction.hash(token(Seed.boardAgent))
        #expect(h.service.world.agents.contains { $0.tokenHash == hash })
    }

    @Test func limiterIsConsultedBeforeTheTokenSoValidAndInvalidTokensBothCount() {
        let h = Harnessed()
        for i in 0..<20 {
            let t = i % 2 == 0 ? token(Seed.boardAgent) : "wrong-\(i)"
            let status = h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", t)]).status
            #expect(status == (i % 2 == 0 ? 200 : 401))
        }
        let valid = h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", token(Seed.boardAgent))])
        #expect(valid.status == 429)
        #expect(valid.detail == "Too Many Requests")
        #expect(h.send("GET", "/api/v1/agent/healthz").status == 429)
        // Another client is unaffected; the limit is per address.
        #expect(h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", token(Seed.boardAgent))], peer: "203.0.113.200").status == 200)
        // A window later the client is let in again.
        h.clock.advance(by: 60)
        #expect(h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", token(Seed.boardAgent))]).status == 200)
    }

    @Test func requestsWithoutATokenCountToo() {
        let h = Harnessed()
        for _ in 0..<20 { #expect(h.send("GET", "/api/v1/agent/healthz").status == 401) }
        #expect(h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", token(Seed.boardAgent))]).status == 429)
    }

    @Test func agentAndWebhookLimitsAreSeparate() {
        let h = Harnessed()
        for _ in 0..<20 { _ = h.send("GET", "/api/v1/agent/healthz") }
        #expect(h.post(Seed.openHook).status == 202)
        for _ in 0..<60 { _ = h.post(Seed.openHook) }
        h.clock.advance(by: 61)
        #expect(h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", token(Seed.boardAgent))]).status == 200)
        #expect(h.post(Seed.openHook).status == 202)
    }

    @Test func userAuthenticationIsNotRateLimited() {
        let h = Harnessed()
        for _ in 0..<100 {
            #expect(h.send("GET", "/api/v1/gateways", headers: [("Authorization", "Bearer wrong")]).status == 401)
        }
        #expect(h.send("GET", "/api/v1/gateways", headers: [("Authorization", "Bearer " + Seed.owner.token!)]).status == 200)
    }

    @Test func theStoreFailingOpenLetsAgentsInAndLogsAWarning() {
        let h = Harnessed(store: UnreachableStore())
        for _ in 0..<30 {
            #expect(h.send("GET", "/api/v1/agent/healthz", headers: [("X-Agent-Token", token(Seed.boardAgent))]).status == 200)
        }
        #expect(h.service.log.lines.count == 30)
        #expect(h.service.log.lines.first == "rate_limit.redis.unavailable namespace=agent_auth key=ratelimit:agent_auth:203.0.113.7")
    }
}

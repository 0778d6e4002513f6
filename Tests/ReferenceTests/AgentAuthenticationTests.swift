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

/// Board memory reads serve a user or an agent: agent authentication is optional there, so
/// only requests that present a token count against `agent_auth`, and user traffic never does.
@Suite struct OptionalAgentAuthenticationTests {
    func memory(_ h: Harnessed, _ board: World.Board = Seed.acmeOps, _ headers: [(String, String)] = [],
                peer: String = "203.0.113.7") -> HTTPResponse {
        h.send("GET", "/api/v1/boards/\(board.id)/memory", headers: headers, peer: peer)
    }

    func agent(_ a: World.Agent) -> [(String, String)] { [("X-Agent-Token", a.token!)] }
    func user(_ u: World.User) -> [(String, String)] { [("Authorization", "Bearer " + u.token!)] }

    @Test func agentsReadTheBoardsTheyMaySee() {
        let h = Harnessed()
        _ = h.post(Seed.openHook)
        let own = memory(h, Seed.acmeOps, agent(Seed.boardAgent))
        #expect(own.status == 200)
        #expect(own.json?["total"] == .int(1))
        #expect(memory(h, Seed.acmeOps, [("Authorization", "bearer " + Seed.boardAgent.token!)]).status == 200)
        #expect(memory(h, Seed.acmeOps, agent(Seed.mainAgent)).status == 200)
        #expect(memory(h, Seed.acmeSales, agent(Seed.mainAgent)).status == 200)
        let otherBoard = memory(h, Seed.acmeSales, agent(Seed.boardAgent))
        #expect(otherBoard.status == 403)
        #expect(otherBoard.detail == Tenancy.agentBoardForbiddenDetail)
        #expect(memory(h, Seed.globexMain, agent(Seed.mainAgent)).status == 403)
        #expect(memory(h, Seed.acmeOps, agent(Seed.globexAgent)).status == 403)
        #expect(memory(h, Seed.acmeOps, agent(Seed.orphanAgent)).detail == Tenancy.gatewayNotFoundDetail)
        let unknownBoard = h.send("GET", "/api/v1/boards/00000000-0000-4000-8000-000000000000/memory", headers: agent(Seed.boardAgent))
        #expect(unknownBoard.status == 404)
    }

    @Test func requestsWithoutATokenAre401AndDoNotCount() {
        let h = Harnessed()
        for _ in 0..<50 {
            let r = memory(h)
            #expect(r.status == 401)
            #expect(r.detail == AgentAuthentication.unauthorizedDetail)
        }
        #expect(h.service.log.lines.isEmpty, "no token, no agent authentication attempt")
        // The whole agent_auth allowance is still there.
        for i in 0..<20 {
            let status = memory(h, Seed.acmeOps, agent(Seed.boardAgent)).status
            #expect(status == 200, "request \(i + 1)")
        }
        #expect(memory(h, Seed.acmeOps, agent(Seed.boardAgent)).status == 429)
    }

    @Test func userReadsDoNotCountAndAreNeverLimited() {
        let h = Harnessed()
        for _ in 0..<50 { #expect(memory(h, Seed.acmeOps, user(Seed.member)).status == 200) }
        for i in 0..<20 {
            let status = h.send("GET", "/api/v1/agent/healthz", headers: agent(Seed.boardAgent)).status
            #expect(status == 200, "agent request \(i + 1)")
        }
        // The address is now over its agent_auth limit; a user is still served.
        #expect(h.send("GET", "/api/v1/agent/healthz", headers: agent(Seed.boardAgent)).status == 429)
        #expect(memory(h, Seed.acmeOps, user(Seed.owner)).status == 200)
        // A user token next to an agent token: the user is tried first and nothing counts.
        #expect(memory(h, Seed.acmeOps, user(Seed.owner) + agent(Seed.boardAgent)).status == 200)
    }

    @Test func presentedTokensCountValidOrNotAndShareTheAgentAuthWindow() {
        let h = Harnessed()
        for i in 0..<5 { #expect(memory(h, Seed.acmeOps, [("X-Agent-Token", "agt-wrong-\(i)")]).status == 401) }
        // A bearer token that is no user's is an agent token attempt.
        for _ in 0..<5 { #expect(memory(h, Seed.acmeOps, [("Authorization", "Bearer not-a-user-token")]).status == 401) }
        for _ in 0..<5 { #expect(memory(h, Seed.acmeOps, agent(Seed.boardAgent)).status == 200) }
        for _ in 0..<5 { #expect(h.send("GET", "/api/v1/agent/healthz", headers: agent(Seed.boardAgent)).status == 200) }
        let refused = memory(h, Seed.acmeOps, agent(Seed.boardAgent))
        #expect(refused.status == 429)
        #expect(refused.detail == "Too Many Requests")
        #expect(h.send("GET", "/api/v1/agent/healthz", headers: agent(Seed.boardAgent)).status == 429)
        // Per address: another client still gets in.
        #expect(memory(h, Seed.acmeOps, agent(Seed.boardAgent), peer: "203.0.113.8").status == 200)
        #expect(h.service.log.lines.filter { $0.hasPrefix("agent_auth.failed") }.count == 10)
        #expect(h.service.log.lines.contains("agent_auth.failed token_prefix=agt-wr client=203.0.113.7"))
        #expect(h.service.log.lines.contains("agent_auth.failed token_prefix=not-a- client=203.0.113.7"))
    }
}

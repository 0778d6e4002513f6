import Foundation
import ReferenceTargets
import TargetFiles
import Testing
import Reference
import TestSupport
import Wire
@testable import Harness

@Suite struct RequestBudgetTests {
    @Test func keyLogFollowsTheServersLimiter() {
        var log = RequestBudget.KeyLog(policy: .webhookIngest)
        for _ in 0..<61 { log.record(at: 100) }
        #expect(log.stamps.count == 60)
        #expect(log.available(at: 100) == 0)
        #expect(log.available(at: 160) == 60)
        // Refused attempts are recorded too: trying again at 159 keeps the window closed.
        log.record(at: 159)
        #expect(log.available(at: 160) == 59)
        #expect(log.timeWhenAvailable(60, now: 160) == 219.25)
        #expect(log.timeWhenAvailable(1, now: 100) == 160.25)
    }

    static func file(boards: Set<String> = ["b1"], agentEndpoint: String? = nil, memoryEndpoint: String? = nil,
                     userTokens: [String: String] = [:]) -> TargetFile {
        var t = TargetFile()
        for (i, b) in boards.sorted().enumerated() { t.boards[i == 0 ? "own" : "other"] = b }
        t.agentEndpoint = agentEndpoint
        t.memoryEndpoint = memoryEndpoint
        t.userTokens = userTokens
        return t
    }

    static func ns(_ method: String, _ target: String, _ headers: HTTPFields = HTTPFields(), _ file: TargetFile = file()) -> String? {
        RequestBudget.namespace(method: method, requestTarget: target, headers: headers, targetFile: file)
    }

    @Test func namespaces() {
        #expect(Self.ns("POST", "/api/v1/boards/b1/webhooks/w") == "webhook_ingest")
        #expect(Self.ns("POST", "/api/v1/boards/zz/webhooks/w") == nil)
        #expect(Self.ns("GET", "/api/v1/agent/boards?x=1") == "agent_auth")
        #expect(Self.ns("GET", "/api/v1/agent/healthz") == "agent_auth")
        #expect(Self.ns("GET", "/custom/agent", HTTPFields(), Self.file(agentEndpoint: "/custom/agent")) == "agent_auth")
        #expect(Self.ns("GET", "/api/v1/gateways") == nil)
        #expect(Self.ns("GET", "/api/v1/gateways", ["X-Agent-Token": "t"]) == nil)
    }

    /// Board memory serves users and agents: a user's bearer token (tried first) and a request
    /// with no token spend nothing; an agent token, or a bearer token that is no user's, spends
    /// agent_auth, whichever board it names.
    @Test func optionalAgentAuthRouteSpendsOnlyForAnAgentToken() {
        let file = Self.file(userTokens: ["admin": "user-admin-token", "member": "user-member-token"])
        let memory = "/api/v1/boards/b1/memory"
        #expect(Self.ns("GET", memory, HTTPFields(), file) == nil)
        #expect(Self.ns("GET", memory, ["Authorization": "Bearer user-admin-token"], file) == nil)
        #expect(Self.ns("GET", memory, ["Authorization": "bearer  user-member-token "], file) == nil)
        // The user is tried first: an agent token beside a user's bearer token is not looked at.
        #expect(Self.ns("GET", memory, ["Authorization": "Bearer user-admin-token", "X-Agent-Token": "agent"], file) == nil)
        #expect(Self.ns("GET", memory, ["X-Agent-Token": "agent-token"], file) == "agent_auth")
        #expect(Self.ns("GET", memory, ["X-Agent-Token": "   "], file) == nil)
        #expect(Self.ns("GET", memory, ["Authorization": "Bearer agent-token"], file) == "agent_auth")
        #expect(Self.ns("GET", memory, ["Authorization": "Basic abc"], file) == nil)
        #expect(Self.ns("GET", "/api/v1/boards/unknown-board/memory?limit=5", ["X-Agent-Token": "a"], file) == "agent_auth")
        // A deployment that serves board memory elsewhere declares it in the target file.
        var custom = file
        custom.memoryEndpoint = "/v2/{board}/notes"
        #expect(Self.ns("GET", "/v2/b1/notes", ["X-Agent-Token": "a"], custom) == "agent_auth")
        #expect(Self.ns("GET", "/v2/b1/notes", ["Authorization": "Bearer user-admin-token"], custom) == nil)
        #expect(Self.ns("GET", "/v2/b1/other", ["X-Agent-Token": "a"], custom) == nil)
    }

    /// The budget of the optional-agent-auth fixtures, computed from the fixtures themselves:
    /// user reads and anonymous reads count nothing, agent-token reads count one slot each.
    @Test func optionalAgentAuthFixturesSpendOnlyTheirAgentRequests() throws {
        let world = try World.load(from: TestPaths.fixtures.appendingPathComponent("world.json"))
        let suite = try Suite.load(fixturesDirectory: TestPaths.fixtures)
        let scope = SymbolScope(targetFile: ReferenceTarget.targetFile(for: world), unknownBoard: "u", sources: [nil], payloadLimit: 1)
        let agent = RequestBudget.Spend(sourceIndex: 1, namespace: "agent_auth")
        let userReads = try #require(suite.fixtures.first { $0.id == "rl.optional-agent-auth.user-reads-free" })
        #expect(RequestBudget.spends(of: userReads, scope: scope) == [agent: 21])
        let agentReads = try #require(suite.fixtures.first { $0.id == "rl.optional-agent-auth.agent-token-counts" })
        #expect(RequestBudget.spends(of: agentReads, scope: scope) == [agent: 23])
        // Reading memory back with a user token (prompt-injection fixtures) spends only ingest.
        let boundary = try #require(suite.fixtures.first { $0.id == "check.external-data-boundary" })
        #expect(RequestBudget.spends(of: boundary, scope: scope) == [RequestBudget.Spend(sourceIndex: 1, namespace: "webhook_ingest"): 1])
    }

    /// A live server with one client address: the reference with a shared limiter and a clock
    /// that does not move (no waits allowed).
    final class SingleAddressServer: Target, @unchecked Sendable {
        let name = "single-address server"
        let targetFile: TargetFile
        let service: ReferenceService
        let pool: [String?]
        init(world: World, addresses: [String?] = [nil]) {
            targetFile = ReferenceTarget.targetFile(for: world)
            service = ReferenceService(configuration: .defaults, world: world, time: ManualTimeSource())
            pool = addresses
        }
        var capabilities: TargetCapabilities {
            TargetCapabilities(inProcess: false, instantClock: false, rawFraming: true, sourceAddresses: .fixed(pool),
                               configOverrides: false, freshStatePerFixture: false, startup: false)
        }
        func session(environment: [String: String], storeUnavailable: Bool) throws -> any TargetSession {
            Session(service: service)
        }
        func startup(environment: [String: String]) throws -> StartupOutcome { throw SkipFixture("no") }
        func close() {}

        final class Session: TargetSession {
            let service: ReferenceService
            init(service: ReferenceService) { self.service = service }
            func send(_ r: OutgoingRequest) throws -> HTTPResponse {
                var request = InProcessSession.request(for: r)
                request.peer = r.source ?? "198.51.100.1"
                return service.handle(request)
            }
            func advance(by seconds: Double) throws { throw SkipFixture("no clock") }
            func logLines() -> [String] { [] }
            func clearLog() {}
            func close() {}
        }
    }

    func run(addresses: [String?]) throws -> (Suite, RunReport, Set<String>) {
        let world = try World.load(from: TestPaths.fixtures.appendingPathComponent("world.json"))
        let suite = try Suite.load(fixturesDirectory: TestPaths.fixtures)
        let report = try Runner(suite: suite, target: SingleAddressServer(world: world, addresses: addresses)).run()
        let scope = SymbolScope(targetFile: ReferenceTarget.targetFile(for: world), unknownBoard: "u", sources: [nil], payloadLimit: 1)
        let exhausting = Set(suite.fixtures.filter { RequestBudget.exhausts(RequestBudget.spends(of: $0, scope: scope)) }.map(\.id))
        let failures = report.results.filter { $0.verdict == .fail || $0.verdict == .deviation }
        #expect(failures.isEmpty, "\(failures.map { "\($0.id): \($0.findings.first?.expected ?? "") / \($0.findings.first?.actual ?? "")" })")
        return (suite, report, exhausting)
    }

    @Test func limitFixturesNeverMakeOthersFailOnOneAddress() throws {
        let (_, report, exhausting) = try run(addresses: [nil])
        // With one address and no waiting, a limit fixture would need a fresh window after the
        // others spent slots: each is skipped, saying what to do.
        var budgetSkips = 0
        for id in exhausting {
            let r = try #require(report.results.first { $0.id == id })
            #expect(r.verdict == .skip, "\(id) ran on a used address")
            if r.skipReason?.contains("rate-limit slots") == true {
                budgetSkips += 1
                #expect(r.skipReason?.contains("--allow-waits") == true)
            }
        }
        #expect(budgetSkips >= 5)
        // Everything else ran (or was skipped for reasons that have nothing to do with the budget).
        #expect(report.results.contains { $0.id == "wh.accepted" && $0.verdict == .pass })
        #expect(report.results.contains { $0.id == "auth.bearer" && $0.verdict == .pass })
    }

    @Test func severalAddressesLetLimitFixturesRun() throws {
        let addresses: [String?] = (2...40).map { "192.0.2.\($0)" }
        let (_, report, exhausting) = try run(addresses: addresses)
        // Enough fresh addresses: every limit fixture gets a fresh window (or is skipped for a
        // reason that has nothing to do with the budget).
        for id in exhausting {
            let r = try #require(report.results.first { $0.id == id })
            #expect(r.verdict == .pass || (r.verdict == .skip && r.skipReason?.contains("rate-limit slots") == false), "\(id): \(r.skipReason ?? "")")
        }
        #expect(report.results.contains { $0.id == "rl.webhook.limit" && $0.verdict == .pass })
        #expect(report.results.contains { $0.id == "rl.agent.limit" && $0.verdict == .pass })
    }
}

/// The runner's model of a live server's limiter follows the optional-agent-auth route: agent
/// reads there use up agent_auth slots on the address, user reads do not.
@Suite struct OptionalAgentAuthBudgetTests {
    static func suite(_ fixtures: String) throws -> Suite {
        let catalog = try RuleCatalog.load(from: TestPaths.fixtures.appendingPathComponent("rules.json"))
        return try Suite(catalog: catalog, fixtures: FixtureDecoder.decode(Array(fixtures.utf8), file: "budget.json"))
    }

    static func reads(_ id: String, _ header: String, _ value: String, _ count: Int) -> String {
        """
        {"id": "\(id)", "title": "t", "rules": ["RL-13"], "steps": [
          {"request": {"path": "{board.memory}", "headers": {"\(header)": "\(value)"}}, "repeat": \(count), "expect": {"status": 200}}]}
        """
    }

    static func agentCalls(_ id: String, _ count: Int) -> String {
        """
        {"id": "\(id)", "title": "t", "rules": ["RL-2"], "steps": [
          {"request": {"path": "{agent.endpoint}", "headers": {"X-Agent-Token": "{agent.token}"}}, "repeat": \(count), "expect": {"status": 200}}]}
        """
    }

    func run(_ fixtures: [String]) throws -> RunReport {
        let world = try World.load(from: TestPaths.fixtures.appendingPathComponent("world.json"))
        let suite = try Self.suite("{\"fixtures\": [\(fixtures.joined(separator: ","))]}")
        return try Runner(suite: suite, target: RequestBudgetTests.SingleAddressServer(world: world)).run()
    }

    @Test func agentReadsUseUpTheAddressesAgentSlots() throws {
        // 5 agent reads leave 15 slots: 16 agent calls do not fit and are skipped, not failed.
        let report = try run([Self.reads("agent-reads", "X-Agent-Token", "{agent.token}", 5), Self.agentCalls("sixteen", 16)])
        #expect(report.results.first { $0.id == "agent-reads" }?.verdict == .pass)
        let calls = try #require(report.results.first { $0.id == "sixteen" })
        #expect(calls.verdict == .skip, "\(calls.findings.map(\.actual))")
        #expect(calls.skipReason?.contains("16 agent_auth rate-limit slots") == true, "\(calls.skipReason ?? "")")
    }

    @Test func userReadsLeaveTheAgentSlotsAlone() throws {
        let report = try run([Self.reads("user-reads", "Authorization", "Bearer {user.admin.token}", 5), Self.agentCalls("twenty", 20)])
        #expect(report.results.first { $0.id == "user-reads" }?.verdict == .pass)
        #expect(report.results.first { $0.id == "twenty" }?.verdict == .pass)
    }
}

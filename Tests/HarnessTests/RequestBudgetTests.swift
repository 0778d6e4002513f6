import Foundation
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

    @Test func namespaces() {
        let boards: Set<String> = ["b1"]
        #expect(RequestBudget.namespace(method: "POST", target: "/api/v1/boards/b1/webhooks/w", knownBoards: boards, agentEndpoint: nil) == "webhook_ingest")
        #expect(RequestBudget.namespace(method: "POST", target: "/api/v1/boards/zz/webhooks/w", knownBoards: boards, agentEndpoint: nil) == nil)
        #expect(RequestBudget.namespace(method: "GET", target: "/api/v1/agent/boards?x=1", knownBoards: boards, agentEndpoint: nil) == "agent_auth")
        #expect(RequestBudget.namespace(method: "GET", target: "/custom/agent", knownBoards: boards, agentEndpoint: "/custom/agent") == "agent_auth")
        #expect(RequestBudget.namespace(method: "GET", target: "/api/v1/gateways", knownBoards: boards, agentEndpoint: nil) == nil)
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
        let addresses: [String?] = (2...12).map { "192.0.2.\($0)" }
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

import Foundation
import ReferenceTargets
import TargetFiles
import Testing
import Harness
import Reference
import TestSupport
import Wire

/// The suites as a team runs them against staging: `mcsec serve` (the real binary on a real
/// port, sometimes deliberately broken) described by a target file, with the runner's budget
/// and skip logic of a live server. Each test spawns its own server.
@Suite struct LiveTargetTests {
    /// The reference's target file with loopback source addresses (every 127/8 address
    /// reaches the loopback interface on Linux; 127.0.0.1 stays the default source).
    static func targetFile(workers: Int = 1) throws -> TargetFile {
        var file = ReferenceTarget.targetFile(for: try Conformance.world())
        #if os(Linux)
        file.sourceAddresses = (2...25).map { "127.0.0.\($0)" }
        #endif
        file.workers = workers
        return file
    }

    static func run(serve arguments: [String], workers: Int = 1, rules: [String]) throws -> RunReport {
        let server = try ServeProcess.start(arguments: arguments)
        defer { server.process.terminate() }
        let target = try HTTPTarget(baseURL: server.baseURL, targetFile: try targetFile(workers: workers))
        return try Conformance.run(target, rules: rules)
    }

    @Test func theReferenceDescribedByItsOwnTargetFileFailsNothing() throws {
        let report = try Self.run(serve: [], rules: [])
        #expect(report.counts.failed == 0)
        #expect(report.counts.deviations == 0)
        let suite = try Conformance.suite()
        for r in report.results { Conformance.recordProblems(r, catalog: suite.catalog) }
        // The new fixtures ran (not skipped) and passed.
        for id in ["ten.main-agent.other-org.payload", "ten.board-agent.other-org.task-create", "check.proxy-spoofing.default-source",
                   "err.uuid-forms.ingest", "err.trailing-slash", "wh.url-other-methods", "rl.count.webhook"] {
            #expect(report.results.first { $0.id == id }?.verdict == .pass, "\(id)")
        }
    }

    /// A deployment that lets a main agent read another organization's boards by id (while
    /// still leaving them out of its listing) fails every such route, naming it.
    @Test func mainAgentReadingAnotherOrganizationsBoardFails() throws {
        let report = try Self.run(serve: ["--mutation", "main-agent-unscoped-reads"], rules: ["TEN"])
        let failed = report.results.filter { $0.verdict == .fail }.map(\.id).sorted()
        #expect(failed == ["approvals", "board", "memory", "payload", "tags", "task-create", "tasks"].map { "ten.main-agent.other-org." + $0 })
        let board = try #require(report.results.first { $0.id == "ten.main-agent.other-org.board" })
        let finding = try #require(board.findings.first)
        #expect(finding.rules.contains("TEN-1"))
        #expect(finding.request?.contains("GET /api/v1/agent/boards/b0000000-0000-4000-8000-00000000b001") == true)
        // The listing stays scoped, so the listing fixture alone would have passed this server.
        #expect(report.results.first { $0.id == "ten.main-agent" }?.verdict == .pass)
        #expect(report.exitStatus(strict: false) == 1)
    }

    /// A deployment that believes X-Forwarded-For from 127.0.0.1 (as some server stacks do by
    /// default): only the fixtures sent from the default source see it, and they name it.
    @Test func proxyHeadersTrustedFromTheDefaultPeerFail() throws {
        let report = try Self.run(serve: ["--mutation", "trust-proxy-headers-from-loopback"], rules: ["RL-12"])
        let failed = report.results.filter { $0.verdict == .fail }.map(\.id).sorted()
        #expect(failed == ["check.proxy-spoofing.agent.default-source", "check.proxy-spoofing.default-source"])
        let spoof = try #require(report.results.first { $0.id == "check.proxy-spoofing.default-source" })
        #expect(spoof.findings.first?.request?.contains("from the default source address") == true)
        // From a chosen source address the same server is right.
        #expect(report.results.first { $0.id == "check.proxy-spoofing" }?.verdict == .pass)
    }

    /// Four workers with per-worker memory limiters: the limit fixtures measure 4 × the limit
    /// (round-robin over fresh connections: exactly 240 of 300) instead of being skipped.
    @Test func fourWorkersWithTheMemoryBackendAreMeasured() throws {
        let report = try Self.run(serve: ["--workers", "4"], workers: 4, rules: ["RL", "REDIS-11"])
        let webhook = try #require(report.results.first { $0.id == "rl.count.webhook" })
        #expect(webhook.verdict == .informational)
        #expect(webhook.notes.first?.contains("admitted 240 of 300") == true, "\(webhook.notes)")
        let agent = try #require(report.results.first { $0.id == "rl.count.agent" })
        #expect(agent.notes.first?.contains("admitted 80 of 100") == true, "\(agent.notes)")
        #expect(report.counts.failed == 0)
        // The exact-count fixtures are what is skipped, and they say why.
        let exact = try #require(report.results.first { $0.id == "rl.webhook.limit" })
        #expect(exact.verdict == .skip)
        #expect(exact.skipReason?.contains("4 workers") == true)
    }

    /// With four workers, a server that believes spoofed proxy headers lets one client past
    /// workers × the limit: a failure, not a measurement.
    @Test func spoofingPastTheWorkersBoundFails() throws {
        let report = try Self.run(serve: ["--workers", "4", "--mutation", "trust-proxy-headers-from-anyone"], workers: 4, rules: ["RL-12"])
        let spoofed = try #require(report.results.first { $0.id == "rl.count.webhook.spoofed" })
        #expect(spoofed.verdict == .fail)
        #expect(spoofed.findings.first?.actual.contains("300 admitted") == true)
        let fromDefault = try #require(report.results.first { $0.id == "check.proxy-spoofing.default-source" })
        #expect(fromDefault.verdict == .fail, "trusting anyone trusts the default peer too")
    }

    /// Four workers trusting proxy headers from loopback only: the fixtures sent from the
    /// default source catch it, bounded by workers × the limit.
    @Test func loopbackTrustWithFourWorkersFails() throws {
        let report = try Self.run(serve: ["--workers", "4", "--mutation", "trust-proxy-headers-from-loopback"], workers: 4, rules: ["RL-12"])
        let failed = report.results.filter { $0.verdict == .fail }.map(\.id).sorted()
        #expect(failed == ["check.proxy-spoofing.agent.default-source", "check.proxy-spoofing.default-source"])
    }
}

/// An authorised call whose route calls an upstream (a gateway) that is down: the server let
/// the caller through, so the authorization rule held.
@Suite struct UpstreamFailureTests {
    static func target(answer status: Int, forUserToken token: String?) throws -> InProcessTarget {
        let world = try Conformance.world()
        return InProcessTarget(name: "gateway upstream down", targetFile: ReferenceTarget.targetFile(for: world)) { environment, time, _ in
            let configuration = try Configuration.parse(environment: environment)
            let service = ReferenceService(configuration: configuration, world: world, time: time)
            return InProcessService(handler: HandlerFunction { request in
                let answered = service.handle(request)
                // `token`: only that caller, and only where the service let it through; nil:
                // every message request (as a server that forwards before it authorizes).
                if let token {
                    guard request.path.hasSuffix("/message"), request.headers["Authorization"] == "Bearer " + token,
                          answered.status / 100 == 2 else { return answered }
                } else {
                    guard request.path.hasSuffix("/message") else { return answered }
                }
                var response = HTTPResponse(status: status, headers: ["Content-Type": "application/json"],
                                            body: Array(#"{"detail":"Gateway unavailable","request_id":"r"}"#.utf8))
                configuration.securityHeaders.apply(to: &response)
                return response
            })
        }
    }

    @Test(arguments: [502, 503, 504])
    func anAdminLetThroughToAFailedUpstreamPasses(status: Int) throws {
        let admin = try #require(try Conformance.world().users.first { $0.name == "acme-admin" }?.token)
        let report = try Conformance.run(try Self.target(answer: status, forUserToken: admin), rules: ["GWMSG"])
        let allowed = try #require(report.results.first { $0.id == "gwmsg.admin-allowed" })
        #expect(allowed.verdict == .pass)
        #expect(allowed.notes.first?.contains("upstream failed (\(status))") == true, "\(allowed.notes)")
        #expect(report.counts.failed == 0)
    }

    /// A 502 where the caller must be refused means it was let through: still a failure.
    @Test func aRefusedCallerReachingTheUpstreamFails() throws {
        let report = try Conformance.run(try Self.target(answer: 502, forUserToken: nil), rules: ["GWMSG"])
        #expect(report.results.first { $0.id == "gwmsg.member-refused" }?.verdict == .fail)
        #expect(report.results.first { $0.id == "gwmsg.admin-allowed" }?.verdict == .pass)
    }

    /// Any other 5xx on the authorised call is no upstream excuse.
    @Test func aServerErrorIsNotAnUpstreamFailure() throws {
        let admin = try #require(try Conformance.world().users.first { $0.name == "acme-admin" }?.token)
        let report = try Conformance.run(try Self.target(answer: 500, forUserToken: admin), rules: ["GWMSG"])
        #expect(report.results.first { $0.id == "gwmsg.admin-allowed" }?.verdict == .fail)
    }
}

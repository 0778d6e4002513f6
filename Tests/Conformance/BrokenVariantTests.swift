import Foundation
import ReferenceTargets
import Testing
import Harness
import Reference
import Synchronization
import TestSupport
import Wire

/// The suite must be able to fail: each deliberately broken variant of the reference is run
/// through every fixture, and the report must name the rule it breaks. The unmodified
/// reference must pass everything.
@Suite struct BrokenVariantTests {
    /// `Fixtures/mutations.json`, checked against the suite.
    static let loadedCatalog: Result<MutationCatalog, Error> = Result {
        try MutationCatalog.load(fixturesDirectory: TestPaths.fixtures, suite: try Conformance.suite())
    }

    /// The verdict of every result against the unmodified reference.
    static let baseline: Result<[String: Verdict], Error> = Result {
        let report = try Runner(suite: try Conformance.suite(), target: ReferenceTarget.inProcess(world: try Conformance.world())).run()
        return Dictionary(report.results.map { ($0.id, $0.verdict) }, uniquingKeysWith: { first, _ in first })
    }

    /// Each mutation, run through every fixture: exactly the pinned fixtures get the pinned
    /// verdict, every other result keeps its verdict from the unmodified reference, and every
    /// rule the mutation breaks is named by a finding.
    @Test(arguments: ReferenceMutations.named.map(\.name))
    func mutationIsCaughtByExactlyItsPinnedFixtures(_ name: String) throws {
        let catalog = try Self.loadedCatalog.get()
        let entry = try #require(catalog[name], "\(name) is not in \(MutationCatalog.fileName)")
        let baseline = try Self.baseline.get()
        let report = try Runner(suite: try Conformance.suite(),
                                target: ReferenceTarget.inProcess(world: try Conformance.world(), mutations: entry.mutation)).run()
        var pinned: [String: Verdict] = [:]
        if entry.observedOn != nil {
            // Seen only against a live Redis under a fault (LiveRedisFaultTests): in-process
            // every verdict stays what the unmodified reference gets.
            for result in report.results {
                #expect(result.verdict == baseline[result.id], "\(name): \(result.id) changed in-process")
            }
            return
        }
        for c in entry.caughtBy { pinned[c.fixture] = c.verdict }
        for result in report.results {
            let expected = pinned[result.id] ?? baseline[result.id]
            #expect(result.verdict == expected,
                    "\(name): \(result.id) is \(result.verdict.label), expected \(expected?.label ?? "no result") (\(pinned[result.id] == nil ? "as against the unmodified reference" : "pinned"))")
        }
        let seen = Set(report.results.map(\.id))
        for c in entry.caughtBy where !seen.contains(c.fixture) {
            Issue.record("\(name): the pinned fixture \(c.fixture) did not run")
        }
        for rule in entry.breaks {
            #expect(!report.findings(for: rule).isEmpty, "\(name) breaks \(rule), but no finding names it")
        }
        #expect(report.exitStatus(strict: true) == 1, "\(name): the strict run does not fail")
    }

    /// Every rule of the catalog is broken by some mutation or says why none can break it.
    @Test func everyRuleIsProvenOrUnprovable() throws {
        let suite = try Conformance.suite()
        let proven = try Self.loadedCatalog.get().provenRules
        for rule in suite.catalog.rules {
            #expect(proven.contains(rule.id) || rule.unprovable != nil,
                    "\(rule.id) is broken by no mutation in \(MutationCatalog.fileName) and has no \"unprovable\" reason in rules.json")
        }
    }

    /// The file and `ReferenceMutations` list the same mutations.
    @Test func catalogListsEveryMutation() throws {
        let catalog = try Self.loadedCatalog.get()
        let inFile = catalog.mutations.map(\.name)
        let inCode = ReferenceMutations.named.map(\.name)
        for name in inCode where !inFile.contains(name) { Issue.record("\(name) is not in \(MutationCatalog.fileName)") }
        for name in inFile where !inCode.contains(name) { Issue.record("\(name) in \(MutationCatalog.fileName) is no mutation of the reference") }
        #expect(Set(ReferenceMutations.named.map(\.mutation.rawValue)).count == inCode.count, "two mutations share a bit")
    }

    /// The report names one of `rules` in a finding, and the run fails: as `mcsec check` exits
    /// when a rule of the page is broken, and under `--strict` when only the real service's
    /// behaviour (a deviation) is.
    static func expectCaught(_ report: RunReport, rules: [String], pageRule: Bool, name: String,
                             sourceLocation: SourceLocation = #_sourceLocation) {
        let named = rules.flatMap { report.findings(for: $0) }
        #expect(!named.isEmpty, "no finding names \(rules.joined(separator: " or ")) for \(name)", sourceLocation: sourceLocation)
        #expect(report.exitStatus(strict: true) == 1, "\(name): the strict run does not fail", sourceLocation: sourceLocation)
        if pageRule {
            #expect(report.counts.failed > 0, "\(name) broke a rule of the page, but nothing failed", sourceLocation: sourceLocation)
            #expect(named.contains { $0.1.level == .spec && $0.0.verdict == .fail }, sourceLocation: sourceLocation)
            #expect(report.exitStatus(strict: false) == 1, "\(name): the run does not fail", sourceLocation: sourceLocation)
        } else {
            // Only behaviour of the real service the page does not promise is broken: reported as
            // a deviation naming the rule, which fails the run only under --strict.
            #expect(report.counts.failed == 0, "\(name) broke no rule of the page, yet a page rule failed: \(report.results.filter { $0.verdict == .fail }.map(\.id))",
                    sourceLocation: sourceLocation)
            #expect(named.contains { $0.1.level == .service && $0.0.verdict == .deviation }, sourceLocation: sourceLocation)
            #expect(report.exitStatus(strict: false) == 0, sourceLocation: sourceLocation)
        }
        let verdicts = report.ruleVerdicts
        #expect(rules.contains { verdicts[$0] == .fail || verdicts[$0] == .deviation }, sourceLocation: sourceLocation)
    }

    // MARK: the route where agent authentication is optional (board memory)

    /// The reference with a fault put in front of it for board memory reads.
    static func wrapped(_ name: String, _ fault: @escaping @Sendable (HTTPRequest, ReferenceService) -> HTTPResponse) throws -> InProcessTarget {
        let world = try Conformance.world()
        return InProcessTarget(name: name, targetFile: ReferenceTarget.targetFile(for: world)) { environment, time, _ in
            let log = ServiceLog()
            let service = ReferenceService(configuration: try Configuration.parse(environment: environment), world: world,
                                           time: time, log: log)
            return InProcessService(handler: HandlerFunction { request in
                guard request.method == "GET", request.path.hasSuffix("/memory") else { return service.handle(request) }
                return fault(request, service)
            }, logLines: { log.lines }, clearLog: { log.clear() })
        }
    }

    /// Agent-token reads of board memory escape the limiter (each seems to come from a new
    /// address): agent authentication there is not rate limited, which the page forbids.
    @Test func agentReadsOfBoardMemoryNotLimited() throws {
        let counter = Mutex(0)
        let target = try Self.wrapped("agent memory reads not limited") { request, service in
            var r = request
            let n = counter.withLock { n -> Int in n += 1; return n }
            r.peer = "198.18.\((n >> 8) & 255).\(n & 255)"
            return service.handle(r)
        }
        let report = try Conformance.run(target, rules: ["RL-13"])
        Self.expectCaught(report, rules: ["RL-2"], pageRule: true, name: "agent memory reads not limited")
        #expect(report.results.first { $0.id == "rl.optional-agent-auth.agent-token-counts" }?.verdict == .fail)
    }

    /// A user's read of board memory is charged to agent_auth, as if it were an agent's: the
    /// real service does not do that (a deviation).
    @Test func userReadsOfBoardMemoryCounted() throws {
        let userBearers = Set(try Conformance.world().users.compactMap { $0.token.map { "Bearer " + $0 } })
        let target = try Self.wrapped("user memory reads counted") { request, service in
            // A user's read first spends an agent_auth slot for the same client.
            if let authorization = request.headers["Authorization"], userBearers.contains(authorization) {
                var probe = request
                probe.target = "/api/v1/agent/healthz"
                probe.headers.set("X-Agent-Token", "mcsec-not-an-agent-token")
                _ = service.handle(probe)
            }
            return service.handle(request)
        }
        let report = try Conformance.run(target, rules: ["RL-13"])
        Self.expectCaught(report, rules: ["RL-13"], pageRule: false, name: "user memory reads counted")
        #expect(report.results.first { $0.id == "rl.optional-agent-auth.user-reads-free" }?.verdict == .deviation)
    }

    /// Board memory that wraps payloads the way the real service does, without neutralising
    /// an END line inside them: a payload can close the boundary early. The boundary fixtures
    /// must catch it, naming the page's rule.
    @Test func payloadClosingTheBoundaryEarlyIsCaught() throws {
        let world = try Conformance.world()
        let bodies = Mutex<[String]>([])
        let target = InProcessTarget(name: "naive external-data wrapping", targetFile: ReferenceTarget.targetFile(for: world)) { environment, time, _ in
            let service = ReferenceService(configuration: try Configuration.parse(environment: environment), world: world, time: time)
            return InProcessService(handler: HandlerFunction { request in
                if request.method == "POST", request.path.contains("/webhooks/"), case .bytes(let bytes) = request.body {
                    bodies.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) }
                }
                var response = service.handle(request)
                if request.method == "GET", request.path.hasSuffix("/memory"), response.status == 200 {
                    let items = bodies.withLock { $0 }.map { body in
                        JSONValue.object([("content", .string("Webhook payload received:\n" + ExternalDataBoundary.beginLine + "\n" + body + "\n" + ExternalDataBoundary.endLine))])
                    }
                    response.body = Array(JSONValue.object([("items", .array(items)), ("total", .int(items.count))]).description.utf8)
                }
                return response
            })
        }
        let report = try Conformance.run(target, rules: ["PI"])
        Self.expectCaught(report, rules: ["PI-3"], pageRule: true, name: "naive external-data wrapping")
        let boundary = try #require(report.results.first { $0.id == "check.external-data-boundary" })
        #expect(boundary.verdict == .fail)
        #expect(boundary.findings.first?.actual.contains("closes the boundary early") == true)
        // A payload without an END line is wrapped correctly even here.
        #expect(report.results.first { $0.id == "pi.webhook-wrapped" }?.verdict == .pass)
    }

    /// A server whose JSON handling breaks on odd input (NaN, deep nesting) and answers 500,
    /// headers and all: the malformed-body checks fail it.
    @Test func serverErrorOnMalformedBodyIsCaught() throws {
        let world = try Conformance.world()
        let target = InProcessTarget(name: "500 on odd JSON", targetFile: ReferenceTarget.targetFile(for: world)) { environment, time, _ in
            let configuration = try Configuration.parse(environment: environment)
            let service = ReferenceService(configuration: configuration, world: world, time: time)
            return InProcessService(handler: HandlerFunction { request in
                if case .bytes(let bytes) = request.body, String(decoding: bytes, as: UTF8.self).contains("NaN") {
                    var response = HTTPResponse(status: 500, headers: ["Content-Type": "application/json"],
                                                body: Array(#"{"detail":"Internal Server Error","request_id":"x"}"#.utf8))
                    configuration.securityHeaders.apply(to: &response)
                    return response
                }
                return service.handle(request)
            })
        }
        let report = try Conformance.run(target, rules: ["HDR-7"])
        let malformed = try #require(report.results.first { $0.id == "check.malformed-bodies.webhook" })
        #expect(malformed.verdict == .fail)
        #expect(malformed.findings.first?.expected == "no 5xx status")
        #expect(malformed.findings.first?.request?.contains("POST /api/v1/boards/") == true)
        #expect(report.exitStatus(strict: false) == 1)
        // The 500 carried the headers: the every-response check, not selected, has nothing to report.
        #expect(!report.results.contains { $0.id == SecurityHeaderCheck.resultID })
    }

    @Test func unmodifiedReferencePassesEverything() throws {
        let suite = try Conformance.suite()
        let report = try Runner(suite: suite, target: ReferenceTarget.inProcess(world: try Conformance.world())).run()
        #expect(report.counts.failed == 0)
        #expect(report.counts.deviations == 0)
        for r in report.results where r.verdict == .fail || r.verdict == .deviation {
            Conformance.recordProblems(r, catalog: suite.catalog)
        }
    }
}

import Foundation
import TargetFiles
import Testing
import Reference
import TestSupport
import Wire
@testable import Harness

/// The runner's grading, checks and skips, driven by small handlers whose behaviour is known.
@Suite struct RunnerTests {
    static let catalog: RuleCatalog = (try? RuleCatalog.load(from: TestPaths.fixtures.appendingPathComponent("rules.json")))
        ?? RuleCatalog(sections: [], rules: [])

    static var targetFile: TargetFile {
        var t = TargetFile()
        t.boards = ["own": "b0000000-0000-4000-8000-000000000001"]
        t.webhooks = ["open": .init(id: "w1")]
        t.agentEndpoint = "/api/v1/agent/healthz"
        return t
    }

    static let goodHeaders: HTTPFields = [
        "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "strict-origin-when-cross-origin",
    ]

    /// A service that accepts every webhook (no limit) and sends the default headers except
    /// on 404, where X-Frame-Options is missing.
    static func unlimitedTarget() -> InProcessTarget {
        InProcessTarget(name: "test handler", targetFile: targetFile) { _, _, _ in
            InProcessService(handler: HandlerFunction { request in
                if request.path.hasPrefix("/api/v1/boards/") && request.method == "POST" {
                    return HTTPResponse(status: 202, headers: goodHeaders, body: Array(#"{"ok":true}"#.utf8))
                }
                var headers = goodHeaders
                headers.remove("X-Frame-Options")
                return HTTPResponse(status: 404, headers: headers, body: Array(#"{"detail":"Not Found","request_id":"r"}"#.utf8))
            })
        }
    }

    static func suite(_ fixturesJSON: String) throws -> Suite {
        try Suite(catalog: catalog, fixtures: FixtureDecoder.decode(Array(fixturesJSON.utf8), file: "test.json"))
    }

    static let limitFixture = """
    {"id": "limit", "title": "61st refused", "rules": ["RL-3", "RL-7"], "steps": [
      {"request": {"method": "POST", "path": "/api/v1/boards/{board}/webhooks/{webhook.open}", "body": {"json": {"n": "{i}"}}},
       "repeat": 61, "expect": [{"iterations": "1-60", "status": 202}, {"iterations": 61, "status": 429},
                                {"iterations": 61, "rules": ["RL-7"], "json": {"detail": "Too Many Requests"}}]},
      {"request": {"method": "GET", "path": "/never-sent"}, "expect": {"status": 200}}
    ]}
    """

    @Test func failureNamesRuleExpectedActualAndRequest() throws {
        let suite = try Self.suite("{\"fixtures\": [\(Self.limitFixture)]}")
        let report = try Runner(suite: suite, target: Self.unlimitedTarget()).run()
        let r = try #require(report.results.first { $0.id == "limit" })
        #expect(r.verdict == .fail)
        // Stops at the first failing response: one finding, 61 requests, the later step not sent.
        #expect(r.requests == 61)
        let f = try #require(r.findings.first)
        #expect(f.rules == ["RL-3", "RL-7"] && f.level == .spec)
        #expect(f.expected == "status 429")
        #expect(f.actual.hasPrefix("status 202"))
        #expect(f.request?.contains("[request 61 of 61]") == true)
        #expect(f.request?.contains("POST /api/v1/boards/b0000000-0000-4000-8000-000000000001/webhooks/w1") == true)
    }

    @Test func serviceOnlyFailureIsADeviation() throws {
        let suite = try Self.suite("""
        {"fixtures": [{"id": "shape", "title": "t", "rules": ["ERR-1"], "steps": [
          {"request": {"method": "POST", "path": "/api/v1/boards/{board}/webhooks/{webhook.open}"}, "expect": {"json": {"detail": "x"}}}]}]}
        """)
        let report = try Runner(suite: suite, target: Self.unlimitedTarget()).run()
        #expect(report.results.first { $0.id == "shape" }?.verdict == .deviation)
        #expect(report.counts.deviations == 1 && report.counts.failed == 0)
    }

    @Test func headersAreCheckedOnEveryResponse() throws {
        let suite = try Self.suite("""
        {"fixtures": [{"id": "missing", "title": "a 404", "rules": ["WH-2"], "steps": [
          {"request": {"method": "GET", "path": "/nope"}, "expect": {"status": 404}}]}]}
        """)
        let report = try Runner(suite: suite, target: Self.unlimitedTarget()).run()
        // The fixture itself passes; the global check fails and says where.
        #expect(report.results.first { $0.id == "missing" }?.verdict == .pass)
        let global = try #require(report.results.first { $0.id == SecurityHeaderCheck.resultID })
        #expect(global.verdict == .fail)
        let f = try #require(global.findings.first)
        #expect(f.rules == ["HDR-1", "HDR-3"])
        #expect(f.expected == "X-Frame-Options: DENY")
        #expect(f.request?.hasPrefix("missing: GET /nope") == true)
    }

    /// Headers are checked on every response even when --rules selects other rules: a problem
    /// is still reported; a clean header result appears only when the header rules are selected.
    @Test func headerProblemsAreReportedWhateverTheSelection() throws {
        let suite = try Self.suite("""
        {"fixtures": [{"id": "missing", "title": "a 404", "rules": ["WH-2"], "steps": [
          {"request": {"method": "GET", "path": "/nope"}, "expect": {"status": 404}}]},
         {"id": "accepted", "title": "a 202", "rules": ["WH-5"], "steps": [
          {"request": {"method": "POST", "path": "/api/v1/boards/{board}/webhooks/{webhook.open}"}, "expect": {"status": 202}}]}]}
        """)
        var options = RunOptions()
        options.ruleSelectors = ["WH-2"]
        let report = try Runner(suite: suite, target: Self.unlimitedTarget(), options: options).run()
        let global = try #require(report.results.first { $0.id == SecurityHeaderCheck.resultID })
        #expect(global.verdict == .fail)
        #expect(report.exitStatus(strict: false) == 1)
        options.ruleSelectors = ["WH-5"]
        let clean = try Runner(suite: suite, target: Self.unlimitedTarget(), options: options).run()
        #expect(clean.results.map(\.id) == ["accepted"])
        #expect(clean.exitStatus(strict: true) == 0)
    }

    @Test func observationsAreInformational() throws {
        let suite = try Self.suite("""
        {"fixtures": [{"id": "obs", "title": "t", "rules": ["SIG-11"], "steps": [
          {"request": {"method": "POST", "path": "/api/v1/boards/{board}/webhooks/{webhook.open}"},
           "observe": {"cases": [{"when": {"status": 202}, "note": "accepted"}], "otherwise": {"fail": "202"}}}]},
         {"id": "obs.fail", "title": "t", "rules": ["SIG-6"], "steps": [
          {"request": {"method": "GET", "path": "/nope"},
           "observe": {"cases": [{"when": {"status": 202}, "note": "accepted"}], "otherwise": {"fail": "a 202"}}}]}]}
        """)
        let report = try Runner(suite: suite, target: Self.unlimitedTarget()).run()
        let info = try #require(report.results.first { $0.id == "obs" })
        #expect(info.verdict == .informational && info.notes == ["accepted"])
        let fail = try #require(report.results.first { $0.id == "obs.fail" })
        #expect(fail.verdict == .fail && fail.findings.first?.expected == "a 202")
    }

    @Test func skipsSayWhy() throws {
        let suite = try Self.suite("""
        {"fixtures": [
         {"id": "needs.secret", "title": "t", "rules": ["SIG-6"], "steps": [
          {"request": {"method": "POST", "path": "/api/v1/boards/{board}/webhooks/{webhook.signed}", "sign": {}}, "expect": {"status": 202}}]},
         {"id": "needs.redis", "title": "t", "rules": ["REDIS-3"], "requires": {"backend": "redis"}, "steps": [
          {"request": {"method": "GET", "path": "/"}, "expect": {"status": 200}}]}]}
        """)
        let report = try Runner(suite: suite, target: Self.unlimitedTarget()).run()
        let secret = try #require(report.results.first { $0.id == "needs.secret" })
        #expect(secret.verdict == .skip)
        #expect(secret.skipReason == "the target file has no webhooks.signed.id (for {webhook.signed})")
        #expect(report.results.first { $0.id == "needs.redis" }?.skipReason?.contains("declares memory") == true)
    }

    @Test func symbolsResolveFromTargetAndRun() throws {
        var scope = SymbolScope(targetFile: Self.targetFile, unknownBoard: "u-1", sources: ["127.0.0.9", "127.0.0.10"], payloadLimit: 1024)
        scope.iteration = 7
        let t = try Template.parse("/{board}/{webhook.open}/{i}/{source}/{source.2}/{limit}/{board.unknown}/{{x}}", isKnown: TargetFile.checkSymbol)
        #expect(try scope.resolve(t) == "/b0000000-0000-4000-8000-000000000001/w1/7/127.0.0.9/127.0.0.10/1024/u-1/{x}")
        #expect(scope.size(SizeExpression(symbol: "limit", offset: 1)) == 1025)
        #expect(RequestBuilder.generated(size: 20) == Array(#"{"pad":"xxxxxxxxxx"}"#.utf8))
        #expect(RequestBuilder.generated(size: 3) == Array("xxx".utf8))
    }

    @Test func signaturesAreHMACOfTheBytesSent() throws {
        var t = Self.targetFile
        t.webhooks["signed"] = .init(id: "w2", secret: "key")
        let scope = SymbolScope(targetFile: t, unknownBoard: "u", sources: [nil], payloadLimit: 10)
        let fixture = try #require(try FixtureDecoder.decode(Array("""
        {"fixtures": [{"id": "s", "title": "t", "rules": ["SIG-5"], "steps": [
          {"request": {"method": "POST", "path": "/x", "body": "The quick brown fox jumps over the lazy dog", "sign": {"prefix": "SHA256=", "hexCase": "upper"}}, "expect": {"status": 202}}]}]}
        """.utf8), file: "t.json").first)
        guard case .request(let step) = try #require(fixture.steps.first) else {
            Issue.record("the fixture's first step is not a request: \(fixture.steps)")
            return
        }
        let outgoing = try RequestBuilder.build(step.request, scope: scope, freshConnection: false)
        // RFC 4231-style well-known value: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
        #expect(outgoing.request.headers["X-Hub-Signature-256"] == "SHA256=" + "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8".uppercased())
    }
}

import Foundation
import TargetFiles
import Testing
import Wire
@testable import Harness

/// What fixtures can say beyond a request and its expectations: values captured from one
/// response for the next request, spellings of a symbol's value, the default source address,
/// upstream calls, and limits counted over fresh connections.
@Suite struct FixtureFeatureTests {
    static func fixture(_ text: String) throws -> Fixture {
        try #require(try FixtureDecoder.decode(Array(text.utf8), file: "suite.json").first)
    }

    /// A target answering from a closure, with the reference's target-file entries it needs.
    static func target(_ answer: @escaping @Sendable (HTTPRequest) -> HTTPResponse) -> InProcessTarget {
        var file = TargetFile()
        file.boards = ["own": "b0000000-0000-4000-8000-00000000a001", "other": "b0000000-0000-4000-8000-00000000b001"]
        file.webhooks = ["open": .init(id: "c0000000-0000-4000-8000-00000000a001")]
        file.agentTokens = ["board": "agt-test"]
        file.agentEndpoint = "/api/v1/agent/healthz"
        return InProcessTarget(name: "closure", targetFile: file) { _, _, _ in InProcessService(handler: HandlerFunction(answer)) }
    }

    static func run(_ fixture: Fixture, against target: any Target) throws -> FixtureResult {
        let catalog = try RuleCatalog.decode(Array(#"{"sections": [{"prefix": "RL", "title": "R"}, {"prefix": "TEN", "title": "T"}], "rules": [{"id": "RL-1", "text": "x", "level": "spec", "source": "s"}, {"id": "TEN-1", "text": "x", "level": "spec", "source": "s"}]}"#.utf8), file: "rules.json")
        return try Runner(suite: try Suite(catalog: catalog, fixtures: [fixture]), target: target).runOne(fixture)
    }

    @Test func aCapturedValueIsSentByTheNextStep() throws {
        let f = try Self.fixture(#"""
        {"fixtures": [{"id": "x", "title": "t", "rules": ["TEN-1"], "steps": [
          {"request": {"method": "POST", "path": "/make"}, "expect": {"status": 200}, "capture": {"made": "item.id"}},
          {"request": {"path": "/read/{captured.made}"}, "expect": {"status": 200}}
        ]}]}
        """#)
        let seen = LockedBox<[String]>([])
        let result = try Self.run(f, against: Self.target { request in
            seen.mutate { $0.append(request.target) }
            return HTTPResponse(status: 200, body: Array(#"{"item": {"id": "p-42"}}"#.utf8))
        })
        #expect(result.verdict == .pass)
        #expect(seen.value == ["/make", "/read/p-42"])
    }

    @Test func aMissingCaptureFailsTheFixtureSayingWhere() throws {
        let f = try Self.fixture(#"""
        {"fixtures": [{"id": "x", "title": "t", "rules": ["TEN-1"], "steps": [
          {"request": {"path": "/make"}, "expect": {"status": 200}, "capture": {"made": "item.id"}},
          {"request": {"path": "/read/{captured.made}"}, "expect": {"status": 200}}
        ]}]}
        """#)
        let result = try Self.run(f, against: Self.target { _ in HTTPResponse(status: 200, body: Array("{}".utf8)) })
        #expect(result.verdict == .fail)
        #expect(result.findings.first?.expected.contains("item.id to use as {captured.made}") == true)
    }

    @Test func filtersSpellAValueAnotherWay() throws {
        let scope = SymbolScope(targetFile: Self.target { _ in HTTPResponse(status: 200) }.targetFile, unknownBoard: "u", sources: [nil], payloadLimit: 1)
        #expect(scope.value("board|upper") == "B0000000-0000-4000-8000-00000000A001")
        #expect(scope.value("board|nodash") == "b000000000004000800000000000a001")
        #expect(scope.value("board|braced") == "{b0000000-0000-4000-8000-00000000a001}")
        #expect(scope.value("board|nodash|upper") == "B000000000004000800000000000A001")
        #expect(scope.value("agent.endpoint|percent") == "/api/v1/agent/health%7A")
        #expect("/api/v1/agent/health%7A".removingPercentEncoding == "/api/v1/agent/healthz")
        #expect(scope.value("board.other|upper") != nil)
        #expect(scope.value("webhook.signed|upper") == nil, "a missing entry stays missing whatever the filter")
    }

    @Test func theBudgetFindsABoardByAnySpellingOfItsID() {
        let file = Self.target { _ in HTTPResponse(status: 200) }.targetFile
        for board in ["B0000000-0000-4000-8000-00000000A001", "b000000000004000800000000000a001", "{b0000000-0000-4000-8000-00000000a001}",
                      "b0000000-0000-4000-8000-00000000a001"] {
            #expect(RequestBudget.namespace(method: "POST", requestTarget: "/api/v1/boards/\(board)/webhooks/w", headers: HTTPFields(), targetFile: file)
                    == "webhook_ingest", "\(board)")
        }
        #expect(RequestBudget.namespace(method: "POST", requestTarget: "/api/v1/boards/b0000000-0000-4000-8000-00000000ffff/webhooks/w",
                                        headers: HTTPFields(), targetFile: file) == nil)
        #expect(RequestBudget.namespace(method: "GET", requestTarget: "/api/v1/%61gent/healthz", headers: HTTPFields(), targetFile: file) == "agent_auth")
    }

    @Test func aDefaultSourceFixtureSendsFromNoChosenAddress() throws {
        let f = try Self.fixture(#"""
        {"fixtures": [{"id": "x", "title": "t", "rules": ["RL-1"], "requires": {"defaultSource": true},
          "steps": [{"request": {"path": "/a"}, "expect": {"status": 204}}]}]}
        """#)
        #expect(f.requirements.defaultSource)
        let peers = LockedBox<[String?]>([])
        let result = try Self.run(f, against: Self.target { request in
            peers.mutate { $0.append(request.peer) }
            return HTTPResponse(status: 200)
        })
        // In-process the default source is the loopback peer an ordinary connection has.
        #expect(peers.value == ["127.0.0.1"])
        #expect(result.findings.first?.request?.contains("from the default source address") == true)
    }

    @Test func aLimitCountWithOneLimiterIsExact() throws {
        let f = try Self.fixture(#"""
        {"fixtures": [{"id": "x", "title": "t", "rules": ["RL-1"], "kind": "limit", "policy": "agent_auth", "admitted": 200,
          "request": {"path": "{agent.endpoint}", "headers": {"X-Agent-Token": "{agent.token}"}}}]}
        """#)
        // The right limiter: 20 admitted of 21.
        let count = LockedBox(0)
        let exact = try Self.run(f, against: Self.target { _ in
            HTTPResponse(status: count.mutate { n -> Int in n += 1; return n } <= 20 ? 200 : 429)
        })
        #expect(exact.verdict == .pass)
        #expect(exact.requests == 21)
        // One more admitted is a failure naming the bound; one refused too early as well.
        for limit in [21, 19] {
            let n = LockedBox(0)
            let wrong = try Self.run(f, against: Self.target { _ in
                HTTPResponse(status: n.mutate { k -> Int in k += 1; return k } <= limit ? 200 : 429)
            })
            #expect(wrong.verdict == .fail, "limit \(limit)")
        }
        // An answer that is neither admitted nor 429 is a failure too.
        let odd = try Self.run(f, against: Self.target { _ in HTTPResponse(status: 500) })
        #expect(odd.verdict == .fail)
        #expect(odd.findings.first?.expected == "status 200 or 429")
    }
}

/// A value behind a lock, for handlers that record what they saw.
final class LockedBox<Value: Sendable>: @unchecked Sendable {
    private let lock = Lock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    @discardableResult func mutate<R>(_ body: (inout Value) -> R) -> R { lock.withLock { body(&stored) } }
}

/// A request that gets no answer mid-run is an error of that fixture, not a failure of its
/// rules, and the run's exit status says the check is incomplete.
@Suite struct TransportErrorTests {
    /// A target whose connection fails for one request path.
    final class FlakyTarget: Target, @unchecked Sendable {
        let inner: InProcessTarget
        let failing: String
        init(_ inner: InProcessTarget, failing: String) { self.inner = inner; self.failing = failing }
        var name: String { "flaky" }
        var targetFile: TargetFile { inner.targetFile }
        var capabilities: TargetCapabilities { inner.capabilities }
        func session(environment: [String: String], storeUnavailable: Bool) throws -> any TargetSession {
            FlakySession(inner: try inner.session(environment: environment, storeUnavailable: storeUnavailable), failing: failing)
        }
        func startup(environment: [String: String]) throws -> StartupOutcome { try inner.startup(environment: environment) }
        func close() {}
    }

    final class FlakySession: TargetSession {
        let inner: any TargetSession
        let failing: String
        init(inner: any TargetSession, failing: String) { self.inner = inner; self.failing = failing }
        func send(_ request: OutgoingRequest) throws -> HTTPResponse {
            if request.request.target.contains(failing) { throw HTTPClientError("no response: connection reset by peer") }
            return try inner.send(request)
        }
        func advance(by seconds: Double) throws { try inner.advance(by: seconds) }
        func logLines() -> [String] { inner.logLines() }
        func clearLog() { inner.clearLog() }
        func close() { inner.close() }
    }

    @Test func aRequestWithoutAnAnswerIsAnErrorNotAFailure() throws {
        let f = try FixtureFeatureTests.fixture(#"""
        {"fixtures": [{"id": "x", "title": "t", "rules": ["TEN-1"], "steps": [
          {"request": {"path": "/fine"}, "expect": {"status": 200}},
          {"request": {"path": "/resets"}, "expect": {"status": 200}}
        ]}]}
        """#)
        let target = FlakyTarget(FixtureFeatureTests.target { _ in HTTPResponse(status: 200) }, failing: "/resets")
        let result = try FixtureFeatureTests.run(f, against: target)
        #expect(result.verdict == .error)
        #expect(result.findings.first?.rules.isEmpty == true, "no rule is charged with it")
        #expect(result.findings.first?.actual.contains("connection reset") == true)
        let catalog = try RuleCatalog.decode(Array(#"{"sections": [{"prefix": "TEN", "title": "T"}], "rules": [{"id": "TEN-1", "text": "x", "level": "spec", "source": "s"}]}"#.utf8), file: "rules.json")
        let report = RunReport(targetName: "flaky", catalog: catalog, results: [result], seconds: 0, requests: 1)
        #expect(report.counts.errors == 1 && report.counts.failed == 0)
        #expect(report.exitStatus(strict: true) == 2)
        #expect(Report.text(report).contains("1 error: a request got no answer"))
        #expect(Report.junit(report).contains(#"<error type="transport""#))
    }
}

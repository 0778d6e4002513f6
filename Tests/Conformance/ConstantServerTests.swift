import Foundation
import ReferenceTargets
import Testing
import Harness
import Reference
import Wire

/// The suites must check behaviour, not the mere presence of an answer: a server that answers
/// every request the same way, with the security headers the page asks for, must fail almost
/// every fixture that can run against it. Each fixture it still passes is listed below with
/// why that is right; a new fixture that passes a constant server fails this test until it is
/// justified here or made to check something.
@Suite struct ConstantServerTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var status: Int
        var body: String
        /// Fixture ids (and result ids) this server passes, each with why passing is right.
        var justified: [String: String]
        var testDescription: String { name }
    }

    /// The share of the fixtures that run against a constant server that it must fail.
    static let requiredFailureShare = 0.95

    /// Fixtures that never send a request to the server: whatever it answers, they pass.
    static let serverIndependent: [String: String] = [
        "redis.per-process-memory": "deployment fixture: reads the declared workers and backend of the target file; sends no request",
        "cont.documented-shape": "Dockerfile fixture: inspects the Dockerfile lines it carries; sends no request",
        "cont.root-caught": "Dockerfile fixture: inspects the Dockerfile lines it carries; sends no request",
        "cont.volume-noted": "Dockerfile fixture (informational): inspects the Dockerfile lines it carries; sends no request",
    ]

    static let cases: [Case] = [
        Case(name: "200 {} to everything", status: 200, body: "{}", justified: serverIndependent.merging([
            "hdr.defaults.health": "expects 200 and the four header values on /healthz: exactly this server's only answer",
            "check.malformed-bodies.webhook": "expects only no 5xx and the headers for malformed bodies; a constant 200 with the headers is that",
            "gwmsg.admin-allowed": "the one allowed case (the org admin's message, 2xx); the refusals of everyone else fail",
        ]) { a, _ in a }),
        Case(name: "404 to everything", status: 404, body: #"{"detail":"Not Found"}"#, justified: serverIndependent.merging([
            "check.malformed-bodies.webhook": "expects only no 5xx and the headers for malformed bodies; a 404 with the headers is that",
            "check.malformed-bodies.gateway-message": "expects only no 5xx and the headers for malformed bodies; a 404 with the headers is that",
            "check.malformed-requests.odd-methods-and-paths": "expects a 4xx with the headers for odd methods and paths; 404 is one",
            "gwtok.sensitive": "expects a 4xx without a token for unauthenticated or foreign gateway reads; a 404 carries none",
            "wh.unknown-webhook": "expects 404 for webhooks not on the board: this server's only answer",
        ]) { a, _ in a }),
    ]

    /// A server answering every request with `status` and `body`, and the four security
    /// headers (a fresh request id each time, as a real server would).
    static func constantTarget(_ c: Case) throws -> InProcessTarget {
        let world = try Conformance.world()
        let status = c.status, body = Array(c.body.utf8)
        return InProcessTarget(name: "constant \(c.name)", targetFile: ReferenceTarget.targetFile(for: world)) { _, _, _ in
            InProcessService(handler: HandlerFunction { _ in
                var headers = HTTPFields()
                headers.append("Content-Type", "application/json")
                headers.append("X-Content-Type-Options", "nosniff")
                headers.append("X-Frame-Options", "DENY")
                headers.append("Referrer-Policy", "strict-origin-when-cross-origin")
                headers.append("X-Request-Id", UUID().uuidString.lowercased())
                return HTTPResponse(status: status, headers: headers, body: body)
            })
        }
    }

    @Test(arguments: cases)
    func constantServerFailsAlmostEveryFixture(_ c: Case) throws {
        let report = try Runner(suite: try Conformance.suite(), target: try Self.constantTarget(c)).run()
        // Fixtures that send no request do not run against the server at all: they are left
        // out of the share (and must indeed have sent nothing).
        for id in Self.serverIndependent.keys.sorted() {
            let r = try #require(report.results.first { $0.id == id }, "\(id) is gone: remove it from serverIndependent")
            #expect(r.requests == 0, "\(id) sent \(r.requests) requests: it runs against the server after all")
        }
        let ran = report.results.filter { $0.verdict != .skip && Self.serverIndependent[$0.id] == nil }
        let failed = ran.filter { $0.verdict == .fail || $0.verdict == .deviation }
        let passing = ran.filter { $0.verdict != .fail && $0.verdict != .deviation }
        try #require(!ran.isEmpty, "no fixture ran against the constant server")
        let share = Double(failed.count) / Double(ran.count)
        let listing = passing.map { "  \($0.id) (\($0.verdict.rawValue)): \(c.justified[$0.id] ?? "NOT JUSTIFIED")" }
        print("""
            constant server, \(c.name): fails \(failed.count) of \(ran.count) fixtures that ran \
            (\(String(format: "%.1f", share * 100)) %), \(report.results.count - ran.count) skipped; still passing:
            \(listing.joined(separator: "\n"))
            """)
        let failedCount = failed.count, ranCount = ran.count
        #expect(share >= Self.requiredFailureShare,
                "only \(failedCount) of \(ranCount) fixtures fail against \(c.name); passing:\n\(listing.joined(separator: "\n"))")
        let unjustified = passing.filter { c.justified[$0.id] == nil }.map { "\($0.id) (\($0.verdict.rawValue))" }
        #expect(unjustified.isEmpty, "passing against \(c.name) without a justification in ConstantServerTests: \(unjustified)")
        // A justification for a fixture that now fails (or is gone) is stale: remove it.
        let stale = c.justified.keys.filter { id in Self.serverIndependent[id] == nil && !passing.contains { $0.id == id } }.sorted()
        #expect(stale.isEmpty, "justified but no longer passing against \(c.name): \(stale)")
    }
}

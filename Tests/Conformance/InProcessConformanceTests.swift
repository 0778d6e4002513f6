import Foundation
import ReferenceTargets
import Testing
import Harness
import Reference

/// Every fixture against the in-process reference: the reference must pass all of them
/// (skips only where a fixture needs something the in-process target does not offer).
@Suite struct InProcessConformanceTests {
    @Test func suiteLoads() throws {
        let suite = try Conformance.suite()
        #expect(!suite.fixtures.isEmpty)
    }

    @Test(arguments: Conformance.fixtureIDs)
    func fixture(_ id: String) throws {
        let suite = try Conformance.suite()
        let fixture = try #require(suite.fixtures.first { $0.id == id })
        let target = ReferenceTarget.inProcess(world: try Conformance.world())
        let result = try Runner(suite: suite, target: target).runOne(fixture)
        Conformance.recordProblems(result, catalog: suite.catalog)
        #expect([.pass, .informational, .skip].contains(result.verdict), "\(id): \(result.verdict)")
        if result.verdict == .skip {
            // In-process, only fixtures about things the embedded reference does not have may skip.
            let reason = result.skipReason ?? ""
            #expect(reason.contains("Dockerfile") || reason.contains("redis") || reason.contains("Redis"), "\(id) skipped: \(reason)")
        }
    }

    @Test func wholeRunPassesWithHeadersOnEveryResponse() throws {
        let suite = try Conformance.suite()
        let report = try Runner(suite: suite, target: ReferenceTarget.inProcess(world: try Conformance.world())).run()
        for r in report.results { Conformance.recordProblems(r, catalog: suite.catalog) }
        let headers = try #require(report.results.first { $0.id == SecurityHeaderCheck.resultID })
        #expect(headers.verdict == .pass)
        #expect(report.requests > 500)
        #expect(report.counts.failed == 0 && report.counts.deviations == 0)
    }
}

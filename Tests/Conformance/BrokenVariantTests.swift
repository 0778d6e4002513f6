import Foundation
import Testing
import Harness
import Reference

/// The suite must be able to fail: each deliberately broken variant of the reference is run
/// through every fixture, and the report must name the rule it breaks. The unmodified
/// reference must pass everything.
@Suite struct BrokenVariantTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var mutation: ReferenceMutations
        /// Rules at least one of which must carry a finding.
        var rules: [String]
        /// A rule of the page is broken (a failure); otherwise only service behaviour (a deviation).
        var pageRule: Bool
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "no headers on 5xx", mutation: .noHeadersOn5xx, rules: ["HDR-1"], pageRule: true),
        Case(name: "limit off by one", mutation: .limitOffByOne, rules: ["RL-2", "RL-3"], pageRule: true),
        Case(name: "blocked attempts not recorded", mutation: .blockedAttemptsNotRecorded, rules: ["RL-4", "RL-5"], pageRule: false),
        Case(name: "signature check skipped", mutation: .skipSignatureCheck, rules: ["SIG-6"], pageRule: true),
        Case(name: "size checked only by Content-Length", mutation: .sizeCheckedOnlyByContentLength, rules: ["SIZE-2"], pageRule: true),
        Case(name: "proxy headers trusted from anyone", mutation: .trustProxyHeadersFromAnyone, rules: ["RL-1", "RL-12"], pageRule: true),
        Case(name: "whole token logged as its prefix", mutation: .logWholeToken, rules: ["LOG-2"], pageRule: true),
    ]

    @Test(arguments: cases)
    func suiteFailsBrokenVariant(_ c: Case) throws {
        let suite = try Conformance.suite()
        let target = ReferenceTarget.inProcess(world: try Conformance.world(), mutations: c.mutation)
        let report = try Runner(suite: suite, target: target).run()
        let named = c.rules.flatMap { report.findings(for: $0) }
        #expect(!named.isEmpty, "no finding names \(c.rules.joined(separator: " or ")) for \(c.name)")
        if c.pageRule {
            #expect(report.counts.failed > 0, "\(c.name) broke a rule of the page, but nothing failed")
            #expect(named.contains { $0.1.level == .spec && $0.0.verdict == .fail })
        } else {
            #expect(report.counts.failed + report.counts.deviations > 0)
        }
        let verdicts = report.ruleVerdicts
        #expect(c.rules.contains { verdicts[$0] == .fail || verdicts[$0] == .deviation })
    }

    @Test func everyMutationIsCovered() {
        let covered = BrokenVariantTests.cases.reduce(ReferenceMutations()) { $0.union($1.mutation) }
        for (name, m) in ReferenceMutations.named {
            #expect(covered.contains(m), "no broken-variant case for \(name)")
        }
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

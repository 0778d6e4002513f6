import Foundation
import Testing
import Harness
import Reference
import TestSupport

/// What every conformance test shares: the suite (rule catalog and fixtures) and the world.
enum Conformance {
    /// The result of loading `Fixtures/` (a fixture error carries its file and JSON path).
    static let loaded: Result<Suite, Error> = Result { try Suite.load(fixturesDirectory: TestPaths.fixtures) }

    static func suite() throws -> Suite { try loaded.get() }

    /// Fixture ids for `@Test(arguments:)` (empty when the fixtures do not load; the suite
    /// test below then fails with the reason).
    static var fixtureIDs: [String] { (try? loaded.get())?.fixtures.map(\.id) ?? [] }

    static func world() throws -> World {
        try World.load(from: TestPaths.fixtures.appendingPathComponent("world.json"))
    }

    /// Runs the fixtures covering `rules` (sections or rules, as `--rules` takes them) against
    /// `target`.
    static func run(_ target: any Target, rules: [String]) throws -> RunReport {
        var options = RunOptions()
        options.ruleSelectors = rules
        return try Runner(suite: try suite(), target: target, options: options).run()
    }

    /// Records an issue per failing or deviating result (with the rule, expected, actual and
    /// the request) and per security-header problem.
    static func recordProblems(_ result: FixtureResult, catalog: RuleCatalog, deviationsToo: Bool = true,
                               sourceLocation: SourceLocation = #_sourceLocation) {
        if result.verdict == .fail || (deviationsToo && result.verdict == .deviation) {
            for f in result.findings {
                let rules = f.rules.map { id in "\(id): \(catalog[id]?.text ?? "?")" }.joined(separator: "\n  ")
                Issue.record("\(result.id) \(result.verdict.rawValue)\n  \(rules)\n  expected: \(f.expected)\n  actual: \(f.actual)\n  request: \(f.request ?? "-")",
                             sourceLocation: sourceLocation)
            }
        }
        for p in result.headerProblems {
            Issue.record("\(result.id): security headers: expected \(p.expected), actual \(p.actual), request \(p.request ?? "-")",
                         sourceLocation: sourceLocation)
        }
    }
}

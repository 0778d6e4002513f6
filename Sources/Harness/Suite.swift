import Foundation
import Wire

/// The rule catalog and the fixtures, checked against each other.
public struct Suite: Sendable {
    public var catalog: RuleCatalog
    public var fixtures: [Fixture]

    /// Checks that every rule a fixture (or one of its expectations) names exists.
    public init(catalog: RuleCatalog, fixtures: [Fixture]) throws {
        for f in fixtures {
            var named = f.rules
            for step in f.steps {
                guard case .request(let r) = step else { continue }
                for e in r.expectations { named += e.rules ?? [] }
                named += r.observation?.rules ?? []
            }
            for id in named where catalog[id] == nil {
                throw InputError(file: f.file, message: "fixture \"\(f.id)\" names rule \"\(id)\", which is not in the rule catalog")
            }
        }
        self.catalog = catalog
        self.fixtures = fixtures
    }

    /// Loads `rules.json` and every fixture under `suites/` from a fixtures directory.
    public static func load(fixturesDirectory: URL) throws -> Suite {
        let catalog = try RuleCatalog.load(from: fixturesDirectory.appendingPathComponent("rules.json"))
        let fixtures = try FixtureDecoder.loadDirectory(fixturesDirectory.appendingPathComponent("suites"))
        return try Suite(catalog: catalog, fixtures: fixtures)
    }

    /// Fixtures covering at least one selected rule (all when `selectors` is empty).
    public func selected(_ selectors: [String]) -> [Fixture] {
        guard !selectors.isEmpty else { return fixtures }
        return fixtures.filter { f in f.rules.contains { id in selectors.contains { RuleCatalog.matches(id, selector: $0) } } }
    }

    /// Rules with no fixture (the coverage gate).
    public var uncoveredRules: [Rule] {
        let covered = Set(fixtures.flatMap(\.rules))
        return catalog.rules.filter { !covered.contains($0.id) }
    }

    /// The level a failure attributed to `rules` is reported at: spec when any is stated by the page.
    public func level(of rules: [String]) -> RuleLevel {
        rules.contains { catalog[$0]?.level == .spec } ? .spec : .service
    }

    /// The section a fixture is reported under.
    public func section(of rules: [String]) -> String {
        guard let first = rules.first, let rule = catalog[first] else { return "?" }
        return rule.section
    }
}

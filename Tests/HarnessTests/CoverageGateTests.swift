import Foundation
import Testing
import TestSupport
@testable import Harness
import Wire

/// The coverage gate: the catalog and the fixtures must describe each other completely.
@Suite struct CoverageGateTests {
    static let fixtures = TestPaths.fixtures

    @Test func catalogDecodes() throws {
        let catalog = try RuleCatalog.load(from: Self.fixtures.appendingPathComponent("rules.json"))
        #expect(catalog.rules.count >= 60)
        for section in ["HDR", "RL", "REDIS", "SIG", "SIZE", "GWTOK", "CONT", "PI", "LOG", "TEN", "GWMSG"] {
            #expect(catalog.rules.contains { $0.section == section && $0.level == .spec }, "no page rule in \(section)")
        }
    }

    static var fixtureFiles: [URL] {
        let dir = fixtures.appendingPathComponent("suites")
        let e = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil)
        var out: [URL] = []
        while let url = e?.nextObject() as? URL { if url.pathExtension == "json" { out.append(url) } }
        return out.sorted { $0.path < $1.path }
    }

    @Test(arguments: fixtureFiles.map(\.lastPathComponent))
    func fixtureFileDecodes(_ name: String) throws {
        let url = Self.fixtures.appendingPathComponent("suites").appendingPathComponent(name)
        let fixtures = try FixtureDecoder.loadFile(url)
        #expect(!fixtures.isEmpty)
    }

    @Test func everyRuleHasAFixture() throws {
        let suite = try Suite.load(fixturesDirectory: Self.fixtures)
        let uncovered = suite.uncoveredRules.map(\.id)
        #expect(uncovered.isEmpty, "rules without a fixture: \(uncovered.joined(separator: ", "))")
    }

    @Test func everyFixtureNamesExistingRules() throws {
        // Suite.init throws when a fixture or one of its expectations names an unknown rule.
        let suite = try Suite.load(fixturesDirectory: Self.fixtures)
        for fixture in suite.fixtures {
            #expect(!fixture.rules.isEmpty, "\(fixture.id) names no rule")
            for id in fixture.rules { #expect(suite.catalog[id] != nil, "\(fixture.id) names unknown rule \(id)") }
        }
    }

    @Test func gateCatchesAnUncoveredRule() throws {
        let suite = try Suite.load(fixturesDirectory: Self.fixtures)
        let catalog = RuleCatalog(sections: suite.catalog.sections,
                                  rules: suite.catalog.rules + [Rule(id: "HDR-99", section: "HDR", text: "x", level: .spec, source: "test")])
        let widened = try Suite(catalog: catalog, fixtures: suite.fixtures)
        #expect(widened.uncoveredRules.map(\.id) == ["HDR-99"])
    }

    @Test func gateCatchesAFixtureNamingAnUnknownRule() throws {
        let suite = try Suite.load(fixturesDirectory: Self.fixtures)
        var bad = try #require(suite.fixtures.first)
        bad.rules = ["NOPE-1"]
        #expect(throws: InputError.self) { try Suite(catalog: suite.catalog, fixtures: [bad]) }
    }
}

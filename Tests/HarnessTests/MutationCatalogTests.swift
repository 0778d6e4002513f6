import Foundation
import ReferenceTargets
import Testing
import Harness
import Reference
import TestSupport
import Wire

/// `Fixtures/mutations.json` is checked when it is read: every mistake names the file, the JSON
/// path and what was expected.
@Suite struct MutationCatalogTests {
    static let suite: Result<Suite, Error> = Result { try Suite.load(fixturesDirectory: TestPaths.fixtures) }

    func problem(_ text: String) -> String? {
        do {
            _ = try MutationCatalog.decode(Array(text.utf8), file: "mutations.json", suite: try Self.suite.get())
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func bundledCatalogDecodes() throws {
        let catalog = try MutationCatalog.load(fixturesDirectory: TestPaths.fixtures, suite: try Self.suite.get())
        #expect(!catalog.mutations.isEmpty)
        #expect(catalog["skip-signature-check"]?.mutation == .skipSignatureCheck)
    }

    @Test func aGoodEntry() throws {
        let catalog = try MutationCatalog.decode(Array(#"""
            {"$comment": "x", "mutations": [{"name": "skip-signature-check", "breaks": ["SIG-6"], "$why": "y",
              "caughtBy": [{"fixture": "sig.missing", "verdict": "fail"}, {"fixture": "sig.own-header", "verdict": "deviation"}]}]}
            """#.utf8), file: "m.json", suite: try Self.suite.get())
        let entry = try #require(catalog.mutations.first)
        #expect(entry.breaks == ["SIG-6"])
        #expect(entry.caughtBy == [.init(fixture: "sig.missing", verdict: .fail), .init(fixture: "sig.own-header", verdict: .deviation)])
        #expect(catalog.provenRules == ["SIG-6"])
    }

    @Test(arguments: [
        (#"{"mutation": []}"#, #"$.mutation: unknown member "mutation" (did you mean "mutations"?)"#),
        (#"{"mutations": []}"#, "$.mutations: expected a non-empty array"),
        (#"{"mutations": [{"name": "no-such", "breaks": ["SIG-6"], "caughtBy": [{"fixture": "sig.missing", "verdict": "fail"}]}]}"#,
         #"$.mutations[0].name: "no-such" is not a mutation of the reference"#),
        (#"{"mutations": [{"name": "skip-signature-check", "breaks": ["SIG-99"], "caughtBy": [{"fixture": "sig.missing", "verdict": "fail"}]}]}"#,
         #"$.mutations[0].breaks[0]: rule "SIG-99" is not in the rule catalog"#),
        (#"{"mutations": [{"name": "skip-signature-check", "breaks": ["sig"], "caughtBy": [{"fixture": "sig.missing", "verdict": "fail"}]}]}"#,
         "$.mutations[0].breaks[0]: expected a rule id of the form PREFIX-NUMBER"),
        (#"{"mutations": [{"name": "skip-signature-check", "breaks": ["PI-3"], "caughtBy": [{"fixture": "sig.missing", "verdict": "fail"}]}]}"#,
         #"$.mutations[0].breaks[0]: rule "PI-3" is marked unprovable"#),
        (#"{"mutations": [{"name": "skip-signature-check", "breaks": ["SIG-6"], "caughtBy": [{"fixture": "sig.nope", "verdict": "fail"}]}]}"#,
         #"$.mutations[0].caughtBy[0].fixture: no fixture has the id "sig.nope""#),
        (#"{"mutations": [{"name": "skip-signature-check", "breaks": ["SIG-6"], "caughtBy": [{"fixture": "sig.missing", "verdict": "pass"}]}]}"#,
         #"$.mutations[0].caughtBy[0].verdict: expected one of "fail", "deviation", found "pass""#),
        (#"{"mutations": [{"name": "skip-signature-check", "breaks": ["SIG-6"], "caughtBy": [{"fixture": "sig.missing", "verdict": "fail", "rule": "SIG-6"}]}]}"#,
         #"$.mutations[0].caughtBy[0].rule: unknown member "rule""#),
        (#"{"mutations": [{"name": "skip-signature-check", "breaks": ["SIG-6"], "caughtBy": []}]}"#,
         "$.mutations[0].caughtBy: expected a non-empty array"),
        (#"{"mutations": [{"name": "skip-signature-check", "breaks": ["SIG-6"]}]}"#,
         #"$.mutations[0]: missing required member "caughtBy""#),
        (#"{"mutations": [{"name": "skip-signature-check", "breaks": ["SIG-6"], "caughtBy": [{"fixture": "sig.missing", "verdict": "fail"}]}, {"name": "skip-signature-check", "breaks": ["SIG-6"], "caughtBy": [{"fixture": "sig.missing", "verdict": "fail"}]}]}"#,
         #"$.mutations[1].name: mutation "skip-signature-check" is listed twice"#),
        ("{", "mutations.json:1:2: not valid JSON"),
    ])
    func errorsNameFileAndPath(_ text: String, _ expected: String) {
        let message = problem(text)
        #expect(message?.hasPrefix("mutations.json:") == true, "\(message ?? "decoded")")
        #expect(message?.contains(expected) == true, "\(message ?? "decoded") does not contain \(expected)")
    }

    @Test func unprovableIsOptionalAndDecoded() throws {
        let catalog = try RuleCatalog.decode(Array(#"""
            {"sections": [{"prefix": "X", "title": "x"}],
             "rules": [{"id": "X-1", "text": "t", "level": "spec", "source": "s", "unprovable": "advice"},
                       {"id": "X-2", "text": "t", "level": "spec", "source": "s"}]}
            """#.utf8), file: "rules.json")
        #expect(catalog["X-1"]?.unprovable == "advice")
        #expect(catalog["X-2"]?.unprovable == nil)
        #expect(throws: InputError.self) {
            try RuleCatalog.decode(Array(#"{"sections": [{"prefix": "X", "title": "x"}], "rules": [{"id": "X-1", "text": "t", "level": "spec", "source": "s", "unprovable": ""}]}"#.utf8), file: "rules.json")
        }
    }
}

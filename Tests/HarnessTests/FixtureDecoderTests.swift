import Foundation
import TargetFiles
import Testing
@testable import Harness
import Wire

/// Malformed fixtures, catalogs and target files are reported with the file, the JSON path
/// and what was expected.
@Suite struct FixtureDecoderTests {
    func decodeError(_ text: String) -> InputError? {
        do {
            _ = try FixtureDecoder.decode(Array(text.utf8), file: "suite.json")
            return nil
        } catch let e as InputError {
            return e
        } catch {
            Issue.record("not an InputError: \(error)")
            return nil
        }
    }

    static let valid = """
    {"fixtures": [{"id": "a.b", "title": "t", "rules": ["RL-3"], "steps": [
      {"request": {"method": "POST", "path": "/api/v1/boards/{board}/webhooks/{webhook.open}", "body": {"size": "limit+1"}},
       "repeat": 61, "expect": [{"iterations": "1-60", "status": 202}, {"iterations": 61, "status": 429}]}
    ]}]}
    """

    @Test func validFixtureDecodes() throws {
        let fixtures = try FixtureDecoder.decode(Array(Self.valid.utf8), file: "suite.json")
        let f = try #require(fixtures.first)
        #expect(f.id == "a.b" && f.rules == ["RL-3"])
        guard case .request(let step) = try #require(f.steps.first) else { Issue.record("not a request step"); return }
        #expect(step.repeatCount == 61)
        #expect(step.expectations[1].iterations == IterationRange(lower: 61, upper: 61))
        guard case .size(let size) = step.request.body else { Issue.record("not a generated body"); return }
        #expect(size == SizeExpression(symbol: "limit", offset: 1))
        #expect(f.symbols == ["board", "webhook.open", "limit"])
    }

    @Test(arguments: [
        // (fixture text, JSON path, words of the message)
        (#"{"fixtures": [{"id": "x", "title": "t", "rules": ["RL-3"], "steps": [{"request": {"path": "/a"}, "repeat": "61", "expect": {"status": 200}}]}]}"#,
         "$.fixtures[0].steps[0].repeat", "expected a whole number from 1 to 1000, found the string \"61\""),
        (#"{"fixtures": [{"id": "x", "title": "t", "rules": ["RL-3"], "steps": [{"request": {"path": "/a"}, "expect": {"stauts": 200}}]}]}"#,
         "$.fixtures[0].steps[0].expect.stauts", "did you mean \"status\""),
        (#"{"fixtures": [{"id": "x", "title": "t", "rules": ["RL-3"], "steps": [{"request": {"path": "/a/{bord}"}, "expect": {"status": 200}}]}]}"#,
         "$.fixtures[0].steps[0].request.path", "unknown symbol {bord} (did you mean {board}?)"),
        (#"{"fixtures": [{"id": "x", "title": "t", "rules": [], "steps": []}]}"#,
         "$.fixtures[0].rules", "expected a non-empty array"),
        (#"{"fixtures": [{"id": "x", "title": "t", "rules": ["RL-3"], "steps": [{"request": {"path": "/a"}}]}]}"#,
         "$.fixtures[0].steps[0]", "needs \"expect\" or \"observe\""),
        (#"{"fixtures": [{"id": "x", "title": "t", "rules": ["RL-3"], "steps": [{"request": {"path": "/a"}, "repeat": 5, "expect": {"iterations": "4-9", "status": 200}}]}]}"#,
         "$.fixtures[0].steps[0].expect.iterations", "outside 1-5"),
        (#"{"fixtures": [{"id": "x", "title": "t", "rules": ["RL-3"], "steps": [{"request": {"path": "/a", "framing": {"declaredLength": "lots"}}, "expect": {"status": 200}}]}]}"#,
         "$.fixtures[0].steps[0].request.framing.declaredLength", "\"limit+N\""),
        (#"{"fixtures": [{"id": "Bad Id", "title": "t", "rules": ["RL-3"], "steps": []}]}"#,
         "$.fixtures[0].id", "lower-case letters"),
        (#"{"fixtures": [{"id": "x", "title": "t", "rules": ["RL-3"], "kind": "dockerfile", "dockerfile": {"lines": ["FROM a"]}, "expect": {}}]}"#,
         "$.fixtures[0].expect", "at least one of"),
        (#"{"fixtures": [{"id": "x", "title": "t", "rules": ["RL-3"], "steps": [{"request": {"path": "/a", "body": {"json": {"k": "{nope}"}}}, "expect": {"status": 200}}]}]}"#,
         "$.fixtures[0].steps[0].request.body.json.k", "unknown symbol {nope}"),
        (#"{"fixtures": [{"id": "x", "title": "t", "rules": ["RL-3"], "steps": [{"request": {"path": "/a/{captured.p}"}, "expect": {"status": 200}}]}]}"#,
         "$.fixtures[0].steps[0]", "{captured.p} is not captured by an earlier step"),
        (#"{"fixtures": [{"id": "x", "title": "t", "rules": ["RL-3"], "steps": [{"request": {"path": "/a"}, "expect": {"status": 200}, "capture": {"p-1": "id"}}]}]}"#,
         "$.fixtures[0].steps[0].capture[\"p-1\"]", "capture name of letters"),
        (#"{"fixtures": [{"id": "x", "title": "t", "rules": ["RL-3"], "steps": [{"request": {"path": "/a/{board|lower}"}, "expect": {"status": 200}}]}]}"#,
         "$.fixtures[0].steps[0].request.path", "unknown filter |lower"),
        (#"{"fixtures": [{"id": "x", "title": "t", "rules": ["RL-3"], "kind": "limit", "policy": "login", "admitted": 202, "request": {"path": "/a"}}]}"#,
         "$.fixtures[0].policy", "\"webhook_ingest\""),
        (#"{"fixtures": [{"id": "x", "title": "t", "rules": ["RL-3"], "kind": "limit", "policy": "agent_auth", "admitted": 429, "request": {"path": "/a"}}]}"#,
         "$.fixtures[0].admitted", "from 200 to 299"),
        (#"{"fixtures": [{"id": "x", "title": "t", "rules": ["RL-3"], "requires": {"defaultSource": "yes"}, "steps": [{"request": {"path": "/a"}, "expect": {"status": 200}}]}]}"#,
         "$.fixtures[0].requires.defaultSource", "true or false"),
    ])
    func errorsNamePathAndExpectation(_ text: String, _ path: String, _ words: String) throws {
        let e = try #require(decodeError(text), "decoded: \(text)")
        #expect(e.file == "suite.json")
        #expect(e.path == path, "\(e)")
        #expect(e.description.contains(words), "\(e)")
        #expect(e.line >= 1, "\(e)")
    }

    @Test func syntaxErrorNamesLineAndColumn() throws {
        let e = try #require(decodeError("{\"fixtures\": [\n  {\"id\": \"x\",,}\n]}"))
        #expect(e.line == 2 && e.column == 14, "\(e)")
        #expect(e.description.hasPrefix("suite.json:2:14: not valid JSON"))
    }

    @Test func catalogErrorsNamePath() {
        let text = #"{"sections": [{"prefix": "RL", "title": "Rate limiting"}], "rules": [{"id": "RL-1", "text": "x", "level": "page", "source": "s"}]}"#
        do {
            _ = try RuleCatalog.decode(Array(text.utf8), file: "rules.json")
            Issue.record("decoded a catalog with a bad level")
        } catch let e as InputError {
            #expect(e.path == "$.rules[0].level")
            #expect(e.description.contains("one of \"spec\", \"service\""))
        } catch {
            Issue.record("\(error)")
        }
        let unknownSection = #"{"sections": [{"prefix": "RL", "title": "R"}], "rules": [{"id": "XX-1", "text": "x", "level": "spec", "source": "s"}]}"#
        #expect(throws: InputError.self) { try RuleCatalog.decode(Array(unknownSection.utf8), file: "rules.json") }
    }

    @Test func targetFileErrorsNamePath() {
        let cases: [(String, String, String)] = [
            (#"{"baseURL": "ftp://x"}"#, "$.baseURL", "http:// or https://"),
            (#"{"webhooks": {"signed": {"id": "w"}}}"#, "$.webhooks.signed", "needs its \"secret\""),
            (#"{"config": {"WEBHOOK_MAX_PAYLOAD_BYTES": "big"}}"#, "$.config", "WEBHOOK_MAX_PAYLOAD_BYTES must be a whole number"),
            (#"{"sourceAddresses": ["localhost"]}"#, "$.sourceAddresses[0]", "expected an IP address"),
            (#"{"workers": 0}"#, "$.workers", "from 1 to 4096"),
            (#"{"boards": {"mine": "b"}}"#, "$.boards.mine", "unknown member \"mine\""),
        ]
        for (text, path, words) in cases {
            do {
                _ = try TargetFile.decode(Array(text.utf8), file: "target.json")
                Issue.record("decoded \(text)")
            } catch let e as InputError {
                #expect(e.path == path, "\(e)")
                #expect(e.description.contains(words), "\(e)")
            } catch {
                Issue.record("\(error)")
            }
        }
    }

    @Test func templateIsADocumentedValidTargetFile() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/targets/template.json")
        let t = try TargetFile.load(from: url)
        #expect(t.baseURL != nil)
        for symbol in TargetFile.symbols where symbol.providedByTargetFile {
            #expect(t.value(of: symbol.name) != nil, "the template does not show {\(symbol.name)}")
        }
    }
}

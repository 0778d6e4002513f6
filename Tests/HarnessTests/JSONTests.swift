import Testing
@testable import Harness

@Suite struct JSONTests {
    @Test func parsesWithPositionsAndKeyOrder() throws {
        let json = try JSONParser.parse("{\n  \"b\": 1,\n  \"a\": [true, null, \"x\"]\n}")
        let members = try #require(json.objectValue)
        #expect(members.map(\.key) == ["b", "a"])
        let a = try #require(json["a"])
        #expect(a.line == 3 && a.column == 8)
        #expect(a.arrayValue?.first?.boolValue == true)
    }

    @Test func booleansAreNotNumbers() throws {
        #expect(!JSON.equal(try JSONParser.parse("true"), try JSONParser.parse("1")))
        #expect(JSON.equal(try JSONParser.parse("1.0"), try JSONParser.parse("1")))
        #expect(JSON.equal(try JSONParser.parse("{\"a\":1,\"b\":2}"), try JSONParser.parse("{\"b\":2,\"a\":1}")))
    }

    @Test(arguments: [
        ("{\"a\" 1}", 1, 6, "expected ':'"),
        ("[1,\n 2,,]", 2, 4, "expected a value"),
        ("\"abc", 1, 5, "unterminated string"),
        ("{\"a\":1} x", 1, 9, "after the end"),
        ("[01]", 1, 3, "expected ',' or ']'"),
        ("\"\\ud800\"", 1, 8, "surrogate"),
    ])
    func syntaxErrorsNamePosition(_ text: String, _ line: Int, _ column: Int, _ message: String) {
        do {
            _ = try JSONParser.parse(text)
            Issue.record("parsed \(text)")
        } catch let e as JSONSyntaxError {
            #expect(e.line == line && e.column == column, "\(e)")
            #expect(e.message.contains(message), "\(e)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func depthIsBounded() {
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(deep) }
    }

    @Test func invalidUTF8InStringIsAnError() {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse([0x22, 0xFF, 0xFE, 0x22]) }
    }

    @Test func writesEscapedCompactJSON() throws {
        let value = JSON.object([("s", .string("a\"b\n\u{1}")), ("n", .number(3)), ("t", .bool(true)), ("z", .null)])
        #expect(value.description == "{\"s\":\"a\\\"b\\n\\u0001\",\"n\":3,\"t\":true,\"z\":null}")
        #expect(JSON.equal(try JSONParser.parse(value.description), value))
    }

    @Test func pathsReachWildcards() throws {
        let json = try JSONParser.parse("{\"items\":[{\"id\":\"a\"},{\"id\":\"b\"}],\"total\":2}")
        #expect(JSONPath("items.*.id").values(in: json).compactMap(\.stringValue) == ["a", "b"])
        #expect(JSONPath("items.1.id").values(in: json).first?.stringValue == "b")
        #expect(JSONPath("items.5.id").values(in: json).isEmpty)
        #expect(JSONPath("").values(in: json).count == 1)
    }
}

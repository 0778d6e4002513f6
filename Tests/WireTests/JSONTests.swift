import Testing
import Wire

/// The one JSON parser (request bodies, files people write, response bodies, profile lines),
/// its values and the cursor that reads files with JSON paths in its errors.
@Suite struct JSONParserTests {
    @Test func parsesEveryKindOfValue() throws {
        let v = try JSONValue.parse(#" {"a": [1, -2.5e+3, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"], "b": {}} "#)
        #expect(v == .object([
            ("a", .array([.number("1"), .number("-2.5e+3"), .bool(true), .bool(false), .null, .string("x\"\\/\u{8}\u{c}\n\r\té😀")])),
            ("b", .object([])),
        ]))
    }

    @Test func valuesCarryTheirOffsetsAndMembersTheirOrder() throws {
        let text = "{\n  \"b\": 1,\n  \"a\": [true, null, \"x\"]\n}"
        let json = try JSONValue.parse(text)
        let members = try #require(json.objectValue)
        #expect(members.map(\.key) == ["b", "a"])
        let a = try #require(json["a"])
        let offset = try #require(a.offset)
        #expect(TextPosition(offset: offset, in: Array(text.utf8)) == TextPosition(line: 3, column: 8))
        #expect(a.arrayValue?.first?.boolValue == true)
        #expect(a.arrayValue?[2].offset == offset + 13)
    }

    @Test func numbersKeepTheirLiteralText() throws {
        for literal in ["0", "-0", "1e999999", "123456789012345678901234567890", "0.000000000000000000001", "1E+2"] {
            #expect(try JSONValue.parse(literal) == .number(literal))
            #expect(try JSONValue.parse(literal).encodedString == literal)
        }
    }

    @Test func booleansAreNotNumbersAndStructuralEqualityIgnoresOrder() throws {
        #expect(!JSONValue.equal(try JSONValue.parse("true"), try JSONValue.parse("1")))
        #expect(JSONValue.equal(try JSONValue.parse("1.0"), try JSONValue.parse("1")))
        #expect(try JSONValue.parse("1.0") != JSONValue.parse("1"))
        #expect(JSONValue.equal(try JSONValue.parse("{\"a\":1,\"b\":2}"), try JSONValue.parse("{\"b\":2,\"a\":1}")))
    }

    @Test(arguments: ["", " ", "NaN", "Infinity", "-", "01", "1.", ".5", "1e", "+1", "[", "]", "{\"a\"}", "{\"a\":}", "[1 2]", "\"\u{1}\"",
                      "\"abc", "'a'", "{a:1}", "[1,]", "1 2", "\"\\x\"", "\"\\ud800x\"", "truex", "nulL", "\u{FEFF}1"])
    func rejectsWhatIsNotJSON(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func aByteOrderMarkIsAcceptedOnlyWhenAsked() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("{\"a\": 1}".utf8)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(bytes) }
        let value = try JSONValue.parse(bytes, allowingByteOrderMark: true)
        #expect(value["a"] == .number("1"))
        // Columns on the first line do not count the mark.
        #expect(TextPosition(offset: try #require(value["a"]?.offset), in: bytes) == TextPosition(line: 1, column: 7))
    }

    @Test(arguments: [
        ("{\"a\" 1}", 1, 6, "expected ':'"),
        ("[1,\n 2,,]", 2, 4, "expected a value"),
        ("\"abc", 1, 5, "unterminated string"),
        ("{\"a\":1} x", 1, 9, "after the end"),
        ("[01]", 1, 3, "expected ',' or ']'"),
        ("\"\\ud800\"", 1, 8, "surrogate"),
        ("[1, x]", 1, 5, "found 'x'"),
    ])
    func syntaxErrorsSayWhere(_ text: String, _ line: Int, _ column: Int, _ reason: String) {
        do {
            _ = try JSONValue.parse(text)
            Issue.record("parsed \(text)")
        } catch {
            #expect(TextPosition(offset: error.offset, in: Array(text.utf8)) == TextPosition(line: line, column: column), "\(error)")
            #expect(error.reason.contains(reason), "\(error)")
            #expect(error.description.contains("byte \(error.offset)"))
        }
    }

    @Test func rejectsInvalidUTF8InStrings() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xFF, 0x22]) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xFF, 0xFE, 0x22]) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xED, 0xA0, 0x80, 0x22]) }
    }

    @Test func nestingIsBoundedBeforeRecursing() throws {
        let ok = String(repeating: "[", count: JSONValue.maximumDepth) + String(repeating: "]", count: JSONValue.maximumDepth)
        _ = try JSONValue.parse(ok)
        let deep = String(repeating: "[", count: JSONValue.maximumDepth + 1) + String(repeating: "]", count: JSONValue.maximumDepth + 1)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
        let veryDeep = String(repeating: "{\"k\":[", count: 200_000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(veryDeep) }
    }

    @Test func encodingEscapesControlCharactersAndRoundTrips() throws {
        let v = JSONValue.object([("k\n", .string("a\u{0}b\u{1f}\"\\\u{7f}é")), ("n", .array([.null, .int(-3)])), ("t", .bool(true))])
        let text = v.encodedString
        #expect(text == #"{"k\n":"a\u0000b\u001f\"\\\u007fé","n":[null,-3],"t":true}"#)
        #expect(v.description == text)
        #expect(try JSONValue.parse(text) == v)
        #expect(try JSONValue.parse(v.pretty) == v)
    }

    @Test func duplicateMembersAreKeptInOrder() throws {
        let v = try JSONValue.parse(#"{"a":1,"a":2}"#)
        #expect(v.encodedString == #"{"a":1,"a":2}"#)
        #expect(v["a"] == .number("1"))
    }
}

@Suite struct JSONCursorTests {
    static func error(_ text: String, _ read: (JSONCursor) throws(InputError) -> Void) -> InputError? {
        do {
            try read(try JSONCursor.parse(Array(text.utf8), file: "f.json"))
            return nil
        } catch {
            return error
        }
    }

    @Test func errorsNameFileLineColumnAndPath() throws {
        let e = try #require(Self.error("{\n  \"list\": [1,\n    \"two\"]\n}") { root throws(InputError) in
            for item in try root.required("list").array() { _ = try item.int(in: 0...9) }
        })
        #expect(e.file == "f.json" && e.line == 3 && e.column == 5 && e.path == "$.list[1]")
        #expect(e.description == "f.json:3:5: $.list[1]: expected a whole number from 0 to 9, found the string \"two\"")
    }

    @Test func aSyntaxErrorNamesLineAndColumn() throws {
        let e = try #require(Self.error("{\"a\": 1,\n \"b\" 2}") { _ throws(InputError) in })
        #expect(e.line == 2 && e.column == 6 && e.path == nil)
        #expect(e.description.hasPrefix("f.json:2:6: not valid JSON: expected ':'"))
    }

    @Test func unknownMembersAreRefusedWithASuggestion() throws {
        let e = try #require(Self.error(#"{"stauts": 200, "$comment": "ok"}"#) { root throws(InputError) in
            try root.allowOnly(["status", "body"])
        })
        #expect(e.path == "$.stauts")
        #expect(e.message.contains("did you mean \"status\""))
        let twice = try #require(Self.error(#"{"a": 1, "a": 2}"#) { root throws(InputError) in try root.allowOnly(["a"]) })
        #expect(twice.message.contains("appears twice") && twice.column == 15)
    }

    @Test func pathsQuoteNamesThatAreNotPlain() {
        #expect(JSONCursor.join("$", "rate") == "$.rate")
        #expect(JSONCursor.join("$.capture", "p-1") == "$.capture[\"p-1\"]")
        #expect(JSONCursor.join("$", "1st") == "$[\"1st\"]")
    }

    @Test func valuesBuiltInCodeHaveNoPosition() {
        let e = JSONCursor(json: .string("x"), path: "$.a", file: "code").error("bad")
        #expect(e.line == 0 && e.column == nil)
        #expect(e.description == "code: $.a: bad")
    }

    @Test func rangesAreShownAsWritten() throws {
        let e = try #require(Self.error(#"{"rate": 2e7}"#) { root throws(InputError) in _ = try root.required("rate").double(in: 0...1e7) })
        #expect(e.message == "expected a number from 0 to 10000000, found 2e7")
    }
}

import Testing
import Reference
import Wire

@Suite struct JSONTests {
    @Test func parsesEveryKindOfValue() throws {
        let v = try JSONValue.parse(#" {"a": [1, -2.5e+3, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"], "b": {}} "#)
        #expect(v == .object([
            ("a", .array([.number("1"), .number("-2.5e+3"), .bool(true), .bool(false), .null, .string("x\"\\/\u{8}\u{c}\n\r\té😀")])),
            ("b", .object([])),
        ]))
    }

    @Test func numbersKeepTheirLiteralText() throws {
        for literal in ["0", "-0", "1e999999", "123456789012345678901234567890", "0.000000000000000000001", "1E+2"] {
            #expect(try JSONValue.parse(literal) == .number(literal))
            #expect(try JSONValue.parse(literal).encodedString == literal)
        }
    }

    @Test(arguments: ["", " ", "NaN", "Infinity", "-", "01", "1.", ".5", "1e", "+1", "[", "]", "{\"a\"}", "{\"a\":}", "[1 2]", "\"\u{1}\"",
                      "\"abc", "'a'", "{a:1}", "[1,]", "1 2", "\"\\x\"", "\"\\ud800x\"", "truex", "nulL"])
    func rejectsWhatIsNotJSON(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func rejectsInvalidUTF8InStrings() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xFF, 0x22]) }
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
        let v = JSONValue.object([("k\n", .string("a\u{0}b\u{1f}\"\\\u{7f}é")), ("n", .array([.null, .int(-3)]))])
        let text = v.encodedString
        #expect(text == #"{"k\n":"a\u0000b\u001f\"\\\u007fé","n":[null,-3]}"#)
        #expect(try JSONValue.parse(text) == v)
    }

    @Test func duplicateMembersAreKeptInOrder() throws {
        let v = try JSONValue.parse(#"{"a":1,"a":2}"#)
        #expect(v.encodedString == #"{"a":1,"a":2}"#)
        #expect(v["a"] == .number("1"))
    }

    @Test func errorsSayWhere() {
        do {
            _ = try JSONValue.parse("[1, x]")
            Issue.record("parsed")
        } catch {
            #expect(error.offset == 4)
            #expect(error.description.contains("byte 4"))
        }
    }
}

@Suite struct ServiceLogTests {
    @Test func keepsLinesInOrderAndEchoes() {
        let echoed = EchoSink()
        let log = ServiceLog(echo: { echoed.add($0) })
        log.write("one")
        log.write("two")
        #expect(log.lines == ["one", "two"])
        #expect(echoed.all == ["one", "two"])
        log.clear()
        #expect(log.lines.isEmpty)
    }

    @Test func isBoundedToTheMostRecentLines() {
        let log = ServiceLog()
        for i in 0..<(ServiceLog.capacity + 2500) { log.write("line \(i)") }
        let lines = log.lines
        #expect(lines.count == ServiceLog.capacity)
        #expect(lines.first == "line 2500")
        #expect(lines.last == "line \(ServiceLog.capacity + 2499)")
    }

    @Test func concurrentWritersLoseNothingUnderTheBound() async {
        let log = ServiceLog()
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<4 { group.addTask { for i in 0..<1000 { log.write("\(t)-\(i)") } } }
        }
        #expect(log.lines.count == 4000)
        #expect(Set(log.lines).count == 4000)
    }

    @Test func fieldsCannotForgeLinesOrFields() {
        #expect(ServiceLog.field("a b\nc=d\u{0}\u{2028}e") == "a_b_c_d__e")
        #expect(ServiceLog.field(String(repeating: "x", count: 500)).count == 128)
    }
}

/// Collects echoed log lines.
final class EchoSink: @unchecked Sendable {
    private let lock = Lock()
    private var lines: [String] = []
    func add(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}

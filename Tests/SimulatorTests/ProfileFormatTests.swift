import Foundation
import Testing
@testable import Simulator
import Wire

@Suite("Profile files: reading, writing, bad input")
struct ProfileFormatTests {
    func read(_ text: String, name: String) throws -> Profile {
        let dir = try temporaryDirectory()
        return try ProfileReader.read(path: try writeFile(text, name: name, in: dir))
    }

    /// The error reading `text` produces, or nil.
    func error(_ text: String, name: String) -> InputError? {
        do {
            _ = try read(text, name: name)
            return nil
        } catch let e as InputError {
            return e
        } catch {
            return InputError(file: "", line: -1, message: "\(error)")
        }
    }

    @Test("JSON Lines: fields in any order, escapes, proxy headers, blank lines and CRLF")
    func jsonLines() throws {
        let p = try read("""
        {"t": 0.5, "client": "10.0.0.1", "endpoint": "webhook", "body_bytes": 12, "signature": "valid"}

        {"signature":"missing","body_bytes":0,"endpoint":"agent_auth","client":"::1","t":1}\r
        {"t":2.000001,"client":"10.0.0.\\u0032","endpoint":"webhook","body_bytes":3,"signature":"none","proxy_header":{"value":"1.2.3.4, 5.6.7.8","name":"X-Forwarded-For"}}
        {"t":2.5,"client":"10.0.0.2","endpoint":"webhook","body_bytes":3,"signature":"invalid","proxy_header":null}
        """, name: "p.jsonl")
        #expect(p.count == 4)
        #expect(p[0] == ProfileEvent(time: 0.5, client: "10.0.0.1", endpoint: .webhook, bodyBytes: 12, signature: .valid))
        #expect(p[1] == ProfileEvent(time: 1, client: "::1", endpoint: .agentAuth, bodyBytes: 0, signature: .missing))
        #expect(p[2].client == "10.0.0.2")
        #expect(p[2].time == 2.000001)
        #expect(p[2].proxyHeader == ProxyHeader(name: "X-Forwarded-For", value: "1.2.3.4, 5.6.7.8"))
        #expect(p[3].proxyHeader == nil)
    }

    @Test("CSV: columns in any order, quoted fields, optional proxy columns")
    func csv() throws {
        let rows = [
            "client,t,endpoint,signature,body_bytes,proxy_header_name,proxy_header_value",
            "10.0.0.1,0.25,webhook,valid,100,,",
            "10.0.0.1,0.5,agent_auth,invalid,0,X-Forwarded-For,\"1.2.3.4, 5.6.7.8\"",
            "\"10.0.0.2\",3,webhook,none,7,Forwarded,\"for=\"\"[2001:db8::1]\"\"\"",
        ]
        let p = try read(rows.joined(separator: "\n"), name: "p.csv")
        #expect(p.count == 3)
        #expect(p[1].proxyHeader == ProxyHeader(name: "X-Forwarded-For", value: "1.2.3.4, 5.6.7.8"))
        #expect(p[2].proxyHeader?.value == "for=\"[2001:db8::1]\"")
        #expect(p[2].signature == SignatureMode.none)
    }

    struct BadCase: CustomTestStringConvertible, Sendable {
        var name: String
        var file: String
        var text: String
        var line: Int
        var column: Int?
        var field: String?
        var mentions: String
        var testDescription: String { name }
    }

    static let header = "{\"t\":0,\"client\":\"10.0.0.1\",\"endpoint\":\"webhook\",\"body_bytes\":1,\"signature\":\"valid\"}\n"

    static let badCases: [BadCase] = [
        BadCase(name: "not an object", file: "p.jsonl", text: header + "[1,2]", line: 2, column: 1, field: nil, mentions: "'{'"),
        BadCase(name: "unknown field", file: "p.jsonl", text: header + "{\"t\":1,\"clients\":\"10.0.0.1\"}", line: 2, column: 8, field: "clients", mentions: "unknown field"),
        BadCase(name: "missing field", file: "p.jsonl", text: "{\"t\":1,\"client\":\"10.0.0.1\",\"endpoint\":\"webhook\",\"signature\":\"valid\"}", line: 1, column: nil, field: "body_bytes", mentions: "missing"),
        BadCase(name: "repeated field", file: "p.jsonl", text: "{\"t\":1,\"t\":2}", line: 1, column: 8, field: "t", mentions: "twice"),
        BadCase(name: "time with an exponent", file: "p.jsonl", text: "{\"t\":1e3,\"client\":\"10.0.0.1\",\"endpoint\":\"webhook\",\"body_bytes\":1,\"signature\":\"valid\"}", line: 1, column: 6, field: "t", mentions: "no exponent"),
        BadCase(name: "time with seven decimals", file: "p.jsonl", text: "{\"t\":1.0000001,\"client\":\"10.0.0.1\",\"endpoint\":\"webhook\",\"body_bytes\":1,\"signature\":\"valid\"}", line: 1, column: 6, field: "t", mentions: "6 decimals"),
        BadCase(name: "negative time", file: "p.jsonl", text: "{\"t\":-1,\"client\":\"10.0.0.1\",\"endpoint\":\"webhook\",\"body_bytes\":1,\"signature\":\"valid\"}", line: 1, column: 6, field: "t", mentions: "seconds"),
        BadCase(name: "time going back", file: "p.jsonl", text: "{\"t\":5,\"client\":\"10.0.0.1\",\"endpoint\":\"webhook\",\"body_bytes\":1,\"signature\":\"valid\"}\n" + header, line: 2, column: nil, field: "t", mentions: "time order"),
        BadCase(name: "bad client", file: "p.jsonl", text: "{\"t\":1,\"client\":\"host.example\",\"endpoint\":\"webhook\",\"body_bytes\":1,\"signature\":\"valid\"}", line: 1, column: nil, field: "client", mentions: "IPv4 or IPv6"),
        BadCase(name: "bad endpoint", file: "p.jsonl", text: "{\"t\":1,\"client\":\"10.0.0.1\",\"endpoint\":\"login\",\"body_bytes\":1,\"signature\":\"valid\"}", line: 1, column: 39, field: "endpoint", mentions: "webhook or agent_auth"),
        BadCase(name: "agent_auth without a token mode", file: "p.jsonl", text: "{\"t\":1,\"client\":\"10.0.0.1\",\"endpoint\":\"agent_auth\",\"body_bytes\":0,\"signature\":\"none\"}", line: 1, column: nil, field: "signature", mentions: "always present a token"),
        BadCase(name: "negative body size", file: "p.jsonl", text: "{\"t\":1,\"client\":\"10.0.0.1\",\"endpoint\":\"webhook\",\"body_bytes\":-4,\"signature\":\"valid\"}", line: 1, column: 62, field: "body_bytes", mentions: "whole number"),
        BadCase(name: "trailing garbage", file: "p.jsonl", text: header + header.dropLast() + " x", line: 2, column: 85, field: nil, mentions: "after the object"),
        BadCase(name: "proxy header with a bad name", file: "p.jsonl", text: "{\"t\":1,\"client\":\"10.0.0.1\",\"endpoint\":\"webhook\",\"body_bytes\":1,\"signature\":\"valid\",\"proxy_header\":{\"name\":\"X Bad\",\"value\":\"1\"}}", line: 1, column: nil, field: "proxy_header.name", mentions: "header name"),
        BadCase(name: "unterminated string", file: "p.jsonl", text: "{\"t\":1,\"client\":\"10.0.0.1", line: 1, column: 17, field: "client", mentions: "unterminated"),
        BadCase(name: "CSV without a header", file: "p.csv", text: "0.5,10.0.0.1,webhook,1,valid", line: 1, column: 1, field: nil, mentions: "unknown column"),
        BadCase(name: "CSV header lacking a column", file: "p.csv", text: "t,client,endpoint,signature\n", line: 1, column: nil, field: nil, mentions: "lacks the column body_bytes"),
        BadCase(name: "CSV row with too few fields", file: "p.csv", text: "t,client,endpoint,body_bytes,signature\n0.5,10.0.0.1,webhook,1", line: 2, column: 22, field: nil, mentions: "expected 5 fields"),
        BadCase(name: "CSV bad time", file: "p.csv", text: "t,client,endpoint,body_bytes,signature\n0.5,10.0.0.1,webhook,1,valid\nsoon,10.0.0.1,webhook,1,valid", line: 3, column: 1, field: "t", mentions: "decimal number"),
        BadCase(name: "CSV bad signature", file: "p.csv", text: "t,client,endpoint,body_bytes,signature\n0.5,10.0.0.1,webhook,1,forged", line: 2, column: 24, field: "signature", mentions: "valid, missing, invalid or none"),
        BadCase(name: "CSV unterminated quote", file: "p.csv", text: "t,client,endpoint,body_bytes,signature\n0.5,\"10.0.0.1,webhook,1,valid", line: 2, column: 5, field: nil, mentions: "unterminated"),
        BadCase(name: "empty CSV", file: "p.csv", text: "", line: 0, column: nil, field: nil, mentions: "header row"),
    ]

    @Test("bad input names the line, column and field, and what was expected", arguments: badCases)
    func badInput(_ c: BadCase) throws {
        let e = try #require(error(c.text, name: c.file))
        #expect(e.line == c.line)
        if let column = c.column { #expect(e.column == column) }
        #expect(e.path == c.field)
        #expect(e.description.contains(c.mentions), "\(e.description)")
        #expect(e.description.contains(c.file))
    }

    @Test("JSON Lines strings must be UTF-8, on the fast path's shape too")
    func invalidUTF8() throws {
        let dir = try temporaryDirectory()
        let path = (dir as NSString).appendingPathComponent("p.jsonl")
        let line = Array(#"{"t":1,"client":"10.0.0.1","endpoint":"webhook","body_bytes":1,"signature":"valid","proxy_header":{"name":"X-Forwarded-For","value":"1.2.3.4"#.utf8)
            + [0xFF] + Array(#""}}"#.utf8)
        try Data(line).write(to: URL(fileURLWithPath: path))
        do {
            _ = try ProfileReader.read(path: path)
            Issue.record("read a line with invalid UTF-8")
        } catch let e as InputError {
            #expect(e.line == 1 && e.path == "proxy_header", "\(e)")
            #expect(e.message.contains("UTF-8"), "\(e)")
        }
    }

    @Test("a missing file is a clear error")
    func missingFile() {
        #expect(throws: FileError.self) { _ = try ProfileReader.read(path: "/nonexistent/profile.jsonl") }
    }
}

@Suite("Profile specs: JSON, paths in errors")
struct ProfileSpecTests {
    func parse(_ text: String) throws(InputError) -> ProfileSpec {
        try ProfileSpec.parse(Array(text.utf8), source: "spec.json")
    }

    @Test("a multi-stream spec with every shape parses, and prints back to the same spec")
    func roundTrip() throws {
        let text = """
        {"seed": 5, "duration": "2m", "streams": [
          {"name": "legit", "arrivals": {"shape": "diurnal", "min_rate": 1, "max_rate": 5, "period": "1m", "process": "poisson"},
           "clients": {"population": "zipf", "count": 100, "exponent": 1.2}, "endpoints": {"webhook": 3, "agent_auth": 1},
           "signatures": {"valid": 9, "invalid": 1}, "tokens": {"valid": 1}, "body_bytes": {"min": 100, "max": 900}},
          {"name": "attacker", "start": "30s", "end": 90, "arrivals": {"shape": "bursts", "size": 50, "period": "10s"},
           "clients": {"population": "one", "address": "203.0.113.7"},
           "proxy_header": {"name": "X-Forwarded-For", "share": 1, "values": {"population": "rotating", "count": 10, "every": "5s"}}},
          {"arrivals": {"shape": "ramping", "stages": [{"target": 10, "duration": "30s"}]}},
          {"arrivals": {"shape": "spike", "base_rate": 1, "spike_rate": 20, "spike_start": "1m", "spike_duration": "5s"}},
          {"arrivals": {"shape": "poisson", "rate": 2}, "clients": {"population": "uniform", "count": 3, "first_address": "2001:db8::1"}}
        ]}
        """
        let s = try parse(text)
        #expect(s.streams.count == 5)
        #expect(s.streams[1].start == 30)
        #expect(s.streams[1].end == 90)
        #expect(s.streams[4].arrivals.process == .poisson)
        let again = try parse(SpecJSON.encode(s))
        #expect(again == s)
    }

    @Test("a single stream may be written at the top level")
    func topLevelStream() throws {
        let s = try parse(#"{"duration": 10, "arrivals": {"shape": "constant", "rate": 3}}"#)
        #expect(s.streams.count == 1)
        #expect(s.seed == 1)
    }

    @Test("errors name the JSON path and what was expected", arguments: [
        (#"{"duration": 10, "arrivals": {"shape": "constant", "rate": -3}}"#, "$.arrivals.rate", "from 0"),
        (#"{"duration": 10, "streams": [{"arrivals": {"shape": "constant", "rate": 1}}, {"arrivals": {"shape": "wave"}}]}"#, "$.streams[1].arrivals.shape", "unknown shape"),
        (#"{"duration": "ten", "arrivals": {"shape": "constant", "rate": 1}}"#, "$.duration", "not a duration"),
        (#"{"arrivals": {"shape": "constant", "rate": 1}}"#, "$", "missing \"duration\""),
        (#"{"duration": 10, "arrivals": {"shape": "constant", "rate": 1}, "clients": {"population": "zipf", "count": 5}}"#, "$.clients", "needs \"exponent\""),
        (#"{"duration": 10, "arrivals": {"shape": "constant", "rate": 1}, "signatures": {"valid": 1, "forged": 1}}"#, "$.signatures.forged", "unknown name"),
        (#"{"duration": 10, "arrivals": {"shape": "constant", "rate": 1}, "tokens": {"none": 1}}"#, "$.tokens.none", "unknown name"),
        (#"{"duration": 10, "arrivals": {"shape": "constant", "rate": 1, "burst": 3}}"#, "$.arrivals.burst", "unknown member \"burst\""),
        (#"{"duration": 10, "arrivals": {"shape": "constant", "rate": 1}, "client": {"population": "one"}}"#, "$.client", "did you mean \"clients\""),
        (#"{"duration": 10, "streams": [{"start": "20s", "arrivals": {"shape": "constant", "rate": 1}}]}"#, "$.streams[0].start", "within the profile"),
        (#"{"duration": 10, "arrivals": {"shape": "constant", "rate": 1}, "clients": {"population": "uniform", "count": 10, "first_address": "255.255.255.250"}}"#, "$.streams[0].clients", "past the last address"),
        (#"{"duration": 86400, "arrivals": {"shape": "constant", "rate": 10000000}}"#, "$", "more than the limit"),
        (#"{"duration": 10, "arrivals": {"shape": "bursts", "size": 0, "period": 1}}"#, "$.arrivals.size", "from 1"),
    ])
    func errors(text: String, path: String, mentions: String) {
        do {
            _ = try parse(text)
            Issue.record("expected an error for \(text)")
        } catch {
            #expect(error.path == path, "\(error)")
            #expect(error.description.contains(mentions), "\(error)")
        }
    }

    @Test("a JSON syntax error names the line and column")
    func syntax() {
        do {
            _ = try parse("{\n  \"duration\": 10,\n  \"arrivals\": {\"shape\": \"constant\" \"rate\": 1}\n}")
            Issue.record("expected a syntax error")
        } catch {
            #expect(error.line == 3)
            #expect(error.column != nil)
            #expect(error.description.hasPrefix("spec.json:3:"))
        }
    }

    @Test("durations: seconds, units and compounds; bad text is refused")
    func durations() throws {
        #expect(try DurationText.parse("90") == 90)
        #expect(try DurationText.parse("1.5s") == 1.5)
        #expect(try DurationText.parse("250ms") == 0.25)
        #expect(try DurationText.parse("1m30s") == 90)
        #expect(try DurationText.parse("2h") == 7200)
        for bad in ["", "-1s", "1x", "s", "1.2.3s", "nan", "inf", "99999999999999999999999999s", "1e9h"] {
            #expect(throws: DurationText.InvalidDuration.self) { _ = try DurationText.parse(bad) }
        }
    }
}

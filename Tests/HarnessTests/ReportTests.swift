import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TestSupport
@testable import Harness

@Suite struct ReportTests {
    static func sample() throws -> RunReport {
        let catalog = try RuleCatalog.load(from: TestPaths.fixtures.appendingPathComponent("rules.json"))
        let finding = Finding(rules: ["RL-3"], level: .spec, expected: "status 429", actual: "status 202 <&> \"x\"", request: "POST /x [request 61 of 61]")
        return RunReport(targetName: "test <target>", catalog: catalog, results: [
            FixtureResult(id: "a", title: "passes", rules: ["HDR-1"], section: "HDR", verdict: .pass, requests: 2, seconds: 0.01),
            FixtureResult(id: "b", title: "fails & <breaks>", rules: ["RL-3"], section: "RL", verdict: .fail, findings: [finding], requests: 61),
            FixtureResult(id: "c", title: "skipped", rules: ["LOG-1"], section: "LOG", verdict: .skip, skipReason: "log lines are observable only in-process"),
            FixtureResult(id: "d", title: "noted", rules: ["SIG-11"], section: "SIG", verdict: .informational, notes: ["accepts bare-hex signatures"]),
            FixtureResult(id: "e", title: "deviates", rules: ["SIG-10"], section: "SIG", verdict: .deviation,
                          findings: [Finding(rules: ["SIG-10"], level: .service, expected: "detail x", actual: "detail y")]),
        ], seconds: 0.5, requests: 63)
    }

    @Test func textIsGroupedBySectionAndEndsWithTheCounts() throws {
        let text = Report.text(try Self.sample())
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.dropLast().last == "1 passed, 1 failed, 1 skipped")
        #expect(text.hasSuffix("1 passed, 1 failed, 1 skipped\n"))
        #expect(text.contains("1 informational\n"))
        #expect(text.contains("1 deviation from the real service's behaviour"))
        // Sections in catalog order: headers before rate limiting before signatures.
        let hdr = try #require(text.range(of: "Security response headers (HDR)"))
        let rl = try #require(text.range(of: "Rate limiting (RL)"))
        let sig = try #require(text.range(of: "Webhook HMAC verification (SIG)"))
        #expect(hdr.lowerBound < rl.lowerBound && rl.lowerBound < sig.lowerBound)
        // A failure carries the rule's text, expected, actual and the request.
        #expect(text.contains("RL-3 (page): \"| Webhook ingest (`POST .../webhooks/{id}`) | 60 requests | 60 seconds | 429 |\""))
        #expect(text.contains("expected: status 429"))
        #expect(text.contains("request:  POST /x [request 61 of 61]"))
        #expect(text.contains("skipped: log lines are observable only in-process"))
    }

    @Test func jsonCarriesSummaryResultsAndRuleVerdicts() throws {
        let json = try JSONParser.parse(Report.render(try Self.sample(), format: .json))
        #expect(json["summary"]?["failed"]?.intValue == 1)
        #expect(json["summary"]?["deviations"]?.intValue == 1)
        #expect(json["results"]?.arrayValue?.count == 5)
        let rules = try #require(json["rules"]?.arrayValue)
        #expect(rules.first { $0["id"]?.stringValue == "RL-3" }?["verdict"]?.stringValue == "fail")
        #expect(rules.first { $0["id"]?.stringValue == "SIG-11" }?["verdict"]?.stringValue == "informational")
        #expect(rules.first { $0["id"]?.stringValue == "TEN-1" }?["verdict"]?.isNull == true)
    }

    final class Counter: NSObject, XMLParserDelegate {
        var elements: [String: Int] = [:]
        var failureTypes: [String] = []
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            elements[name, default: 0] += 1
            if name == "failure", let t = attributes["type"] { failureTypes.append(t) }
        }
    }

    @Test func junitIsWellFormedXML() throws {
        let xml = Report.junit(try Self.sample())
        let parser = XMLParser(data: Data(xml.utf8))
        let counter = Counter()
        parser.delegate = counter
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        #expect(counter.elements["testsuites"] == 1)
        #expect(counter.elements["testcase"] == 5)
        #expect(counter.elements["skipped"] == 1)
        #expect(counter.failureTypes.sorted() == ["deviation", "fail"])
    }
}

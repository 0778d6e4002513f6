import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TestSupport
@testable import Harness
import Wire

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
        let json = try JSONValue.parse(Report.render(try Self.sample(), format: .json))
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
        var failureMessages: [String] = []
        var attributes: [String: [String: String]] = [:]
        var text = ""
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            elements[name, default: 0] += 1
            if self.attributes[name] == nil { self.attributes[name] = attributes }
            if name == "failure", let t = attributes["type"] { failureTypes.append(t) }
            if name == "failure", let m = attributes["message"] { failureMessages.append(m) }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
    }

    static func parse(_ xml: String) -> (Bool, Counter, String) {
        let parser = XMLParser(data: Data(xml.utf8))
        let counter = Counter()
        parser.delegate = counter
        let ok = parser.parse()
        return (ok, counter, parser.parserError.map { "\($0)" } ?? "")
    }

    @Test func junitIsWellFormedXML() throws {
        let (ok, counter, error) = Self.parse(Report.junit(try Self.sample(), strict: true))
        #expect(ok, "\(error)")
        #expect(counter.elements["testsuites"] == 1)
        #expect(counter.elements["testcase"] == 5)
        #expect(counter.elements["skipped"] == 1)
        #expect(counter.failureTypes.sorted() == ["deviation", "fail"])
        #expect(counter.attributes["testsuites"]?["failures"] == "2")
    }

    /// Without --strict a deviation is not a failure in JUnit either (the exit status is 0):
    /// the test case passes and says what deviates.
    @Test func junitDeviationIsAFailureOnlyWhenStrict() throws {
        let (ok, counter, error) = Self.parse(Report.junit(try Self.sample()))
        #expect(ok, "\(error)")
        #expect(counter.failureTypes == ["fail"])
        #expect(counter.attributes["testsuites"]?["failures"] == "1")
        #expect(counter.text.contains("DEVIATION from the real service's behaviour"))
        #expect(counter.text.contains("expected: detail x"))
    }

    /// Messages carry whatever a server answered: control characters, markup, quotes. The XML
    /// stays well formed and what XML can carry arrives unchanged.
    @Test func junitEscapesControlCharactersAndMarkup() throws {
        let catalog = try RuleCatalog.load(from: TestPaths.fixtures.appendingPathComponent("rules.json"))
        let nasty = "a\u{0}b\u{1}c\u{1B}[31m\u{8}\u{B}\u{C}\u{7F}\u{FFFE}\u{FFFF} <x a='1'>&amp;</x> ]]> \"q\"\r\n\tend \u{1F600}"
        let finding = Finding(rules: ["RL-3"], level: .spec, expected: "status 429", actual: nasty, request: "GET /\u{1}")
        let report = RunReport(targetName: "t", catalog: catalog, results: [
            FixtureResult(id: "x", title: "title \u{2} <b>", rules: ["RL-3"], section: "RL", verdict: .fail, findings: [finding]),
            FixtureResult(id: "y", title: "skip", rules: ["RL-3"], section: "RL", verdict: .skip, skipReason: "why\u{3}\n&"),
            FixtureResult(id: "z", title: "note", rules: ["SIG-11"], section: "SIG", verdict: .informational, notes: ["n\u{4}<"]),
        ], seconds: 0, requests: 1)
        let (ok, counter, error) = Self.parse(Report.junit(report))
        #expect(ok, "\(error)")
        #expect(counter.elements["testcase"] == 3)
        let message = try #require(counter.failureMessages.first)
        // Control characters XML 1.0 cannot carry become U+FFFD; CR, LF and tab survive the
        // attribute (as references), markup and quotes arrive as text.
        #expect(message.contains("a\u{FFFD}b\u{FFFD}c\u{FFFD}[31m\u{FFFD}\u{FFFD}\u{FFFD}\u{7F}\u{FFFD}\u{FFFD} <x a='1'>&amp;</x> ]]> \"q\"\r\n\tend \u{1F600}"),
                "\(message.debugDescription)")
        #expect(counter.text.contains("]]> \"q\""))
        #expect(counter.attributes["skipped"]?["message"] == "why\u{FFFD}\n&")
    }
}

/// Coverage a CI job can see and gate on: per-section counts in every format, a warning when
/// most fixtures skipped, `--min-passed` and `--fail-on-skip`.
@Suite struct CoverageTests {
    @Test func countsPerSectionInCatalogOrder() throws {
        let report = try ReportTests.sample()
        let sections = report.sectionCounts
        #expect(sections.map(\.prefix) == ["HDR", "RL", "SIG", "LOG"])
        let sig = try #require(sections.first { $0.prefix == "SIG" })
        #expect(sig.counts.informational == 1 && sig.counts.deviations == 1 && sig.ran == 2)
        #expect(sections.reduce(0) { $0 + $1.counts.skipped } == report.counts.skipped)
        let text = Report.text(report)
        #expect(text.contains("Coverage by section:\n"))
        #expect(text.contains("  SIG   Webhook HMAC verification          0 passed, 0 failed, 1 deviations, 1 informational, 0 skipped\n"))
        let json = Report.json(report)
        let jsonSections = try #require(json["sections"]?.arrayValue)
        #expect(jsonSections.count == 4)
        #expect(jsonSections[1]["prefix"]?.stringValue == "RL" && jsonSections[1]["failed"]?.intValue == 1)
        let junit = Report.junit(report)
        #expect(junit.contains(#"<property name="deviations" value="1"/>"#))
    }

    @Test func mostlySkippedRunsAreWarnedAbout() throws {
        var report = try ReportTests.sample()
        #expect(report.skipWarning == nil)
        for i in 0..<5 {
            report.results.append(FixtureResult(id: "s\(i)", title: "s", rules: ["LOG-1"], section: "LOG", verdict: .skip, skipReason: "why"))
        }
        let warning = try #require(report.skipWarning)
        #expect(warning.contains("6 of 10 fixtures were skipped"))
        #expect(Report.text(report).contains(warning))
        #expect(Report.text(report).hasSuffix("1 passed, 1 failed, 6 skipped\n"), "the counts stay the last line")
    }

    @Test func gatesNameWhatIsMissing() throws {
        let report = try ReportTests.sample()
        #expect(CoverageGate().violations(report).isEmpty)
        #expect(CoverageGate(minPassed: 2).violations(report).isEmpty, "an informational result ran and held")
        let tooFew = CoverageGate(minPassed: 3).violations(report)
        #expect(tooFew == ["--min-passed 3: only 2 passed (1 skipped)"])
        let skip = CoverageGate(failOnSkip: ["LOG", "SIG"]).violations(report)
        #expect(skip.count == 1)
        #expect(skip.first?.contains("--fail-on-skip LOG: 1 fixture of Agent token logging skipped: c (log lines are observable only in-process)") == true)
    }
}

import Foundation
import Wire

/// Renders a run: text grouped by section (the default), JSON, or JUnit XML.
public enum ReportFormat: String, Sendable, CaseIterable {
    case text, json, junit
}

public enum Report {
    /// - Parameter strict: deviations count as failures (`mcsec check --strict`); only JUnit
    ///   changes, so that a CI test view fails exactly when the exit status does.
    public static func render(_ report: RunReport, format: ReportFormat, strict: Bool = false) -> String {
        switch format {
        case .text: return text(report)
        case .json: return json(report).pretty + "\n"
        case .junit: return junit(report, strict: strict)
        }
    }

    // MARK: text

    /// Sections in catalog order, each result with its verdict; failures with the rule text,
    /// expected vs actual and the request; ending in the exact line
    /// `N passed, N failed, N skipped`.
    public static func text(_ report: RunReport) -> String {
        var out = "mcsec check against \(report.targetName)\n"
        var bySection: [String: [FixtureResult]] = [:]
        for r in report.results { bySection[r.section, default: []].append(r) }
        for section in report.catalog.sections {
            guard let results = bySection[section.prefix], !results.isEmpty else { continue }
            out += "\n\(section.title) (\(section.prefix))\n"
            for r in results {
                let rules = r.rules.joined(separator: " ")
                out += "  \(r.verdict.label.padding(toLength: 9, withPad: " ", startingAt: 0)) \(r.id): \(r.title) [\(rules)]\n"
                if let reason = r.skipReason { out += "            skipped: \(reason)\n" }
                for note in r.notes { out += "            note: \(note)\n" }
                for f in r.findings {
                    for id in f.rules {
                        guard let rule = report.catalog[id] else { continue }
                        out += "            \(id) (\(rule.level == .spec ? "page" : "service")): \"\(rule.text)\"\n"
                    }
                    out += "            expected: \(f.expected)\n"
                    out += "            actual:   \(f.actual)\n"
                    if let request = f.request { out += "            request:  \(request)\n" }
                }
            }
        }
        let c = report.counts
        out += "\n"
        let informational = report.results.filter { $0.verdict == .informational || (!$0.notes.isEmpty && $0.verdict == .pass) }
        if !informational.isEmpty {
            out += "Informational:\n"
            for r in informational { for note in r.notes { out += "  - \(note) (\(r.id))\n" } }
        }
        out += "Coverage by section:\n"
        for s in report.sectionCounts {
            let k = s.counts
            var parts = ["\(k.passed) passed", "\(k.failed) failed"]
            if k.deviations > 0 { parts.append("\(k.deviations) deviations") }
            if k.informational > 0 { parts.append("\(k.informational) informational") }
            if k.errors > 0 { parts.append("\(k.errors) errors") }
            parts.append("\(k.skipped) skipped")
            out += "  \(s.prefix.padding(toLength: 6, withPad: " ", startingAt: 0))\(s.title.padding(toLength: 34, withPad: " ", startingAt: 0)) \(parts.joined(separator: ", "))\n"
        }
        out += "\(report.requests) requests in \(String(format: "%.2f", report.seconds)) s\n"
        if let warning = report.skipWarning { out += warning + "\n" }
        if c.informational > 0 { out += "\(c.informational) informational\n" }
        if c.deviations > 0 {
            out += "\(c.deviations) deviation\(c.deviations == 1 ? "" : "s") from the real service's behaviour (not failures of the page's rules)\n"
        }
        if c.errors > 0 {
            out += "\(c.errors) error\(c.errors == 1 ? "" : "s"): a request got no answer (connection, TLS or timeout), so the fixture could not be judged; not failures of the page's rules\n"
        }
        out += "\(c.passed) passed, \(c.failed) failed, \(c.skipped) skipped\n"
        return out
    }

    // MARK: JSON

    public static func json(_ report: RunReport) -> JSONValue {
        let c = report.counts
        let verdicts = report.ruleVerdicts
        func finding(_ f: Finding) -> JSONValue {
            var members: [(String, JSONValue)] = [
                ("rules", .array(f.rules.map { .string($0) })),
                ("level", .string(f.level.rawValue)),
                ("expected", .string(f.expected)),
                ("actual", .string(f.actual)),
            ]
            if let r = f.request { members.append(("request", .string(r))) }
            return .object(members)
        }
        let results: [JSONValue] = report.results.map { r in
            var members: [(String, JSONValue)] = [
                ("id", .string(r.id)),
                ("title", .string(r.title)),
                ("section", .string(r.section)),
                ("rules", .array(r.rules.map { .string($0) })),
                ("verdict", .string(r.verdict.rawValue)),
                ("requests", .int(r.requests)),
                ("seconds", JSONValue(.number(String(format: "%.4f", r.seconds)))),
            ]
            if let s = r.skipReason { members.append(("skipReason", .string(s))) }
            if !r.notes.isEmpty { members.append(("notes", .array(r.notes.map { .string($0) }))) }
            if !r.findings.isEmpty { members.append(("findings", .array(r.findings.map(finding)))) }
            return .object(members)
        }
        let rules: [JSONValue] = report.catalog.rules.map { rule in
            .object([
                ("id", .string(rule.id)),
                ("level", .string(rule.level.rawValue)),
                ("text", .string(rule.text)),
                ("verdict", verdicts[rule.id].map { .string($0.rawValue) } ?? .null),
            ])
        }
        return .object([
            ("target", .string(report.targetName)),
            ("summary", .object([
                ("passed", .int(c.passed)),
                ("failed", .int(c.failed)),
                ("deviations", .int(c.deviations)),
                ("skipped", .int(c.skipped)),
                ("informational", .int(c.informational)),
                ("errors", .int(c.errors)),
                ("requests", .int(report.requests)),
                ("seconds", JSONValue(.number(String(format: "%.3f", report.seconds)))),
            ])),
            ("sections", .array(report.sectionCounts.map { s in
                .object([("prefix", .string(s.prefix)), ("title", .string(s.title)), ("passed", .int(s.counts.passed)),
                         ("failed", .int(s.counts.failed)), ("deviations", .int(s.counts.deviations)),
                         ("skipped", .int(s.counts.skipped)), ("informational", .int(s.counts.informational))])
            })),
            ("warning", report.skipWarning.map { .string($0) } ?? .null),
            ("results", .array(results)),
            ("rules", .array(rules)),
        ])
    }

    // MARK: JUnit

    /// One `<testsuite>` per section, one `<testcase>` per fixture: failures as `<failure>`,
    /// skips as `<skipped>`, notes in `<system-out>`. A deviation (only the real service's
    /// behaviour differs) is a `<failure type="deviation">` with `strict`, as the exit status
    /// then fails; otherwise the test case passes and carries the deviation in `<system-out>`.
    public static func junit(_ report: RunReport, strict: Bool = false) -> String {
        let c = report.counts
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"mcsec check\" tests=\"\(report.results.count)\" failures=\"\(c.failed + (strict ? c.deviations : 0))\" errors=\"\(c.errors)\" skipped=\"\(c.skipped)\" time=\"\(String(format: "%.3f", report.seconds))\">\n"
        var bySection: [String: [FixtureResult]] = [:]
        for r in report.results { bySection[r.section, default: []].append(r) }
        for section in report.catalog.sections {
            guard let results = bySection[section.prefix], !results.isEmpty else { continue }
            let failures = results.filter { $0.verdict == .fail || (strict && $0.verdict == .deviation) }.count
            let skipped = results.filter { $0.verdict == .skip }.count
            let time = results.reduce(0) { $0 + $1.seconds }
            out += "  <testsuite name=\"\(XMLText.escape(section.prefix + " " + section.title, attribute: true))\" tests=\"\(results.count)\" failures=\"\(failures)\" skipped=\"\(skipped)\" time=\"\(String(format: "%.3f", time))\">\n"
            // The section's counts as properties, deviations and informational results included
            // (JUnit's attributes have no place for them).
            let passed = results.filter { $0.verdict == .pass }.count
            let deviations = results.filter { $0.verdict == .deviation }.count
            let informational = results.filter { $0.verdict == .informational }.count
            out += "    <properties><property name=\"passed\" value=\"\(passed)\"/><property name=\"deviations\" value=\"\(deviations)\"/><property name=\"informational\" value=\"\(informational)\"/><property name=\"skipped\" value=\"\(skipped)\"/></properties>\n"
            for r in results {
                out += "    <testcase classname=\"mcsec.\(XMLText.escape(section.prefix, attribute: true))\" name=\"\(XMLText.escape(r.id + ": " + r.title, attribute: true))\" time=\"\(String(format: "%.3f", r.seconds))\""
                var body = ""
                var output = r.notes
                var detail = ""
                for f in r.findings {
                    for id in f.rules { if let rule = report.catalog[id] { detail += "\(id): \(rule.text)\n" } }
                    detail += "expected: \(f.expected)\nactual: \(f.actual)\n"
                    if let req = f.request { detail += "request: \(req)\n" }
                }
                switch r.verdict {
                case .deviation where !strict:
                    output.insert("DEVIATION from the real service's behaviour (not a rule of the page; fails only with --strict)\n" + detail, at: 0)
                case .fail, .deviation:
                    let message = r.findings.first.map { "expected \($0.expected); actual \($0.actual)" } ?? r.verdict.rawValue
                    body += "      <failure type=\"\(r.verdict.rawValue)\" message=\"\(XMLText.escape(message, attribute: true))\">\(XMLText.escape(detail))</failure>\n"
                case .skip:
                    body += "      <skipped message=\"\(XMLText.escape(r.skipReason ?? "skipped", attribute: true))\"/>\n"
                case .error:
                    let message = r.findings.first.map { "no answer: \($0.actual)" } ?? "no answer"
                    body += "      <error type=\"transport\" message=\"\(XMLText.escape(message, attribute: true))\">\(XMLText.escape(detail))</error>\n"
                default:
                    break
                }
                if !output.isEmpty { body += "      <system-out>\(XMLText.escape(output.joined(separator: "\n")))</system-out>\n" }
                out += body.isEmpty ? "/>\n" : ">\n" + body + "    </testcase>\n"
            }
            out += "  </testsuite>\n"
        }
        out += "</testsuites>\n"
        return out
    }
}

import Foundation

/// Renders a run: text grouped by section (the default), JSON, or JUnit XML.
public enum ReportFormat: String, Sendable, CaseIterable {
    case text, json, junit
}

public enum Report {
    public static func render(_ report: RunReport, format: ReportFormat) -> String {
        switch format {
        case .text: return text(report)
        case .json: return json(report).pretty + "\n"
        case .junit: return junit(report)
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
        out += "\(report.requests) requests in \(String(format: "%.2f", report.seconds)) s\n"
        if c.informational > 0 { out += "\(c.informational) informational\n" }
        if c.deviations > 0 {
            out += "\(c.deviations) deviation\(c.deviations == 1 ? "" : "s") from the real service's behaviour (not failures of the page's rules)\n"
        }
        out += "\(c.passed) passed, \(c.failed) failed, \(c.skipped) skipped\n"
        return out
    }

    // MARK: JSON

    public static func json(_ report: RunReport) -> JSON {
        let c = report.counts
        let verdicts = report.ruleVerdicts
        func finding(_ f: Finding) -> JSON {
            var members: [(String, JSON)] = [
                ("rules", .array(f.rules.map { .string($0) })),
                ("level", .string(f.level.rawValue)),
                ("expected", .string(f.expected)),
                ("actual", .string(f.actual)),
            ]
            if let r = f.request { members.append(("request", .string(r))) }
            return .object(members)
        }
        let results: [JSON] = report.results.map { r in
            var members: [(String, JSON)] = [
                ("id", .string(r.id)),
                ("title", .string(r.title)),
                ("section", .string(r.section)),
                ("rules", .array(r.rules.map { .string($0) })),
                ("verdict", .string(r.verdict.rawValue)),
                ("requests", .number(r.requests)),
                ("seconds", JSON(.number(String(format: "%.4f", r.seconds)))),
            ]
            if let s = r.skipReason { members.append(("skipReason", .string(s))) }
            if !r.notes.isEmpty { members.append(("notes", .array(r.notes.map { .string($0) }))) }
            if !r.findings.isEmpty { members.append(("findings", .array(r.findings.map(finding)))) }
            return .object(members)
        }
        let rules: [JSON] = report.catalog.rules.map { rule in
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
                ("passed", .number(c.passed)),
                ("failed", .number(c.failed)),
                ("deviations", .number(c.deviations)),
                ("skipped", .number(c.skipped)),
                ("informational", .number(c.informational)),
                ("requests", .number(report.requests)),
                ("seconds", JSON(.number(String(format: "%.3f", report.seconds)))),
            ])),
            ("results", .array(results)),
            ("rules", .array(rules)),
        ])
    }

    // MARK: JUnit

    /// One `<testsuite>` per section, one `<testcase>` per fixture: failures as `<failure>`
    /// (deviations too, typed "deviation"), skips as `<skipped>`, notes in `<system-out>`.
    public static func junit(_ report: RunReport) -> String {
        let c = report.counts
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"mcsec check\" tests=\"\(report.results.count)\" failures=\"\(c.failed + c.deviations)\" skipped=\"\(c.skipped)\" time=\"\(String(format: "%.3f", report.seconds))\">\n"
        var bySection: [String: [FixtureResult]] = [:]
        for r in report.results { bySection[r.section, default: []].append(r) }
        for section in report.catalog.sections {
            guard let results = bySection[section.prefix], !results.isEmpty else { continue }
            let failures = results.filter { $0.verdict == .fail || $0.verdict == .deviation }.count
            let skipped = results.filter { $0.verdict == .skip }.count
            let time = results.reduce(0) { $0 + $1.seconds }
            out += "  <testsuite name=\"\(xml(section.prefix + " " + section.title))\" tests=\"\(results.count)\" failures=\"\(failures)\" skipped=\"\(skipped)\" time=\"\(String(format: "%.3f", time))\">\n"
            for r in results {
                out += "    <testcase classname=\"mcsec.\(xml(section.prefix))\" name=\"\(xml(r.id + ": " + r.title))\" time=\"\(String(format: "%.3f", r.seconds))\""
                var body = ""
                switch r.verdict {
                case .fail, .deviation:
                    let message = r.findings.first.map { "expected \($0.expected); actual \($0.actual)" } ?? r.verdict.rawValue
                    var detail = ""
                    for f in r.findings {
                        for id in f.rules { if let rule = report.catalog[id] { detail += "\(id): \(rule.text)\n" } }
                        detail += "expected: \(f.expected)\nactual: \(f.actual)\n"
                        if let req = f.request { detail += "request: \(req)\n" }
                    }
                    body += "      <failure type=\"\(r.verdict.rawValue)\" message=\"\(xml(message))\">\(xml(detail))</failure>\n"
                case .skip:
                    body += "      <skipped message=\"\(xml(r.skipReason ?? "skipped"))\"/>\n"
                default:
                    break
                }
                if !r.notes.isEmpty { body += "      <system-out>\(xml(r.notes.joined(separator: "\n")))</system-out>\n" }
                out += body.isEmpty ? "/>\n" : ">\n" + body + "    </testcase>\n"
            }
            out += "  </testsuite>\n"
        }
        out += "</testsuites>\n"
        return out
    }

    /// XML text and attribute escaping; characters XML 1.0 cannot carry are replaced.
    static func xml(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n", "\t", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || (0xFFFE...0xFFFF).contains(scalar.value) { out += "\u{FFFD}" }
                else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}

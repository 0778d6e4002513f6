import Wire

/// The run as text (grouped by class), JSON or JUnit XML.
public struct FuzzReport {
    public var result: FuzzResult
    public var run: FuzzRun
    public var showSecrets = false
    public var strict = false

    public init(result: FuzzResult, run: FuzzRun, showSecrets: Bool = false, strict: Bool = false) {
        self.result = result
        self.run = run
        self.showSecrets = showSecrets
        self.strict = strict
    }

    /// 0 no FAIL (nor DEVIATION with `strict`), 1 otherwise.
    public var exitStatus: Int32 { result.failed || (strict && result.deviated) ? 1 : 0 }

    func answer(_ o: Outcome) -> String {
        switch o {
        case .failed(let why): return "no answer (\(why))"
        case .response(let r):
            return "\(r.status) " + String(decoding: r.body.prefix(160), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
        }
    }

    func describe(_ d: Difference) -> String {
        "\(d.grade) \(d.aspect): expected \(d.expected), got \(d.actual)" + (d.rules.isEmpty ? "" : " [\(d.rules.joined(separator: ", "))]")
    }

    public var text: String {
        var out = "mcsec fuzz: \(result.sent) requests over \(result.classes.count) classes, seed \(result.seed), \(String(format: "%.1f", result.seconds)) s"
        out += " (\(result.seconds > 0 ? Int(Double(result.sent) / result.seconds) : 0) requests/s)\n"
        let fails = result.classes.filter { $0.grade == .fail }.count
        let deviations = result.classes.filter { $0.grade == .deviation }.count
        for s in result.classes {
            let mark = s.grade.map { "\($0)" } ?? "ok"
            out += "  " + mark.padding(toLength: 10, withPad: " ", startingAt: 0) + s.name.padding(toLength: 40, withPad: " ", startingAt: 0)
            out += "\(s.sent) sent" + (s.differing > 0 ? ", \(s.differing) differ" : "") + "\n"
            guard let f = s.minimal ?? s.first, f.grade > .info else { continue }
            for d in f.differences { out += "      " + describe(d) + "\n" }
            out += "      expected: " + answer(f.expected) + "\n"
            out += "      actual:   " + answer(f.actual) + "\n"
            let how = s.minimal != nil ? " (minimal)" : s.shrunk ? " (does not differ on its own: it needs the requests before it, e.g. a limiter's count; rerun with --seed \(result.seed))" : ""
            out += "      reproduce" + how + ": " + run.curl(f.request, showSecrets: showSecrets) + "\n"
        }
        out += "\(fails) classes FAIL, \(deviations) DEVIATION, \(result.uncertain) answers uncertain (limiter window edge, not graded)\n"
        return out
    }

    public var json: JSONValue {
        .object([
            ("seed", .string(String(result.seed))), ("sent", .int(result.sent)), ("uncertain", .int(result.uncertain)),
            ("seconds", .number(String(format: "%.3f", result.seconds))),
            ("classes", .array(result.classes.map { s in
                var m: [(String, JSONValue)] = [("class", .string(s.name)), ("sent", .int(s.sent)), ("differing", .int(s.differing)),
                                                ("verdict", .string(s.grade.map { "\($0)" } ?? "PASS"))]
                if let f = s.minimal ?? s.first, f.grade > .info {
                    m.append(("differences", .array(f.differences.map { d in
                        .object([("grade", .string("\(d.grade)")), ("aspect", .string(d.aspect)), ("expected", .string(d.expected)),
                                 ("actual", .string(d.actual)), ("rules", .array(d.rules.map(JSONValue.string)))])
                    })))
                    m.append(("reproduction", .string(run.curl(f.request, showSecrets: showSecrets))))
                    m.append(("expectedStatus", f.expected.response.map { .int($0.status) } ?? .null))
                    m.append(("actualStatus", f.actual.response.map { .int($0.status) } ?? .null))
                }
                return .object(m)
            })),
        ])
    }

    /// One test case per class; FAIL (and DEVIATION with `strict`) is a failure.
    public var junit: String {
        let failing = result.classes.filter { $0.grade == .fail || (strict && $0.grade == .deviation) }.count
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuite name=\"mcsec fuzz\" tests=\"\(result.classes.count)\" failures=\"\(failing)\" time=\"\(String(format: "%.3f", result.seconds))\">\n"
        for s in result.classes {
            out += "  <testcase classname=\"fuzz\" name=\"\(XMLText.escape(s.name, attribute: true))\">"
            if let f = s.minimal ?? s.first, let g = s.grade, g == .fail || (strict && g == .deviation) {
                let message = f.differences.filter { $0.grade == g }.map(describe).joined(separator: "; ")
                out += "\n    <failure message=\"\(XMLText.escape(message, attribute: true))\">"
                out += XMLText.escape("expected: \(answer(f.expected))\nactual: \(answer(f.actual))\n\(run.curl(f.request, showSecrets: showSecrets))")
                out += "</failure>\n  "
            } else if let g = s.grade {
                out += "<system-out>\(XMLText.escape("\(g): \(s.differing) of \(s.sent) differ"))</system-out>"
            }
            out += "</testcase>\n"
        }
        return out + "</testsuite>\n"
    }
}

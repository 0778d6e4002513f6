import Spec
import TargetFiles
import Wire

/// What one check expected and what it found, when it did not hold.
public struct CheckFailure: Sendable {
    public var expected: String
    public var actual: String
}

/// Evaluates checks against a response (and the log lines it caused).
public struct CheckEvaluator {
    public var scope: SymbolScope
    public var configuration: DeclaredConfiguration
    public var logLines: () -> [String]
    /// Credentials and signatures the request carried: masked wherever a log line is quoted.
    public var secrets: [String] = []

    /// The body parsed once per response, shared by the JSON checks.
    private var parsedBody: (bytes: [UInt8], result: Result<JSONValue, JSONParseError>)?

    public init(scope: SymbolScope, configuration: DeclaredConfiguration, logLines: @escaping () -> [String]) {
        self.scope = scope
        self.configuration = configuration
        self.logLines = logLines
    }

    mutating func json(_ response: HTTPResponse) -> Result<JSONValue, JSONParseError> {
        if let parsedBody, parsedBody.bytes == response.body { return parsedBody.result }
        let result: Result<JSONValue, JSONParseError>
        do throws(JSONParseError) {
            result = .success(try JSONValue.parse(response.body, allowingByteOrderMark: true))
        } catch {
            result = .failure(error)
        }
        parsedBody = (response.body, result)
        return result
    }

    /// Nil when the check holds.
    public mutating func evaluate(_ check: Check, _ response: HTTPResponse) throws -> CheckFailure? {
        switch check {
        case .status(let codes):
            if codes.contains(response.status) { return nil }
            return CheckFailure(expected: "status " + codes.map(String.init).joined(separator: " or "),
                                actual: CheckEvaluator.describe(response))
        case .statusNot(let codes):
            if !codes.contains(response.status) { return nil }
            return CheckFailure(expected: "a status other than " + codes.map(String.init).joined(separator: ", "),
                                actual: CheckEvaluator.describe(response))
        case .statusClass(let c):
            if response.status / 100 == c { return nil }
            return CheckFailure(expected: "a \(c)xx status", actual: CheckEvaluator.describe(response))
        case .statusClassNot(let c):
            if response.status / 100 != c { return nil }
            return CheckFailure(expected: "no \(c)xx status", actual: CheckEvaluator.describe(response))
        case .header(let name, let h):
            return try evaluateHeader(name, h, response)
        case .json(let path, let j):
            return try evaluateJSON(path, j, response)
        case .bodyContains(let t):
            let needle = try scope.resolve(t)
            if response.bodyText.contains(needle) { return nil }
            return CheckFailure(expected: "body containing \"\(CheckEvaluator.short(needle))\"", actual: "body: " + CheckEvaluator.bodyExcerpt(response))
        case .bodyNotContains(let t):
            let needle = try scope.resolve(t)
            if !response.bodyText.contains(needle) { return nil }
            return CheckFailure(expected: "body not containing \"\(CheckEvaluator.short(needle))\"", actual: "it does: " + CheckEvaluator.bodyExcerpt(response))
        case .logContains(let t):
            let needle = try scope.resolve(t)
            let lines = logLines()
            if lines.contains(where: { $0.contains(needle) }) { return nil }
            return CheckFailure(expected: "a log line containing \"\(needle)\"", actual: CheckEvaluator.describeLog(lines))
        case .logNotContains(let t):
            let needle = try scope.resolve(t)
            let lines = logLines()
            guard let line = lines.first(where: { $0.contains(needle) }) else { return nil }
            // The line is quoted with every credential the request carried masked: the report
            // ends up in CI logs. (The needle is the fixture's pattern, public already.)
            var shown = line
            for secret in secrets.filter({ $0.count >= 12 }).sorted(by: { $0.count > $1.count }) {
                shown = shown.replacingOccurrences(of: secret, with: CheckEvaluator.mask(secret))
            }
            return CheckFailure(expected: "no log line containing \"\(CheckEvaluator.short(needle))\"", actual: "logged: " + CheckEvaluator.short(shown, 300))
        case .boundaryIntact:
            return evaluateBoundary(response)
        case .securityHeaders:
            let problems = SecurityHeaderCheck.problems(in: response, expected: configuration.headers)
            guard !problems.isEmpty else { return nil }
            return CheckFailure(expected: problems.map(\.expected).joined(separator: "; "),
                                actual: problems.map(\.actual).joined(separator: "; "))
        }
    }

    mutating func evaluateHeader(_ name: String, _ check: HeaderCheck, _ response: HTTPResponse) throws -> CheckFailure? {
        let values = response.headers.values(name)
        let actual = values.isEmpty ? "no \(name) header" : "\(name): " + values.joined(separator: " | ")
        switch check {
        case .present:
            return values.isEmpty ? CheckFailure(expected: "a \(name) header", actual: actual) : nil
        case .absent:
            return values.isEmpty ? nil : CheckFailure(expected: "no \(name) header", actual: actual)
        case .equals(let t, let ci):
            let want = try scope.resolve(t)
            let ok = !values.isEmpty && values.allSatisfy { v in
                let v = String(v.trimmingASCIIWhitespace())
                return ci ? v.lowercased() == want.lowercased() : v == want
            }
            return ok ? nil : CheckFailure(expected: "\(name): \(want)" + (ci ? " (any case)" : ""), actual: actual)
        case .contains(let t):
            let want = try scope.resolve(t)
            return values.contains(where: { $0.contains(want) }) ? nil
                : CheckFailure(expected: "\(name) containing \"\(want)\"", actual: actual)
        }
    }

    mutating func evaluateJSON(_ path: JSONPath, _ check: JSONCheck, _ response: HTTPResponse) throws -> CheckFailure? {
        let root: JSONValue
        switch json(response) {
        case .success(let j): root = j
        case .failure(let e):
            return CheckFailure(expected: "a JSON body (to check \(path))", actual: "not JSON (\(e.reason)): " + CheckEvaluator.bodyExcerpt(response))
        }
        let found = path.values(in: root)
        let shown = found.isEmpty ? "\(path) absent" : "\(path) = " + found.prefix(5).map { CheckEvaluator.short($0.description) }.joined(separator: ", ")
            + (found.count > 5 ? " … (\(found.count) values)" : "")
        switch check {
        case .present:
            return found.isEmpty ? CheckFailure(expected: "\(path) present", actual: "absent in " + CheckEvaluator.bodyExcerpt(response)) : nil
        case .absent:
            return found.isEmpty ? nil : CheckFailure(expected: "\(path) absent", actual: shown)
        case .equals(let template):
            let want = try Template.resolve(json: template, scope.value)
            let ok = !found.isEmpty && found.allSatisfy { JSONValue.equal($0, want) }
            return ok ? nil : CheckFailure(expected: "\(path) = \(want)", actual: shown)
        case .contains(let template):
            let want = try Template.resolve(json: template, scope.value)
            return found.contains(where: { CheckEvaluator.jsonContains($0, want) }) ? nil
                : CheckFailure(expected: "\(path) containing \(want)", actual: shown)
        case .notContains(let template):
            let want = try Template.resolve(json: template, scope.value)
            return found.contains(where: { CheckEvaluator.jsonContains($0, want) })
                ? CheckFailure(expected: "\(path) not containing \(want)", actual: shown) : nil
        case .type(let name):
            let ok = !found.isEmpty && found.allSatisfy { CheckEvaluator.typeName($0) == name }
            return ok ? nil : CheckFailure(expected: "\(path) of type \(name)", actual: shown)
        }
    }

    static func typeName(_ j: JSONValue) -> String {
        switch j.kind {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// `value` contains `want`: equal, a substring of a string, or an element of an array.
    static func jsonContains(_ value: JSONValue, _ want: JSONValue) -> Bool {
        if JSONValue.equal(value, want) { return true }
        if let s = value.stringValue, let w = want.stringValue { return s.contains(w) }
        if let items = value.arrayValue { return items.contains { JSONValue.equal($0, want) } }
        return false
    }

    /// The external-data boundary must hold in every string of the body that opens one:
    /// no END line may appear before the last one (which would let a payload close the
    /// boundary early and smuggle instructions after it).
    mutating func evaluateBoundary(_ response: HTTPResponse) -> CheckFailure? {
        var wrapped: [String] = []
        switch json(response) {
        case .success(let root): CheckEvaluator.collectStrings(root, containing: ExternalDataDelimiters.beginLine, into: &wrapped)
        case .failure:
            if response.bodyText.contains(ExternalDataDelimiters.beginLine) { wrapped = [response.bodyText] }
        }
        guard !wrapped.isEmpty else {
            return CheckFailure(expected: "external data wrapped in \"\(ExternalDataDelimiters.beginLine)\" … \"\(ExternalDataDelimiters.endLine)\"",
                                actual: "no wrapped entry in " + CheckEvaluator.bodyExcerpt(response))
        }
        for text in wrapped where BoundaryReading.closesEarly(text) {
            return CheckFailure(expected: "the boundary intact (no END line inside the wrapped content)",
                                actual: "content closes the boundary early: " + CheckEvaluator.short(text, 300))
        }
        return nil
    }

    static func collectStrings(_ json: JSONValue, containing needle: String, into out: inout [String]) {
        switch json.kind {
        case .string(let s): if s.contains(needle) { out.append(s) }
        case .array(let items): for i in items { collectStrings(i, containing: needle, into: &out) }
        case .object(let members): for m in members { collectStrings(m.value, containing: needle, into: &out) }
        default: break
        }
    }

    // MARK: descriptions

    public static func describe(_ response: HTTPResponse) -> String {
        var text = "status \(response.status)"
        if !response.body.isEmpty { text += ", body " + bodyExcerpt(response) }
        return text
    }

    public static func bodyExcerpt(_ response: HTTPResponse, _ limit: Int = 200) -> String {
        if response.body.isEmpty { return "(empty)" }
        return short(response.bodyText, limit)
    }

    public static func short(_ text: String, _ limit: Int = 120) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\r", with: "\\r")
        return flat.count > limit ? String(flat.prefix(limit)) + "… (\(text.utf8.count) bytes)" : flat
    }

    /// A secret as reports show it: its first 6 characters and its length.
    public static func mask(_ secret: String) -> String {
        secret.count <= 8 ? "[masked, \(secret.count) characters]" : String(secret.prefix(6)) + "…[masked, \(secret.count) characters]"
    }

    static func describeLog(_ lines: [String]) -> String {
        if lines.isEmpty { return "nothing logged" }
        return "logged: " + lines.suffix(3).joined(separator: " | ")
    }
}

/// The security headers a response must carry (or not carry) under a configuration.
public enum SecurityHeaderCheck {
    public struct Problem: Sendable, Equatable {
        public var header: String
        public var rule: String
        public var expected: String
        public var actual: String
    }

    public static func problems(in response: HTTPResponse, expected: [DeclaredConfiguration.ExpectedHeader]) -> [Problem] {
        var out: [Problem] = []
        for h in expected {
            let values = response.headers.values(h.name)
            let actual = values.isEmpty ? "no \(h.name)" : "\(h.name): " + values.joined(separator: " | ")
            if let want = h.value {
                // A repeated header with differing values is as good as a wrong one to a browser.
                let ok = !values.isEmpty && values.allSatisfy { v in
                    let v = String(v.trimmingASCIIWhitespace())
                    return h.caseInsensitive ? v.lowercased() == want.lowercased() : v == want
                }
                if !ok { out.append(Problem(header: h.name, rule: h.rule, expected: "\(h.name): \(want)", actual: actual)) }
            } else if !values.isEmpty {
                out.append(Problem(header: h.name, rule: h.rule, expected: "no \(h.name) (disabled)", actual: actual))
            }
        }
        return out
    }
}

import Foundation
import TargetFiles
import Wire

/// Reads fixture files (format: `Fixtures/README.md`). Every problem is an `InputError` naming
/// the file, the JSON path and what was expected; unknown members are errors so that a typo
/// cannot silently turn an assertion off.
public enum FixtureDecoder {
    /// Upper bound on `repeat`: the largest limit is 60, so a few hundred is plenty; the bound
    /// keeps a typo from sending millions of requests.
    public static let maxRepeat = 1000
    /// Generated bodies up to 64 MiB (a limit of a few MiB plus one byte is the usual need).
    public static let maxGeneratedBody = 64 << 20

    /// Loads every `*.json` file under `directory` (recursively, in path order).
    public static func loadDirectory(_ directory: URL) throws -> [Fixture] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputError(file: directory.path, message: "no such fixtures directory")
        }
        var files: [URL] = []
        if let e = fm.enumerator(at: directory, includingPropertiesForKeys: nil) {
            for case let url as URL in e where url.pathExtension == "json" { files.append(url) }
        }
        files.sort { $0.path < $1.path }
        guard !files.isEmpty else { throw InputError(file: directory.path, message: "no *.json fixture files in this directory") }
        var all: [Fixture] = []
        var seen: [String: String] = [:]
        for url in files {
            for fixture in try loadFile(url) {
                if let other = seen[fixture.id] {
                    throw InputError(file: url.path, message: "fixture id \"\(fixture.id)\" is also used in \(other)")
                }
                seen[fixture.id] = url.path
                all.append(fixture)
            }
        }
        return all
    }

    public static func loadFile(_ url: URL) throws -> [Fixture] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw InputError(file: url.path, message: "cannot read: \(error.localizedDescription)")
        }
        return try decode(Array(data), file: url.path, directory: url.deletingLastPathComponent())
    }

    public static func decode(_ bytes: [UInt8], file: String, directory: URL? = nil) throws -> [Fixture] {
        let root = try JSONCursor.parse(bytes, file: file)
        try root.allowOnly(["fixtures"])
        var fixtures: [Fixture] = []
        var ids: Set<String> = []
        for node in try root.required("fixtures").nonEmptyArray() {
            let f = try fixture(node, directory: directory)
            guard ids.insert(f.id).inserted else { throw try node.required("id").error("fixture id \"\(f.id)\" is used twice in this file") }
            fixtures.append(f)
        }
        return fixtures
    }

    // MARK: fixture

    static func fixture(_ node: JSONCursor, directory: URL?) throws -> Fixture {
        let kindNode = try node.optional("kind")
        let kind = try kindNode?.oneOf(["http", "dockerfile", "startup", "deployment", "limit", "fault"]) ?? "http"
        var allowed: Set<String> = ["id", "title", "rules", "kind", "requires"]
        switch kind {
        case "http": allowed.formUnion(["config", "store", "steps"])
        case "dockerfile": allowed.formUnion(["dockerfile", "expect"])
        case "startup": allowed.formUnion(["environment", "expect"])
        case "limit": allowed.formUnion(["request", "policy", "admitted", "otherSource"])
        case "fault": allowed.formUnion(["fault", "seconds", "request", "policy", "admitted", "during"])
        default: allowed.formUnion(["check"])
        }
        try node.allowOnly(allowed)
        let idNode = try node.required("id")
        let id = try idNode.nonEmptyString()
        guard id.allSatisfy({ ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "." || $0 == "-" }) else {
            throw idNode.error("expected an id of lower-case letters, digits, '.' and '-', found \"\(id)\"")
        }
        let title = try node.required("title").nonEmptyString()
        let rules = try node.required("rules").nonEmptyArray().map { n -> String in
            let r = try n.nonEmptyString()
            guard r.contains("-") else { throw n.error("expected a rule id such as \"RL-3\", found \"\(r)\"") }
            return r
        }
        var requirements = Fixture.Requirements()
        if let r = try node.optional("requires") {
            try r.allowOnly(["inProcess", "backend", "sharedLimiter", "freshConnections", "defaultSource"])
            if let n = try r.optional("inProcess") {
                if n.isString {
                    requirements.inProcess = true
                    requirements.inProcessReason = try n.nonEmptyString()
                } else {
                    requirements.inProcess = try n.bool()
                }
            }
            requirements.backend = try r.optional("backend")?.oneOf(["memory", "redis"])
            requirements.sharedLimiter = try r.optional("sharedLimiter")?.bool() ?? false
            requirements.freshConnections = try r.optional("freshConnections")?.bool() ?? false
            requirements.defaultSource = try r.optional("defaultSource")?.bool() ?? false
        }
        var config: [String: String] = [:]
        var storeUnavailable = false
        let fixtureKind: Fixture.Kind
        switch kind {
        case "http":
            if let c = try node.optional("config") { config = try environment(c) }
            if let s = try node.optional("store") {
                _ = try s.oneOf(["unavailable"])
                storeUnavailable = true
                requirements.inProcess = true
            }
            let stepsNode = try node.required("steps")
            let stepNodes = try stepsNode.nonEmptyArray()
            let steps = try stepNodes.map { try step($0) }
            // A captured value must be captured by an earlier step than the one that uses it.
            var capturedSoFar: Set<String> = []
            for (n, s) in steps.enumerated() {
                guard case .request(let r) = s else { continue }
                for symbol in r.symbols.sorted() where symbol.hasPrefix("captured.") && !capturedSoFar.contains(String(symbol.dropFirst(9))) {
                    throw stepNodes[n].error("{\(symbol)} is not captured by an earlier step (add \"capture\": {\"\(symbol.dropFirst(9))\": \"json.path\"} there)")
                }
                capturedSoFar.formUnion(r.captures.map(\.name))
            }
            // Log lines are visible only where mcsec runs the server (in-process, or a spawned
            // `mcsec serve` whose standard error it reads).
            if steps.contains(where: { step in
                guard case .request(let r) = step else { return false }
                return r.checksLog
            }) { requirements.serviceLog = true }
            fixtureKind = .http(steps)
        case "dockerfile":
            fixtureKind = .dockerfile(try dockerfile(try node.required("dockerfile"), expect: try node.required("expect"), directory: directory))
        case "startup":
            fixtureKind = .startup(try startupCheck(node))
        case "fault":
            let fault = FaultCheck.Fault(rawValue: try node.required("fault").oneOf(["stall", "drop"]))!
            let admittedNode = try node.required("admitted")
            let admitted = try (admittedNode.isArray ? try admittedNode.nonEmptyArray() : [admittedNode]).map { try $0.int(in: 200...299) }
            fixtureKind = .fault(FaultCheck(fault: fault, seconds: try node.optional("seconds")?.double(in: 0.5...10) ?? 3,
                                            request: try requestTemplate(try node.required("request")),
                                            namespace: try node.required("policy").oneOf(["webhook_ingest", "agent_auth"]),
                                            admitted: admitted, during: try node.optional("during")?.int(in: 1...20) ?? 5))
        case "limit":
            let request = try requestTemplate(try node.required("request"))
            let namespace = try node.required("policy").oneOf(["webhook_ingest", "agent_auth"])
            let admittedNode = try node.required("admitted")
            let admitted = try (admittedNode.isArray ? try admittedNode.nonEmptyArray() : [admittedNode]).map { try $0.int(in: 200...299) }
            fixtureKind = .limit(LimitCount(request: request, namespace: namespace, admitted: admitted,
                                            otherSourceAdmitted: try node.optional("otherSource")?.bool() ?? false))
        default:
            let c = try node.required("check")
            fixtureKind = .deployment(DeploymentCheck(check: try c.oneOf(["perProcessLimits"])))
        }
        return Fixture(id: id, title: title, rules: rules, file: node.file, kind: fixtureKind,
                       requirements: requirements, config: config, storeUnavailable: storeUnavailable)
    }

    static func environment(_ node: JSONCursor) throws -> [String: String] {
        var env: [String: String] = [:]
        for m in try node.members() {
            guard !m.key.isEmpty, m.key.allSatisfy({ $0.isASCII && ($0.isUppercase || $0.isNumber || $0 == "_") }) else {
                throw m.node.error("expected an environment variable name in upper case, found \"\(m.key)\"")
            }
            env[m.key] = try m.node.string()
        }
        return env
    }

    // MARK: steps

    static func step(_ node: JSONCursor) throws -> Step {
        if node.has("advance") {
            try node.allowOnly(["advance"])
            return .advance(try node.required("advance").double(in: 0.001...86_400))
        }
        try node.allowOnly(["request", "repeat", "expect", "observe", "capture", "upstream"])
        let repeatCount = try node.optional("repeat")?.int(in: 1...maxRepeat) ?? 1
        let request = try requestTemplate(try node.required("request"))
        var expectations: [Expectation] = []
        if let e = try node.optional("expect") {
            let items = e.isArray ? try e.nonEmptyArray() : [e]
            for item in items { expectations.append(try expectation(item, repeatCount: repeatCount)) }
        }
        let observation = try node.optional("observe").map { try observe($0, repeatCount: repeatCount) }
        guard !expectations.isEmpty || observation != nil else {
            throw node.error("a request step needs \"expect\" or \"observe\" (a request whose answer is not checked proves nothing)")
        }
        var step = RequestStep(request: request, repeatCount: repeatCount, expectations: expectations, observation: observation)
        if let c = try node.optional("capture") {
            for m in try c.members() {
                guard !m.key.isEmpty, m.key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                    throw m.node.error("expected a capture name of letters, digits and '_', found \"\(m.key)\"")
                }
                step.captures.append((name: m.key, path: JSONPath(try m.node.nonEmptyString())))
            }
        }
        step.upstream = try node.optional("upstream")?.bool() ?? false
        return .request(step)
    }

    static func template(_ node: JSONCursor) throws -> Template {
        let text = try node.string()
        do { return try Template.parse(text, isKnown: TargetFile.checkSymbol) } catch let e as Template.ParseError {
            throw node.error(e.description)
        }
    }

    static func requestTemplate(_ node: JSONCursor) throws -> RequestTemplate {
        try node.allowOnly(["method", "path", "headers", "body", "sign", "framing", "source"])
        let method = try node.optional("method")?.nonEmptyString() ?? "GET"
        guard method.allSatisfy({ $0.isASCII && ($0.isLetter || $0 == "-") }) else {
            throw try node.required("method").error("expected an HTTP method such as \"POST\", found \"\(method)\"")
        }
        let pathNode = try node.required("path")
        let path = try template(pathNode)
        guard path.description.hasPrefix("/") || path.description.hasPrefix("{") else {
            throw pathNode.error("expected a path starting with / (or a symbol such as {agent.endpoint})")
        }
        var headers: [(name: Template, value: Template)] = []
        if let h = try node.optional("headers") {
            if h.isArray {
                // [["Name", "value"], …]: duplicates and order kept exactly.
                for pair in try h.array() {
                    let items = try pair.array()
                    guard items.count == 2 else { throw pair.error("expected a [name, value] pair") }
                    headers.append((name: try template(items[0]), value: try template(items[1])))
                }
            } else {
                for m in try h.members() {
                    headers.append((name: try Template.parse(m.key, isKnown: TargetFile.checkSymbol), value: try template(m.node)))
                }
            }
        }
        let body = try node.optional("body").map { try bodySpec($0) } ?? .none
        let sign = try node.optional("sign").map { try signSpec($0) }
        let framing = try node.optional("framing").map { try framingTemplate($0) } ?? .contentLength
        var sourceIndex = 1
        if let s = try node.optional("source") {
            let text = try s.string()
            if text == "{source}" { sourceIndex = 1 }
            else if text.hasPrefix("{source."), text.hasSuffix("}"), let n = Int(text.dropFirst(8).dropLast()), (2...9).contains(n) {
                sourceIndex = n
            } else {
                throw s.error("expected \"{source}\" or \"{source.N}\" with N from 2 to 9, found \"\(text)\"")
            }
        }
        return RequestTemplate(method: method, path: path, headers: headers, body: body, sign: sign, framing: framing, sourceIndex: sourceIndex)
    }

    static func sizeExpression(_ node: JSONCursor) throws -> SizeExpression {
        if let n = node.json.intValue {
            guard (0...maxGeneratedBody).contains(n) else { throw node.error("expected a size from 0 to \(maxGeneratedBody) bytes, found \(n)") }
            return SizeExpression(symbol: nil, offset: n)
        }
        let text = try node.string().replacingOccurrences(of: " ", with: "")
        // "limit", "limit+1", "limit-1": the payload limit of the target's configuration.
        guard text.hasPrefix("limit") else { throw node.expected("a byte count or \"limit\", \"limit+N\", \"limit-N\"") }
        let rest = text.dropFirst(5)
        if rest.isEmpty { return SizeExpression(symbol: "limit", offset: 0) }
        guard let sign = rest.first, sign == "+" || sign == "-", let n = Int(rest.dropFirst()), n <= maxGeneratedBody else {
            throw node.expected("a byte count or \"limit\", \"limit+N\", \"limit-N\"")
        }
        return SizeExpression(symbol: "limit", offset: sign == "+" ? n : -n)
    }

    static func bodySpec(_ node: JSONCursor) throws -> BodySpec {
        if node.isString { return .text(try template(node)) }
        try node.allowOnly(["text", "json", "base64", "size", "repeat"])
        let members = try node.members()
        guard members.count == 1, let m = members.first else {
            throw node.error("expected exactly one of \"text\", \"json\", \"base64\", \"size\", \"repeat\"")
        }
        switch m.key {
        case "text": return .text(try template(m.node))
        case "json":
            try validateSymbols(inJSON: m.node)
            return .json(m.node.json)
        case "base64":
            guard let data = Data(base64Encoded: try m.node.string()) else { throw m.node.expected("base64 text") }
            return .bytes(Array(data))
        case "size":
            return .size(try sizeExpression(m.node))
        default:
            try m.node.allowOnly(["unit", "count", "prefix", "suffix"])
            let unit = try m.node.required("unit").nonEmptyString()
            let count = try m.node.required("count").int(in: 1...maxGeneratedBody)
            guard unit.utf8.count.multipliedReportingOverflow(by: count).partialValue <= maxGeneratedBody else {
                throw m.node.error("the generated body would exceed \(maxGeneratedBody) bytes")
            }
            return .repeated(unit: unit, count: count,
                             prefix: try m.node.optional("prefix")?.string() ?? "",
                             suffix: try m.node.optional("suffix")?.string() ?? "")
        }
    }

    static func validateSymbols(inJSON node: JSONCursor) throws {
        if node.isString { _ = try template(node); return }
        if node.isArray { for item in try node.array() { try validateSymbols(inJSON: item) }; return }
        if node.isObject {
            for m in try node.members() {
                do { _ = try Template.parse(m.key, isKnown: TargetFile.checkSymbol) } catch let e as Template.ParseError {
                    throw m.node.error(e.description)
                }
                try validateSymbols(inJSON: m.node)
            }
        }
    }

    static func signSpec(_ node: JSONCursor) throws -> SignSpec {
        try node.allowOnly(["webhook", "mode", "header", "prefix", "hexCase", "padding"])
        let webhook = try node.optional("webhook")?.oneOf(["signed", "custom"]) ?? "signed"
        let mode = SignSpec.Mode(rawValue: try node.optional("mode")?.oneOf(["valid", "invalid", "empty"]) ?? "valid") ?? .valid
        var header: SignSpec.Header = .hub
        if let h = try node.optional("header") {
            switch try h.nonEmptyString() {
            case "hub", "X-Hub-Signature-256": header = .hub
            case "webhook", "X-Webhook-Signature": header = .webhook
            case "own": header = .own
            case let other:
                guard other.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
                    throw h.error("expected \"hub\", \"webhook\", \"own\" or a header name, found \"\(other)\"")
                }
                header = .named(other)
            }
        }
        let hexCase = try node.optional("hexCase")?.oneOf(["lower", "upper"]) ?? "lower"
        let padding = try node.optional("padding")?.string() ?? ""
        guard padding.allSatisfy({ $0 == " " || $0 == "\t" }) else {
            throw try node.required("padding").error("expected spaces or tabs only")
        }
        return SignSpec(webhook: "webhook." + webhook, mode: mode, header: header,
                        prefix: try node.optional("prefix")?.string() ?? "sha256=",
                        uppercaseHex: hexCase == "upper", padding: padding)
    }

    static func framingTemplate(_ node: JSONCursor) throws -> FramingTemplate {
        if node.isString {
            switch try node.oneOf(["content-length", "chunked", "none"]) {
            case "chunked": return .chunked(16_384)
            case "none": return .none
            default: return .contentLength
            }
        }
        try node.allowOnly(["declaredLength", "chunked"])
        if let d = try node.optional("declaredLength") { return .declaredLength(try sizeExpression(d)) }
        if let c = try node.optional("chunked") { return .chunked(try c.int(in: 1...(16 << 20))) }
        throw node.expected("\"content-length\", \"chunked\", \"none\", {\"declaredLength\": N} or {\"chunked\": chunkSize}")
    }

    // MARK: expectations

    static func iterationRange(_ node: JSONCursor, repeatCount: Int) throws -> IterationRange {
        let range: IterationRange
        if let n = node.json.intValue {
            range = IterationRange(lower: n, upper: n)
        } else {
            let text = try node.string()
            let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            if parts.count == 1, let n = Int(parts[0]) {
                range = IterationRange(lower: n, upper: n)
            } else if parts.count == 2, let lo = Int(parts[0]) {
                if parts[1].isEmpty { range = IterationRange(lower: lo, upper: nil) }
                else if let hi = Int(parts[1]), hi >= lo { range = IterationRange(lower: lo, upper: hi) }
                else { throw node.expected("iterations such as 5, \"1-60\" or \"61-\"") }
            } else {
                throw node.expected("iterations such as 5, \"1-60\" or \"61-\"")
            }
        }
        guard range.lower >= 1, range.lower <= repeatCount, (range.upper ?? repeatCount) <= repeatCount else {
            throw node.error("iterations \(range) lie outside 1-\(repeatCount) (the step's repeat count)")
        }
        return range
    }

    static let checkKeys: Set<String> = ["status", "statusNot", "statusClass", "statusClassNot", "headers",
                                         "headersPresent", "headersAbsent", "json", "bodyContains",
                                         "bodyNotContains", "log", "boundary", "securityHeaders"]

    static func expectation(_ node: JSONCursor, repeatCount: Int) throws -> Expectation {
        try node.allowOnly(checkKeys.union(["iterations", "rules"]))
        let iterations = try node.optional("iterations").map { try iterationRange($0, repeatCount: repeatCount) }
        let rules = try node.optional("rules").map { try $0.nonEmptyArray().map { try $0.nonEmptyString() } }
        let checks = try checks(node)
        guard !checks.isEmpty else { throw node.error("expected at least one check (\(checkKeys.sorted().joined(separator: ", ")))") }
        return Expectation(iterations: iterations, rules: rules, checks: checks)
    }

    static func statusList(_ node: JSONCursor) throws -> [Int] {
        if node.isArray { return try node.nonEmptyArray().map { try $0.int(in: 100...599) } }
        return [try node.int(in: 100...599)]
    }

    static func statusClass(_ node: JSONCursor) throws -> Int {
        let text = try node.oneOf(["1xx", "2xx", "3xx", "4xx", "5xx"])
        return Int(String(text.prefix(1))) ?? 0
    }

    static func checks(_ node: JSONCursor) throws -> [Check] {
        var checks: [Check] = []
        if let s = try node.optional("status") { checks.append(.status(try statusList(s))) }
        if let s = try node.optional("statusNot") { checks.append(.statusNot(try statusList(s))) }
        if let s = try node.optional("statusClass") { checks.append(.statusClass(try statusClass(s))) }
        if let s = try node.optional("statusClassNot") { checks.append(.statusClassNot(try statusClass(s))) }
        if let h = try node.optional("headers") {
            for m in try h.members() {
                if m.node.isString {
                    checks.append(.header(name: m.key, .equals(try template(m.node), caseInsensitive: false)))
                } else {
                    try m.node.allowOnly(["equals", "equalsIgnoringCase", "contains", "present", "absent"])
                    let members = try m.node.members()
                    guard members.count == 1, let c = members.first else {
                        throw m.node.error("expected exactly one of \"equals\", \"equalsIgnoringCase\", \"contains\", \"present\", \"absent\"")
                    }
                    switch c.key {
                    case "equals": checks.append(.header(name: m.key, .equals(try template(c.node), caseInsensitive: false)))
                    case "equalsIgnoringCase": checks.append(.header(name: m.key, .equals(try template(c.node), caseInsensitive: true)))
                    case "contains": checks.append(.header(name: m.key, .contains(try template(c.node))))
                    case "present": checks.append(.header(name: m.key, try c.node.bool() ? .present : .absent))
                    default: checks.append(.header(name: m.key, try c.node.bool() ? .absent : .present))
                    }
                }
            }
        }
        if let h = try node.optional("headersPresent") {
            for n in try h.nonEmptyArray() { checks.append(.header(name: try n.nonEmptyString(), .present)) }
        }
        if let h = try node.optional("headersAbsent") {
            for n in try h.nonEmptyArray() { checks.append(.header(name: try n.nonEmptyString(), .absent)) }
        }
        if let j = try node.optional("json") {
            if j.isObject {
                // Shorthand: {"path": value} means equals.
                for m in try j.members() {
                    try validateSymbols(inJSON: m.node)
                    checks.append(.json(path: JSONPath(m.key), .equals(m.node.json)))
                }
            } else {
                for item in try j.nonEmptyArray() {
                    try item.allowOnly(["path", "equals", "present", "absent", "contains", "notContains", "type"])
                    let path = JSONPath(try item.required("path").string())
                    let ops = try item.members().filter { $0.key != "path" }
                    guard ops.count == 1, let op = ops.first else {
                        throw item.error("expected \"path\" and exactly one of \"equals\", \"present\", \"absent\", \"contains\", \"notContains\", \"type\"")
                    }
                    switch op.key {
                    case "equals": try validateSymbols(inJSON: op.node); checks.append(.json(path: path, .equals(op.node.json)))
                    case "present": checks.append(.json(path: path, try op.node.bool() ? .present : .absent))
                    case "absent": checks.append(.json(path: path, try op.node.bool() ? .absent : .present))
                    case "contains": try validateSymbols(inJSON: op.node); checks.append(.json(path: path, .contains(op.node.json)))
                    case "notContains": try validateSymbols(inJSON: op.node); checks.append(.json(path: path, .notContains(op.node.json)))
                    default: checks.append(.json(path: path, .type(try op.node.oneOf(["string", "number", "boolean", "object", "array", "null"]))))
                    }
                }
            }
        }
        if let b = try node.optional("bodyContains") {
            for t in try stringOrArrayNodes(b) { checks.append(.bodyContains(try template(t))) }
        }
        if let b = try node.optional("bodyNotContains") {
            for t in try stringOrArrayNodes(b) { checks.append(.bodyNotContains(try template(t))) }
        }
        if let l = try node.optional("log") {
            try l.allowOnly(["contains", "notContains"])
            if let c = try l.optional("contains") { for t in try stringOrArrayNodes(c) { checks.append(.logContains(try template(t))) } }
            if let c = try l.optional("notContains") { for t in try stringOrArrayNodes(c) { checks.append(.logNotContains(try template(t))) } }
        }
        if let b = try node.optional("boundary") {
            _ = try b.oneOf(["intact"])
            checks.append(.boundaryIntact)
        }
        if let s = try node.optional("securityHeaders") {
            guard try s.bool() else { throw s.error("only true is meaningful here (use \"headersAbsent\" to require a header's absence)") }
            checks.append(.securityHeaders)
        }
        return checks
    }

    static func stringOrArrayNodes(_ node: JSONCursor) throws -> [JSONCursor] {
        if node.isString { return [node] }
        return try node.nonEmptyArray()
    }

    static func observe(_ node: JSONCursor, repeatCount: Int) throws -> Observation {
        try node.allowOnly(["cases", "otherwise", "rules", "iterations"])
        var cases: [Observation.Case] = []
        for c in try node.required("cases").nonEmptyArray() {
            try c.allowOnly(["when", "note"])
            let when = try c.required("when")
            try when.allowOnly(checkKeys)
            let checks = try checks(when)
            guard !checks.isEmpty else { throw when.error("expected at least one check") }
            cases.append(Observation.Case(checks: checks, note: try c.required("note").nonEmptyString()))
        }
        let otherwiseNode = try node.required("otherwise")
        try otherwiseNode.allowOnly(["fail", "note"])
        let otherwise: Observation.Otherwise
        if let f = try otherwiseNode.optional("fail") { otherwise = .fail(try f.nonEmptyString()) }
        else if let n = try otherwiseNode.optional("note") { otherwise = .note(try n.nonEmptyString()) }
        else { throw otherwiseNode.expected("{\"fail\": \"why\"} or {\"note\": \"what it means\"}") }
        return Observation(cases: cases, otherwise: otherwise,
                           rules: try node.optional("rules").map { try $0.nonEmptyArray().map { try $0.nonEmptyString() } },
                           iterations: try node.optional("iterations").map { try iterationRange($0, repeatCount: repeatCount) })
    }

    // MARK: other kinds

    static func dockerfile(_ node: JSONCursor, expect: JSONCursor, directory: URL?) throws -> DockerfileCheck {
        try node.allowOnly(["lines", "text", "path", "target"])
        let members = try node.members()
        guard members.count == 1, let m = members.first else {
            throw node.error("expected exactly one of \"lines\", \"text\", \"path\", \"target\"")
        }
        let source: DockerfileCheck.Source
        switch m.key {
        case "lines": source = .inline(try m.node.stringArray().joined(separator: "\n") + "\n")
        case "text": source = .inline(try m.node.string())
        case "path":
            let p = try m.node.nonEmptyString()
            if p.hasPrefix("/") || directory == nil { source = .file(p) }
            else if let directory { source = .file(directory.appendingPathComponent(p).standardizedFileURL.path) }
            else { source = .file(p) }
        default: source = .targetFile(try m.node.nonEmptyString())
        }
        try expect.allowOnly(["verdict", "user", "copyChown", "noteVolumes"])
        let check = DockerfileCheck(source: source,
                                    finalUser: try expect.optional("verdict")?.oneOf(["nonRoot", "root", "undetermined"]),
                                    user: try expect.optional("user")?.nonEmptyString(),
                                    copyChown: try expect.optional("copyChown")?.nonEmptyString(),
                                    noteVolumes: try expect.optional("noteVolumes")?.bool() ?? false)
        guard check.finalUser != nil || check.user != nil || check.copyChown != nil || check.noteVolumes else {
            throw expect.error("expected at least one of \"verdict\", \"user\", \"copyChown\", \"noteVolumes\"")
        }
        return check
    }

    static func startupCheck(_ node: JSONCursor) throws -> StartupCheck {
        let env = try environment(try node.required("environment"))
        let e = try node.required("expect")
        try e.allowOnly(["starts", "messageContains", "messageNotContains"])
        return StartupCheck(environment: env,
                            starts: try e.required("starts").bool(),
                            messageContains: try e.optional("messageContains")?.stringOrArray() ?? [],
                            messageNotContains: try e.optional("messageNotContains")?.stringOrArray() ?? [])
    }
}

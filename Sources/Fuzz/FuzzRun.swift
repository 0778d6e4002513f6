import Foundation
import Reference
import Spec
import TargetFiles
import Wire

/// What to run.
public struct FuzzOptions: Sendable {
    public var budget = 1_000
    public var seed: UInt64 = 1
    /// Class names or prefixes (`sig.` selects every signature class); empty: all.
    public var classes: [String] = []
    public var shrink = true
    /// Seconds either side of a limiter window edge within which a prediction is uncertain.
    public var edgeMargin = 0.5
    public var timeout = 5.0
    public init() {}
}

/// One request whose answers differ.
public struct FuzzFinding: Sendable {
    public var index: Int
    public var request: FuzzRequest
    public var expected: Outcome
    public var actual: Outcome
    public var differences: [Difference]
    public var grade: Grade { differences.map(\.grade).max() ?? .info }
}

/// The result of a run, grouped by class.
public struct FuzzResult: Sendable {
    public struct ClassSummary: Sendable {
        public var name: String
        public var sent = 0
        public var differing = 0
        public var grade: Grade?
        public var first: FuzzFinding?
        /// The smallest request found that still differs (nil when not shrunk).
        public var minimal: FuzzFinding?
    }
    public var seed: UInt64
    public var sent = 0
    public var uncertain = 0
    public var seconds = 0.0
    public var classes: [ClassSummary] = []
    public var findings: [FuzzFinding] = []

    public var failed: Bool { classes.contains { $0.grade == .fail } }
    public var deviated: Bool { classes.contains { $0.grade == .deviation } }
}

/// Sends generated requests to a target and to its oracle and compares every answer.
public final class FuzzRun {
    public let target: TargetFile
    public let host: String
    public let port: Int
    public let options: FuzzOptions
    public let oracle: FuzzOracle
    public let selected: [RequestClass]
    let context: GenerationContext
    let config: DeclaredConfiguration
    private let targetEndpoint: Endpoint
    private let oracleEndpoint: Endpoint
    /// Source addresses: the target file's, then the system's choice (nil) when it has none.
    let sources: [String?]
    /// Addresses kept out of the main run so shrinking has limiter budget left.
    let reserved: Int
    /// When each source sent each limited request the planner counted (real send times).
    private var sendTimes: [String: [Double]] = [:]
    /// Shown once per request on a terminal.
    public var progress: ((Int, Int, Int) -> Void)?

    public init(target: TargetFile, host: String, port: Int, options: FuzzOptions) throws {
        self.target = target
        self.host = host
        self.port = port
        self.options = options
        config = DeclaredConfiguration(environment: target.config)
        selected = try FuzzRun.select(options.classes)
        oracle = try FuzzOracle(target: target)
        context = GenerationContext(target: target, host: port == 80 ? host : "\(host):\(port)")
        targetEndpoint = Endpoint(host: host, port: port, timeout: options.timeout)
        oracleEndpoint = Endpoint(host: "127.0.0.1", port: oracle.port, timeout: options.timeout)
        sources = target.sourceAddresses.isEmpty ? [nil] : target.sourceAddresses.map { Optional($0) }
        reserved = sources.count >= 8 ? 2 : 0
    }

    deinit {
        targetEndpoint.closeAll()
        oracleEndpoint.closeAll()
        oracle.stop()
    }

    static func select(_ names: [String]) throws -> [RequestClass] {
        guard !names.isEmpty else { return RequestClass.catalog }
        var out: [RequestClass] = []
        for name in names {
            let matching = RequestClass.catalog.filter { $0.name == name || ($0.name.hasPrefix(name) && name.hasSuffix(".")) || $0.name.hasPrefix(name + ".") }
            guard !matching.isEmpty else {
                throw FuzzInputError("unknown class '\(name)'; see 'mcsec fuzz --list-classes'")
            }
            for c in matching where !out.contains(where: { $0.name == c.name }) { out.append(c) }
        }
        return out
    }

    /// The requests of a run: the same seed and target give the same requests, byte for byte.
    /// Classes the target file cannot feed are left out.
    public static func plan(budget: Int, seed: UInt64, classes: [RequestClass], context: GenerationContext) -> [FuzzRequest] {
        var random = FuzzRandom(seed: seed)
        var probe = FuzzRandom(seed: seed ^ 0x9E37_79B9_7F4A_7C15)
        let usable = classes.filter { $0.generate(&probe, context) != nil }
        guard !usable.isEmpty else { return [] }
        var out: [FuzzRequest] = []
        out.reserveCapacity(budget)
        for i in 0..<budget {
            // Every class once first, then draws.
            var c = i < usable.count ? usable[i] : random.pick(usable)
            // Bodies of the limit's size are costly for both sides (and accepted ones are
            // stored): drawn a fifth as often.
            if i >= usable.count, c.heavy, random.int(0...4) != 0 { c = random.pick(usable) }
            if let r = c.generate(&random, context) { out.append(r) }
        }
        return out
    }

    // MARK: running

    public func run() -> FuzzResult {
        let start = Date().timeIntervalSince1970
        var result = FuzzResult(seed: options.seed)
        var summaries: [String: FuzzResult.ClassSummary] = [:]
        var requests = FuzzRun.plan(budget: options.budget, seed: options.seed, classes: selected, context: context)
        var cursor = 0
        for i in requests.indices {
            requests[i].source = assignSource(requests[i], now: Date().timeIntervalSince1970, index: &cursor)
            let (expected, actual, uncertain) = send(requests[i])
            result.sent += 1
            var s = summaries[requests[i].className] ?? FuzzResult.ClassSummary(name: requests[i].className)
            s.sent += 1
            var differences = Comparison.compare(request: requests[i], expected: expected, actual: actual, config: config)
            if uncertain {
                result.uncertain += 1
                for d in differences.indices { differences[d].grade = .info }
            }
            if !differences.isEmpty {
                let finding = FuzzFinding(index: i, request: requests[i], expected: expected, actual: actual, differences: differences)
                s.differing += 1
                if s.grade.map({ finding.grade > $0 }) ?? true { s.grade = finding.grade; s.first = finding }
                if result.findings.count < 10_000 { result.findings.append(finding) }
            }
            summaries[requests[i].className] = s
            progress?(i + 1, requests.count, result.findings.count)
        }
        if options.shrink {
            for (name, s) in summaries where s.first.map({ $0.grade > .info }) == true {
                summaries[name]?.minimal = shrink(s.first!)
            }
        }
        result.classes = selected.compactMap { summaries[$0.name] }
        result.seconds = Date().timeIntervalSince1970 - start
        return result
    }

    /// Picks the source a request is sent from: for a limited request, the next address with
    /// budget left in its window (so checks behind the limiter stay visible); when every
    /// address is spent, it is sent anyway, round robin, and the limit's own answer (429,
    /// its detail and headers) is what gets compared.
    func assignSource(_ request: FuzzRequest, now: Double, index: inout Int) -> Int? {
        let usable = max(1, sources.count - reserved)
        guard let ns = request.namespace else {
            index += 1
            return sources[index % usable] == nil ? nil : index % usable
        }
        let policy = ns.policy
        for step in 0..<usable {
            let candidate = (index + step) % usable
            let key = ns.rawValue + "|" + (sources[candidate] ?? "")
            let recent = (sendTimes[key] ?? []).filter { $0 > now - policy.window }
            if recent.count < policy.maxRequests {
                index = candidate + 1
                return sources[candidate] == nil ? nil : candidate
            }
        }
        index += 1
        return sources[index % usable] == nil ? nil : index % usable
    }

    /// Sends one request to the target and to the oracle (its clock set to the target's send
    /// time); uncertain when a limited request falls near a window edge of its source.
    func send(_ request: FuzzRequest) -> (Outcome, Outcome, Bool) {
        let source = request.source.flatMap { sources[$0] }
        let sentAt = Date().timeIntervalSince1970
        let actual = targetEndpoint.exchange(request, source: source)
        let answeredAt = Date().timeIntervalSince1970
        oracle.time.set(sentAt)
        let expected = oracleEndpoint.exchange(request, source: source)
        var uncertain = false
        if let ns = request.namespace {
            let key = ns.rawValue + "|" + (source ?? "")
            var times = sendTimes[key] ?? []
            let window = ns.policy.window
            let margin = options.edgeMargin + (answeredAt - sentAt)
            // An earlier request leaving the window right about now: the target's clock may
            // have seen it in or out.
            uncertain = times.contains { abs(sentAt - ($0 + window)) < margin }
            times.removeAll { $0 <= sentAt - window - margin - 1 }
            times.append(sentAt)
            sendTimes[key] = times
            if target.workers > 1, config.backend == "memory" { uncertain = uncertain || actual.response?.status == 429 || expected.response?.status == 429 }
        }
        return (expected, actual, uncertain)
    }

    // MARK: shrinking

    /// The smallest variant of a finding's request that still differs in the same aspect:
    /// headers dropped one at a time, the body halved, values simplified. Sent from the
    /// reserved addresses so the limiter does not hide the difference.
    func shrink(_ finding: FuzzFinding) -> FuzzFinding {
        let aspects = Set(finding.differences.filter { $0.grade > .info }.map(\.aspect))
        var best = finding
        var attempts = 0
        let reservedSources = reserved > 0 ? Array((sources.count - reserved)..<sources.count) : [0]
        var sourceIndex = 0
        func tryVariant(_ candidate: FuzzRequest) -> FuzzFinding? {
            guard attempts < 40 else { return nil }
            attempts += 1
            var c = candidate
            c.source = sources[reservedSources[sourceIndex % reservedSources.count]] == nil ? nil : reservedSources[sourceIndex % reservedSources.count]
            sourceIndex += 1
            let (expected, actual, uncertain) = send(c)
            guard !uncertain else { return nil }
            let differences = Comparison.compare(request: c, expected: expected, actual: actual, config: config)
            guard differences.contains(where: { aspects.contains($0.aspect) && $0.grade > .info }) else { return nil }
            return FuzzFinding(index: finding.index, request: c, expected: expected, actual: actual, differences: differences)
        }
        var progress = true
        while progress && attempts < 40 {
            progress = false
            // Drop headers (not Host, not the framing header of a body).
            for i in best.request.headers.indices.reversed() {
                let h = best.request.headers[i]
                if HTTPFields.equalNames(h.name, "Host") { continue }
                if (HTTPFields.equalNames(h.name, "Content-Length") || HTTPFields.equalNames(h.name, "Transfer-Encoding")),
                   !best.request.body.isEmpty || best.request.method == "POST" { continue }
                var c = best.request
                c.headers.remove(at: i)
                if let f = tryVariant(c) { best = f; progress = true; break }
            }
            if progress { continue }
            // Shorten the body (when its length is plain Content-Length framing).
            if best.request.body.count > 1, best.request.chunkSize == nil,
               let cl = best.request.headers.firstIndex(where: { HTTPFields.equalNames($0.name, "Content-Length") }),
               best.request.headers[cl].value == String(best.request.body.count) {
                for size in [0, best.request.body.count / 2] where size < best.request.body.count {
                    var c = best.request
                    c.body = Array(c.body.prefix(size))
                    c.headers[cl].value = String(size)
                    if let f = tryVariant(c) { best = f; progress = true; break }
                }
            }
            if progress { continue }
            // Simplify header values: long ones cut to their first part.
            for i in best.request.headers.indices where best.request.headers[i].value.count > 16
                && !HTTPFields.equalNames(best.request.headers[i].name, "Host") && !HTTPFields.equalNames(best.request.headers[i].name, "Content-Length") {
                var c = best.request
                c.headers[i].value = String(c.headers[i].value.prefix(8))
                if let f = tryVariant(c) { best = f; progress = true; break }
            }
        }
        return best
    }

    /// A `curl` command line sending `request` (secrets masked unless `showSecrets`).
    public func curl(_ request: FuzzRequest, showSecrets: Bool) -> String {
        FuzzRun.curl(request, baseURL: "http://\(context.host)", source: request.source.flatMap { sources[$0] }, showSecrets: showSecrets)
    }

    public static func curl(_ request: FuzzRequest, baseURL: String, source: String?, showSecrets: Bool) -> String {
        func mask(_ s: String) -> String {
            guard !showSecrets else { return s }
            var out = s
            for secret in request.secrets where !secret.isEmpty {
                out = out.replacingOccurrences(of: secret, with: String(secret.prefix(2)) + "…(masked)")
            }
            // A digest computed with a secret reveals nothing of it, but is only valid for
            // this body: keep it.
            return out
        }
        var parts = ["curl", "-sS", "-i", "--path-as-is", "-X", request.method]
        if let source { parts += ["--interface", source] }
        parts.append(shellQuote(baseURL + request.target))
        parts += ["-H", shellQuote("User-Agent:"), "-H", shellQuote("Accept:")]
        for h in request.headers where !HTTPFields.equalNames(h.name, "Host") {
            parts += ["-H", shellQuote(h.value.isEmpty ? h.name + ";" : mask(h.name + ": " + h.value))]
        }
        if !request.body.isEmpty || request.header("Content-Length") != nil {
            if request.body.count > 256, let byte = request.body.first, request.body.allSatisfy({ $0 == byte }) {
                let printable = byte >= 0x20 && byte < 0x7F && byte != 0x27
                parts += ["--data-binary", "@<(head -c \(request.body.count) /dev/zero | tr '\\0' '\(printable ? String(UnicodeScalar(byte)) : "a")')"]
            } else {
                parts += ["--data-binary", shellQuote(request.body)]
            }
        }
        return parts.joined(separator: " ")
    }

    static func shellQuote(_ text: String) -> String { shellQuote(Array(text.utf8)) }

    /// Single quotes, or `$'…'` with `\xNN` escapes for bytes a terminal would not show.
    static func shellQuote(_ bytes: [UInt8]) -> String {
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x27 }) { return "'" + String(decoding: bytes, as: UTF8.self) + "'" }
        var out = "$'"
        for b in bytes {
            if b >= 0x20 && b < 0x7F && b != 0x27 && b != 0x5C { out.append(Character(UnicodeScalar(b))) } else {
                out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
            }
        }
        return out + "'"
    }
}

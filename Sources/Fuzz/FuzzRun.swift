import Foundation
import Synchronization
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
    /// Requests in flight at once (each on its own share of the source addresses).
    public var lanes = 4
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
        /// The smallest request found that still differs on its own (nil when not shrunk, or
        /// when the difference needs the requests before it).
        public var minimal: FuzzFinding?
        public var shrunk = false
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
public final class FuzzRun: @unchecked Sendable {
    public let target: TargetFile
    public let host: String
    public let port: Int
    public let options: FuzzOptions
    public let oracle: FuzzOracle
    public let selected: [RequestClass]
    let context: GenerationContext
    let config: DeclaredConfiguration
    /// Lanes send in parallel; each owns a share of the source addresses (so one address's
    /// requests stay in order, as its limiter needs) and its own connections.
    let lanes: [Lane]
    /// The latest send time given to the oracle's clock.
    private let clock = Mutex(0.0)
    /// Source addresses: the target file's, then the system's choice (nil) when it has none.
    let sources: [String?]
    /// Addresses kept out of the main run so shrinking has limiter budget left.
    let reserved: Int
    /// Called as requests complete (done, total, differing so far), from any lane.
    public var progress: (@Sendable (Int, Int, Int) -> Void)?

    public init(target: TargetFile, host: String, port: Int, options: FuzzOptions) throws {
        self.target = target
        self.host = host
        self.port = port
        self.options = options
        config = DeclaredConfiguration(environment: target.config)
        selected = try FuzzRun.select(options.classes)
        oracle = try FuzzOracle(target: target)
        context = GenerationContext(target: target, host: port == 80 ? host : "\(host):\(port)")
        sources = target.sourceAddresses.isEmpty ? [nil] : target.sourceAddresses.map { Optional($0) }
        reserved = sources.count >= 8 ? 2 : 0
        let oraclePort = oracle.port
        lanes = (0..<max(1, min(options.lanes, sources.count - reserved))).map { _ in
            Lane(target: Endpoint(host: host, port: port, timeout: options.timeout),
                 oracle: Endpoint(host: "127.0.0.1", port: oraclePort, timeout: options.timeout))
        }
    }

    deinit {
        for lane in lanes { lane.close() }
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
            // stored): drawn a twenty-fifth as often.
            if i >= usable.count, c.heavy, random.int(0...24) != 0 { c = random.pick(usable) }
            if let r = c.generate(&random, context) { out.append(r) }
        }
        return out
    }

    // MARK: running

    public func run() -> FuzzResult {
        let start = Date().timeIntervalSince1970
        var result = FuzzResult(seed: options.seed)
        var requests = FuzzRun.plan(budget: options.budget, seed: options.seed, classes: selected, context: context)
        // Sources are planned up front, at the pace a run usually keeps.
        var cursor = 0
        var planned: [String: [Double]] = [:]
        for i in requests.indices {
            requests[i].source = assignSource(requests[i], now: start + Double(i) / 2_000, index: &cursor, times: &planned)
        }
        let laneOf = { (r: FuzzRequest) -> Int in (r.source ?? 0) % self.lanes.count }
        let byLane = (0..<lanes.count).map { lane in requests.indices.filter { laneOf(requests[$0]) == lane } }
        let outcomes = Mutex([(Outcome, Outcome, Bool)?](repeating: nil, count: requests.count))
        let counts = Mutex((done: 0, differing: 0))
        let total = requests.count
        let plannedRequests = requests
        DispatchQueue.concurrentPerform(iterations: lanes.count) { lane in
            for i in byLane[lane] {
                let answer = self.send(plannedRequests[i], lane: self.lanes[lane])
                outcomes.withLock { $0[i] = answer }
                let differs = answer.0 != answer.1
                let (done, differing) = counts.withLock { c -> (Int, Int) in
                    c.done += 1
                    if differs { c.differing += 1 }
                    return (c.done, c.differing)
                }
                self.progress?(done, total, differing)
            }
        }
        let answers = outcomes.withLock { $0 }
        var summaries: [String: FuzzResult.ClassSummary] = [:]
        for i in requests.indices {
            guard let (expected, actual, uncertain) = answers[i] else { continue }
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
        }
        if options.shrink {
            for (name, s) in summaries where s.first.map({ $0.grade > .info }) == true {
                summaries[name]?.minimal = shrink(s.first!)
                summaries[name]?.shrunk = true
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
    func assignSource(_ request: FuzzRequest, now: Double, index: inout Int, times sendTimes: inout [String: [Double]]) -> Int? {
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
                sendTimes[key] = recent + [now]
                return sources[candidate] == nil ? nil : candidate
            }
        }
        index += 1
        return sources[index % usable] == nil ? nil : index % usable
    }

    /// Sends one request to the target and to the oracle (its clock set to the target's send
    /// time); uncertain when a limited request falls near a window edge of its source.
    func send(_ request: FuzzRequest, lane: Lane) -> (Outcome, Outcome, Bool) {
        let source = request.source.flatMap { sources[$0] }
        let sentAt = Date().timeIntervalSince1970
        let actual = lane.target.exchange(request, source: source)
        let answeredAt = Date().timeIntervalSince1970
        // Lanes share the oracle's clock; the clock only moves forward, and a few
        // milliseconds between lanes are far inside the uncertainty margin.
        clock.withLock { latest in
            latest = max(latest, sentAt)
            oracle.time.set(latest)
        }
        let expected = lane.oracle.exchange(request, source: source)
        var uncertain = false
        if let ns = request.namespace {
            let key = ns.rawValue + "|" + (source ?? "")
            var times = lane.sendTimes[key] ?? []
            let window = ns.policy.window
            let margin = options.edgeMargin + (answeredAt - sentAt)
            // An earlier request leaving the window right about now: the target's clock may
            // have seen it in or out.
            uncertain = times.contains { abs(sentAt - ($0 + window)) < margin }
            times.removeAll { $0 <= sentAt - window - margin - 1 }
            times.append(sentAt)
            lane.sendTimes[key] = times
            if target.workers > 1, config.backend == "memory" { uncertain = uncertain || actual.response?.status == 429 || expected.response?.status == 429 }
        }
        return (expected, actual, uncertain)
    }

    // MARK: shrinking

    /// The smallest variant of a finding's request that still differs in the same aspect:
    /// headers dropped one at a time, the body halved, values simplified. Sent from the
    /// reserved addresses so the limiter does not hide the difference.
    /// Nil when the request alone does not differ (the difference needs the requests before
    /// it, as a limiter's count does).
    func shrink(_ finding: FuzzFinding) -> FuzzFinding? {
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
            let (expected, actual, uncertain) = send(c, lane: lanes[0])
            guard !uncertain else { return nil }
            let differences = Comparison.compare(request: c, expected: expected, actual: actual, config: config)
            guard differences.contains(where: { aspects.contains($0.aspect) && $0.grade > .info }) else { return nil }
            return FuzzFinding(index: finding.index, request: c, expected: expected, actual: actual, differences: differences)
        }
        guard let alone = tryVariant(finding.request) else { return nil }
        best = alone
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

/// One sender: its connections to the target and the oracle, and when its sources sent
/// limited requests (real send times). Used by one thread at a time.
final class Lane: @unchecked Sendable {
    let target: Endpoint
    let oracle: Endpoint
    var sendTimes: [String: [Double]] = [:]

    init(target: Endpoint, oracle: Endpoint) {
        self.target = target
        self.oracle = oracle
    }

    func close() {
        target.closeAll()
        oracle.closeAll()
    }
}

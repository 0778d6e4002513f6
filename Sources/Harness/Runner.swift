import Foundation
import TargetFiles
import Wire

/// Options of a run (the `mcsec check` flags).
public struct RunOptions: Sendable {
    /// `--rules`: rule ids or section prefixes; empty selects everything.
    public var ruleSelectors: [String] = []
    /// Only these fixtures (by id), when set.
    public var fixtureIDs: Set<String>? = nil
    /// `--allow-waits`: really wait for clock advances and fresh rate-limit windows.
    public var allowWaits = false
    /// How many of `requests` requests from one client, sent over fresh connections, a
    /// deployment of `workers` workers with `backend` admits by the deployment model (the
    /// simulator's prediction, printed next to what a limit-count fixture measured); nil
    /// leaves the prediction out of the report.
    public var limitPrediction: (@Sendable (_ workers: Int, _ backend: String, _ namespace: String, _ requests: Int) -> Int?)? = nil
    /// `--inject-faults`: the Redis of the target file may be stalled and disconnected.
    public var faultInjector: FaultInjector? = nil
    /// `--fail-open-within`: how long a request may wait while the limiter's Redis fails.
    public var failOpenWithin: Double = 1
    /// Called when a fault starts and ends (for a line on the terminal).
    public var faultEvent: (@Sendable (_ line: String) -> Void)? = nil
    /// Called after each fixture (for a progress line).
    public var progress: (@Sendable (_ done: Int, _ total: Int, _ result: FixtureResult) -> Void)? = nil

    public init() {}
}

/// Counts of a run.
public struct RunCounts: Sendable, Equatable {
    public var passed = 0
    public var failed = 0
    public var deviations = 0
    public var skipped = 0
    public var informational = 0
    /// Fixtures a request of which got no answer (transport errors).
    public var errors = 0

    mutating func add(_ verdict: Verdict) {
        switch verdict {
        case .pass: passed += 1
        case .fail: failed += 1
        case .deviation: deviations += 1
        case .skip: skipped += 1
        case .informational: informational += 1
        case .error: errors += 1
        }
    }
}

/// Everything a run found.
public struct RunReport: Sendable {
    public var targetName: String
    public var catalog: RuleCatalog
    /// Fixture results in report order (catalog section order, then file order), the global
    /// header check first in its section.
    public var results: [FixtureResult]
    public var seconds: Double
    public var requests: Int

    public var counts: RunCounts {
        var c = RunCounts()
        for r in results { c.add(r.verdict) }
        return c
    }

    /// The worst verdict seen for each rule a result names (skips only when nothing ran).
    public var ruleVerdicts: [String: Verdict] {
        var out: [String: Verdict] = [:]
        for r in results {
            var attributed = Set(r.rules)
            for f in r.findings { attributed.formUnion(f.rules) }
            for id in attributed {
                // A failure is charged to the rules its findings name; the fixture's other
                // rules only passed or did not run.
                var v = r.verdict
                if (v == .fail || v == .deviation), !r.findings.contains(where: { $0.rules.contains(id) }) { v = .pass }
                if let old = out[id], old.severity >= v.severity { continue }
                out[id] = v
            }
        }
        return out
    }

    /// The exit status of `mcsec check` for this run: 0 when nothing failed, 1 when a rule of
    /// the page failed or, with `strict`, when the server deviates from the real service.
    public func exitStatus(strict: Bool) -> Int32 {
        let c = counts
        if c.failed > 0 { return 1 }
        if strict && c.deviations > 0 { return 1 }
        // Requests without an answer: the check is incomplete, which is not a pass.
        if c.errors > 0 { return 2 }
        return 0
    }

    /// Results whose findings name `ruleID` (as failure or deviation).
    public func findings(for ruleID: String) -> [(FixtureResult, Finding)] {
        results.flatMap { r in r.findings.filter { $0.rules.contains(ruleID) }.map { (r, $0) } }
    }
}

/// Runs fixtures against a target and grades them.
public final class Runner {
    public let suite: Suite
    public let target: any Target
    public let options: RunOptions
    /// A board id that exists nowhere, the same for the whole run.
    let unknownBoard = UUID().uuidString.lowercased()
    var ledger = RequestBudget.Ledger()
    /// Credentials and signatures the run sent (what a live log must not contain).
    var sentSecrets: Set<String> = []

    public init(suite: Suite, target: any Target, options: RunOptions = RunOptions()) {
        self.suite = suite
        self.target = target
        self.options = options
    }

    /// The declared configuration of the target (before fixture overrides).
    var declared: DeclaredConfiguration { DeclaredConfiguration(environment: target.targetFile.config) }

    public func run() throws -> RunReport {
        let started = Date()
        var fixtures = suite.selected(options.ruleSelectors)
        if let ids = options.fixtureIDs { fixtures = fixtures.filter { ids.contains($0.id) } }

        // Execution order: limit-exhausting fixtures last, so that they cannot leave a real
        // server's limiter closed for fixtures that come after them.
        let planScope = scope(sources: [nil])
        let exhausting = Set(fixtures.filter { RequestBudget.exhausts(RequestBudget.spends(of: $0, scope: planScope)) }.map(\.id))
        let order = fixtures.filter { !exhausting.contains($0.id) } + fixtures.filter { exhausting.contains($0.id) }

        var results: [String: FixtureResult] = [:]
        var requests = 0
        for (n, fixture) in order.enumerated() {
            let result = try runOne(fixture)
            requests += result.requests
            results[fixture.id] = result
            options.progress?(n + 1, order.count, result)
        }

        var ordered = fixtures.compactMap { results[$0.id] }
        if let log = (target as? HTTPTarget)?.log, suite.catalog["LOG-2"] != nil,
           options.ruleSelectors.isEmpty || options.ruleSelectors.contains(where: { RuleCatalog.matches("LOG-2", selector: $0) }) {
            ordered.append(logScanResult(log.linesSinceStart()))
        }
        if suite.catalog["HDR-1"] != nil {
            // Headers are checked on every response received, whatever the selection: a problem
            // is always reported; a clean result only when the header rules were selected.
            let headers = globalHeaderResult(ordered)
            let selected = options.fixtureIDs == nil
                && (options.ruleSelectors.isEmpty || options.ruleSelectors.contains { RuleCatalog.matches("HDR-1", selector: $0) })
            if selected || headers.verdict == .fail { ordered.append(headers) }
        }
        ordered = sortForReport(ordered)
        return RunReport(targetName: target.name, catalog: suite.catalog, results: ordered,
                         seconds: Date().timeIntervalSince(started), requests: requests)
    }

    func sortForReport(_ results: [FixtureResult]) -> [FixtureResult] {
        let position = Dictionary(uniqueKeysWithValues: results.enumerated().map { ($1.id, $0) })
        return results.sorted { a, b in
            let sa = suite.catalog.sectionIndex(a.section), sb = suite.catalog.sectionIndex(b.section)
            if sa != sb { return sa < sb }
            let ga = a.id == SecurityHeaderCheck.resultID, gb = b.id == SecurityHeaderCheck.resultID
            if ga != gb { return ga }
            return (position[a.id] ?? 0) < (position[b.id] ?? 0)
        }
    }

    // MARK: one fixture

    func scope(sources: [String?], config: [String: String] = [:]) -> SymbolScope {
        SymbolScope(targetFile: target.targetFile, unknownBoard: unknownBoard, sources: sources,
                    payloadLimit: declared.with(overrides: config).payloadLimit)
    }

    func result(_ f: Fixture, _ verdict: Verdict, findings: [Finding] = [], notes: [String] = [],
                skip: String? = nil, requests: Int = 0, seconds: Double = 0) -> FixtureResult {
        FixtureResult(id: f.id, title: f.title, rules: f.rules, section: suite.section(of: f.rules), verdict: verdict,
                      findings: findings, notes: notes, skipReason: skip, requests: requests, seconds: seconds)
    }

    /// Runs one fixture; `TargetUnreachable` propagates (the run stops).
    public func runOne(_ f: Fixture) throws -> FixtureResult {
        let started = Date()
        if let reason = staticSkipReason(f) { return result(f, .skip, skip: reason) }
        var r: FixtureResult
        switch f.kind {
        case .http(let steps): r = try runHTTP(f, steps)
        case .dockerfile(let d): r = runDockerfile(f, d)
        case .startup(let s): r = try runStartup(f, s)
        case .deployment(let d): r = runDeployment(f, d)
        case .limit(let l): r = try runLimit(f, l)
        case .fault(let c): r = try runFault(f, c)
        }
        r.seconds = Date().timeIntervalSince(started)
        return r
    }

    /// Reasons known before sending anything.
    func staticSkipReason(_ f: Fixture) -> String? {
        let caps = target.capabilities
        let config = declared.with(overrides: f.config)
        if f.requirements.inProcess && !caps.inProcess {
            if let why = f.requirements.inProcessReason { return "observable only in-process: \(why)" }
            if f.storeUnavailable { return "needs a Redis outage injected into the limiter, which only the in-process reference allows" }
            return "observable only in-process"
        }
        if f.requirements.serviceLog && !caps.serviceLog {
            return "checks the service's log lines, which mcsec can read only from a server it runs itself (in-process, or mcsec serve with --over-http)"
        }
        if let backend = f.requirements.backend, config.backend != backend {
            return "about the \(backend) rate-limit backend; the target declares \(config.backend)"
        }
        if f.requirements.sharedLimiter, config.backend == "memory", target.targetFile.workers > 1 {
            return "counts exact limits, but the target declares \(target.targetFile.workers) workers with the memory backend (limits are per worker)"
        }
        if !f.config.isEmpty, !caps.configOverrides, !declared.alreadySatisfies(f.config) {
            let wanted = f.config.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ", ")
            return "needs the server configured with \(wanted); the target file does not declare that configuration"
        }
        if case .startup = f.kind, !caps.startup {
            return "start-up can only be observed on a server mcsec starts itself"
        }
        let steps: [Step]
        switch f.kind {
        case .http(let s): steps = s
        case .limit(let l): steps = [.request(RequestStep(request: l.request, repeatCount: 1, expectations: [], observation: nil))]
        case .fault(let c): steps = [.request(RequestStep(request: c.request, repeatCount: 1, expectations: [], observation: nil))]
        default: return nil
        }
        let runSymbols: Set<String> = ["i", "source", "limit", "uuid", "ipv6", "board.unknown"]
        for symbol in Set(f.symbols.map { SymbolFilter.split($0).base }).sorted()
        where !runSymbols.contains(symbol) && !symbol.hasPrefix("source.") && !symbol.hasPrefix("captured.") {
            if target.targetFile.value(of: symbol, unknownBoard: unknownBoard) == nil {
                return "the target file has no \(TargetFile.origin(of: symbol)) (for {\(symbol)})"
            }
        }
        let sourceCount = f.sourceCount
        var waits = 0.0
        for step in steps {
            switch step {
            case .advance(let s): waits += s
            case .request(let r):
                if r.request.framing.needsRawSocket && !caps.rawFraming {
                    return "needs raw framing (\(r.request.framing)) that only the raw client can send"
                }
                if case .none = r.request.framing, !caps.halfClose {
                    return "sends a body with no framing header, ended by closing the sending side, which a TLS connection cannot do while the answer is still to come"
                }
            }
        }
        if case .fixed(let pool) = caps.sourceAddresses, sourceCount > pool.count {
            return "needs \(sourceCount) source addresses; the target has \(pool.count) (declare more in sourceAddresses)"
        }
        if waits > 0, !caps.instantClock, !options.allowWaits {
            return "needs \(Runner.seconds(waits)) of waiting for the limiter's window; run with --allow-waits"
        }
        return nil
    }

    static func seconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s)
    }

    /// Chooses the fixture's source addresses; nil (with the reason) when it must be skipped.
    func allocateSources(_ f: Fixture) throws -> (sources: [String?], skip: String?) {
        let count = f.sourceCount
        // The addresses to plan on: the declared pool; for a fixture about the default source,
        // that one address (the same for the whole run, whatever sourceAddresses lists). Only
        // a target rebuilt per fixture, or one with fresh addresses for all, needs no plan.
        let pool: [String?]
        switch target.capabilities.sourceAddresses {
        case .unlimited where f.requirements.defaultSource:
            if target.capabilities.freshStatePerFixture { return ([nil], nil) }
            pool = [nil]
        case .unlimited(let allocator):
            return ((0..<count).map { _ in allocator.next() }, nil)
        case .fixed(let declared):
            pool = f.requirements.defaultSource ? [nil] : declared
        }
        let spends = RequestBudget.spends(of: f, scope: scope(sources: [nil], config: f.config))
        let now = Date().timeIntervalSince1970
        guard let plan = RequestBudget.assign(spends: spends, sourceCount: count, pool: pool, ledger: ledger, now: now) else {
            return ([], "needs \(count) source addresses; the target has \(pool.count)")
        }
        if plan.start > now {
            let wait = plan.start - now
            guard options.allowWaits, wait.isFinite else {
                if f.requirements.defaultSource {
                    return ([], "sends from the default source address, whose rate-limit slots an earlier fixture used in this window; run with --allow-waits")
                }
                let needs = spends.sorted { $0.key.namespace < $1.key.namespace }
                    .map { "\($0.value) \($0.key.namespace)" }.joined(separator: ", ")
                return ([], "needs \(needs) rate-limit slots, more than earlier fixtures left in this window on the usable source addresses; wait \(Runner.seconds(wait.rounded(.up))) between runs, declare more sourceAddresses, or run with --allow-waits")
            }
            Thread.sleep(forTimeInterval: wait)
        }
        return (plan.addresses, nil)
    }

    func runHTTP(_ f: Fixture, _ steps: [Step]) throws -> FixtureResult {
        let (sources, skip) = try allocateSources(f)
        if let skip { return result(f, .skip, skip: skip) }
        let session: any TargetSession
        do {
            session = try target.session(environment: f.config, storeUnavailable: f.storeUnavailable)
        } catch let s as SkipFixture {
            return result(f, .skip, skip: s.reason)
        } catch let e as InProcessStartFailure {
            return result(f, suite.level(of: f.rules) == .spec ? .fail : .deviation,
                          findings: [Finding(rules: f.rules, level: suite.level(of: f.rules), expected: "the service starts with the fixture's configuration", actual: e.message)])
        }
        defer { session.close() }
        let config = declared.with(overrides: f.config)
        var scope = self.scope(sources: sources, config: f.config)
        var findings: [Finding] = []
        var notes: [String] = []
        /// A request that got no answer: the fixture is an error, not a failure of its rules.
        var transportError: Finding? = nil
        /// Notes that leave the verdict a pass (an upstream failure behind an authorization that held).
        var passNotes: [String] = []
        var headerProblems: [Finding] = []
        var requests = 0
        var refusedUnexpectedly = false
        let fixed: Bool
        if case .fixed = target.capabilities.sourceAddresses { fixed = true } else { fixed = false }

        stepLoop: for step in steps {
            switch step {
            case .advance(let seconds):
                try session.advance(by: seconds)
            case .request(let r):
                for i in 1...r.repeatCount {
                    scope.iteration = i
                    let outgoing: OutgoingRequest
                    do {
                        outgoing = try RequestBuilder.build(r.request, scope: scope, freshConnection: f.requirements.freshConnections)
                    } catch let m as MissingSymbol {
                        return result(f, .skip, skip: m.description)
                    } catch let s as SkipFixture {
                        return result(f, .skip, skip: s.reason)
                    }
                    let secrets = noteSecrets(outgoing)
                    // A new log window per request whose log is checked (reading a spawned
                    // server's log costs a wait for its output, so only where needed).
                    if r.checksLog { session.clearLog() }
                    let response: HTTPResponse
                    switch try exchange(session, outgoing, describe(outgoing, i, r.repeatCount)) {
                    case .answered(let answered): response = answered
                    case .noAnswer(let error): transportError = error; break stepLoop
                    }
                    requests += 1
                    if let ns = RequestBudget.namespace(method: outgoing.method, target: outgoing.target,
                                                        headers: outgoing.headers, targetFile: target.targetFile) {
                        ledger.record(address: outgoing.source, namespace: ns, at: Date().timeIntervalSince1970)
                    }
                    headerProblems += headerFindings(response, config, f, describe(outgoing, i, r.repeatCount))
                    var evaluator = CheckEvaluator(scope: scope, configuration: config, logLines: { session.logLines() })
                    evaluator.secrets = secrets
                    if r.upstream, [502, 503, 504].contains(response.status) {
                        // Let through, and the server's own upstream failed: the authorization
                        // under test held; what the upstream would have answered is not ours to grade.
                        let note = "\(outgoing.method) \(outgoing.target): the caller was let through and the server's upstream failed (\(response.status)); the authorization held"
                        if !passNotes.contains(note) { passNotes.append(note) }
                        continue
                    }
                    var failedHere = false
                    for e in r.expectations where e.iterations?.contains(i) ?? true {
                        for check in e.checks {
                            guard let failure = try evaluator.evaluate(check, response) else { continue }
                            let rules = e.rules ?? f.rules
                            findings.append(Finding(rules: rules, level: suite.level(of: rules), expected: failure.expected,
                                                    actual: failure.actual, request: describe(outgoing, i, r.repeatCount)))
                            if response.status == 429, !expects429(e) { refusedUnexpectedly = true }
                            failedHere = true
                        }
                    }
                    if let o = r.observation, o.iterations?.contains(i) ?? true {
                        var matched: String? = nil
                        for c in o.cases {
                            var all = true
                            for check in c.checks where try evaluator.evaluate(check, response) != nil { all = false; break }
                            if all { matched = c.note; break }
                        }
                        if let matched {
                            if !notes.contains(matched) { notes.append(matched) }
                        } else {
                            switch o.otherwise {
                            case .note(let n): if !notes.contains(n) { notes.append(n) }
                            case .fail(let why):
                                let rules = o.rules ?? f.rules
                                findings.append(Finding(rules: rules, level: suite.level(of: rules), expected: why,
                                                        actual: CheckEvaluator.describe(response), request: describe(outgoing, i, r.repeatCount)))
                                if response.status == 429 { refusedUnexpectedly = true }
                                failedHere = true
                            }
                        }
                    }
                    // Later requests depend on this one's effect: stop at the first failure.
                    if failedHere { break stepLoop }
                    for capture in r.captures {
                        guard case .success(let root) = evaluator.json(response),
                              let value = capture.path.values(in: root).first, let text = value.scalarText else {
                            findings.append(Finding(rules: f.rules, level: suite.level(of: f.rules),
                                                    expected: "a value at \(capture.path) to use as {captured.\(capture.name)}",
                                                    actual: CheckEvaluator.describe(response), request: describe(outgoing, i, r.repeatCount)))
                            break stepLoop
                        }
                        scope.captured[capture.name] = text
                    }
                }
            }
        }
        var r: FixtureResult
        if let transportError, findings.isEmpty {
            r = result(f, .error, findings: [transportError], notes: notes, requests: requests)
        } else if findings.isEmpty {
            r = result(f, notes.isEmpty ? .pass : .informational, notes: notes + passNotes, requests: requests)
        } else if refusedUnexpectedly, fixed, !f.rules.contains(where: { $0.hasPrefix("RL-") || $0.hasPrefix("REDIS-") }) {
            // A 429 in a fixture that is not about limits, on a live server whose limiter we
            // share with earlier traffic, says nothing about the rule under test.
            r = result(f, .skip, skip: "the target's rate limiter refused a request (429) this run had not used up: earlier traffic from this address is still in the window; wait 60 s between runs or declare more sourceAddresses",
                       requests: requests)
        } else {
            let verdict: Verdict = findings.contains { $0.level == .spec } ? .fail : .deviation
            r = result(f, verdict, findings: findings, notes: notes, requests: requests)
        }
        r.headerProblems = headerProblems
        return r
    }

    /// The result of a fixture from what it found: an ERROR when a request got no answer and
    /// nothing else was found, FAIL when a finding names a rule of the page, DEVIATION when all
    /// findings are service behaviour, else `clean`.
    func graded(_ f: Fixture, findings: [Finding], transportError: Finding?, clean: Verdict, notes: [String], requests: Int) -> FixtureResult {
        if let transportError, findings.isEmpty {
            return result(f, .error, findings: [transportError], notes: notes, requests: requests)
        }
        if findings.isEmpty { return result(f, clean, notes: notes, requests: requests) }
        return result(f, findings.contains { $0.level == .spec } ? .fail : .deviation, findings: findings, notes: notes, requests: requests)
    }

    /// The security-header problems of a response, as findings for the global header check.
    func headerFindings(_ response: HTTPResponse, _ config: DeclaredConfiguration, _ f: Fixture, _ request: String) -> [Finding] {
        SecurityHeaderCheck.problems(in: response, expected: config.headers).map { p in
            Finding(rules: ["HDR-1", p.rule], level: .spec, expected: p.expected, actual: p.actual + " on a \(response.status) response",
                    request: "\(f.id): " + request)
        }
    }

    /// The fixture's source addresses and a session (for the kinds that send requests outside
    /// `runHTTP`), or the skip result to report.
    func openSession(_ f: Fixture) throws -> Opened {
        let (sources, skip) = try allocateSources(f)
        if let skip { return .skipped(result(f, .skip, skip: skip)) }
        do {
            return .session(sources, try target.session(environment: [:], storeUnavailable: false))
        } catch let s as SkipFixture {
            return .skipped(result(f, .skip, skip: s.reason))
        }
    }

    enum Opened {
        case session([String?], any TargetSession)
        case skipped(FixtureResult)
    }

    enum Exchanged {
        case answered(HTTPResponse)
        /// The transport error, as the finding of an ERROR result.
        case noAnswer(Finding)
    }

    /// Sends a request: the response, or the transport error that makes the fixture an
    /// ERROR (a target unreachable altogether still ends the run).
    func exchange(_ session: any TargetSession, _ outgoing: OutgoingRequest, _ summary: String) throws -> Exchanged {
        do {
            return .answered(try session.send(outgoing))
        } catch let u as TargetUnreachable {
            throw u
        } catch {
            return .noAnswer(Finding(rules: [], level: .service, expected: "a response", actual: "\(error)", request: summary))
        }
    }

    func expects429(_ e: Expectation) -> Bool {
        e.checks.contains { check in
            if case .status(let codes) = check { return codes.contains(429) }
            return false
        }
    }

    func describe(_ outgoing: OutgoingRequest, _ i: Int, _ n: Int) -> String {
        var text = outgoing.summary
        if outgoing.source == nil {
            text += " from the default source address (an ordinary connection\(target.capabilities.inProcess ? ", 127.0.0.1 in-process" : ""))"
        }
        return n > 1 ? text + " [request \(i) of \(n)]" : text
    }

    // MARK: global header check

    func globalHeaderResult(_ results: [FixtureResult]) -> FixtureResult {
        let all = results.flatMap(\.headerProblems)
        let responses = results.reduce(0) { $0 + $1.requests }
        var shown: [Finding] = []
        var seen: Set<String> = []
        for f in all {
            // One finding per distinct problem per fixture is enough to act on.
            let key = f.expected + "|" + (f.request?.split(separator: ":").first.map(String.init) ?? "")
            if seen.insert(key).inserted, shown.count < 20 { shown.append(f) }
        }
        if all.count > shown.count, var last = shown.last {
            last.actual += " (\(all.count) problems in all; the first \(shown.count) are listed)"
            shown[shown.count - 1] = last
        }
        let rules = ["HDR-1", "HDR-2", "HDR-3", "HDR-4", "HDR-5", "HDR-7"].filter { suite.catalog[$0] != nil }
        return FixtureResult(id: SecurityHeaderCheck.resultID,
                             title: "Security headers on every response received (\(responses) responses)",
                             rules: rules, section: "HDR", verdict: shown.isEmpty ? (responses == 0 ? .skip : .pass) : .fail,
                             findings: shown, skipReason: responses == 0 ? "no responses were received" : nil, requests: 0)
    }

    // MARK: other kinds

    func runDockerfile(_ f: Fixture, _ d: DockerfileCheck) -> FixtureResult {
        var texts: [(name: String, text: String)] = []
        switch d.source {
        case .inline(let text):
            guard target.capabilities.inProcess else {
                return result(f, .skip, skip: "checks the documented Dockerfile shape with the embedded checker; it says nothing about this target")
            }
            texts = [("inline Dockerfile", text)]
        case .file(let path):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                return result(f, .fail, findings: [Finding(rules: f.rules, level: .spec, expected: "a readable Dockerfile", actual: "cannot read \(path)")])
            }
            texts = [(path, text)]
        case .target(let which):
            let files = target.targetFile.dockerfiles
            let names = which == "each" ? files.keys.sorted() : [which]
            guard !names.isEmpty, names.allSatisfy({ files[$0] != nil }) else {
                return result(f, .skip, skip: which == "each" ? "the target file names no Dockerfiles (dockerfiles)" : "the target file has no dockerfiles.\(which)")
            }
            for name in names {
                guard let path = files[name], let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    return result(f, .fail, findings: [Finding(rules: f.rules, level: .spec, expected: "a readable Dockerfile", actual: "cannot read \(files[name] ?? name)")])
                }
                texts.append(("\(name) (\(path))", text))
            }
        }
        var findings: [Finding] = []
        var notes: [String] = []
        let level = suite.level(of: f.rules)
        for (name, text) in texts {
            let inspection = DockerfileInspection(text: text)
            if let want = d.verdict, inspection.verdictName != want {
                findings.append(Finding(rules: f.rules, level: level, expected: "\(name): final stage \(want)", actual: inspection.verdictDescription))
            }
            if let want = d.user, inspection.user != want {
                findings.append(Finding(rules: f.rules, level: level, expected: "\(name): USER \(want)", actual: inspection.verdictDescription))
            }
            if let want = d.copyChown {
                for line in inspection.copiesWithoutChown(want) {
                    findings.append(Finding(rules: f.rules, level: level, expected: "\(name): COPY/ADD with --chown=\(want)", actual: line))
                }
            }
            if d.noteVolumes, !inspection.volumes.isEmpty {
                notes.append("\(name) declares VOLUME \(inspection.volumes.joined(separator: ", ")): bind mounts there must be writable by \(inspection.user ?? "the container user")")
            }
        }
        if !findings.isEmpty {
            return result(f, findings.contains { $0.level == .spec } ? .fail : .deviation, findings: findings, notes: notes)
        }
        return result(f, notes.isEmpty ? .pass : .informational, notes: notes)
    }

    func runStartup(_ f: Fixture, _ s: StartupCheck) throws -> FixtureResult {
        let outcome: StartupOutcome
        do { outcome = try target.startup(environment: s.environment) } catch let skip as SkipFixture {
            return result(f, .skip, skip: skip.reason)
        }
        let level = suite.level(of: f.rules)
        var findings: [Finding] = []
        let env = s.environment.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        if outcome.started != s.starts {
            findings.append(Finding(rules: f.rules, level: level,
                                    expected: s.starts ? "the server starts with \(env)" : "the server refuses to start with \(env)",
                                    actual: outcome.started ? "it started" : "it did not start: \(CheckEvaluator.short(outcome.message, 300))"))
        } else {
            for want in s.messageContains where !outcome.message.contains(want) {
                findings.append(Finding(rules: f.rules, level: level, expected: "a message containing \"\(want)\"",
                                        actual: outcome.message.isEmpty ? "no message" : CheckEvaluator.short(outcome.message, 300)))
            }
            for unwanted in s.messageNotContains where outcome.message.contains(unwanted) {
                findings.append(Finding(rules: f.rules, level: level, expected: "a message not containing \"\(unwanted)\"",
                                        actual: CheckEvaluator.short(outcome.message, 300)))
            }
        }
        return findings.isEmpty ? result(f, .pass) : result(f, level == .spec ? .fail : .deviation, findings: findings)
    }

    func runDeployment(_ f: Fixture, _ d: DeploymentCheck) -> FixtureResult {
        let workers = target.targetFile.workers
        let config = declared
        if config.backend == "memory" && workers > 1 {
            return result(f, .informational, notes: [
                "\(workers) workers with the memory backend: each worker limits on its own, so one client can get up to \(workers) × the limit (\(workers * 60) webhook ingests per 60 s); the page advises also limiting at the reverse proxy, or the redis backend",
            ])
        }
        return result(f, .pass, notes: [])
    }
}

extension SecurityHeaderCheck {
    /// The id of the global "headers on every response" result.
    public static let resultID = "headers.every-response"
}

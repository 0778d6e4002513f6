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

/// Runs fixtures against a target and grades them: the run's order, what fixtures share
/// (the rate-limit ledger, the secrets sent, source addresses), and the global checks. Each
/// fixture kind has its own runner (`HTTPFixtureRunner`, …); `skipReason` decides skips,
/// `grade` verdicts.
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

    /// Runs one fixture; `TargetUnreachable` propagates (the run stops). The fixture's kind
    /// runner reports what it found; `skipReason` (before) and `grade` (after) alone decide
    /// the verdict, and a kind runner that meets what this run cannot provide (no rate-limit
    /// budget left, a configuration the target refuses, an unresolvable symbol) throws the
    /// skip, which becomes the result here.
    public func runOne(_ f: Fixture) throws -> FixtureResult {
        let started = Date()
        if let reason = skipReason(f) { return result(f, .skip, skip: reason) }
        var r: FixtureResult
        do {
            let outcome: Outcome
            switch f.kind {
            case .http(let steps): outcome = try HTTPFixtureRunner(runner: self).run(f, steps)
            case .dockerfile(let d): outcome = DockerfileFixtureRunner(runner: self).run(f, d)
            case .startup(let s): outcome = try StartupFixtureRunner(runner: self).run(f, s)
            case .deployment(let d): outcome = DeploymentFixtureRunner(runner: self).run(f, d)
            case .limit(let l): outcome = try LimitFixtureRunner(runner: self).run(f, l)
            case .fault(let c): outcome = try FaultFixtureRunner(runner: self).run(f, c)
            }
            r = grade(f, outcome)
        } catch let skip as SkipFixture {
            r = result(f, .skip, skip: skip.reason)
        } catch let missing as MissingSymbol {
            r = result(f, .skip, skip: missing.description)
        }
        r.seconds = Date().timeIntervalSince(started)
        return r
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

    /// The security-header problems of a response, as findings for the global header check.
    func headerFindings(_ response: HTTPResponse, _ config: DeclaredConfiguration, _ f: Fixture, _ request: String) -> [Finding] {
        SecurityHeaderCheck.problems(in: response, expected: config.headers).map { p in
            Finding(rules: ["HDR-1", p.rule], level: .spec, expected: p.expected, actual: p.actual + " on a \(response.status) response",
                    request: "\(f.id): " + request)
        }
    }

    /// The fixture's source addresses and a session with the target's own configuration (the
    /// limit and fault runners); throws `SkipFixture` when either cannot be had.
    func openSession(_ f: Fixture) throws -> (sources: [String?], session: any TargetSession) {
        let (sources, skip) = try allocateSources(f)
        if let skip { throw SkipFixture(skip) }
        return (sources, try target.session(environment: [:], storeUnavailable: false))
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
}

extension SecurityHeaderCheck {
    /// The id of the global "headers on every response" result.
    public static let resultID = "headers.every-response"
}

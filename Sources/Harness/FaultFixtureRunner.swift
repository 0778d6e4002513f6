import Foundation
import Wire

/// Runs a `fault` fixture: a request before, the fault with requests timed during it, the
/// fault undone, a request after.
struct FaultFixtureRunner {
    let runner: Runner

    func run(_ f: Fixture, _ c: FaultCheck) throws -> Outcome {
        // `skipReason` has checked the backend and that faults may be injected.
        guard let injector = runner.options.faultInjector else { throw SkipFixture("run with --inject-faults") }
        let (sources, session) = try runner.openSession(f)
        defer { session.close() }
        let config = runner.declared
        let options = runner.options
        let suite = runner.suite

        var scope = runner.scope(sources: sources)
        let level = suite.level(of: f.rules)
        var findings: [Finding] = []
        /// A request that got no answer: an error of the fixture, not a failure of its rules.
        var transportError: Finding? = nil
        var notes: [String] = []
        var headerProblems: [Finding] = []
        var requests = 0
        let bound = options.failOpenWithin
        let admitted = c.admitted.map(String.init).joined(separator: " or ")

        /// Sends the `i`-th request and times it.
        func send(_ i: Int) throws -> (response: HTTPResponse?, seconds: Double, summary: String) {
            scope.iteration = i
            let outgoing = try RequestBuilder.build(c.request, scope: scope, freshConnection: false)
            let summary = runner.describe(outgoing, i, c.requestCount)
            let started = Date()
            var response: HTTPResponse? = nil
            switch try runner.exchange(session, outgoing, summary) {
            case .answered(let answered): response = answered
            case .noAnswer(let error): transportError = error
            }
            let seconds = Date().timeIntervalSince(started)
            requests += 1
            runner.ledger.record(address: outgoing.source, namespace: c.namespace, at: Date().timeIntervalSince1970)
            if let response { headerProblems += runner.headerFindings(response, config, f, summary) }
            return (response, seconds, summary)
        }

        do {
            // Before: the deployment admits the request while Redis is well.
            let before = try send(1)
            guard let first = before.response else { return finish() }
            guard c.admitted.contains(first.status) else {
                findings.append(Finding(rules: f.rules, level: level, expected: "status \(admitted) before the fault",
                                        actual: CheckEvaluator.describe(first), request: before.summary))
                return finish()
            }
            session.clearLog()
            let what = c.fault == .stall ? "stalling Redis for \(Runner.seconds(c.seconds)) (CLIENT PAUSE)" : "dropping Redis's client connections (CLIENT KILL TYPE normal)"
            switch c.fault {
            case .stall:
                try injector.pause(seconds: c.seconds)
                // Said once in effect: what an interrupted run must undo has begun.
                options.faultEvent?("\(f.id): \(what)")
                defer {
                    injector.undo()
                    options.faultEvent?("\(f.id): Redis unpaused")
                }
                // Spread over the first half of the stall, so every request meets a stalled Redis.
                let gap = c.seconds / 2 / Double(c.during)
                for k in 1...c.during {
                    let r = try send(1 + k)
                    guard let response = r.response else { break }
                    if r.seconds > bound {
                        findings.append(Finding(rules: f.rules, level: level,
                                                expected: "an answer within \(Runner.seconds(bound)) while Redis stalls (fail-open)",
                                                actual: "held \(String(format: "%.2f", r.seconds)) s (the stall lasted \(Runner.seconds(c.seconds))), then \(response.status)",
                                                request: r.summary))
                        break
                    }
                    if !c.admitted.contains(response.status) {
                        findings.append(Finding(rules: f.rules, level: level, expected: "status \(admitted) while Redis stalls (fail-open)",
                                                actual: CheckEvaluator.describe(response) + " after \(String(format: "%.3f", r.seconds)) s",
                                                request: r.summary))
                        break
                    }
                    Thread.sleep(forTimeInterval: gap)
                }
            case .drop:
                let killed = try injector.dropClients()
                options.faultEvent?("\(f.id): \(what)")
                notes.append("closed \(killed) Redis client connection\(killed == 1 ? "" : "s")")
                for k in 1...c.during {
                    let r = try send(1 + k)
                    guard let response = r.response else { break }
                    if r.seconds > bound || !c.admitted.contains(response.status) {
                        findings.append(Finding(rules: f.rules, level: level,
                                                expected: "status \(admitted) within \(Runner.seconds(bound)) after Redis dropped the server's connections",
                                                actual: "\(CheckEvaluator.describe(response)) after \(String(format: "%.3f", r.seconds)) s",
                                                request: r.summary))
                        break
                    }
                }
            }
            if findings.isEmpty, runner.target.capabilities.serviceLog {
                let lines = session.logLines()
                if c.fault == .stall, !lines.contains(where: { $0.contains("rate_limit.redis.unavailable") }) {
                    findings.append(Finding(rules: ["REDIS-10"], level: suite.level(of: ["REDIS-10"]),
                                            expected: "a rate_limit.redis.unavailable warning in the log while Redis stalls",
                                            actual: lines.isEmpty ? "no log lines" : "\(lines.count) log lines, none of them the warning"))
                }
            }
            // After: the limiter is back (the request is admitted, the fault is over).
            if findings.isEmpty, transportError == nil {
                let after = try send(c.requestCount)
                if let response = after.response, !c.admitted.contains(response.status) {
                    findings.append(Finding(rules: f.rules, level: level, expected: "status \(admitted) after the fault",
                                            actual: CheckEvaluator.describe(response), request: after.summary))
                }
            }
        }
        return finish()

        func finish() -> Outcome {
            Outcome(findings: findings, transportError: transportError, notes: notes, clean: .pass,
                    requests: requests, headerProblems: headerProblems)
        }
    }
}

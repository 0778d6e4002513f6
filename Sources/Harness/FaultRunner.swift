import Foundation
import Wire

extension Runner {
    /// Runs a `fault` fixture: a request before, the fault with requests timed during it, the
    /// fault undone, a request after.
    func runFault(_ f: Fixture, _ c: FaultCheck) throws -> FixtureResult {
        let config = declared
        guard config.backend == "redis" else {
            return result(f, .skip, skip: "about the redis rate-limit backend; the target declares \(config.backend)")
        }
        guard let injector = options.faultInjector else {
            if target.targetFile.redisURL == nil {
                return result(f, .skip, skip: "the target file has no redis.url (the deployment's rate-limit Redis) to inject the fault into")
            }
            return result(f, .skip, skip: "stalls or disconnects the deployment's Redis (every client of it, queues too, for a few seconds); run with --inject-faults to allow that")
        }
        let sources: [String?], session: any TargetSession
        switch try openSession(f) {
        case .session(let addresses, let opened): sources = addresses; session = opened
        case .skipped(let skipped): return skipped
        }
        defer { session.close() }

        var scope = self.scope(sources: sources)
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
            let outgoing: OutgoingRequest
            do {
                outgoing = try RequestBuilder.build(c.request, scope: scope, freshConnection: false)
            } catch let m as MissingSymbol {
                throw SkipFixture(m.description)
            }
            let summary = describe(outgoing, i, c.requestCount)
            let started = Date()
            var response: HTTPResponse? = nil
            switch try exchange(session, outgoing, summary) {
            case .answered(let answered): response = answered
            case .noAnswer(let error): transportError = error
            }
            let seconds = Date().timeIntervalSince(started)
            requests += 1
            ledger.record(address: outgoing.source, namespace: c.namespace, at: Date().timeIntervalSince1970)
            if let response { headerProblems += headerFindings(response, config, f, summary) }
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
            if findings.isEmpty, target.capabilities.serviceLog {
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
        } catch let s as SkipFixture {
            return result(f, .skip, skip: s.reason)
        }
        return finish()

        func finish() -> FixtureResult {
            var r = graded(f, findings: findings, transportError: transportError, clean: .pass, notes: notes, requests: requests)
            r.headerProblems = headerProblems
            return r
        }
    }
}

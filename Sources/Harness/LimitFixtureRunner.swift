import Foundation
import Wire

/// Runs a `limit` fixture: one client's requests over fresh connections, counted.
///
/// The bounds come from the page: the first `limit` requests are admitted whatever the
/// deployment (no worker has seen more than `limit` of them); one shared limiter admits
/// exactly `limit`; N workers with per-process memory limiters admit at most N × `limit`.
/// More than that means the limit is not per client address at all (a spoofed proxy
/// header chose the key, say): a failure of the fixture's rules.
struct LimitFixtureRunner {
    let runner: Runner

    func run(_ f: Fixture, _ l: LimitCount) throws -> Outcome {
        // `skipReason` has refused an unknown limiter.
        guard let policy = RequestBudget.policy(l.namespace) else { throw SkipFixture("unknown limiter \(l.namespace)") }
        let (sources, session) = try runner.openSession(f)
        defer { session.close() }

        let config = runner.declared
        let workers = runner.target.targetFile.workers
        let perProcess = config.backend == "memory" && workers > 1
        let limit = policy.maxRequests
        let n = LimitCount.requests(limit: limit, workers: workers, perProcess: perProcess)
        let most = perProcess ? workers * limit : limit
        var scope = runner.scope(sources: sources)
        let level = runner.suite.level(of: f.rules)
        var findings: [Finding] = []
        /// A request that got no answer: an error of the fixture, not a failure of its rules.
        var transportError: Finding? = nil
        var headerProblems: [Finding] = []
        var admitted = 0
        var firstRefusal: Int? = nil
        var requests = 0
        var last = ""

        func send(_ i: Int, source: Int) throws -> (HTTPResponse, OutgoingRequest)? {
            scope.iteration = i
            var template = l.request
            template.sourceIndex = source
            let outgoing = try RequestBuilder.build(template, scope: scope, freshConnection: true)
            let response: HTTPResponse
            switch try runner.exchange(session, outgoing, runner.describe(outgoing, i, n)) {
            case .answered(let answered): response = answered
            case .noAnswer(let error): transportError = error; return nil
            }
            requests += 1
            runner.ledger.record(address: outgoing.source, namespace: l.namespace, at: Date().timeIntervalSince1970)
            headerProblems += runner.headerFindings(response, config, f, runner.describe(outgoing, i, n))
            return (response, outgoing)
        }

        for i in 1...n {
            guard let (response, outgoing) = try send(i, source: 1) else { break }
            last = runner.describe(outgoing, i, n)
            if l.admitted.contains(response.status) {
                admitted += 1
            } else if response.status == 429 {
                if firstRefusal == nil { firstRefusal = i }
            } else {
                findings.append(Finding(rules: f.rules, level: level,
                                        expected: "status \(l.admitted.map(String.init).joined(separator: " or ")) or 429",
                                        actual: CheckEvaluator.describe(response), request: last))
                break
            }
        }
        if findings.isEmpty, transportError == nil {
            if let first = firstRefusal, first <= limit {
                findings.append(Finding(rules: f.rules, level: level,
                                        expected: "the first \(limit) requests admitted (no worker has seen more than \(limit) of them)",
                                        actual: "request \(first) refused with 429", request: last))
            }
            if admitted < limit {
                findings.append(Finding(rules: f.rules, level: level, expected: "at least \(limit) of \(n) admitted",
                                        actual: "\(admitted) admitted", request: last))
            }
            if admitted > most {
                let bound = perProcess ? "at most \(workers) workers × \(limit) = \(most)" : "exactly \(limit) (one limiter shared by every request)"
                findings.append(Finding(rules: f.rules, level: level, expected: "\(bound) of \(n) admitted in one window",
                                        actual: "\(admitted) admitted: the client's requests are not all counted against its address",
                                        request: last))
            }
        }
        if findings.isEmpty, transportError == nil, l.otherSourceAdmitted, let (response, outgoing) = try send(n + 1, source: 2),
           !l.admitted.contains(response.status) {
            findings.append(Finding(rules: f.rules, level: level,
                                    expected: "another address admitted while the first is refused (limits are per address)",
                                    actual: CheckEvaluator.describe(response), request: runner.describe(outgoing, 1, 1)))
        }

        var notes: [String] = []
        if perProcess, findings.isEmpty, transportError == nil {
            let factor = String(format: "%.1f", Double(admitted) / Double(limit))
            var note = "\(workers) workers with the memory backend admitted \(admitted) of \(n) requests from one client over fresh connections: \(factor) × the limit of \(limit) per \(Runner.seconds(policy.window))"
            if let predicted = runner.options.limitPrediction?(workers, config.backend, l.namespace, n) {
                note += "; the deployment model predicts \(predicted) (\(String(format: "%.1f", Double(predicted) / Double(limit))) ×) for \(workers) workers with round-robin routing"
            }
            note += ". Limits are per worker; the page advises limiting at the reverse proxy too, or the redis backend"
            notes.append(note)
        }
        return Outcome(findings: findings, transportError: transportError, notes: notes,
                       clean: notes.isEmpty ? .pass : .informational, requests: requests, headerProblems: headerProblems)
    }
}

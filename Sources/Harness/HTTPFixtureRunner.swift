import Foundation
import TargetFiles
import Wire

/// Runs an `http` fixture: its steps in order, each request built from its template, sent,
/// and checked; later requests depend on earlier ones, so the first failure ends the steps.
struct HTTPFixtureRunner {
    let runner: Runner

    func run(_ f: Fixture, _ steps: [Step]) throws -> Outcome {
        let suite = runner.suite, target = runner.target
        let (sources, skip) = try runner.allocateSources(f)
        if let skip { throw SkipFixture(skip) }
        let session: any TargetSession
        do {
            session = try target.session(environment: f.config, storeUnavailable: f.storeUnavailable)
        } catch let e as InProcessStartFailure {
            return Outcome(findings: [Finding(rules: f.rules, level: suite.level(of: f.rules),
                                              expected: "the service starts with the fixture's configuration", actual: e.message)])
        }
        defer { session.close() }
        let config = runner.declared.with(overrides: f.config)
        var scope = runner.scope(sources: sources, config: f.config)
        var findings: [Finding] = []
        var notes: [String] = []
        /// A request that got no answer: the fixture is an error, not a failure of its rules.
        var transportError: Finding? = nil
        /// Notes that leave the verdict a pass (an upstream failure behind an authorization that held).
        var passNotes: [String] = []
        var headerProblems: [Finding] = []
        var requests = 0
        var refusedUnexpectedly = false

        stepLoop: for step in steps {
            switch step {
            case .advance(let seconds):
                try session.advance(by: seconds)
            case .request(let r):
                for i in 1...r.repeatCount {
                    scope.iteration = i
                    let outgoing = try RequestBuilder.build(r.request, scope: scope, freshConnection: f.requirements.freshConnections)
                    let secrets = runner.noteSecrets(outgoing)
                    // A new log window per request whose log is checked (reading a spawned
                    // server's log costs a wait for its output, so only where needed).
                    if r.checksLog { session.clearLog() }
                    let response: HTTPResponse
                    switch try runner.exchange(session, outgoing, runner.describe(outgoing, i, r.repeatCount)) {
                    case .answered(let answered): response = answered
                    case .noAnswer(let error): transportError = error; break stepLoop
                    }
                    requests += 1
                    if let ns = RequestBudget.namespace(method: outgoing.request.method, requestTarget: outgoing.request.target,
                                                        headers: outgoing.request.headers, targetFile: target.targetFile) {
                        runner.ledger.record(address: outgoing.source, namespace: ns, at: Date().timeIntervalSince1970)
                    }
                    headerProblems += runner.headerFindings(response, config, f, runner.describe(outgoing, i, r.repeatCount))
                    var evaluator = CheckEvaluator(scope: scope, configuration: config, logLines: { session.logLines() })
                    evaluator.secrets = secrets
                    if r.upstream, [502, 503, 504].contains(response.status) {
                        // Let through, and the server's own upstream failed: the authorization
                        // under test held; what the upstream would have answered is not ours to grade.
                        let note = "\(outgoing.request.method) \(outgoing.request.target): the caller was let through and the server's upstream failed (\(response.status)); the authorization held"
                        if !passNotes.contains(note) { passNotes.append(note) }
                        continue
                    }
                    var failedHere = false
                    for e in r.expectations where e.iterations?.contains(i) ?? true {
                        for check in e.checks {
                            guard let failure = try evaluator.evaluate(check, response) else { continue }
                            let rules = e.rules ?? f.rules
                            findings.append(Finding(rules: rules, level: suite.level(of: rules), expected: failure.expected,
                                                    actual: failure.actual, request: runner.describe(outgoing, i, r.repeatCount)))
                            if response.status == 429, !runner.expects429(e) { refusedUnexpectedly = true }
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
                                                        actual: CheckEvaluator.describe(response), request: runner.describe(outgoing, i, r.repeatCount)))
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
                                                    actual: CheckEvaluator.describe(response), request: runner.describe(outgoing, i, r.repeatCount)))
                            break stepLoop
                        }
                        scope.captured[capture.name] = text
                    }
                }
            }
        }
        return Outcome(findings: findings, transportError: transportError, notes: notes, passNotes: passNotes,
                       clean: notes.isEmpty ? .pass : .informational, refusedUnexpectedly: refusedUnexpectedly,
                       requests: requests, headerProblems: headerProblems)
    }
}

/// What a fixture kind's runner found, for `Runner.grade` to turn into the result.
struct Outcome {
    var findings: [Finding] = []
    /// A request that got no answer: the fixture is an error, not a failure of its rules.
    var transportError: Finding? = nil
    var notes: [String] = []
    /// Notes reported only when nothing was found (an upstream failure behind an
    /// authorization that held).
    var passNotes: [String] = []
    /// The verdict when nothing was found.
    var clean: Verdict = .pass
    /// Some finding came with a 429 the fixture did not expect.
    var refusedUnexpectedly = false
    var requests = 0
    var headerProblems: [Finding] = []
}

extension Runner {
    /// The verdict of a fixture from what it found; the only place findings become a verdict.
    /// ERROR when a request got no answer and nothing else was found; the clean verdict when
    /// nothing was found; SKIP when the findings came with a 429 this run had not used up on a
    /// live server whose limiter earlier traffic shares (unless the fixture is about limits);
    /// FAIL when a finding names a rule of the page; DEVIATION when all findings are service
    /// behaviour.
    func grade(_ f: Fixture, _ o: Outcome) -> FixtureResult {
        var r: FixtureResult
        if let transportError = o.transportError, o.findings.isEmpty {
            r = result(f, .error, findings: [transportError], notes: o.notes, requests: o.requests)
        } else if o.findings.isEmpty {
            r = result(f, o.clean, notes: o.notes + o.passNotes, requests: o.requests)
        } else if o.refusedUnexpectedly, sharesLimiterWithEarlierTraffic,
                  !f.rules.contains(where: { $0.hasPrefix("RL-") || $0.hasPrefix("REDIS-") }) {
            // A 429 in a fixture that is not about limits, on a live server whose limiter we
            // share with earlier traffic, says nothing about the rule under test.
            r = result(f, .skip, skip: "the target's rate limiter refused a request (429) this run had not used up: earlier traffic from this address is still in the window; wait 60 s between runs or declare more sourceAddresses",
                       requests: o.requests)
        } else {
            let verdict: Verdict = o.findings.contains { $0.level == .spec } ? .fail : .deviation
            r = result(f, verdict, findings: o.findings, notes: o.notes, requests: o.requests)
        }
        r.headerProblems = o.headerProblems
        return r
    }

    /// The target sends from a fixed set of addresses, whose limiter slots outlive a fixture.
    var sharesLimiterWithEarlierTraffic: Bool {
        if case .fixed = target.capabilities.sourceAddresses { return true }
        return false
    }
}

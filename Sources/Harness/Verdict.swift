/// The graded outcome of one fixture (or one global check) against one target.
public enum Verdict: String, Sendable, Codable, CaseIterable {
    case pass
    /// A rule stated by the security page does not hold.
    case fail
    /// Only service-level behaviour differs (what the real service does where the page is
    /// silent): reported, but not a failure of the page's promises.
    case deviation
    /// Could not be checked against this target; the result says why.
    case skip
    /// Nothing wrong; something worth knowing about the target ("accepts bare-hex signatures").
    case informational
    /// A request got no answer at all mid-run (a connection reset, a TLS failure, a timeout):
    /// the fixture could not be judged. Not a failure of a rule; the run is incomplete.
    case error

    /// Report order, worst first.
    var severity: Int {
        switch self {
        case .fail: return 5
        case .deviation: return 4
        case .informational: return 3
        case .pass: return 2
        case .error: return 1
        case .skip: return 0
        }
    }

    public var label: String {
        switch self {
        case .pass: return "PASS"
        case .fail: return "FAIL"
        case .deviation: return "DEVIATION"
        case .skip: return "SKIP"
        case .informational: return "INFO"
        case .error: return "ERROR"
        }
    }
}

/// One thing that did not hold: which rules, what was expected, what came back, and the
/// request that showed it.
public struct Finding: Sendable {
    public var rules: [String]
    public var level: RuleLevel
    public var expected: String
    public var actual: String
    /// "POST /api/v1/boards/…/webhooks/… from 127.0.0.3 (iteration 61 of 61)".
    public var request: String?

    public init(rules: [String], level: RuleLevel, expected: String, actual: String, request: String? = nil) {
        self.rules = rules
        self.level = level
        self.expected = expected
        self.actual = actual
        self.request = request
    }
}

/// The result of one fixture or global check.
public struct FixtureResult: Sendable {
    public var id: String
    public var title: String
    public var rules: [String]
    /// The section it is reported under (the section of its first rule).
    public var section: String
    public var verdict: Verdict
    public var findings: [Finding]
    /// Informational notes (also present on passing results that observed something).
    public var notes: [String]
    public var skipReason: String?
    /// Requests sent and responses received.
    public var requests: Int
    public var seconds: Double
    /// Security-header problems seen on this fixture's responses. They do not change the
    /// fixture's verdict: the global "headers on every response" result reports them.
    public var headerProblems: [Finding] = []

    public init(id: String, title: String, rules: [String], section: String, verdict: Verdict,
                findings: [Finding] = [], notes: [String] = [], skipReason: String? = nil,
                requests: Int = 0, seconds: Double = 0) {
        self.id = id
        self.title = title
        self.rules = rules
        self.section = section
        self.verdict = verdict
        self.findings = findings
        self.notes = notes
        self.skipReason = skipReason
        self.requests = requests
        self.seconds = seconds
    }
}

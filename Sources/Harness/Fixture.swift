import Wire

/// One scenario of a conformance suite, decoded from `Fixtures/suites/*.json`
/// (the format is documented in `Fixtures/README.md`).
public struct Fixture: Sendable, Identifiable {
    public var id: String
    public var title: String
    /// The catalog rules this fixture checks (at least one).
    public var rules: [String]
    /// The file it came from, for messages.
    public var file: String
    public var kind: Kind
    public var requirements: Requirements
    /// Environment overrides for the server under test (`SECURITY_HEADER_X_FRAME_OPTIONS: ""`).
    public var config: [String: String]
    /// In-process only: replace the limiter's store with one that always fails, as a Redis
    /// outage would, to observe fail-open behaviour.
    public var storeUnavailable: Bool

    public enum Kind: Sendable {
        case http([Step])
        case dockerfile(DockerfileCheck)
        case startup(StartupCheck)
        case deployment(DeploymentCheck)
        case limit(LimitCount)
        case fault(FaultCheck)

        public var name: String {
            switch self {
            case .http: return "http"
            case .dockerfile: return "dockerfile"
            case .startup: return "startup"
            case .deployment: return "deployment"
            case .limit: return "limit"
            case .fault: return "fault"
            }
        }
    }

    /// What the target must offer for the fixture to run; a target without it skips the
    /// fixture with the reason.
    public struct Requirements: Sendable, Equatable {
        /// Runs only against the in-process reference (log lines, injected store failures).
        public var inProcess = false
        /// Why, when the fixture file says so (otherwise derived from what the fixture uses).
        public var inProcessReason: String? = nil
        /// The declared rate-limit backend the fixture is about (`redis` fixtures skip elsewhere).
        public var backend: String? = nil
        /// Needs one limiter shared by every request (a single worker, or the Redis backend):
        /// exact-count limit fixtures are meaningless against N workers with memory limiters.
        public var sharedLimiter = false
        /// Needs requests spread over fresh connections (so several workers see them).
        public var freshConnections = false
        /// Checks the service's log lines (derived from the fixture's `log` expectations):
        /// runs where mcsec runs the server itself, skipped against a live server.
        public var serviceLog = false
        /// Sends from the address an ordinary connection to the target uses (no chosen local
        /// address; 127.0.0.1 for a loopback target), not from `sourceAddresses`: some server
        /// stacks treat that peer specially (trusting its proxy headers by default).
        public var defaultSource = false

        public init() {}
    }

    /// The step's symbols, for the planner: which target entries the fixture needs.
    public var symbols: Set<String> {
        if case .limit(let l) = kind { return l.request.symbols }
        if case .fault(let c) = kind { return c.request.symbols }
        guard case .http(let steps) = kind else { return [] }
        var all: Set<String> = []
        for step in steps { all.formUnion(step.symbols) }
        return all
    }

    public var steps: [Step] {
        if case .http(let steps) = kind { return steps }
        return []
    }

    /// How many source addresses the fixture uses: the highest `source` of its requests or
    /// `{source.N}` anywhere in it (a header may name another address than the sender's).
    public var sourceCount: Int {
        var count = 1
        if case .limit(let l) = kind, l.otherSourceAdmitted { count = 2 }
        for step in steps { if case .request(let r) = step { count = max(count, r.request.sourceIndex) } }
        for symbol in symbols where symbol.hasPrefix("source.") {
            if let n = Int(symbol.dropFirst(7)) { count = max(count, n) }
        }
        return count
    }
}

/// One step of an HTTP fixture.
public enum Step: Sendable {
    case request(RequestStep)
    /// Move the clock forward (instant in-process; a real wait elsewhere, only with --allow-waits).
    case advance(Double)

    var symbols: Set<String> {
        guard case .request(let r) = self else { return [] }
        return r.symbols
    }
}

public struct RequestStep: Sendable {
    public var request: RequestTemplate
    /// How many times to send it (iterations are numbered from 1; `{i}` is the number).
    public var repeatCount: Int
    public var expectations: [Expectation]
    public var observation: Observation?
    /// Values to take from the response's JSON body as `{captured.NAME}` for later steps (an
    /// id the target file cannot give, such as a payload id the server just made).
    public var captures: [(name: String, path: JSONPath)] = []
    /// The route calls an upstream of the server (a gateway): a 502, 503 or 504 means the
    /// caller was let through and the upstream failed, so the authorization the step checks
    /// held; its checks are then replaced by a note.
    public var upstream = false

    /// Whether an expectation or an observed case looks at the service's log.
    var checksLog: Bool {
        expectations.contains { $0.checks.contains(where: \.needsLog) }
            || (observation?.cases.contains { $0.checks.contains(where: \.needsLog) } ?? false)
    }

    var symbols: Set<String> {
        var all = request.symbols
        for e in expectations { all.formUnion(e.symbols) }
        if let observation {
            for c in observation.cases { for check in c.checks { all.formUnion(check.symbols) } }
        }
        return all
    }
}

/// A request with `{symbol}` references still to resolve against the target.
public struct RequestTemplate: Sendable {
    public var method: String
    public var path: Template
    public var headers: [(name: Template, value: Template)]
    public var body: BodySpec
    public var sign: SignSpec?
    public var framing: FramingTemplate
    /// Which of the fixture's source addresses sends it: 1 for `{source}`, 2 for `{source.2}`, …
    public var sourceIndex: Int

    var symbols: Set<String> {
        var all = path.symbols
        for h in headers { all.formUnion(h.name.symbols); all.formUnion(h.value.symbols) }
        all.formUnion(body.symbols)
        if let sign { all.formUnion(sign.symbols) }
        if case .declaredLength(let size) = framing, let s = size.symbol { all.insert(s) }
        return all
    }
}

/// A request body.
public enum BodySpec: Sendable {
    case none
    /// UTF-8 text (templated).
    case text(Template)
    /// A JSON document whose string values are templates; sent as compact JSON.
    case json(JSONValue)
    /// Exact bytes (invalid UTF-8, NUL bytes, …).
    case bytes([UInt8])
    /// A generated body of exactly `size` bytes: a JSON object `{"pad":"xxxx…"}` when the size
    /// allows (so the server stores it as JSON), else that many `x`.
    case size(SizeExpression)
    /// `prefix` + `unit` × `count` + `suffix` (deep nesting, long strings).
    case repeated(unit: String, count: Int, prefix: String, suffix: String)

    var symbols: Set<String> {
        switch self {
        case .text(let t): return t.symbols
        case .json(let j): return Template.symbols(inJSON: j)
        case .size(let s): return s.symbol.map { [$0] } ?? []
        default: return []
        }
    }
}

/// A byte count: a literal, or a symbol such as `limit` plus or minus a constant.
public struct SizeExpression: Sendable, Equatable, CustomStringConvertible {
    public var symbol: String?
    public var offset: Int

    public var description: String {
        guard let symbol else { return String(offset) }
        if offset == 0 { return symbol }
        return offset > 0 ? "\(symbol)+\(offset)" : "\(symbol)\(offset)"
    }
}

/// How to sign a webhook body.
public struct SignSpec: Sendable {
    public enum Mode: String, Sendable { case valid, invalid, empty }
    public enum Header: Sendable, Equatable {
        /// `X-Hub-Signature-256`.
        case hub
        /// `X-Webhook-Signature`.
        case webhook
        /// The webhook's own configured header (`{webhook.custom.header}`).
        case own
        case named(String)
    }
    /// The symbol naming the webhook whose secret signs (`webhook.signed`); the secret is
    /// `{<symbol>.secret}`.
    public var webhook: String
    public var mode: Mode
    public var header: Header
    /// Written before the hex digest: `sha256=` (default), `SHA256=`, or "" for bare hex.
    public var prefix: String
    public var uppercaseHex: Bool
    /// Surrounding whitespace added to the value (the real service trims it).
    public var padding: String

    var symbols: Set<String> {
        var all: Set<String> = [webhook + ".secret"]
        if header == .own { all.insert(webhook + ".header") }
        return all
    }
}

/// How the body is to be framed on the wire, as the fixture says it (a declared length may be
/// `{limit}`-relative); `RequestBuilder` resolves it to Wire's `BodyFraming`.
public enum FramingTemplate: Sendable, Equatable, CustomStringConvertible {
    /// `Content-Length` equal to the body (the default).
    case contentLength
    /// A `Content-Length` header that says `size`, whatever the body is.
    case declaredLength(SizeExpression)
    /// `Transfer-Encoding: chunked` with chunks of this many bytes.
    case chunked(Int)
    /// No framing header at all.
    case none

    public var description: String {
        switch self {
        case .contentLength: return "Content-Length"
        case .declaredLength(let size): return "a declared Content-Length of \(size)"
        case .chunked(let n): return "chunked (\(n)-byte chunks)"
        case .none: return "no framing header"
        }
    }

    /// Framing that only raw sockets can produce (URLSession always frames honestly).
    var needsRawSocket: Bool {
        switch self {
        case .declaredLength, .none: return true
        case .contentLength, .chunked: return false
        }
    }
}

/// Inclusive iteration numbers an expectation applies to (`"1-60"`, `"61"`, `"61-"`).
public struct IterationRange: Sendable, Equatable, CustomStringConvertible {
    public var lower: Int
    public var upper: Int?

    public func contains(_ i: Int) -> Bool { i >= lower && (upper.map { i <= $0 } ?? true) }

    public var description: String {
        if let upper { return upper == lower ? "\(lower)" : "\(lower)-\(upper)" }
        return "\(lower)-"
    }
}

/// What a response must look like.
public struct Expectation: Sendable {
    public var iterations: IterationRange?
    /// The rules a failure of this expectation is attributed to (default: the fixture's).
    public var rules: [String]?
    public var checks: [Check]

    var symbols: Set<String> {
        var all: Set<String> = []
        for c in checks { all.formUnion(c.symbols) }
        return all
    }
}

/// One assertion about a response (or about the log lines it produced).
public enum Check: Sendable {
    case status([Int])
    case statusNot([Int])
    /// 2 for 2xx, 4 for 4xx, …
    case statusClass(Int)
    case statusClassNot(Int)
    case header(name: String, HeaderCheck)
    case json(path: JSONPath, JSONCheck)
    case bodyContains(Template)
    case bodyNotContains(Template)
    case logContains(Template)
    case logNotContains(Template)
    /// Every JSON string in the body that opens an external-data boundary keeps it intact.
    case boundaryIntact
    /// The security headers the target's configuration promises, checked on this response.
    case securityHeaders

    var symbols: Set<String> {
        switch self {
        case .bodyContains(let t), .bodyNotContains(let t), .logContains(let t), .logNotContains(let t): return t.symbols
        case .header(_, let h): return h.symbols
        case .json(_, let j): return j.symbols
        default: return []
        }
    }

    /// Log checks can only be made where the server's log is visible.
    var needsLog: Bool {
        switch self {
        case .logContains, .logNotContains: return true
        default: return false
        }
    }
}

public enum HeaderCheck: Sendable {
    case present
    case absent
    /// Value equality; `caseInsensitive` where the header's grammar is case-insensitive (`nosniff`, `DENY`).
    case equals(Template, caseInsensitive: Bool)
    case contains(Template)

    var symbols: Set<String> {
        switch self {
        case .equals(let t, _), .contains(let t): return t.symbols
        default: return []
        }
    }
}

public enum JSONCheck: Sendable {
    case equals(JSONValue)
    case present
    case absent
    /// Some value at the path equals it, or (strings) contains it, or (arrays) has it as an element.
    case contains(JSONValue)
    case notContains(JSONValue)
    /// `string`, `number`, `boolean`, `object`, `array`, `null`.
    case type(String)

    var symbols: Set<String> {
        switch self {
        case .equals(let j), .contains(let j), .notContains(let j): return Template.symbols(inJSON: j)
        default: return []
        }
    }
}

/// Observation instead of assertion: the first case whose checks all hold gives an
/// informational note; when none holds, `otherwise` decides (a failure, or another note).
public struct Observation: Sendable {
    public struct Case: Sendable {
        public var checks: [Check]
        public var note: String
    }
    public enum Otherwise: Sendable {
        case fail(String)
        case note(String)
    }
    public var cases: [Case]
    public var otherwise: Otherwise
    public var rules: [String]?
    public var iterations: IterationRange?
}

/// A check of a Dockerfile's final stage (ContainerUser).
public struct DockerfileCheck: Sendable {
    public enum Source: Sendable {
        case inline(String)
        /// A path relative to the fixture file.
        case file(String)
        /// The Dockerfiles the target file names (`backend`, `frontend`), or every one (`each`).
        case targetFile(String)
    }
    public var source: Source
    /// What the final stage must run as: `nonRoot`, `root` or `undetermined` (`"verdict"`
    /// in the fixture file).
    public var finalUser: String?
    public var user: String?
    /// Every COPY/ADD of the final stage carries `--chown=<this>`.
    public var copyChown: String?
    /// VOLUME instructions are reported as a reminder that mounts must be writable by the user.
    public var noteVolumes: Bool
}

/// A check of start-up: does the server start with this environment, and what does it say?
public struct StartupCheck: Sendable {
    public var environment: [String: String]
    public var starts: Bool
    public var messageContains: [String]
    public var messageNotContains: [String]
}

/// A limit counted over fresh connections, as a load balancer spreads them over workers: how
/// many of one client's requests a deployment admits in one window. One limiter shared by
/// every request (one worker, or the redis backend) admits exactly the limit; N workers with
/// the memory backend admit between the limit and N × the limit (the page's warning), never
/// more.
public struct LimitCount: Sendable {
    public var request: RequestTemplate
    /// `webhook_ingest` or `agent_auth`.
    public var namespace: String
    /// Statuses that mean "admitted" (every other answer must be 429).
    public var admitted: [Int]
    /// Afterwards one request from the fixture's second source address must be admitted
    /// (the limit is per address).
    public var otherSourceAdmitted: Bool

    /// Requests sent: the limit once per worker that may hold its own limiter, plus one more
    /// limit's worth, so that every worker is driven past its limit.
    public static func requests(limit: Int, workers: Int, perProcess: Bool) -> Int {
        perProcess ? (workers + 1) * limit : limit + 1
    }
}

/// The limiter's Redis fails while requests arrive (only with `--inject-faults`, against the
/// Redis the target file names): every request during the fault must be answered, admitted
/// (fail-open), within the bound (`--fail-open-within`, 1 s by default); a request held for
/// the stall is the failure. One request before and one after must be admitted too.
public struct FaultCheck: Sendable {
    public enum Fault: String, Sendable {
        /// `CLIENT PAUSE`: Redis accepts and never answers while it lasts.
        case stall
        /// `CLIENT KILL TYPE normal`: the server's connections to Redis are closed.
        case drop
    }

    public var fault: Fault
    /// How long a stall lasts (Redis ends it by itself then, whatever happens to the run).
    public var seconds: Double
    public var request: RequestTemplate
    public var namespace: String
    public var admitted: [Int]
    /// Requests sent during the fault.
    public var during: Int

    /// Requests the fixture sends in all: one before, `during`, one after.
    public var requestCount: Int { during + 2 }
}

/// A check of the deployment the target file declares (no requests).
public struct DeploymentCheck: Sendable {
    /// `perProcessLimits`: memory backend with several workers → limits are per worker.
    public var check: String
}

import TargetFiles
import Wire

/// A request with every symbol resolved, ready for a target to send: Wire's request (the
/// headers as the fixture wrote them, the body in memory) plus what only the sending side
/// decides. Every transport takes this one value: the in-process handler, the raw client and
/// URLSession each convert it once.
public struct OutgoingRequest: Sendable {
    /// Method, request-target (path and query), headers and body (`.bytes`). Framing headers
    /// are the transport's job.
    public var request: HTTPRequest
    public var framing: BodyFraming
    /// The local address to send from; nil for the system's choice.
    public var source: String?
    /// Open a new connection for this request (so several workers behind a URL see requests).
    public var freshConnection: Bool

    public init(method: String, requestTarget: String, headers: HTTPFields = HTTPFields(), body: [UInt8] = [],
                framing: BodyFraming = .contentLength, source: String? = nil, freshConnection: Bool = false) {
        request = HTTPRequest(method: method, target: requestTarget, headers: headers, body: .bytes(body))
        self.framing = framing
        self.source = source
        self.freshConnection = freshConnection
    }

    /// The body bytes (the builder always gives them in memory).
    public var body: [UInt8] {
        if case .bytes(let bytes) = request.body { return bytes }
        return []
    }

    /// One line for reports: `POST /api/v1/boards/…/webhooks/… from 127.0.0.3, 1048577-byte body, chunked`.
    public var summary: String {
        var text = "\(request.method) \(request.target)"
        if let source { text += " from \(source)" }
        var details: [String] = []
        let size = body.count
        if size > 0 { details.append("\(size)-byte body") }
        switch framing {
        case .contentLength: break
        case .declaredLength(let n): details.append("Content-Length: \(n)")
        case .chunked(let n): details.append("chunked (\(n)-byte chunks)")
        case .none: details.append("no framing header")
        }
        let notable = request.headers.entries.filter { !["content-type", "user-agent"].contains($0.name.lowercased()) }
        if !notable.isEmpty {
            details.append(notable.map { field in
                // Secrets and tokens are shortened: reports end up in CI logs.
                let lower = field.name.lowercased()
                let sensitive = lower == "authorization" || lower.contains("token") || lower.contains("signature")
                let value = sensitive && field.value.count > 12 ? String(field.value.prefix(12)) + "…" : field.value
                return "\(field.name): \(value.count > 60 ? String(value.prefix(60)) + "…" : value)"
            }.joined(separator: "; "))
        }
        return details.isEmpty ? text : text + " (" + details.joined(separator: ", ") + ")"
    }
}

/// Why a fixture cannot run against a target (reported as a skip).
public struct SkipFixture: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// The target cannot be reached at all: the run stops with one clear error instead of a
/// failure per fixture.
public struct TargetUnreachable: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Hands out distinct loopback addresses (127.0.0.2, 127.0.0.3, …), shared by every run
/// against one target so that runs in parallel never send from the same address.
public final class AddressAllocator: Sendable {
    private let lock = Lock()
    private nonisolated(unsafe) var counter: Int

    /// - Parameter randomStart: start at a random point of 127/8, so that a second run against
    ///   a limiter that outlives the first (a shared Redis) does not meet its own leftovers.
    public init(randomStart: Bool = false) {
        counter = randomStart ? Int.random(in: 2..<0xF0_0000) : 1
    }

    /// Every address in 127/8 reaches the loopback interface; in-process they are just
    /// distinct peers.
    public func next() -> String {
        lock.withLock {
            while true {
                counter &+= 1
                let n = counter & 0xFF_FFFF
                let (a, b, c) = ((n >> 16) & 255, (n >> 8) & 255, n & 255)
                if c == 0 || c == 255 || n < 2 { continue }
                return "127.\(a).\(b).\(c)"
            }
        }
    }
}

/// Where the fixture's source addresses come from.
public enum SourceAddressPool: Sendable {
    /// Any number of distinct addresses (in-process peers, or 127.0.0.x on loopback):
    /// every fixture gets its own, so no fixture can spend another's rate-limit budget.
    case unlimited(AddressAllocator)
    /// These addresses only (nil: the system's choice); the runner budgets their limiter slots.
    case fixed([String?])
}

/// What a target can do; fixtures that need more are skipped with the reason.
public struct TargetCapabilities: Sendable {
    public var inProcess: Bool
    /// Clock advances cost nothing (a manual clock); otherwise they are real waits.
    public var instantClock: Bool
    /// Arbitrary framing (a declared length that lies, no framing header).
    public var rawFraming: Bool
    public var sourceAddresses: SourceAddressPool
    /// Configuration overrides produce a server with that configuration.
    public var configOverrides: Bool
    /// Each fixture gets a fresh server state (limiters included).
    public var freshStatePerFixture: Bool
    /// Start-up with a given environment can be observed.
    public var startup: Bool
    /// The service's log lines can be read per request (in-process, or a server this run
    /// started and whose standard error it reads).
    public var serviceLog: Bool
    /// The client can end a request body by closing its sending side while the answer can
    /// still arrive (framing `none`); a TLS tunnel cannot.
    public var halfClose: Bool = true

    public init(inProcess: Bool, instantClock: Bool, rawFraming: Bool, sourceAddresses: SourceAddressPool,
                configOverrides: Bool, freshStatePerFixture: Bool, startup: Bool, serviceLog: Bool = false) {
        self.inProcess = inProcess
        self.instantClock = instantClock
        self.rawFraming = rawFraming
        self.sourceAddresses = sourceAddresses
        self.configOverrides = configOverrides
        self.freshStatePerFixture = freshStatePerFixture
        self.startup = startup
        self.serviceLog = serviceLog
    }
}

/// The result of starting a server with an environment.
public struct StartupOutcome: Sendable {
    public var started: Bool
    /// What it printed (the error on failure).
    public var message: String
    public init(started: Bool, message: String) {
        self.started = started
        self.message = message
    }
}

/// Something the suites run against: the in-process reference, a spawned `mcsec serve`, or a
/// live server named by URL.
public protocol Target: AnyObject, Sendable {
    /// For the report header: "in-process reference", "http://127.0.0.1:8000".
    var name: String { get }
    var targetFile: TargetFile { get }
    var capabilities: TargetCapabilities { get }
    /// Opens what one fixture runs against, with the fixture's configuration overrides
    /// applied. Throws `SkipFixture` when the target cannot provide that configuration.
    func session(environment: [String: String], storeUnavailable: Bool) throws -> any TargetSession
    /// Starts a server with `environment` and reports what happened (only when
    /// `capabilities.startup`).
    func startup(environment: [String: String]) throws -> StartupOutcome
    /// Releases servers and connections.
    func close()
}

/// One fixture's view of a target.
public protocol TargetSession: AnyObject {
    /// Sends a request; `TargetUnreachable` aborts the run, other errors fail the fixture.
    func send(_ request: OutgoingRequest) throws -> HTTPResponse
    /// Moves time forward (a manual clock, or a real wait).
    func advance(by seconds: Double) throws
    /// Service log lines written since the last call to `clearLog`, complete up to the last
    /// response received (only when `capabilities.serviceLog`; otherwise empty).
    func logLines() -> [String]
    /// Starts a new log window; the runner calls it before each request whose log it checks.
    func clearLog()
    func close()
}

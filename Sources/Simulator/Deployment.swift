import Reference
import Spec

// Rule: the deployment a prediction is made for. N workers behind a load balancer that routes
// round-robin (request i to worker i mod N, counting every request of the profile), at random
// (seeded), or by a hash of the client's address (FNV-1a of the address text, modulo N, like a
// balancer's `hash $remote_addr`). The limiter backend is memory (each worker has its own
// limiter, so a client can get up to N × the limit) or Redis (one shared log per client).
// Redis outage windows make the shared store unreachable: every request in them is allowed and
// nothing is recorded (the documented fail-open). Clock skew shifts each worker's clock, which
// matters only with Redis, where workers write their own `now` as scores into the shared log.
// Trusting proxy headers makes the client key the proxy header's value (leftmost
// `Forwarded: for=` or `X-Forwarded-For`, as `ClientAddress` resolves it) instead of the
// connecting address.

/// A half-open interval of profile time, [start, end).
public struct TimeWindow: Sendable, Equatable, CustomStringConvertible {
    public var start: Double
    public var end: Double
    public init(start: Double, end: Double) {
        self.start = start
        self.end = end
    }
    public func contains(_ t: Double) -> Bool { t >= start && t < end }
    public var description: String { "\(DurationText.format(start))-\(DurationText.format(end))" }
}

/// An impossible or contradictory deployment setting.
public struct DeploymentError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The deployment model.
public struct Deployment: Sendable, Equatable {
    public enum Routing: String, Sendable, CaseIterable {
        case roundRobin = "rr"
        case random
        case clientHash = "hash"

        public var label: String {
            switch self {
            case .roundRobin: return "round-robin"
            case .random: return "random"
            case .clientHash: return "client-hash"
            }
        }

        public init?(text: String) {
            switch text {
            case "rr", "round-robin", "roundrobin": self = .roundRobin
            case "random": self = .random
            case "hash", "client-hash", "ip-hash": self = .clientHash
            default: return nil
            }
        }
    }

    public enum Backend: String, Sendable, CaseIterable {
        case memory
        case redis
    }

    /// A name for reports (defaults to `label`).
    public var name: String?
    public var workers: Int = 1
    public var routing: Routing = .roundRobin
    public var backend: Backend = .memory
    /// Redis outages (profile time); requests in them fail open.
    public var outages: [TimeWindow] = []
    /// Clock offset of each worker in seconds (missing entries are 0).
    public var skews: [Double] = []
    public var trustProxyHeaders = false
    /// Seed of random routing.
    public var seed: UInt64 = 1
    /// `WEBHOOK_MAX_PAYLOAD_BYTES` of the deployment.
    public var maxPayloadBytes = Configuration.defaultMaxPayloadBytes
    public var webhookPolicy = RateLimitPolicy.webhookIngest
    public var agentPolicy = RateLimitPolicy.agentAuth

    public static let maximumWorkers = 4096

    public init(name: String? = nil, workers: Int = 1, routing: Routing = .roundRobin, backend: Backend = .memory,
                outages: [TimeWindow] = [], skews: [Double] = [], trustProxyHeaders: Bool = false, seed: UInt64 = 1) {
        self.name = name
        self.workers = workers
        self.routing = routing
        self.backend = backend
        self.outages = outages
        self.skews = skews
        self.trustProxyHeaders = trustProxyHeaders
        self.seed = seed
    }

    /// `4 workers, memory, round-robin` (plus outages, skew and proxy trust when set).
    public var label: String {
        var text = "\(workers) worker\(workers == 1 ? "" : "s"), \(backend.rawValue)"
        if workers > 1 { text += ", \(routing.label)" }
        if !outages.isEmpty { text += ", Redis outage " + outages.map(\.description).joined(separator: " and ") }
        if skews.contains(where: { $0 != 0 }) { text += ", clock skew " + skews.map { DurationText.format($0) }.joined(separator: "/") }
        if trustProxyHeaders { text += ", proxy headers trusted" }
        return text
    }

    public var displayName: String { name ?? label }

    /// The skew of worker `w`.
    public func skew(_ w: Int) -> Double { w < skews.count ? skews[w] : 0 }

    /// Checks the settings against each other and against a profile of `profileDuration` s.
    public func validate(profileDuration: Double) throws(DeploymentError) {
        guard workers >= 1 && workers <= Deployment.maximumWorkers else {
            throw DeploymentError("workers must be between 1 and \(Deployment.maximumWorkers), got \(workers)")
        }
        guard maxPayloadBytes >= 0 else { throw DeploymentError("the payload limit must be 0 or more bytes, got \(maxPayloadBytes)") }
        if backend == .memory && !outages.isEmpty {
            throw DeploymentError("a Redis outage needs the redis backend (--backend redis); the memory backend has no Redis to lose")
        }
        if backend == .memory && skews.contains(where: { $0 != 0 }) {
            throw DeploymentError("clock skew matters only with the redis backend (workers share one log); with memory each worker's limiter uses its own clock consistently")
        }
        guard skews.count <= workers else {
            throw DeploymentError("\(skews.count) clock skews given for \(workers) worker\(workers == 1 ? "" : "s"); give at most one per worker")
        }
        for s in skews where !(s.isFinite && abs(s) <= 86_400) {
            throw DeploymentError("a clock skew must be within ±1 day, got \(s)")
        }
        for o in outages {
            guard o.start.isFinite, o.end.isFinite, o.start >= 0, o.end > o.start else {
                throw DeploymentError("outage \(o) must end after it starts, both at or after 0")
            }
            guard o.start <= profileDuration else {
                throw DeploymentError("outage \(o) starts after the profile ends (\(DurationText.format(profileDuration))): it would change nothing")
            }
        }
    }

    // MARK: parsing settings

    /// Parses `10s-40s` (start and end, durations from the profile start).
    public static func parseOutage(_ text: String) throws(DeploymentError) -> TimeWindow {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw DeploymentError("an outage is written start-end, like 10s-40s, got '\(text)'")
        }
        do {
            let start = try DurationText.parse(String(parts[0])), end = try DurationText.parse(String(parts[1]))
            guard end > start else { throw DeploymentError("outage '\(text)' must end after it starts") }
            return TimeWindow(start: start, end: end)
        } catch let error as DeploymentError {
            throw error
        } catch {
            throw DeploymentError("outage '\(text)': \(error)")
        }
    }

    /// Parses `0.5s,-250ms,0` (one signed duration per worker).
    public static func parseSkews(_ text: String) throws(DeploymentError) -> [Double] {
        var result: [Double] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            var item = String(part.trimmingASCIIWhitespace())
            var sign = 1.0
            if item.hasPrefix("-") { sign = -1; item.removeFirst() } else if item.hasPrefix("+") { item.removeFirst() }
            do {
                result.append(sign * (try DurationText.parse(item)))
            } catch {
                throw DeploymentError("clock skew '\(part)': write a signed duration per worker, like 0.5s,-250ms,0")
            }
        }
        return result
    }

    /// Parses a scenario: `name=…;workers=4;routing=rr;backend=memory;outage=10s-40s,50s-55s;skew=0.5s,0;trust-proxy-headers=yes;seed=7`.
    public static func parseScenario(_ text: String, base: Deployment = Deployment()) throws(DeploymentError) -> Deployment {
        var d = base
        d.name = nil
        for part in text.split(separator: ";") {
            let item = String(part.trimmingASCIIWhitespace())
            guard !item.isEmpty else { continue }
            guard let eq = item.firstIndex(of: "=") else {
                throw DeploymentError("scenario setting '\(item)' should be key=value (keys: name, workers, routing, backend, outage, skew, trust-proxy-headers, seed, max-payload-bytes)")
            }
            let key = String(item[..<eq].trimmingASCIIWhitespace()), value = String(item[item.index(after: eq)...].trimmingASCIIWhitespace())
            switch key {
            case "name": d.name = value
            case "workers":
                guard let n = Int(value) else { throw DeploymentError("scenario workers must be a whole number, got '\(value)'") }
                d.workers = n
            case "routing":
                guard let r = Routing(text: value) else { throw DeploymentError("scenario routing must be rr, random or hash, got '\(value)'") }
                d.routing = r
            case "backend":
                guard let b = Backend(rawValue: value) else { throw DeploymentError("scenario backend must be memory or redis, got '\(value)'") }
                d.backend = b
            case "outage", "outages":
                d.outages = try value.split(separator: ",").map { (s: Substring) throws(DeploymentError) -> TimeWindow in try parseOutage(String(s)) }
            case "skew":
                d.skews = try parseSkews(value)
            case "trust-proxy-headers":
                switch value.lowercased() {
                case "yes", "true", "1", "on": d.trustProxyHeaders = true
                case "no", "false", "0", "off": d.trustProxyHeaders = false
                default: throw DeploymentError("scenario trust-proxy-headers must be yes or no, got '\(value)'")
                }
            case "seed":
                guard let s = UInt64(value) else { throw DeploymentError("scenario seed must be a whole number, got '\(value)'") }
                d.seed = s
            case "max-payload-bytes":
                guard let n = Int(value), n >= 0 else { throw DeploymentError("scenario max-payload-bytes must be a whole number of bytes, got '\(value)'") }
                d.maxPayloadBytes = n
            default:
                throw DeploymentError("unknown scenario setting '\(key)' (keys: name, workers, routing, backend, outage, skew, trust-proxy-headers, seed, max-payload-bytes)")
            }
        }
        return d
    }
}


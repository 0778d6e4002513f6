import Foundation

import Spec
import TargetFiles
import Wire

/// Rate-limit slots: which limiter a request spends, how many slots each fixture needs per
/// source address, and a model of the target's limiter for the addresses the run uses.
///
/// Against a live server the limiter is real and shared by every fixture sent from one
/// address, and it keeps a client blocked for as long as the client keeps trying. So a fixture
/// that exhausts a limit must run after every fixture that needs that limiter from that
/// address, and fixtures whose needs do not fit in what is left of the window must either
/// wait for the window (`--allow-waits`) or be skipped, instead of failing for reasons that
/// have nothing to do with the rule they check.
public enum RequestBudget {
    public static let policies: [RateLimitPolicy] = [.webhookIngest, .agentAuth]

    public static func policy(_ namespace: String) -> RateLimitPolicy? {
        policies.first { $0.namespace == namespace }
    }

    /// The limiter namespace a request spends, if any.
    ///
    /// - Webhook ingest spends only when the board exists (an unknown board is answered before
    ///   the limiter).
    /// - Every request to an agent route is counted: the limiter runs before the token is
    ///   checked (counting a request that might not spend is the safe side).
    /// - Board memory (`memoryEndpoint`, or the service's own path) serves users and agents
    ///   alike: agent authentication is optional there, so only a request that presents an
    ///   agent token spends (`X-Agent-Token`, or a bearer token that is none of the target
    ///   file's user tokens: the server tries a user first and limits only what is not one).
    public static func namespace(method: String, requestTarget target: String, headers: HTTPFields, targetFile: TargetFile) -> String? {
        let raw = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? target
        // The server matches the decoded path, and finds a board by any spelling of its UUID.
        let path = raw.contains("%") ? (raw.removingPercentEncoding ?? raw) : raw
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        if method == "POST", parts.count == 6, parts[0] == "api", parts[1] == "v1", parts[2] == "boards", parts[4] == "webhooks" {
            let known = Set(targetFile.knownBoards.map(uuidDigits))
            return known.contains(uuidDigits(String(parts[3]))) ? RateLimitPolicy.webhookIngest.namespace : nil
        }
        if path.hasPrefix("/api/v1/agent/") || path == "/api/v1/agent" || (targetFile.agentEndpoint != nil && path == targetFile.agentEndpoint) {
            return RateLimitPolicy.agentAuth.namespace
        }
        if isOptionalAgentAuthRoute(path, memoryEndpoint: targetFile.memoryEndpoint) {
            return presentsAgentToken(headers, userTokens: Set(targetFile.userTokens.values)) ? RateLimitPolicy.agentAuth.namespace : nil
        }
        return nil
    }

    /// A UUID's hex digits in lower case, whatever its spelling (dashes, braces, case); other
    /// text unchanged. Two spellings of one board id compare equal.
    static func uuidDigits(_ text: String) -> String {
        let digits = text.lowercased().filter { $0 != "-" && $0 != "{" && $0 != "}" }
        return digits.count == 32 && digits.allSatisfy(\.isHexDigit) ? digits : text
    }

    /// Board memory reads: the path the target file declares (`{board}` standing for one
    /// segment) or the service's `/api/v1/boards/{board_id}/memory`.
    static func isOptionalAgentAuthRoute(_ path: String, memoryEndpoint: String?) -> Bool {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        if segments.count == 5, segments[0] == "api", segments[1] == "v1", segments[2] == "boards", segments[4] == "memory" {
            return true
        }
        guard let memoryEndpoint else { return false }
        let pattern = memoryEndpoint.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let wanted = pattern.split(separator: "/", omittingEmptySubsequences: true)
        guard wanted.count == segments.count else { return false }
        return zip(wanted, segments).allSatisfy { w, s in w.contains("{board}") ? !s.isEmpty : w == s }
    }

    /// Whether a request presents an agent token where a user's bearer token would be tried
    /// first: a non-blank `X-Agent-Token`, or a bearer token that is not a known user's.
    static func presentsAgentToken(_ headers: HTTPFields, userTokens: Set<String>) -> Bool {
        let bearer = bearerToken(headers)
        if let bearer, userTokens.contains(bearer) { return false }
        if let value = headers["X-Agent-Token"], !String(value.trimmingASCIIWhitespace()).isEmpty { return true }
        return bearer != nil
    }

    /// The token of `Authorization: Bearer <token>` (scheme in any case), or nil.
    static func bearerToken(_ headers: HTTPFields) -> String? {
        guard let value = headers["Authorization"].map({ String($0.trimmingASCIIWhitespace()) }) else { return nil }
        guard value.count > 7, value.prefix(7).lowercased() == "bearer " else { return nil }
        let token = String(value.dropFirst(7).trimmingASCIIWhitespace())
        return token.isEmpty ? nil : token
    }

    /// Slots a fixture spends, by (source index, namespace).
    public struct Spend: Hashable, Sendable {
        public var sourceIndex: Int
        public var namespace: String
    }

    /// What a fixture will spend, resolving paths with `scope` (symbols that are missing are
    /// the skip logic's business; such requests count as not spending).
    public static func spends(of fixture: Fixture, scope: SymbolScope) -> [Spend: Int] {
        var out: [Spend: Int] = [:]
        if case .limit(let l) = fixture.kind, let policy = policy(l.namespace) {
            let declared = DeclaredConfiguration(environment: scope.targetFile.config)
            let perProcess = declared.backend == "memory" && scope.targetFile.workers > 1
            out[Spend(sourceIndex: 1, namespace: l.namespace)] = LimitCount.requests(limit: policy.maxRequests,
                                                                                        workers: scope.targetFile.workers, perProcess: perProcess)
            if l.otherSourceAdmitted { out[Spend(sourceIndex: 2, namespace: l.namespace)] = 1 }
            return out
        }
        if case .fault(let c) = fixture.kind {
            out[Spend(sourceIndex: 1, namespace: c.namespace)] = c.requestCount
            return out
        }
        for step in fixture.steps {
            guard case .request(let r) = step, let target = try? scope.resolve(r.request.path) else { continue }
            // Headers decide only on routes where agent authentication is optional; a header
            // whose symbols cannot be resolved is left out (the fixture is skipped anyway).
            var headers = HTTPFields()
            for h in r.request.headers {
                if let name = try? scope.resolve(h.name), let value = try? scope.resolve(h.value) { headers.append(name, value) }
            }
            guard let ns = namespace(method: r.request.method, requestTarget: target, headers: headers, targetFile: scope.targetFile) else { continue }
            out[Spend(sourceIndex: r.request.sourceIndex, namespace: ns), default: 0] += r.repeatCount
        }
        return out
    }

    /// True when a fixture fills some limiter completely: afterwards that address is refused
    /// in that namespace until it has been quiet for a whole window.
    public static func exhausts(_ spends: [Spend: Int]) -> Bool {
        spends.contains { key, count in count >= (policy(key.namespace)?.maxRequests ?? Int.max) }
    }

    /// The run's model of one limiter key on the target: the times of our attempts, kept the
    /// way the target keeps them (refused attempts recorded too, at most `max` entries).
    public struct KeyLog: Sendable {
        public var policy: RateLimitPolicy
        public var stamps: [Double] = []

        public init(policy: RateLimitPolicy) { self.policy = policy }

        public mutating func record(at now: Double) {
            stamps.removeAll { $0 <= now - policy.window }
            if stamps.count >= policy.maxRequests { stamps.removeFirst() }
            stamps.append(now)
        }

        public func available(at now: Double) -> Int {
            policy.maxRequests - stamps.filter { $0 > now - policy.window }.count
        }

        /// The earliest time at which `need` slots are free (now, if they already are).
        public func timeWhenAvailable(_ need: Int, now: Double) -> Double {
            let live = stamps.filter { $0 > now - policy.window }
            let mustExpire = live.count - (policy.maxRequests - need)
            guard mustExpire > 0 else { return now }
            guard mustExpire <= live.count else { return .infinity }
            // Entries expire when `t - window >= stamp`; a little margin for clock granularity
            // on the server.
            return live[mustExpire - 1] + policy.window + 0.25
        }
    }

    /// Limiter state per (address, namespace) for addresses the run sends from.
    public struct Ledger: Sendable {
        public var logs: [String: KeyLog] = [:]
        public init() {}

        static func key(_ address: String?, _ namespace: String) -> String { "\(address ?? "default")|\(namespace)" }

        public mutating func record(address: String?, namespace: String, at now: Double) {
            guard let policy = RequestBudget.policy(namespace) else { return }
            let k = Ledger.key(address, namespace)
            var log = logs[k] ?? KeyLog(policy: policy)
            log.record(at: now)
            logs[k] = log
        }

        public func log(address: String?, namespace: String) -> KeyLog? { logs[Ledger.key(address, namespace)] }

        public func used(address: String?) -> Int {
            logs.filter { $0.key.hasPrefix("\(address ?? "default")|") }.reduce(0) { $0 + $1.value.stamps.count }
        }

        /// When `need` slots of `namespace` are free on `address`.
        public func timeWhenAvailable(address: String?, namespace: String, need: Int, now: Double) -> Double {
            guard let policy = RequestBudget.policy(namespace) else { return now }
            if need > policy.maxRequests {
                // More than a window holds: it needs a fresh window, then goes beyond it.
                return (log(address: address, namespace: namespace) ?? KeyLog(policy: policy)).timeWhenAvailable(policy.maxRequests, now: now)
            }
            return (log(address: address, namespace: namespace) ?? KeyLog(policy: policy)).timeWhenAvailable(need, now: now)
        }
    }

    /// Assigns addresses from a fixed pool to a fixture's source indexes: for each index the
    /// address that can serve its needs soonest (preferring, among those ready now, the one
    /// already used most, to keep fresh addresses for limit-exhausting fixtures).
    /// Returns the addresses and the time the fixture can start.
    public static func assign(spends: [Spend: Int], sourceCount: Int, pool: [String?], ledger: Ledger, now: Double)
        -> (addresses: [String?], start: Double)? {
        guard sourceCount <= pool.count else { return nil }
        var chosen: [String?] = []
        var start = now
        var taken: Set<Int> = []
        for index in 1...max(sourceCount, 1) {
            var best: (slot: Int, ready: Double, used: Int)? = nil
            for (slot, address) in pool.enumerated() where !taken.contains(slot) {
                var ready = now
                for (spend, count) in spends where spend.sourceIndex == index {
                    ready = max(ready, ledger.timeWhenAvailable(address: address, namespace: spend.namespace, need: count, now: now))
                }
                let used = ledger.used(address: address)
                if let b = best {
                    if ready < b.ready || (ready == b.ready && used > b.used) { best = (slot, ready, used) }
                } else {
                    best = (slot, ready, used)
                }
            }
            guard let b = best else { return nil }
            taken.insert(b.slot)
            chosen.append(pool[b.slot])
            start = max(start, b.ready)
        }
        return (chosen, start)
    }
}

extension Runner {
    /// What a live target's rate-limit budget allows, said before the run: how many fixtures
    /// fill a limiter, how many addresses there are to give them a fresh window, and what
    /// happens to the rest (they wait with --allow-waits, else they are skipped). Nil where
    /// every fixture gets fresh addresses (in-process, a spawned server).
    public func budgetSummary() -> String? {
        guard case .fixed(let pool) = target.capabilities.sourceAddresses else { return nil }
        var fixtures = suite.selected(options.ruleSelectors)
        if let ids = options.fixtureIDs { fixtures = fixtures.filter { ids.contains($0.id) } }
        let planScope = scope(sources: [nil])
        var filling: [String: Int] = [:]
        for f in fixtures where !f.requirements.defaultSource && skipReason(f) == nil {
            for (spend, count) in RequestBudget.spends(of: f, scope: planScope)
            where count >= (RequestBudget.policy(spend.namespace)?.maxRequests ?? .max) {
                filling[spend.namespace, default: 0] += 1
            }
        }
        guard !filling.isEmpty else { return nil }
        let addresses = pool.count == 1 && pool[0] == nil ? "one source address (the default)" : "\(pool.count) source addresses"
        var parts: [String] = []
        var over = 0
        for (namespace, count) in filling.sorted(by: { $0.key < $1.key }) {
            parts.append("\(count) fill the \(namespace) limiter")
            over += max(0, count - pool.count)
        }
        var text = "rate-limit budget: \(addresses); \(parts.joined(separator: ", ")); each needs a fresh window on an address of its own"
        if over > 0 {
            text += options.allowWaits
                ? ", so about \(over) will wait for a window (up to 61 s each)"
                : ", so about \(over) will be skipped; declare more sourceAddresses or run with --allow-waits"
        }
        return text
    }
}

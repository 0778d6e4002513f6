import Spec
import Wire

/// The shared limiter backend: the sliding-window log of `SlidingWindowLog`, kept in Redis so
/// every worker and process of a deployment counts against the same window.
///
/// Each key is a sorted set `ratelimit:<namespace>:<client>` whose scores are the caller's
/// `now` (the server's wall clock, as the real service uses) and whose members are
/// `<now>:<8 random hex digits>`. One Lua script applies an attempt atomically; see
/// `RedisRateLimitScript`.
///
/// Member uniqueness: members only need to differ between entries of one key with the same
/// score, of which there are at most `maxRequests` live. With 32 random bits, a new member
/// collides with one of 60 same-score members with probability 60 / 2^32 ≈ 1.4e-8; a collision
/// merely overwrites the equal entry (one entry fewer, so one extra request could pass), never
/// corrupts the set.
///
/// Failures: `record` throws on any Redis error; the limiter turns that into fail-open with a
/// warning line. A failed connection marks the pool down so that later calls fail at once
/// (no network, no timeout) and one call per `reconnectInterval` probes the server; limiting
/// resumes by itself when Redis is back.
public final class RedisRateLimitStore: RateLimitStore, @unchecked Sendable {
    public let url: RedisURL
    public let pool: RedisConnectionPool
    private let script = RedisScript(RedisRateLimitScript.source)
    private let randomLock = Lock()
    private var random = SplitMix64(seed: UInt64.random(in: .min ... .max))

    /// - Parameters:
    ///   - timeout: connect / write / reply timeout in seconds; 50 ms detects a dead or frozen
    ///     server quickly while leaving a loaded one ample time for a microsecond script.
    ///   - maxConnections: connections in flight at once (requests beyond wait for one).
    ///   - reconnectInterval: while Redis is unreachable, at most one attempt per interval.
    ///   - clock: monotonic seconds for the backoff (injectable for tests).
    public init(url: RedisURL, timeout: Double = 0.05, maxConnections: Int = 8, reconnectInterval: Double = 0.1,
                clock: @escaping @Sendable () -> Double = RedisClient.monotonicSeconds) {
        self.url = url
        self.pool = RedisConnectionPool(url: url, timeout: timeout, maxConnections: maxConnections,
                                        reconnectInterval: reconnectInterval, clock: clock)
    }

    /// Parses the URL, connects, PINGs and loads the script: what `mcsec serve` does at start-up
    /// so that a wrong URL or password stops it instead of silently failing open. The error
    /// names the URL redacted (`redis://***@host:port/db`), never the password.
    public static func connect(url text: String, timeout: Double = 0.05, maxConnections: Int = 8) throws -> RedisRateLimitStore {
        let url: RedisURL
        do {
            url = try RedisURL(parsing: text)
        } catch let error as RedisURLError {
            throw RedisStoreError(redactedURL: error.redactedURL, reason: error.reason)
        }
        let store = RedisRateLimitStore(url: url, timeout: timeout, maxConnections: maxConnections)
        do {
            try store.pool.withConnection { client in
                try client.ping()
                let loaded = try client.command(["SCRIPT", "LOAD", RedisRateLimitScript.source])
                store.script.sha = loaded.string
            }
        } catch let error as RedisError {
            throw RedisStoreError(redactedURL: url.redacted, reason: error.reason)
        }
        return store
    }

    /// The sorted-set key of one client in one namespace.
    public static func key(policy: RateLimitPolicy, client: String) -> String {
        "ratelimit:\(policy.namespace):\(client)"
    }

    public func record(policy: RateLimitPolicy, client: String, now: Double) throws -> Bool {
        let call = call(policy: policy, client: client, now: now)
        let reply = try pool.withConnection { try $0.evalsha(script, keys: call.keys, args: call.args) }
        return try Self.decision(reply, url: url)
    }

    /// One attempt, for `record(_:)`.
    public struct Attempt: Sendable, Equatable {
        public var policy: RateLimitPolicy
        public var client: String
        public var now: Double
        public init(policy: RateLimitPolicy, client: String, now: Double) {
            self.policy = policy
            self.client = client
            self.now = now
        }
    }

    /// Applies several attempts in one pipeline (one write, one read) on one connection, in
    /// order; returns the decisions in the same order. Throws if any attempt fails.
    public func record(_ attempts: [Attempt]) throws -> [Bool] {
        let calls = attempts.map { call(policy: $0.policy, client: $0.client, now: $0.now) }
        let replies = try pool.withConnection { try $0.evalshaPipeline(script, calls: calls) }
        return try replies.map { try Self.decision($0, url: url) }
    }

    /// Closes idle connections (e.g. before the process exits).
    public func close() { pool.closeIdle() }

    /// 8 random hex digits. From a generator seeded once from the system's randomness (every
    /// process differently): uniqueness is all that is needed, and this avoids a system call
    /// per request.
    private func memberSuffix() -> String {
        Hex.encode(randomLock.withLock { UInt32(truncatingIfNeeded: random.next() >> 32) })
    }

    private func call(policy: RateLimitPolicy, client: String, now: Double) -> (keys: [String], args: [String]) {
        // Numbers travel as text in Swift's shortest round-trip form, so Redis parses back the
        // very same doubles; the cut-off is computed here, not in Lua, because Lua would print
        // a number with only 14 significant digits when passing it to a command.
        let cutoff = now - policy.window
        let ttl = Self.expirySeconds(window: policy.window)
        let score = now.description
        return ([Self.key(policy: policy, client: client)],
                [score, cutoff.description, String(policy.maxRequests), String(ttl), score + ":" + memberSuffix()])
    }

    /// `EXPIRE window + 1`, in whole seconds (rounded up), bounded for absurd windows.
    static func expirySeconds(window: Double) -> Int {
        guard window.isFinite, window > 0 else { return 1 }
        return Int(min(window.rounded(.up), 1e9)) + 1
    }

    private static func decision(_ reply: RESPValue, url: RedisURL) throws -> Bool {
        switch reply {
        case .integer(1): return true
        case .integer(0): return false
        case .error(let message): throw RedisError(.server, "error reply: \(message)", url: url.redacted)
        default: throw RedisError(.protocolViolation, "the rate-limit script answered \(reply) instead of 0 or 1", url: url.redacted)
        }
    }
}

/// The store could not be set up. The message names the URL redacted.
public struct RedisStoreError: Error, Equatable, CustomStringConvertible {
    public var redactedURL: String
    public var reason: String
    public var description: String { "cannot reach Redis at \(redactedURL): \(reason)" }
}

/// The Lua script behind `RedisRateLimitStore`: `SlidingWindowLog.attempt` on a sorted set,
/// atomically (Redis runs a script without interleaving other commands).
public enum RedisRateLimitScript {
    /// KEYS[1] the key; ARGV: now (score), cutoff (now - window), max, ttl seconds, member.
    /// Returns 1 when allowed, 0 when refused.
    public static let source = """
    -- mcsec sliding-window log: one attempt, the same semantics as SlidingWindowLog.
    local key = KEYS[1]
    local max = tonumber(ARGV[3])
    -- A limit of 0 refuses everything and stores nothing.
    if max <= 0 then return 0 end
    -- Forget entries at or before now - window (inclusive, like the in-memory log). A new
    -- key (the common case) has nothing to forget: one command fewer.
    local count = redis.call('ZCARD', key)
    if count > 0 then
      count = count - redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[2])
    end
    local allowed = 1
    if count >= max then
      -- Full: refuse, and record this attempt in place of the oldest entry (or entries, should
      -- the set hold more than max after the limit was lowered), so storage stays at max.
      redis.call('ZREMRANGEBYRANK', key, 0, count - max)
      allowed = 0
    end
    redis.call('ZADD', key, ARGV[1], ARGV[5])
    redis.call('EXPIRE', key, ARGV[4])
    return allowed
    """
}

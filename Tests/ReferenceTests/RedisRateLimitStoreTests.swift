import Foundation
import Spec
import Testing
import TestSupport
import Reference
import Wire

/// The in-memory semantics: one `SlidingWindowLog` per (namespace, client).
final class LogModel {
    var logs: [String: SlidingWindowLog] = [:]
    func record(policy: RateLimitPolicy, client: String, now: Double) -> Bool {
        let key = RedisRateLimitStore.key(policy: policy, client: client)
        var log = logs[key] ?? SlidingWindowLog(maxRequests: policy.maxRequests)
        let allowed = log.attempt(now: now, window: policy.window)
        logs[key] = log
        return allowed
    }
}

/// A clock for the store's backoff that moves only when told to.
final class BackoffClock: @unchecked Sendable {
    private let lock = Lock()
    private var value: Double = 500
    func advance(_ seconds: Double) { lock.withLock { value += seconds } }
    var source: @Sendable () -> Double { { [self] in lock.withLock { value } } }
}

@Suite(.requires(.redisServer))
struct RedisRateLimitStoreTests {
    static let small = RateLimitPolicy(namespace: "diff_small", maxRequests: 3, window: 10)

    /// For stores whose commands must succeed: the production default (50 ms) is a detector of
    /// a dead Redis, and a loaded test machine can miss it without anything being wrong.
    static let generousTimeout = 5.0

    /// A random trace: several clients and policies; times that never go back, often repeat,
    /// and often land exactly `window` after an earlier attempt (the inclusive boundary).
    static func trace(seed: UInt64, count: Int) -> (attempts: [RedisRateLimitStore.Attempt], boundaries: Int) {
        var rng = SplitMix64(seed: seed)
        let clients = ["203.0.113.7", "198.51.100.2", "2001:db8::1", "10.0.0.42"]
        let policies = [small, RateLimitPolicy.webhookIngest, RateLimitPolicy.agentAuth]
        var now = 1_700_000_000.0
        var attempts: [RedisRateLimitStore.Attempt] = []
        var boundaries = 0
        for _ in 0..<count {
            let policy = policies[Int.random(in: 0..<policies.count, using: &rng)]
            var client = clients[Int.random(in: 0..<clients.count, using: &rng)]
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<30: break                                   // same instant again
            case 30..<55: now += [0.125, 0.5, 1, 2][Int.random(in: 0..<4, using: &rng)]
            case 55..<65: now += [0.1, 0.001, 0.3][Int.random(in: 0..<3, using: &rng)]  // not exact in binary
            case 65..<90:
                // Exactly one window after an earlier attempt of the same key that is still live.
                if let earlier = attempts.filter({ $0.policy == policy && $0.now + policy.window >= now })
                    .randomElement(using: &rng) {
                    now = earlier.now + policy.window
                    client = earlier.client
                    boundaries += 1
                }
            default: now += policy.window + Double(Int.random(in: 0...3, using: &rng))
            }
            attempts.append(.init(policy: policy, client: client, now: now))
        }
        return (attempts, boundaries)
    }

    /// The same trace through the in-memory semantics (`SlidingWindowLog`, and the
    /// `MemoryRateLimitStore` built on it) and through Redis (one call per attempt, then
    /// pipelined batches) must give the same decision for every attempt.
    @Test(arguments: [1, 2, 3, 20260101] as [UInt64])
    func sameDecisionsAsTheMemorySemantics(seed: UInt64) throws {
        let (attempts, boundaries) = Self.trace(seed: seed, count: 1500)
        let model = LogModel()
        let expected = attempts.map { model.record(policy: $0.policy, client: $0.client, now: $0.now) }
        // The memory store the service uses by default agrees with the bare semantics.
        let memory = MemoryRateLimitStore()
        let fromMemory = attempts.map { memory.record(policy: $0.policy, client: $0.client, now: $0.now) }
        #expect(fromMemory == expected)
        // The trace exercises what matters: both outcomes and exact boundaries.
        #expect(expected.contains(true) && expected.contains(false))
        #expect(boundaries > 200)

        let server = try RedisServer()
        defer { server.stop() }
        let store = try RedisRateLimitStore.connect(url: server.url(), timeout: Self.generousTimeout)
        let sequential = try attempts.map { try store.record(policy: $0.policy, client: $0.client, now: $0.now) }
        let firstDifference = zip(expected, sequential).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(firstDifference == nil, "first difference at attempt \(firstDifference?.offset ?? -1): \(firstDifference.map { attempts[$0.offset] }.map { "\($0)" } ?? "")")
        #expect(sequential.count == expected.count)

        // Every key holds what the log holds.
        let admin = try server.client()
        for (key, log) in model.logs {
            let members = try admin.command(["ZRANGE", key, "0", "-1", "WITHSCORES"])
            guard case .array(let items?) = members else { Issue.record("no set at \(key)"); continue }
            #expect(items.count / 2 == log.entryCount, "entries at \(key)")
            let newest = try #require(log.newest, "no entry in the log of \(key)")
            let last = try #require(items.last?.string, "no score at \(key)")
            #expect(Double(last) == newest, "newest score at \(key)")
        }

        _ = try admin.command(["FLUSHALL"])
        var batched: [Bool] = []
        var index = 0
        while index < attempts.count {
            let batch = Array(attempts[index..<min(index + 64, attempts.count)])
            batched += try store.record(batch)
            index += batch.count
        }
        #expect(batched == expected)
    }

    @Test func keyLayoutMembersScoresAndExpiry() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let store = try RedisRateLimitStore.connect(url: server.url(), timeout: Self.generousTimeout)
        let now = 1_700_000_123.456789
        let allowed = try store.record(policy: .webhookIngest, client: "192.0.2.1", now: now)
        #expect(allowed)
        let admin = try server.client()
        let key = "ratelimit:webhook_ingest:192.0.2.1"
        let items = try admin.command(["ZRANGE", key, "0", "-1", "WITHSCORES"])
        guard case .array(let pair?) = items, pair.count == 2, let member = pair[0].string, let score = pair[1].string else {
            Issue.record("unexpected set contents \(items)")
            return
        }
        // The score is exactly the `now` given (no precision lost on the way through Lua).
        #expect(Double(score) == now)
        let parts = member.split(separator: ":")
        #expect(parts.count == 2)
        #expect(parts.first.flatMap { Double($0) } == now)
        #expect(parts.last.map { $0.count == 8 && $0.allSatisfy(\.isHexDigit) } == true, "member \(member)")
        let ttl = try admin.command(["TTL", key]).integer ?? -1
        #expect((55...61).contains(ttl), "EXPIRE window + 1, got \(ttl)")
        // Two attempts at the same instant are two entries (distinct members).
        _ = try store.record(policy: .webhookIngest, client: "192.0.2.1", now: now)
        #expect(try admin.command(["ZCARD", key]) == .integer(2))
    }

    @Test func refusedAttemptsReplaceTheOldestAndStorageStaysAtMax() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let store = try RedisRateLimitStore.connect(url: server.url(), timeout: Self.generousTimeout)
        let policy = RateLimitPolicy(namespace: "t", maxRequests: 3, window: 60)
        var decisions: [Bool] = []
        for t in 0..<10 { decisions.append(try store.record(policy: policy, client: "c", now: 1000 + Double(t))) }
        #expect(decisions == [true, true, true] + Array(repeating: false, count: 7))
        let admin = try server.client()
        let scores = try admin.command(["ZRANGE", "ratelimit:t:c", "0", "-1", "WITHSCORES"])
        guard case .array(let items?) = scores else { Issue.record("no set"); return }
        #expect(stride(from: 1, to: items.count, by: 2).map { items[$0].string } == ["1007", "1008", "1009"])
        // A limit lowered while entries exist: trimmed down to the new max.
        let lowered = RateLimitPolicy(namespace: "t", maxRequests: 2, window: 60)
        let allowed = try store.record(policy: lowered, client: "c", now: 1010)
        #expect(!allowed)
        #expect(try admin.command(["ZCARD", "ratelimit:t:c"]) == .integer(2))
        // A limit of 0 refuses and stores nothing, like the in-memory log.
        let zero = RateLimitPolicy(namespace: "z", maxRequests: 0, window: 60)
        let refused = try store.record(policy: zero, client: "c", now: 1000)
        #expect(!refused)
        #expect(try admin.command(["EXISTS", "ratelimit:z:c"]) == .integer(0))
    }

    /// Many threads on one key: the script is atomic, so exactly `max` get through.
    @Test func concurrentAttemptsAdmitExactlyTheLimit() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let store = try RedisRateLimitStore.connect(url: server.url(), timeout: Self.generousTimeout)
        let allowed = Counter()
        let failed = Counter()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<50 {
                do {
                    if try store.record(policy: .webhookIngest, client: "198.51.100.9", now: 1_700_000_000) { allowed.add() }
                } catch {
                    failed.add()
                }
            }
        }
        #expect(failed.value == 0)
        #expect(allowed.value == 60)
    }

    @Test func scriptFlushIsSurvived() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let store = try RedisRateLimitStore.connect(url: server.url(), timeout: Self.generousTimeout)
        let first = try store.record(policy: .agentAuth, client: "a", now: 1)
        _ = try server.client().command(["SCRIPT", "FLUSH"])
        let second = try store.record(policy: .agentAuth, client: "a", now: 2)
        #expect(first && second)
        #expect(try server.client().command(["ZCARD", "ratelimit:agent_auth:a"]) == .integer(2))
    }

    @Test func killedRedisFailsFastThenLimitingResumesByItself() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let clock = BackoffClock()
        // Failing fast comes from the backoff, not the timeout: the calls that must succeed get
        // a generous one.
        let plain = RedisRateLimitStore(url: try RedisURL(parsing: server.url()), timeout: Self.generousTimeout, maxConnections: 4,
                                        clock: clock.source)
        let policy = RateLimitPolicy(namespace: "t", maxRequests: 1, window: 60)
        let first = try plain.record(policy: policy, client: "c", now: 100)
        #expect(first)
        server.kill()
        // The open connection is found closed, then reconnecting is refused...
        #expect(throws: RedisError.self) { _ = try plain.record(policy: policy, client: "c", now: 101) }
        #expect(throws: RedisError.self) { _ = try plain.record(policy: policy, client: "c", now: 101.5) }
        // ...so Redis is down: later calls throw at once, without a connection attempt.
        for t in 0..<100 {
            do {
                _ = try plain.record(policy: policy, client: "c", now: 102 + Double(t))
                Issue.record("record succeeded with Redis down")
            } catch let error as RedisError {
                #expect(error.kind == .backoff)
            }
        }
        try server.restart()
        clock.advance(0.1)
        // Back: a fresh (empty) Redis, so the first attempt is allowed and the second refused.
        let again = try plain.record(policy: policy, client: "c", now: 300)
        let refused = try plain.record(policy: policy, client: "c", now: 301)
        #expect(again && !refused)
    }

    @Test func frozenRedisIsDetectedWithinTheTimeout() throws {
        let server = try RedisServer()
        defer { server.stop() }
        // Not `connect` (which must succeed, here within 50 ms): the first call meets the frozen
        // server, so the 50 ms timeout is only asserted to fire.
        let store = RedisRateLimitStore(url: try RedisURL(parsing: server.url()), timeout: 0.05)
        server.pause()
        defer { server.resume() }
        do {
            _ = try store.record(policy: .webhookIngest, client: "c", now: 1)
            Issue.record("record succeeded against a frozen server")
        } catch let error as RedisError {
            #expect(error.kind == .timeout)
            #expect(error.reason.contains("50 ms"))
        }
        #expect(throws: RedisError.self) { _ = try store.record(policy: .webhookIngest, client: "c", now: 2) }
        #expect(store.pool.isDown)
    }

    @Test func serverErrorsThrowButDoNotMarkRedisDown() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let store = try RedisRateLimitStore.connect(url: server.url(), timeout: Self.generousTimeout)
        _ = try server.client().command(["SET", "ratelimit:webhook_ingest:x", "not a set"])
        do {
            _ = try store.record(policy: .webhookIngest, client: "x", now: 1)
            Issue.record("record on a wrong-type key succeeded")
        } catch let error as RedisError {
            #expect(error.kind == .server)
            #expect(error.reason.contains("WRONGTYPE"))
        }
        #expect(!store.pool.isDown)
        let other = try store.record(policy: .webhookIngest, client: "y", now: 1)
        #expect(other)
    }

    @Test func connectErrorsNameTheRedactedURL() throws {
        let server = try RedisServer(arguments: ["--requirepass", "right-password"])
        defer { server.stop() }
        func message(_ url: String) -> String {
            do {
                _ = try RedisRateLimitStore.connect(url: url, timeout: Self.generousTimeout)
                return "connected"
            } catch {
                return "\(error)"
            }
        }
        #expect(message(server.url(password: "right-password")) == "connected")
        let wrong = message(server.url(user: "default", password: "wrong-password"))
        #expect(wrong.hasPrefix("cannot reach Redis at redis://***@127.0.0.1:\(server.port)/0: authentication failed"), "\(wrong)")
        #expect(!wrong.contains("wrong-password"))
        let missing = message(server.url())
        #expect(missing.hasPrefix("cannot reach Redis at redis://127.0.0.1:\(server.port)/0: authentication required"), "\(missing)")

        let port = try FreePort.find()
        let down = message("redis://:secret-pw@127.0.0.1:\(port)/0")
        #expect(down == "cannot reach Redis at redis://***@127.0.0.1:\(port)/0: connection refused (is redis-server listening on 127.0.0.1:\(port)?)")
        let tls = message("rediss://:secret-pw@127.0.0.1:\(port)/0")
        #expect(tls.contains("TLS is not supported by mcsec"))
        #expect(!tls.contains("secret-pw"))
        let badPort = message("redis://:secret-pw@127.0.0.1:70000/0")
        #expect(badPort.contains("redis://***@127.0.0.1:70000/0"))
        #expect(!badPort.contains("secret-pw"))
    }
}

/// A thread-safe counter for concurrent tests.
final class Counter: @unchecked Sendable {
    private let lock = Lock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

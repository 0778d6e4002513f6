import Foundation
import Spec
import Testing
import Reference
import Wire

/// A store that is unreachable, like Redis during an outage.
struct UnreachableStore: RateLimitStore {
    struct Down: Error {}
    func record(policy: RateLimitPolicy, client: String, now: Double) throws -> Bool { throw Down() }
}

@Suite struct SlidingWindowLimiterTests {
    @Test func documentedPolicies() {
        #expect(RateLimitPolicy.agentAuth == RateLimitPolicy(namespace: "agent_auth", maxRequests: 20, window: 60))
        #expect(RateLimitPolicy.webhookIngest == RateLimitPolicy(namespace: "webhook_ingest", maxRequests: 60, window: 60))
    }

    @Test(arguments: [RateLimitPolicy.agentAuth, .webhookIngest])
    func allowsTheLimitWithinAWindowThenRefuses(policy: RateLimitPolicy) {
        let store = MemoryRateLimitStore()
        for i in 0..<policy.maxRequests {
            let allowed = store.record(policy: policy, client: "192.0.2.1", now: 1000 + Double(i) * 0.01)
            #expect(allowed, "request \(i + 1)")
        }
        let refused = store.record(policy: policy, client: "192.0.2.1", now: 1001)
        #expect(!refused)
    }

    @Test func blockedAttemptsAreRecordedSoRetryingKeepsTheWindowClosed() {
        let store = MemoryRateLimitStore()
        let policy = RateLimitPolicy(namespace: "t", maxRequests: 2, window: 10)
        #expect(store.record(policy: policy, client: "c", now: 0))
        #expect(store.record(policy: policy, client: "c", now: 1))
        // Retrying every 4 s: without recording refusals the attempt at 12 would pass (the
        // allowed entries at 0 and 1 have expired), but the refusals at 4 and 8 keep it closed.
        for t in stride(from: 4.0, through: 40.0, by: 4.0) {
            let allowed = store.record(policy: policy, client: "c", now: t)
            #expect(!allowed, "attempt at \(t)")
        }
        // Quiet for a whole window after the last attempt (at 40).
        #expect(store.record(policy: policy, client: "c", now: 50))
    }

    @Test func theBrokenVariantLetsARetryingClientThrough() {
        let store = MemoryRateLimitStore(recordsRefusedAttempts: false)
        let policy = RateLimitPolicy(namespace: "t", maxRequests: 2, window: 10)
        _ = store.record(policy: policy, client: "c", now: 0)
        _ = store.record(policy: policy, client: "c", now: 1)
        let at4 = store.record(policy: policy, client: "c", now: 4)
        let at12 = store.record(policy: policy, client: "c", now: 12)
        #expect(!at4)
        #expect(at12)
    }

    @Test func entriesExactlyAWindowOldNoLongerCount() {
        let store = MemoryRateLimitStore()
        let policy = RateLimitPolicy(namespace: "t", maxRequests: 1, window: 60)
        #expect(store.record(policy: policy, client: "c", now: 100))
        let early = store.record(policy: policy, client: "c", now: 159.999)
        #expect(!early)
        // The refused attempt at 159.999 is the entry now; exactly a window later it is gone.
        #expect(store.record(policy: policy, client: "c", now: 219.999))
    }

    @Test func clientsAndNamespacesAreSeparate() {
        let store = MemoryRateLimitStore()
        let a = RateLimitPolicy(namespace: "agent_auth", maxRequests: 1, window: 60)
        let w = RateLimitPolicy(namespace: "webhook_ingest", maxRequests: 1, window: 60)
        #expect(store.record(policy: a, client: "192.0.2.1", now: 0))
        let again = store.record(policy: a, client: "192.0.2.1", now: 1)
        #expect(!again)
        #expect(store.record(policy: w, client: "192.0.2.1", now: 1))
        #expect(store.record(policy: a, client: "192.0.2.2", now: 1))
        #expect(store.keyCount(namespace: "agent_auth") == 2)
        #expect(store.keyCount(namespace: "webhook_ingest") == 1)
    }

    @Test func zeroLimitRefusesEverythingAndStoresNothing() {
        let store = MemoryRateLimitStore()
        let policy = RateLimitPolicy(namespace: "closed", maxRequests: 0, window: 60)
        let allowed = store.record(policy: policy, client: "c", now: 0)
        #expect(!allowed)
        #expect(store.keyCount() == 0)
    }

    @Test func idleKeysAreSweptEvery128Calls() {
        let store = MemoryRateLimitStore(stripes: 1)
        let policy = RateLimitPolicy(namespace: "t", maxRequests: 5, window: 60)
        for i in 0..<100 { _ = store.record(policy: policy, client: "10.0.0.\(i)", now: 0) }
        #expect(store.keyCount() == 100)
        // A window later, one active client keeps calling; the idle ones go at the 128th call.
        for i in 0..<27 { _ = store.record(policy: policy, client: "192.0.2.1", now: 60 + Double(i) * 0.001) }
        #expect(store.keyCount() == 101, "127 calls: no sweep yet")
        _ = store.record(policy: policy, client: "192.0.2.1", now: 61)
        #expect(store.keyCount() == 1, "128th call sweeps the 100 idle keys")
    }

    @Test func aKeyStillInsideItsWindowIsNotSwept() {
        let store = MemoryRateLimitStore(stripes: 1)
        let policy = RateLimitPolicy(namespace: "t", maxRequests: 2, window: 60)
        _ = store.record(policy: policy, client: "recent", now: 30)
        _ = store.record(policy: policy, client: "recent", now: 30)
        for i in 0..<200 { _ = store.record(policy: policy, client: "other", now: 60 + Double(i) * 0.01) }
        #expect(store.keyCount() == 2)
        // Its state survived the sweeps: still full.
        let refused = store.record(policy: policy, client: "recent", now: 89)
        #expect(!refused)
    }

    @Test func explicitSweepRemovesOnlyIdleKeys() {
        let store = MemoryRateLimitStore()
        let policy = RateLimitPolicy(namespace: "t", maxRequests: 3, window: 10)
        for i in 0..<500 { _ = store.record(policy: policy, client: "k\(i)", now: Double(i % 2) * 10) }
        store.sweep(now: 15)
        #expect(store.keyCount() == 250)
        store.sweep(now: 20)
        #expect(store.keyCount() == 0)
        #expect(store.footprintBytes > 0)
    }

    @Test func storeAgreesWithTheReferenceAlgorithmOnRandomTraffic() {
        // The store's flat layout, hashing, sweeping and slot moves must not change a single
        // decision: compare with one SlidingWindowLog per key over a long random sequence.
        // The traffic must cross the limit often, or a store that never refuses would agree:
        // most attempts come from 6 busy clients (about 5 attempts per 5 s window each, around
        // the limit of 4), the rest from 300 occasional ones whose keys go idle and are swept.
        var rng = SplitMix64(seed: 42)
        let policy = RateLimitPolicy(namespace: "t", maxRequests: 4, window: 5)
        var model = AlgorithmModel(policy: policy, store: MemoryRateLimitStore(stripes: 2))
        var now = 0.0
        for step in 0..<60_000 {
            now += Double(rng.next() % 100) / 400  // 0 … 0.25 s
            // Also some 15+ byte keys.
            let client = rng.next() % 10 < 7 ? "192.0.2.\(rng.next() % 6)" : "198.51.100.\(rng.next() % 300)"
            guard model.agrees(step: step, client: client, now: now) else { return }
        }
        #expect(model.allowed > 20_000 && model.refused > 20_000, "allowed \(model.allowed), refused \(model.refused)")
    }

    /// One `SlidingWindowLog` per key beside the store: the algorithm's answer to compare with.
    struct AlgorithmModel {
        let policy: RateLimitPolicy
        let store: MemoryRateLimitStore
        var logs: [String: SlidingWindowLog] = [:]
        /// How many attempts the algorithm allowed and refused so far.
        var allowed = 0, refused = 0

        /// Applies one attempt to both; records an issue and returns false when they differ.
        mutating func agrees(step: Int, client: String, now: Double) -> Bool {
            var log = logs[client] ?? SlidingWindowLog(maxRequests: policy.maxRequests)
            let expected = log.attempt(now: now, window: policy.window)
            logs[client] = log
            if expected { allowed += 1 } else { refused += 1 }
            let actual = store.record(policy: policy, client: client, now: now)
            if actual != expected { Issue.record("step \(step): client \(client) at \(now): store \(actual), algorithm \(expected)") }
            return actual == expected
        }
    }

    @Test(arguments: [(1, 5.0), (2, 5), (4, 5), (7, 5), (3, 0)])
    func deferredForgettingAgreesWithTheAlgorithmEvenWhenTimeStepsBack(limit: Int, window: Double) {
        // The store forgets old entries lazily (only when a key's ring is full). That must give
        // the algorithm's decisions for any order of times: repeated times, small steps back
        // (threads racing), steps back of more than a window (a clock reset), jumps forward.
        // Sweeping is off here: sweeping an idle key whose time later steps back is the one
        // place the store and a never-swept log may differ (see the initialiser).
        var rng = SplitMix64(seed: 7 &+ UInt64(limit))
        let policy = RateLimitPolicy(namespace: "t", maxRequests: limit, window: window)
        let store = MemoryRateLimitStore(stripes: 2, sweepsIdleKeys: false)
        var model = AlgorithmModel(policy: policy, store: store)
        var now = 1000.0
        var stepsBack = 0
        for step in 0..<100_000 {
            switch rng.next() % 100 {
            case 0..<20: break  // the same instant again
            case 20..<85: now += Double(rng.next() % 100) / 200  // 0 … 0.5 s
            case 85..<95: now -= Double(rng.next() % 100) / 50; stepsBack += 1  // 0 … 2 s back
            case 95..<98: now -= 5 + Double(rng.next() % 100) / 10; stepsBack += 1  // 5 … 15 s back
            default: now += 5 + Double(rng.next() % 100) / 10  // a window or more ahead
            }
            guard model.agrees(step: step, client: "192.0.2.\(rng.next() % 4)", now: now) else { return }
        }
        #expect(stepsBack > 10_000)
        #expect(store.keyCount() == 4)
    }

    @Test func largeLimitsUseSmallerPagesAndStillCountExactly() {
        let store = MemoryRateLimitStore(stripes: 1)
        let policy = RateLimitPolicy(namespace: "big", maxRequests: 5000, window: 60)
        var allowed = 0
        for i in 0..<(3 * 5100) where store.record(policy: policy, client: "c\(i % 3)", now: 0) { allowed += 1 }
        #expect(allowed == 3 * 5000)
        // 3 keys of 40 KB each: pages hold one slot, so the footprint is about 3 slots, not 64.
        #expect(store.footprintBytes < 4 * (32 + 8 * 5000) + 1024)
        store.sweep(now: 60)
        #expect(store.keyCount() == 0)
    }

    @Test func safeUnderConcurrentCallers() async {
        let store = MemoryRateLimitStore(stripes: 4)
        let policy = RateLimitPolicy(namespace: "t", maxRequests: 50, window: 1000)
        let allowedTotal = await withTaskGroup(of: Int.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var allowed = 0
                    for i in 0..<2000 where store.record(policy: policy, client: "c\(i % 40)", now: Double(task)) {
                        allowed += 1
                    }
                    return allowed
                }
            }
            return await group.reduce(0, +)
        }
        // 40 keys × 50 allowed each, exactly, however the calls interleaved.
        #expect(allowedTotal == 40 * 50)
        #expect(store.keyCount() == 40)
    }

    @Test func limiterFailsOpenAndLogsTheKeyWhenTheStoreThrows() {
        let log = ServiceLog()
        let limiter = RateLimiter(policy: .webhookIngest, store: UnreachableStore(), log: log)
        for _ in 0..<100 {
            let allowed = limiter.allow(client: "192.0.2.4", now: 0)
            #expect(allowed)
        }
        #expect(log.lines.count == 100)
        #expect(log.lines.first == "rate_limit.redis.unavailable namespace=webhook_ingest key=ratelimit:webhook_ingest:192.0.2.4")
    }

    @Test func limiterUsesItsPolicyOnTheStore() {
        let log = ServiceLog()
        let store = MemoryRateLimitStore()
        let limiter = RateLimiter(policy: .agentAuth, store: store, log: log)
        var allowed = 0
        for i in 0..<25 where limiter.allow(client: "192.0.2.4", now: Double(i)) { allowed += 1 }
        #expect(allowed == 20)
        #expect(log.lines.isEmpty)
        #expect(RateLimiter.key(namespace: "agent_auth", client: "::1") == "ratelimit:agent_auth:::1")
    }
}

@preconcurrency import Glibc
import Foundation
import Reference

/// `mcsec bench limiter`: decisions per second of the sliding-window limiter on one thread, and
/// the memory an active key costs.
enum BenchLimiter {
    static let help = """
    usage: mcsec bench limiter [--calls N] [--keys N] [--memory-keys N] [--policy agent_auth|webhook_ingest]

    Times N limiter decisions (default 1,000,000) spread pseudo-randomly over --keys client
    addresses (default 10,000) on one thread, through three paths:
      log      the SlidingWindowLog algorithm on an array of per-key values (no hashing, no lock)
      store    MemoryRateLimitStore.record (hash index, lock stripe, the real in-process store)
      limiter  RateLimiter.allow over the store (what the service calls; adds the fail-open wrapper)
    Then fills --memory-keys keys (default 200,000) to the full limit in a fresh store and
    reports the bytes per active key, both computed from the store's layout and measured as the
    growth of the process's resident memory.
    Build with -c release for meaningful figures.

    """

    static func run(_ args: [String]) throws -> Int32 {
        let parsed = try Arguments(args, valued: ["calls", "keys", "memory-keys", "policy"], switches: [])
        if parsed.wantsHelp { print(help, terminator: ""); return 0 }
        try parsed.noPositionals()
        let calls = try parsed.int("calls", default: 1_000_000, range: 1...1_000_000_000) ?? 1_000_000
        let keyCount = try parsed.int("keys", default: 10_000, range: 1...10_000_000) ?? 10_000
        let memoryKeys = try parsed.int("memory-keys", default: 200_000, range: 1...10_000_000) ?? 200_000
        let policies: [RateLimitPolicy]
        switch parsed.value("policy") {
        case nil: policies = [.agentAuth, .webhookIngest]
        case "agent_auth": policies = [.agentAuth]
        case "webhook_ingest": policies = [.webhookIngest]
        case let other?: throw UsageError("--policy expects agent_auth or webhook_ingest, got '\(other)'")
        }

        let clients = (0..<keyCount).map { "10.\(($0 >> 16) & 255).\(($0 >> 8) & 255).\($0 & 255)" }
        // A fixed pseudo-random key sequence, identical for every path.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let sequence: [Int32] = (0..<calls).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Int32(truncatingIfNeeded: state % UInt64(keyCount))
        }
        // Virtual time: the calls are spread over two windows, so keys fill, refuse and reopen.
        let start = 1_700_000_000.0

        for policy in policies {
            let step = 2 * policy.window / Double(calls)
            print("policy \(policy.namespace) (\(policy.maxRequests) per \(Int(policy.window)) s), \(calls) calls over \(keyCount) keys, one thread")

            var logs = [SlidingWindowLog](repeating: SlidingWindowLog(maxRequests: policy.maxRequests), count: keyCount)
            let logResult = time {
                var allowed = 0
                for i in 0..<calls {
                    if logs[Int(sequence[i])].attempt(now: start + Double(i) * step, window: policy.window) { allowed &+= 1 }
                }
                return allowed
            }
            report("log", calls: calls, result: logResult)

            let store = MemoryRateLimitStore()
            let storeResult = time {
                var allowed = 0
                for i in 0..<calls {
                    if store.record(policy: policy, client: clients[Int(sequence[i])], now: start + Double(i) * step) { allowed &+= 1 }
                }
                return allowed
            }
            report("store", calls: calls, result: storeResult)

            let limiter = RateLimiter(policy: policy, store: MemoryRateLimitStore(), log: ServiceLog())
            let limiterResult = time {
                var allowed = 0
                for i in 0..<calls {
                    if limiter.allow(client: clients[Int(sequence[i])], now: start + Double(i) * step) { allowed &+= 1 }
                }
                return allowed
            }
            report("limiter", calls: calls, result: limiterResult)
            if logResult.allowed != storeResult.allowed || storeResult.allowed != limiterResult.allowed {
                print("  WARNING: the paths disagree on the number of allowed calls")
            }

            // Memory: a fresh store, every key at the full limit (the most a key can hold).
            let memoryClients = (0..<memoryKeys).map { "10.\(($0 >> 16) & 255).\(($0 >> 8) & 255).\($0 & 255)" }
            let before = residentBytes()
            let filled = MemoryRateLimitStore()
            for (k, client) in memoryClients.enumerated() {
                for j in 0..<policy.maxRequests { _ = filled.record(policy: policy, client: client, now: start + Double(k &* 7 &+ j) * 1e-6) }
            }
            let after = residentBytes()
            let computed = Double(filled.footprintBytes) / Double(memoryKeys)
            let target = 64 + 8 * policy.maxRequests
            print(String(format: "  memory   %d keys held: %.1f bytes/key from the layout, %.1f bytes/key resident growth (target <= %d = 64 + 8 x %d)",
                         filled.keyCount(), computed, Double(after - before) / Double(memoryKeys), target, policy.maxRequests))
            print()
        }
        return 0
    }

    struct Result { var seconds: Double; var allowed: Int }

    static func time(_ body: () -> Int) -> Result {
        let clock = ContinuousClock()
        let t0 = clock.now
        let allowed = body()
        let elapsed = clock.now - t0
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return Result(seconds: seconds, allowed: allowed)
    }

    static func report(_ name: String, calls: Int, result: Result) {
        let rate = Double(calls) / max(result.seconds, 1e-9)
        print(String(format: "  %@ %8.2f M decisions/s  (%.1f ns each, %d allowed)", name.padding(toLength: 8, withPad: " ", startingAt: 0) as NSString, rate / 1e6, result.seconds * 1e9 / Double(calls), result.allowed))
    }

    /// Resident set size from /proc/self/statm (Linux); 0 where unavailable.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

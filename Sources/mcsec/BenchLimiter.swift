#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Reference
import Spec

/// `mcsec bench limiter`: decisions per second of the sliding-window limiter on one thread, and
/// the memory an active key costs.
enum BenchLimiter {
    static let help = CommandHelp(
        path: "bench limiter",
        about: """
        Times N limiter decisions (default 1,000,000) spread pseudo-randomly over --keys client
        addresses (default 10,000) on one thread, through three paths:
          log      the SlidingWindowLog algorithm on an array of per-key values (no hashing, no lock)
          store    MemoryRateLimitStore.record (hash index, lock stripe: the in-process store)
          limiter  RateLimiter.allow over the store (what the service calls; adds the fail-open wrapper)
        Each path runs --repeat times on a fresh store; the best and the median run are reported,
        per CPU second of the measuring thread (wall-clock rate in brackets), with the spread
        between runs. Then fills --memory-keys keys to the full limit in a fresh store and reports
        the bytes per active key, both computed from the store's layout and measured as the growth
        of the process's resident memory, against the target of 64 + 8 x limit bytes.
        Build with -c release for meaningful figures.
        """,
        options: [
            .valued("calls", "N", "decisions per run (default 1,000,000; at most 100,000,000)"),
            .valued("keys", "N", "client addresses (default 10,000; at most 1,000,000)"),
            .valued("repeat", "N", "runs of each path (default 5)"),
            .valued("memory-keys", "N", "keys filled for the memory measurement (default 200,000; at most 1,000,000)"),
            .valued("policy", "agent_auth|webhook_ingest", "only this policy (default both)"),
            .valued("paths", "LIST", "which of log, store, limiter, memory run, comma-separated (default all)"),
            .valued("json", "FILE", "also write the figures as JSON (for CI to archive and compare)", kind: .outputFile),
        ])

    static func run(_ parsed: Arguments) throws -> Int32 {
        try parsed.noPositionals()
        // Bounded so that no option value can exhaust memory: the key sequence costs 4 bytes a
        // call, and a full key up to 64 + 8 × limit bytes (about 550 MB for 1 M webhook keys).
        let calls = try parsed.int("calls", default: 1_000_000, range: 1...100_000_000) ?? 1_000_000
        let keyCount = try parsed.int("keys", default: 10_000, range: 1...1_000_000) ?? 10_000
        let repetitions = try parsed.int("repeat", default: 5, range: 1...100) ?? 5
        let memoryKeys = try parsed.int("memory-keys", default: 200_000, range: 1...1_000_000) ?? 200_000
        let policies: [RateLimitPolicy]
        switch parsed.value("policy") {
        case nil: policies = [.agentAuth, .webhookIngest]
        case "agent_auth": policies = [.agentAuth]
        case "webhook_ingest": policies = [.webhookIngest]
        case let other?: throw UsageError("--policy expects agent_auth or webhook_ingest, got '\(other)'")
        }
        let paths = Set((parsed.value("paths") ?? "log,store,limiter,memory").split(separator: ",").map(String.init))
        let known: Set<String> = ["log", "store", "limiter", "memory"]
        if let unknown = paths.subtracting(known).first {
            throw UsageError("--paths: unknown measurement '\(unknown)'; choose from log, store, limiter, memory")
        }

        let record = try BenchRecord(benchmark: "limiter", arguments: parsed.raw, path: parsed.value("json"))
        let clients = (0..<keyCount).map(address)
        // A fixed pseudo-random key sequence, identical for every path and run.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let sequence: [Int32] = (0..<calls).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Int32(truncatingIfNeeded: state % UInt64(keyCount))
        }
        // Virtual time: the calls are spread over two windows, so keys fill, refuse and reopen.
        let start = 1_700_000_000.0

        for policy in policies {
            let step = 2 * policy.window / Double(calls)
            print("policy \(policy.namespace) (\(policy.maxRequests) per \(Int(policy.window)) s), \(calls) calls over \(keyCount) keys, one thread, best of \(repetitions)")
            var allowedCounts = Set<Int>()

            if paths.contains("log") {
                let runs = (0..<repetitions).map { _ in
                    var logs = [SlidingWindowLog](repeating: SlidingWindowLog(maxRequests: policy.maxRequests), count: keyCount)
                    return time {
                        var allowed = 0
                        for i in 0..<calls where logs[Int(sequence[i])].attempt(now: start + Double(i) * step, window: policy.window) {
                            allowed &+= 1
                        }
                        return allowed
                    }
                }
                report("log", calls: calls, runs: runs, policy: policy, into: record)
                allowedCounts.formUnion(runs.map(\.allowed))
            }
            if paths.contains("store") {
                let runs = (0..<repetitions).map { _ in
                    let store = MemoryRateLimitStore()
                    return time {
                        var allowed = 0
                        for i in 0..<calls where store.record(policy: policy, client: clients[Int(sequence[i])], now: start + Double(i) * step) {
                            allowed &+= 1
                        }
                        return allowed
                    }
                }
                report("store", calls: calls, runs: runs, policy: policy, into: record)
                allowedCounts.formUnion(runs.map(\.allowed))
            }
            if paths.contains("limiter") {
                let runs = (0..<repetitions).map { _ in
                    let limiter = RateLimiter(policy: policy, store: MemoryRateLimitStore(), log: ServiceLog())
                    return time {
                        var allowed = 0
                        for i in 0..<calls where limiter.allow(client: clients[Int(sequence[i])], now: start + Double(i) * step) {
                            allowed &+= 1
                        }
                        return allowed
                    }
                }
                report("limiter", calls: calls, runs: runs, policy: policy, into: record)
                allowedCounts.formUnion(runs.map(\.allowed))
            }
            if allowedCounts.count > 1 {
                print("  WARNING: the paths disagree on the number of allowed calls: \(allowedCounts.sorted())")
            }
            if paths.contains("memory") {
                measureMemory(policy: policy, keys: memoryKeys, start: start, into: record)
            }
            print()
        }
        try record.write()
        return 0
    }

    static func address(_ n: Int) -> String { "10.\((n >> 16) & 255).\((n >> 8) & 255).\(n & 255)" }

    /// A fresh store with every key at the full limit (the most a key can hold).
    static func measureMemory(policy: RateLimitPolicy, keys: Int, start: Double, into record: BenchRecord) {
        let memoryClients = (0..<keys).map(address)
        let before = residentBytes()
        let filled = MemoryRateLimitStore()
        for (k, client) in memoryClients.enumerated() {
            for j in 0..<policy.maxRequests { _ = filled.record(policy: policy, client: client, now: start + Double(k &* 7 &+ j) * 1e-6) }
        }
        let after = residentBytes()
        let computed = Double(filled.footprintBytes) / Double(keys)
        let target = 64 + 8 * policy.maxRequests
        let resident = Double(after - before) / Double(keys)
        record.add("\(policy.namespace).memory", ("keys", .number(Double(filled.keyCount()))),
                   ("bytes_per_key_layout", .number(computed)), ("bytes_per_key_resident", .number(resident)),
                   ("target_bytes_per_key", .number(Double(target))))
        // The layout figure is exact; the resident growth is what the kernel reports and is only
        // shown beside it.
        let verdict = TargetVerdict.judge(computed, target: Double(target), atMost: true, spread: 0)
        record.add("\(policy.namespace).memory.target", ("verdict", .text(verdict.key)))
        print(String(format: "  memory   %d keys held: %.1f bytes/key from the layout, %.1f bytes/key resident growth (target <= %d = 64 + 8 x %d: %@)",
                     filled.keyCount(), computed, resident, target, policy.maxRequests, verdict.text as NSString))
        withExtendedLifetime(filled) {}
    }

    struct Result { var seconds: Double; var cpuSeconds: Double; var allowed: Int }

    /// Times `body` by the wall clock and by this thread's CPU clock. The rate is reported per
    /// CPU second (what one core does), which a busy machine disturbs much less than wall time.
    static func time(_ body: () -> Int) -> Result {
        let clock = ContinuousClock()
        let cpu0 = threadCPUSeconds()
        let t0 = clock.now
        let allowed = body()
        let elapsed = clock.now - t0
        let cpu = threadCPUSeconds() - cpu0
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return Result(seconds: seconds, cpuSeconds: cpu, allowed: allowed)
    }

    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    static func report(_ name: String, calls: Int, runs: [Result], policy: RateLimitPolicy, into record: BenchRecord) {
        let byRate = runs.sorted { $0.cpuSeconds < $1.cpuSeconds }
        func rate(_ r: Result) -> Double { Double(calls) / max(r.cpuSeconds, 1e-9) / 1e6 }
        func wall(_ r: Result) -> Double { Double(calls) / max(r.seconds, 1e-9) / 1e6 }
        let best = byRate[0], median = byRate[byRate.count / 2]
        let rounds = Rounds(runs.map(rate))
        record.add("\(policy.namespace).\(name)", ("calls", .number(Double(calls))), ("allowed", .number(Double(best.allowed))),
                   ("best_decisions_per_cpu_second", .number(rate(best) * 1e6)),
                   ("median_decisions_per_cpu_second", .number(rate(median) * 1e6)),
                   ("best_decisions_per_wall_second", .number(wall(best) * 1e6)),
                   ("spread", .number(rounds.spread)))
        print(String(format: "  %@ best %6.2f M decisions/s (%5.1f ns each) [wall %5.2f]; median %6.2f M/s [wall %5.2f]; %d allowed; %@",
                     name.padding(toLength: 8, withPad: " ", startingAt: 0) as NSString, rate(best), best.cpuSeconds * 1e9 / Double(calls),
                     wall(best), rate(median), wall(median), best.allowed, rounds.spreadText as NSString))
    }

    /// Resident set size from /proc/self/statm (Linux); 0 where unavailable.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

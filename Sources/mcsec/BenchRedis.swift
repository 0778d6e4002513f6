#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Reference
import Spec
import Synchronization
import Wire

/// `mcsec bench redis`: limiter decisions per second through a Redis server, compared with
/// `redis-benchmark`'s single-client PING rate on the same server (the round-trip ceiling for
/// one connection doing one request at a time).
enum BenchRedis {
    static let help = CommandHelp(
        path: "bench redis",
        about: """
        Measures rate-limit decisions/s through the Redis store: sequential (one connection, one
        EVALSHA per round trip, as one request thread sees it, with the latency percentiles of one
        decision: what the Redis backend adds to a request), pipelined (--batch EVALSHA per write),
        and concurrent (--threads threads through a pool of one connection and of --threads
        connections). Then runs 'redis-benchmark -c 1 -t ping' against the same server when it is
        installed and prints the ratio, with the spread between rounds ("inconclusive" when the
        spread is wider than the margin to the 0.8 target). Without --url a private redis-server is
        started on a free loopback port (no persistence) and stopped afterwards, also on Ctrl-C or
        SIGTERM, and by itself should this program die. Build with -c release.

        The keys written are ratelimit:bench_<random>:<client>; they expire by themselves after 61 s.
        The "server µs" column is EVALSHA time inside Redis (INFO commandstats): what the script costs
        the server, as opposed to the round trip. The EVALSHA of a script that only returns 1, with
        arguments of the same shape, separates the price of any script call (argument parsing, the
        Lua call) from the work of the limiter's own script. The EVALSHA of a script that only does
        ZCARD, ZADD and EXPIRE is the least an exact one-script limiter must do for a new key (read
        the count, record the attempt, set the expiry): its ratio to redis-benchmark's PING is the
        ceiling for the limiter's ratio on this machine.
        """,
        options: [
            .valued("url", "URL", "Redis to measure (default: a private redis-server)"),
            .valued("count", "N", "decisions per measurement (default 20000)"),
            .valued("batch", "N", "EVALSHA per pipelined write (default 100)"),
            .valued("threads", "N", "threads for the concurrent measurement (default 8)"),
            .valued("rounds", "N", "rounds of the sequential and PING measurements, interleaved; the best of each is reported with the spread between rounds (default 3)"),
            .valued("json", "FILE", "also write the figures as JSON (for CI to archive and compare)", kind: .outputFile),
        ])

    /// Not a limiter: the three commands an exact one-script sliding-window limiter must run for
    /// a new key (the decision needs the count; the attempt is recorded; the key must expire),
    /// with the same arguments as the limiter's script, and no logic. Its rate bounds what the
    /// limiter's script can reach on a machine.
    static let leastExactScript = """
    redis.call('ZCARD', KEYS[1])
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
    redis.call('EXPIRE', KEYS[1], ARGV[4])
    return 1
    """

    static func run(_ arguments: Arguments) throws -> Int32 {
        try arguments.noPositionals()
        let count = try arguments.int("count", default: 20_000, range: 100...10_000_000) ?? 20_000
        let batch = try arguments.int("batch", default: 100, range: 1...100_000) ?? 100
        let threads = try arguments.int("threads", default: 8, range: 1...256) ?? 8
        let rounds = try arguments.int("rounds", default: 3, range: 1...20) ?? 3
        let record = try BenchRecord(benchmark: "redis", arguments: arguments.raw, path: arguments.value("json"))

        #if DEBUG
        print("note: this is a debug build; run 'swift run -c release mcsec bench redis' for real figures")
        #endif
        var privateServer: PrivateRedisServer? = nil
        defer { privateServer?.stop() }
        // Interrupted: the private redis-server is stopped before exiting.
        let running = Mutex<PrivateRedisServer?>(nil)
        let signalSources = InterruptCleanup.install(command: "bench redis") {
            guard let server = running.withLock({ $0 }) else { return nil }
            server.stop()
            return "the redis-server it started is stopped"
        }
        defer { withExtendedLifetime(signalSources) {} }
        let urlText: String
        if let given = arguments.value("url") {
            urlText = given
        } else {
            // Known to the interrupt cleanup from the moment its process exists, not only
            // once it answers: a Ctrl-C during start-up stops it too.
            let server = try PrivateRedisServer.start { started in running.withLock { $0 = started } }
            privateServer = server
            urlText = "redis://127.0.0.1:\(server.port)/0"
            print("started redis-server \(server.version) on 127.0.0.1:\(server.port) (no persistence)")
        }
        let url: RedisURL
        do { url = try RedisURL(parsing: urlText) } catch { throw UsageError("--url: \(error)") }
        print("Redis: \(url.redacted)")

        // Generous timeout: this measures throughput, not failure detection.
        let store = try RedisRateLimitStore.connect(url: urlText, timeout: 2, maxConnections: 1)
        let namespace = "bench_\(Hex.encode((0..<4).map { _ in UInt8.random(in: 0...255) }))"
        let policy = RateLimitPolicy(namespace: namespace, maxRequests: 60, window: 60)
        let clock = SystemTimeSource()
        let admin = try RedisClient(url: url, timeout: 2)
        // A different address for every decision: each key is new (the common case, a client
        // under its limit). `hot` clients have been driven to their limit first: every decision
        // then works on a full set of 60 entries (the worst case, a client being refused).
        var serial = 0
        func freshClient() -> String {
            serial &+= 1
            return "fresh-\(serial)"
        }
        let hotClients = (0..<100).map { "hot-\($0)" }
        for client in hotClients {
            _ = try store.record((0..<60).map { _ in RedisRateLimitStore.Attempt(policy: policy, client: client, now: clock.now()) })
        }
        for _ in 0..<min(count, 2000) { _ = try store.record(policy: policy, client: freshClient(), now: clock.now()) }

        // Sequential decisions, PING and an empty script through this client and
        // redis-benchmark's PING, in interleaved rounds so that all see the same machine; best
        // of each.
        let benchmark = ExternalTool.find("redis-benchmark")
        var sequential = 0.0, ping = 0.0, empty = 0.0, leastExactRate = 0.0, pingRate: Double? = nil
        // The script's cost apart from the round trip: an EVALSHA of a script that does nothing,
        // with arguments of the same shape, through this client.
        let emptyScript = RedisScript("return 1")
        let leastExact = RedisScript(leastExactScript)
        var serverFresh = ""
        var sequentialLatencies: [Double] = []
        var roundRatios: [Double] = [], roundSequential: [Double] = []
        for round in 1...rounds {
            let before = try scriptStats(admin)
            // Each decision timed on its own as well: the latency the Redis backend adds to a
            // request, not only the rate.
            var latencies = [Double](repeating: 0, count: count)
            let rate = try measure(count) { i in
                let t0 = RedisClient.monotonicSeconds()
                _ = try store.record(policy: policy, client: freshClient(), now: clock.now())
                latencies[i] = RedisClient.monotonicSeconds() - t0
            }
            if rate > sequential {
                sequential = rate
                serverFresh = serverMicros(before, try scriptStats(admin))
                sequentialLatencies = latencies.sorted()
            }
            roundSequential.append(rate)
            let pingNow = try measure(count) { _ in _ = try admin.command(["PING"]) }
            ping = max(ping, pingNow)
            empty = max(empty, try measure(count) { _ in
                let now = clock.now()
                _ = try admin.evalsha(emptyScript, keys: ["ratelimit:\(namespace):\(freshClient())"],
                                      args: ["\(now)", "\(now - 60)", "60", "61", "\(now):00000000"])
            })
            let leastExactNow = try measure(count) { _ in
                let now = clock.now()
                _ = try admin.evalsha(leastExact, keys: ["ratelimit:\(namespace):\(freshClient())"],
                                      args: ["\(now)", "\(now - 60)", "60", "61", "\(now):00000000"])
            }
            leastExactRate = max(leastExactRate, leastExactNow)
            var line = "round \(round)/\(rounds): sequential \(format(rate))/s, PING \(format(pingNow))/s, ZCARD + ZADD + EXPIRE \(format(leastExactNow))/s"
            if let benchmark, let rate = try redisBenchmark(benchmark, url: url, ["-t", "ping", "-n", "100000"]) {
                pingRate = max(pingRate ?? 0, rate)
                roundRatios.append(rate > 0 ? (roundSequential.last ?? 0) / rate : 0)
                line += ", redis-benchmark PING \(format(rate))/s"
            }
            // One line per round as it ends: progress, and the spread a busy machine puts
            // between rounds, which the best-of figures below hide.
            print(line)
            fflush(stdout)
        }
        let middle = try scriptStats(admin)
        let sequentialHot = try measure(count) { i in
            _ = try store.record(policy: policy, client: hotClients[i % hotClients.count], now: clock.now())
        }
        let after = try scriptStats(admin)

        let pipelined = try measure(count / batch * batch, step: batch) { _ in
            let now = clock.now()
            _ = try store.record((0..<batch).map { _ in RedisRateLimitStore.Attempt(policy: policy, client: freshClient(), now: now) })
        }

        let single = RedisRateLimitStore(url: url, timeout: 2, maxConnections: 1)
        let pooled = RedisRateLimitStore(url: url, timeout: 2, maxConnections: threads)
        let oneConnection = try concurrent(store: single, threads: threads, count: count, policy: policy, prefix: "lock")
        let pool = try concurrent(store: pooled, threads: threads, count: count, policy: policy, prefix: "pool")

        print("")
        print(pad("measurement", 64) + pad("decisions/s", 13) + "server µs each")
        print(pad("sequential, new clients (1 EVALSHA per round trip)\(rounds > 1 ? ", best of \(rounds)" : "")", 64) + pad(format(sequential), 13) + serverFresh)
        let latency = [50.0, 90, 99, 100].map { micros(percentile($0, of: sequentialLatencies)) }
        print(pad("  latency of one decision in that round (µs)", 64) + "p50 \(latency[0]), p90 \(latency[1]), p99 \(latency[2]), max \(latency[3])")
        print(pad("sequential, clients at their limit (60-entry sets)", 64) + pad(format(sequentialHot), 13) + serverMicros(middle, after))
        print(pad("pipelined, new clients (\(batch) EVALSHA per write)", 64) + format(pipelined))
        print(pad("\(threads) threads, 1 connection behind a lock", 64) + format(oneConnection))
        print(pad("\(threads) threads, pool of \(threads) connections", 64) + format(pool))
        print(pad("PING through this client, sequential\(rounds > 1 ? ", best of \(rounds)" : "")", 64) + format(ping))
        print(pad("EVALSHA of 'return 1', same arguments, this client\(rounds > 1 ? ", best of \(rounds)" : "")", 64) + format(empty))
        print(pad("EVALSHA of ZCARD + ZADD + EXPIRE, this client\(rounds > 1 ? ", best of \(rounds)" : "")", 64) + format(leastExactRate))

        func rate(_ name: String, _ value: Double, _ more: [(String, BenchRecord.Value)] = []) {
            record.add(name, fields: [("decisions_per_second", .number(value))] + more)
        }
        func serverField(_ text: String) -> [(String, BenchRecord.Value)] {
            Double(text).map { [("server_us", .number($0))] } ?? []
        }
        rate("sequential.new_clients", sequential, serverField(serverFresh) + [("rounds", .number(Double(rounds)))]
             + zip(["latency_p50_us", "latency_p90_us", "latency_p99_us", "latency_max_us"], [50.0, 90, 99, 100]).map {
                 ($0.0, .number(percentile($0.1, of: sequentialLatencies) * 1e6))
             })
        rate("sequential.at_limit", sequentialHot, serverField(serverMicros(middle, after)))
        rate("pipelined.new_clients", pipelined, [("batch", .number(Double(batch)))])
        rate("concurrent.one_connection", oneConnection, [("threads", .number(Double(threads)))])
        rate("concurrent.pool", pool, [("threads", .number(Double(threads)))])
        rate("this_client.ping", ping)
        rate("this_client.evalsha_return_1", empty)
        rate("this_client.evalsha_zcard_zadd_expire", leastExactRate)
        var evalRate: Double? = nil
        if let benchmark, let sha = try admin.command(["SCRIPT", "LOAD", RedisRateLimitScript.source]).string {
            // The same script from redis-benchmark's C client, on new keys: what this machine
            // allows for one EVALSHA per round trip regardless of the client.
            let now = clock.now()
            evalRate = try redisBenchmark(benchmark, url: url, ["-n", "20000", "-r", "1000000000",
                "EVALSHA", sha, "1", "ratelimit:\(namespace):rb-__rand_int__", "\(now)", "\(now - 60)", "60", "61", "\(now):__rand_int__"])
        }
        if let pingRate { rate("redis_benchmark.ping", pingRate) }
        if let evalRate { rate("redis_benchmark.evalsha_limiter", evalRate) }
        if let pingRate {
            print(pad("redis-benchmark -c 1 -t ping (PING_MBULK)\(rounds > 1 ? ", best of \(rounds)" : "")", 64) + format(pingRate))
        }
        if let evalRate {
            print(pad("redis-benchmark -c 1 EVALSHA of the same script, new keys", 64) + format(evalRate))
        }
        print("")
        if let pingRate {
            let ratio = sequential / pingRate
            let spread = Rounds(roundRatios).spread
            let verdict = TargetVerdict.judge(ratio, target: 0.8, atMost: false, spread: spread)
            record.add("ratio.sequential_to_ping", ("ratio", .number(ratio)), ("target", .number(0.8)), ("target_met", .flag(verdict == .met)),
                       ("verdict", .text(verdict.key)), ("spread", .number(spread)))
            record.add("ratio.at_limit_to_ping", ("ratio", .number(sequentialHot / pingRate)))
            record.add("ratio.zcard_zadd_expire_to_ping", ("ratio", .number(leastExactRate / pingRate)), ("noise", .flag(leastExactRate < sequential)))
            print("sequential decisions (new clients) / redis-benchmark single-client PING = \(String(format: "%.2f", ratio))"
                  + " (target >= 0.8: \(verdict.text)\(verdict == .met || verdict == .notMet ? "; ratio " + Rounds(roundRatios).spreadText : ""))")
            print("sequential decisions (at limit)    / redis-benchmark single-client PING = \(String(format: "%.2f", sequentialHot / pingRate))")
            // No exact one-script limiter can beat this through this client; measured below the
            // limiter's own rate it is the machine's noise, not a ceiling.
            print("ZCARD + ZADD + EXPIRE, this client  / redis-benchmark single-client PING = \(String(format: "%.2f", leastExactRate / pingRate))"
                  + (leastExactRate < sequential
                     ? " (measured below the limiter's own rate: noise between rounds, not a ceiling)"
                     : " (the least an exact one-script limiter can do: its ceiling, within the spread between rounds)"))
        } else {
            print("redis-benchmark not found (or it failed); install redis-tools for the comparison")
        }
        if let evalRate {
            print("sequential decisions (new clients) / redis-benchmark EVALSHA           = \(String(format: "%.2f", sequential / evalRate))")
        }
        single.close()
        pooled.close()
        store.close()
        try record.write()
        return 0
    }

    /// Server microseconds per EVALSHA between two `scriptStats` readings.
    static func serverMicros(_ a: (calls: Double, usec: Double)?, _ b: (calls: Double, usec: Double)?) -> String {
        guard let a, let b, b.calls > a.calls else { return "" }
        return String(format: "%.1f", (b.usec - a.usec) / (b.calls - a.calls))
    }

    /// Calls and microseconds spent in EVALSHA so far, from INFO commandstats.
    static func scriptStats(_ client: RedisClient) throws -> (calls: Double, usec: Double)? {
        guard let text = try client.command(["INFO", "commandstats"]).string else { return nil }
        guard let line = text.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_evalsha:") }) else { return nil }
        var fields: [String: Double] = [:]
        for pair in line.dropFirst("cmdstat_evalsha:".count).split(separator: ",") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2, let v = Double(kv[1]) { fields[String(kv[0])] = v }
        }
        guard let calls = fields["calls"], let usec = fields["usec"] else { return nil }
        return (calls, usec)
    }

    /// The `p`-th percentile (0...100, nearest rank) of sorted values; 0 for none.
    static func percentile(_ p: Double, of sorted: [Double]) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    static func micros(_ seconds: Double) -> String { String(format: "%.1f", seconds * 1e6) }

    /// Calls per second over `count` calls (`step` calls per invocation of `body`).
    static func measure(_ count: Int, step: Int = 1, _ body: (Int) throws -> Void) throws -> Double {
        let start = RedisClient.monotonicSeconds()
        var i = 0
        while i < count {
            try body(i)
            i += step
        }
        let elapsed = RedisClient.monotonicSeconds() - start
        return Double(count) / max(elapsed, 1e-9)
    }

    static func concurrent(store: RedisRateLimitStore, threads: Int, count: Int, policy: RateLimitPolicy, prefix: String) throws -> Double {
        let perThread = max(count / threads, 1)
        let failures = ManagedFailures()
        let clock = SystemTimeSource()
        let start = RedisClient.monotonicSeconds()
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<perThread {
                do {
                    _ = try store.record(policy: policy, client: "\(prefix)-\(t)-\(i)", now: clock.now())
                } catch {
                    failures.record(error)
                }
            }
        }
        let elapsed = RedisClient.monotonicSeconds() - start
        if let error = failures.first { throw error }
        return Double(perThread * threads) / max(elapsed, 1e-9)
    }

    /// Runs `redis-benchmark -c 1 -q <arguments>` and returns its rate in requests/s (for
    /// `-t ping`, the PING_MBULK line: the RESP array form a client library sends).
    static func redisBenchmark(_ binary: String, url: RedisURL, _ arguments: [String]) throws -> Double? {
        var args = ["-h", url.host, "-p", String(url.port), "-c", "1", "-q", "--dbnum", String(url.database)]
        if let user = url.username { args += ["--user", user] }
        if let password = url.password { args += ["-a", password] }
        // Result lines look like "PING_MBULK: 14025.25 requests per second, p50=0.063 msec";
        // the progress display before them is separated by carriage returns.
        let text = try ExternalTool.output(binary, args + arguments)
        var rates: [(String, Double)] = []
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            guard let range = line.range(of: " requests per second") else { continue }
            let head = line[..<range.lowerBound]
            guard let colon = head.lastIndex(of: ":"), let rate = Double(head[head.index(after: colon)...].trimmingCharacters(in: .whitespaces)) else { continue }
            rates.append((String(head[..<colon]), rate))
        }
        return rates.first { $0.0.hasSuffix("PING_MBULK") }?.1 ?? rates.last?.1
    }

    static func pad(_ text: String, _ width: Int) -> String { BenchCommand.pad(text, width) }

    static func format(_ rate: Double) -> String { String(format: "%.0f", rate) }
}

/// The first error seen by concurrent workers.
final class ManagedFailures: @unchecked Sendable {
    private let lock = Lock()
    private var errors: [Error] = []
    func record(_ error: Error) { lock.withLock { errors.append(error) } }
    var first: Error? { lock.withLock { errors.first } }
}

/// A throwaway redis-server for the benchmark: loopback, a free port, no persistence, killed
/// afterwards (there is nothing in it worth a graceful shutdown).
///
/// It runs under a small shell watchdog whose standard input is a pipe this process holds: when
/// this process ends, however it ends (even SIGKILL), the pipe closes, the watchdog's `read`
/// returns and it kills the server, so no redis-server outlives the benchmark.
final class PrivateRedisServer: @unchecked Sendable {
    // @unchecked: `stopped` is guarded by `lock`; `version` is set before the server is
    // returned from `start`; the rest is set once.
    let port: Int
    private(set) var version: String
    private let process: ChildProcess
    private let directory: URL
    private let lock = Lock()
    private var stopped = false

    private init(port: Int, version: String, process: ChildProcess, directory: URL) {
        self.port = port
        self.version = version
        self.process = process
        self.directory = directory
    }

    /// The watchdog: starts redis-server in the background with the given arguments, waits
    /// for its own standard input to end, then kills the server and removes its (empty)
    /// directory, which nothing else removes when this process was killed outright. (No
    /// `wait` after the kill: the shell inherits a signal mask that can block SIGCHLD; the dead
    /// server is reaped by init once the shell has ended. Without persistence the server
    /// writes nothing there meanwhile.)
    static func watchdog(directory: String) -> String {
        let quoted = "'" + directory.replacingOccurrences(of: "'", with: "'\\''") + "'"
        return "\"$0\" \"$@\" </dev/null & server=$!; read -r _ignored; kill -9 $server 2>/dev/null; rm -rf -- \(quoted)"
    }

    /// Starts a server; `started` learns of it as soon as its process runs.
    static func start(started: (PrivateRedisServer) -> Void = { _ in }) throws -> PrivateRedisServer {
        guard let binary = ExternalTool.find("redis-server") else {
            throw UsageError("redis-server is not installed; install it (apt-get install redis-server) or pass --url redis://host:port/db")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mcsec-bench-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for _ in 0..<5 {
            let port = try freeLoopbackPort()
            let process = try ChildProcess(executable: URL(fileURLWithPath: "/bin/sh"), arguments: [
                "-c", watchdog(directory: directory.path), binary, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", directory.path, "--daemonize", "no", "--logfile", "",
            ], holdStandardInput: true)
            let server = PrivateRedisServer(port: port, version: "?", process: process, directory: directory)
            started(server)
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning && Date() < deadline {
                if let client = try? RedisClient(url: RedisURL(host: "127.0.0.1", port: port), timeout: 0.5),
                   let info = try? client.command(["INFO", "server"]).string {
                    let version = info.split(whereSeparator: \.isNewline)
                        .first { $0.hasPrefix("redis_version:") }.map { String($0.dropFirst("redis_version:".count)) } ?? "?"
                    server.version = version
                    return server
                }
                usleep(10_000)
            }
            server.stop(removing: false)
        }
        try? FileManager.default.removeItem(at: directory)
        throw UsageError("could not start redis-server on a free loopback port")
    }

    /// Stops the server (closing the watchdog's input makes it kill the server) and removes
    /// its directory. Safe to call more than once, from any thread.
    func stop() { stop(removing: true) }

    private func stop(removing: Bool) {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        process.closeStandardInput()
        if process.waitForExit(timeout: 5) == nil { process.send(signal: SIGKILL); process.waitForExit(timeout: 5) }
        if removing { try? FileManager.default.removeItem(at: directory) }
    }

    /// A port the kernel reports free on 127.0.0.1 (redis-server's port 0 would disable TCP).
    static func freeLoopbackPort() throws -> Int {
        let s = socket(AF_INET, Platform.streamSocket, 0)
        guard s >= 0 else { throw UsageError("cannot create a socket to find a free port") }
        defer { close(s) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(s, $0, length) == 0 && getsockname(s, $0, &length) == 0
            }
        }
        guard ok else { throw UsageError("cannot bind 127.0.0.1:0 to find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Reference
import Simulator
import Wire

/// `mcsec bench replay`: how fast a replay keeps its schedule against `mcsec serve` on this
/// machine. A ladder of constant rates, each replayed open-loop and compared with the prediction,
/// finds the highest rate whose p99 lateness stays within the budget; `wrk`'s closed-loop rate
/// on the same server, in the same run, says how much of the machine that is.
enum BenchReplay {
    static let help = CommandHelp(
        path: "bench replay",
        about: """
        Starts 'mcsec serve' (its bundled world, one worker, memory backend) on a free loopback
        port, then replays a constant-rate profile at each rate of a ladder for --seconds each,
        from --clients loopback clients (new addresses at every step, so each starts with fresh
        limiter state). By default the profile is the one this benchmark was first measured
        with: 200 clients sending signed webhooks (512-byte bodies), so that past each client's
        first 60 requests a minute the server refuses (429), as in a flood; --endpoints,
        --signatures and --clients choose another (1,000 clients over 3 s at 10,000/s stay
        under the limit: every request is accepted, verified and stored, the server's dearest
        path). For each step it prints the achieved rate, lateness
        percentiles (actual minus scheduled send time), the events that waited for a free slot or
        for their client's previous answer, divergences from the prediction, and the CPU the
        replayer and the server used. The ladder stops after two steps in a row over the p99
        budget. Then runs wrk (when installed) against the same server, closed-loop, for its
        ceiling on the same machine. Targets: p99 lateness <= 1 ms at 10,000 requests/s, and a
        highest rate within a 10 ms p99 of at least 40,000 requests/s.
        """,
        options: [
            .valued("rates", "LIST", "requests/s of the ladder, comma-separated (default 5000,10000,20000,30000,40000,50000,60000,80000)"),
            .valued("seconds", "S", "length of each step (default 3)"),
            .valued("clients", "N", "loopback clients per step (default 200)"),
            .valued("endpoints", "MIX", "endpoint weights, like webhook=3,agent_auth=1 (default webhook only)"),
            .valued("signatures", "MIX", "webhook signature modes, like valid=8,missing=1,invalid=1 (default valid)"),
            .valued("concurrency", "N", "requests in flight at most (default 256)"),
            .valued("threads", "N", "sending threads (default 1)"),
            .valued("p99-budget", "MS", "p99 lateness a rate must keep to count as sustained (default 10)"),
            .flag("no-wrk", "do not run wrk"),
            .valued("json", "FILE", "also write the figures as JSON (for CI to archive and compare)", kind: .outputFile),
        ])

    struct Step {
        var rate: Double
        var events: Int
        var achieved: Double
        var p50: Double
        var p99: Double
        var max: Double
        /// p99 of the time from sending a request to reading its answer.
        var answerP99: Double
        var waitedForSlot: Int
        var waitedForClient: Int
        var divergences: Int
        /// Share of the events the prediction has refused (429).
        var refused: Double
        var failures: Int
        var replayerCPU: Double
        var serverCPU: Double
        var elapsed: Double
        /// Share of the machine's CPU time the hypervisor gave to others during the step (steal),
        /// nil where /proc/stat does not tell.
        var steal: Double?
        /// The first divergences or failures, as the comparison lists them.
        var firstProblems: [String] = []
    }

    static func run(_ parsed: Arguments) throws -> Int32 {
        try parsed.noPositionals()
        let rates = try (parsed.value("rates") ?? "5000,10000,20000,30000,40000,50000,60000,80000")
            .split(separator: ",", omittingEmptySubsequences: false).map { text -> Double in
                guard let rate = Double(text.trimmingASCIIWhitespace()), rate > 0, rate <= 1_000_000 else {
                    throw UsageError("--rates: '\(text)' is not a rate in (0, 1000000] requests/s")
                }
                return rate
            }
        let seconds = try parsed.double("seconds", default: 3) ?? 3
        guard seconds > 0 && seconds <= 60 else { throw UsageError("--seconds must be in (0, 60]") }
        let clients = try parsed.int("clients", default: 200, range: 1...30_000) ?? 200
        var mix = StreamSpec(name: "replay", arrivals: Arrivals(shape: .constant(rate: 1)))
        try ProfileCommand.applyMixes(parsed, to: &mix)
        let concurrency = try parsed.int("concurrency", default: 256, range: 1...65_536) ?? 256
        let threads = try parsed.int("threads", default: 1, range: 1...64) ?? 1
        let budget = (try parsed.double("p99-budget", default: 10) ?? 10) / 1000
        guard budget > 0 else { throw UsageError("--p99-budget must be above 0 ms") }
        guard rates.count <= 200 else { throw UsageError("--rates: at most 200 steps") }
        let record = try BenchRecord(benchmark: "replay", arguments: parsed.raw, path: parsed.value("json"))

        let (server, port) = try BenchCommand.startServe()
        defer { _ = server.terminate() }
        let target = try ReplayTarget.reference(baseURL: "http://127.0.0.1:\(port)")
        print("replay ladder against mcsec serve (pid \(server.pid), 127.0.0.1:\(port)): \(BenchSimulate.JSONNumber.text(seconds)) s per step, \(clients) clients, at most \(concurrency) in flight, \(threads) sending thread\(threads == 1 ? "" : "s"), \(EventBackend.platformDefault) readiness")
        print("load average before: \(loadAverage()) on \(ProcessInfo.processInfo.activeProcessorCount) cores")
        print(BenchCommand.pad("rate/s", 9) + BenchCommand.pad("achieved", 10) + BenchCommand.pad("p50 ms", 9) + BenchCommand.pad("p99 ms", 9)
              + BenchCommand.pad("max ms", 9) + BenchCommand.pad("ans p99", 9) + BenchCommand.pad("slot", 7) + BenchCommand.pad("client", 8) + BenchCommand.pad("diverge", 8)
              + BenchCommand.pad("failed", 7) + BenchCommand.pad("429", 6) + BenchCommand.pad("replayer", 9) + BenchCommand.pad("server", 7) + "steal")

        var steps: [Step] = []
        var overBudget = 0
        for (index, rate) in rates.enumerated() {
            let step = try replayStep(rate: rate, seconds: seconds, clients: clients, mix: mix, block: index, concurrency: concurrency,
                                      threads: threads, target: target, serverPID: server.pid)
            steps.append(step)
            print(BenchCommand.pad(BenchSimulate.JSONNumber.text(rate), 9) + BenchCommand.pad(String(format: "%.0f", step.achieved), 10)
                  + BenchCommand.pad(String(format: "%.3f", step.p50 * 1000), 9) + BenchCommand.pad(String(format: "%.3f", step.p99 * 1000), 9)
                  + BenchCommand.pad(String(format: "%.1f", step.max * 1000), 9) + BenchCommand.pad(String(format: "%.3f", step.answerP99 * 1000), 9)
                  + BenchCommand.pad(String(step.waitedForSlot), 7)
                  + BenchCommand.pad(String(step.waitedForClient), 8) + BenchCommand.pad(String(step.divergences), 8)
                  + BenchCommand.pad(String(step.failures), 7) + BenchCommand.pad(String(format: "%.0f%%", step.refused * 100), 6) + BenchCommand.pad(String(format: "%.0f%%", step.replayerCPU / step.elapsed * 100), 9)
                  + BenchCommand.pad(String(format: "%.0f%%", step.serverCPU / step.elapsed * 100), 7)
                  + (step.steal.map { String(format: "%.0f%%", $0 * 100) } ?? "?"))
            record.add("step.\(index + 1)", ("requests_per_second", .number(rate)), ("events", .number(Double(step.events))),
                       ("achieved_requests_per_second", .number(step.achieved)), ("lateness_p50_ms", .number(step.p50 * 1000)),
                       ("lateness_p99_ms", .number(step.p99 * 1000)), ("lateness_max_ms", .number(step.max * 1000)),
                       ("answer_time_p99_ms", .number(step.answerP99 * 1000)),
                       ("waited_for_slot", .number(Double(step.waitedForSlot))), ("waited_for_client", .number(Double(step.waitedForClient))),
                       ("divergences", .number(Double(step.divergences))), ("failures", .number(Double(step.failures))),
                       ("refused_share", .number(step.refused)),
                       ("replayer_cpu_seconds", .number(step.replayerCPU)), ("server_cpu_seconds", .number(step.serverCPU)),
                       ("steal_share", .number(step.steal ?? -1)))
            for problem in step.firstProblems { print("    " + problem) }
            overBudget = sustained(step, budget: budget) ? 0 : overBudget + 1
            if overBudget == 2 { break }
            guard server.isRunning else { throw UsageError("mcsec serve exited during the ladder: \(server.stderrTail(2000))") }
        }
        print("load average after: \(loadAverage())")
        print("columns: ans p99 = p99 of request sent to answer read; slot = events that waited for one of the \(concurrency) requests in flight; client = events held behind their client's unanswered request; 429 = share the prediction refuses; CPU as a share of one core; steal = share of the machine's CPU time the hypervisor ran something else (a virtual machine's cores stalled: answers and sends wait, whatever the program does)")

        // The two targets.
        let best = steps.filter { sustained($0, budget: budget) }.map(\.rate).max()
        if let at10k = steps.first(where: { $0.rate == 10_000 }) {
            let met = at10k.p99 <= 0.001 && at10k.divergences == 0 && at10k.failures == 0
            print(String(format: "at 10,000 requests/s: p99 lateness %.3f ms, %d divergences (target p99 <= 1 ms: %@)", at10k.p99 * 1000, at10k.divergences, met ? "met" : "NOT met"))
            record.add("target.10k", ("lateness_p99_ms", .number(at10k.p99 * 1000)), ("met", .flag(met)))
        }
        let budgetText = String(format: "%g ms", budget * 1000)
        if let best {
            print("highest rate sustained (p99 lateness <= \(budgetText), achieved >= 99% of the rate, 0 divergences, 0 failures): \(BenchSimulate.JSONNumber.text(best)) requests/s (target >= 40,000: \(best >= 40_000 ? "met" : "NOT met"))")
        } else {
            print("no rate of the ladder was sustained within p99 <= \(budgetText)")
        }
        record.add("sustained", ("requests_per_second", .number(best ?? 0)), ("p99_budget_ms", .number(budget * 1000)),
                   ("met_40k", .flag((best ?? 0) >= 40_000)))
        print("(one round per step: no spread between rounds is known; rerun to see how the figures move)")

        if !parsed.flag("no-wrk") {
            if let wrk = ExternalTool.find("wrk") {
                // Closed loop: as many requests as the server answers, 32 connections, the same server.
                let health = wrkRate(wrk, url: "http://127.0.0.1:\(port)/healthz", headers: [])
                var agent: (rate: Double, p99: Double?)? = nil
                if let token = target.agentToken {
                    agent = wrkRate(wrk, url: "http://127.0.0.1:\(port)\(target.agentPath)", headers: ["X-Agent-Token: \(token)"])
                }
                let text = { (figure: (rate: Double, p99: Double?)?) in
                    figure.map { String(format: "%.0f requests/s", $0.rate) + ($0.p99.map { String(format: " (p99 latency %.2f ms)", $0) } ?? "") } ?? "no figure (wrk failed)"
                }
                print("wrk -t2 -c32 -d3s (closed loop, same server, same machine): /healthz \(text(health)); \(target.agentPath) with a valid token (from one address: mostly 429 after the limit) \(text(agent))")
                record.add("wrk", ("healthz_requests_per_second", .number(health?.rate ?? 0)), ("healthz_p99_ms", .number(health?.p99 ?? -1)),
                           ("agent_requests_per_second", .number(agent?.rate ?? 0)), ("agent_p99_ms", .number(agent?.p99 ?? -1)))
            } else {
                print("wrk is not installed: no closed-loop figure to compare with (Debian package wrk)")
            }
        }
        print("load average at the end: \(loadAverage())")
        try record.write()
        return 0
    }

    /// Sustained: on schedule within the budget, the whole rate achieved, and every answer as predicted.
    static func sustained(_ step: Step, budget: Double) -> Bool {
        step.p99 <= budget && step.achieved >= step.rate * 0.99 && step.divergences == 0 && step.failures == 0
    }

    /// One rung: a constant-rate profile from clients of their own address block, replayed and compared.
    static func replayStep(rate: Double, seconds: Double, clients: Int, mix: StreamSpec, block: Int, concurrency: Int, threads: Int,
                           target: ReplayTarget, serverPID: Int32) throws -> Step {
        var stream = mix
        stream.arrivals = Arrivals(shape: .constant(rate: rate))
        // 127.(32 + block).0.1 upwards: a block of addresses per step, never reused.
        stream.clients = .uniform(count: clients, firstAddress: "127.\(32 + block % 200).0.1")
        stream.bodyBytes = .fixed(512)
        let profile = try ProfileGenerator.profile(spec: ProfileSpec(seed: UInt64(block + 1), duration: seconds, streams: [stream]))
        // Addresses the profile cannot use as they are (x.y.z.0, x.y.z.255) get spares from a block
        // of the step's own too.
        let (sent, sources) = try ReplaySources.asSent(profile, mode: .loopback, spare: "127.\(32 + block % 200).128.1")
        var options = Replayer.Options()
        options.concurrency = concurrency
        options.threads = threads
        let replayer = try Replayer(profile: sent, sources: sources, target: target, options: options)
        let cpuBefore = BenchSimulate.cpuTime(), serverBefore = childCPUSeconds(serverPID), ticksBefore = cpuTicks()
        let result = try replayer.run()
        let cpu = BenchSimulate.cpuTime() - cpuBefore, serverCPU = (childCPUSeconds(serverPID) ?? 0) - (serverBefore ?? 0)
        var steal: Double? = nil
        if let before = ticksBefore, let after = cpuTicks(), after.total > before.total {
            steal = Double(after.steal - before.steal) / Double(after.total - before.total)
        }
        let comparison = StatusComparison(profile: sent, observations: result.observations, deployment: Deployment(), origin: 0)
        // The rate requests went out at: from the first send to the last (a replay that falls
        // behind sends its last requests late, and its rate drops below the schedule's).
        let sends = result.observations.filter { $0.index >= 0 }.map(\.sentAt)
        let span = (sends.max() ?? 0) - (sends.min() ?? 0)
        let achieved = sends.count > 1 && span > 0 ? Double(sends.count - 1) / span : 0
        return Step(rate: rate, events: profile.count, achieved: achieved, p50: result.latenessPercentile(50), p99: result.latenessPercentile(99),
                    max: result.latenessPercentile(100), answerP99: result.answerTimePercentile(99), waitedForSlot: result.waitedForSender, waitedForClient: result.waitedForClient,
                    divergences: comparison.divergences.count,
                    refused: Double(comparison.expected.filter { $0 == 429 }.count) / Double(max(1, profile.count)), failures: comparison.failures.count, replayerCPU: cpu, serverCPU: serverCPU,
                    elapsed: max(result.elapsed, 1e-9), steal: steal,
                    firstProblems: Array(comparison.text().split(separator: "\n").dropFirst().prefix(6).map(String.init)))
    }

    /// `wrk`'s Requests/sec over 3 s and its p99 latency (ms), or nil when it fails or says
    /// nothing parseable.
    static func wrkRate(_ wrk: String, url: String, headers: [String]) -> (rate: Double, p99: Double?)? {
        var arguments = ["-t2", "-c32", "-d3s", "--latency"]
        for header in headers { arguments += ["-H", header] }
        guard let output = try? ExternalTool.output(wrk, arguments + [url]) else { return nil }
        var rate: Double? = nil, p99: Double? = nil
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ")
            if line.hasPrefix("Requests/sec:") { rate = Double(line.dropFirst("Requests/sec:".count).trimmingASCIIWhitespace()) }
            // "     99%    1.25ms" (us, ms or s).
            if words.count == 2, words[0] == "99%" { p99 = milliseconds(String(words[1])) }
        }
        return rate.map { ($0, p99) }
    }

    static func milliseconds(_ text: String) -> Double? {
        for (unit, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(unit) {
            return Double(text.dropLast(unit.count)).map { $0 * scale }
        }
        return nil
    }

    /// Another process's user + system CPU seconds (Linux's /proc; nil elsewhere).
    static func childCPUSeconds(_ pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // Fields after the command name: state is field 3; utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// All CPU time of the machine and the part stolen by the hypervisor, in ticks (Linux's
    /// /proc/stat "cpu" line: user nice system idle iowait irq softirq steal ...).
    static func cpuTicks() -> (total: Int, steal: Int)? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let fields = line.split(separator: " ").dropFirst().compactMap { Int($0) }
        guard fields.count >= 8 else { return nil }
        return (fields.prefix(8).reduce(0, +), fields[7])
    }

    /// The load averages as printed ("unknown" where the system does not tell).
    static func loadAverage() -> String {
        let values = BenchRecord.loadAverage()
        return values.isEmpty ? "unknown" : values.map { String(format: "%.2f", $0) }.joined(separator: " ")
    }
}

import Foundation
import Harness
import Reference
import ReferenceTargets
import Synchronization
import Wire

/// `mcsec bench check`: how long the whole conformance suite takes in-process and over HTTP
/// against `mcsec serve` on loopback (fixtures that need real waits are skipped, so waits are
/// excluded).
enum BenchCheck {
    static let help = CommandHelp(
        path: "bench check",
        about: """
        Runs every fixture against the in-process reference N times (default 5) and against
        'mcsec serve' started on 127.0.0.1 (at most 3 times, servers started fresh each time and
        their start-up included), and prints the best and median wall time of each with the
        spread between runs and the number of fixtures and requests. Targets: in-process under
        2 s, over HTTP under 20 s ("inconclusive" when the spread is wider than the margin).
        Ctrl-C or SIGTERM stops the servers it started before exiting. Build with -c release
        for meaningful figures.
        """,
        options: [
            .valued("runs", "N", "in-process runs (default 5; over HTTP at most 3)"),
            .flag("skip-http", "measure in-process only"),
            .valued("json", "FILE", "also write the figures as JSON (for CI to archive and compare)", kind: .outputFile),
        ])

    static func run(_ parsed: Arguments) throws -> Int32 {
        try parsed.noPositionals()
        let runs = try parsed.int("runs", default: 5, range: 1...100) ?? 5
        let record = try BenchRecord(benchmark: "check", arguments: parsed.raw, path: parsed.value("json"))
        let suite: Suite
        do { suite = try Suite.load(fixturesDirectory: BundledData.fixturesDirectory) } catch let e as InputError {
            throw UsageError("\(e)")
        }
        let world: World
        do { world = try World.bundled() } catch { throw UsageError("cannot load the world: \(error)") }

        var inProcess: [Double] = []
        var last: RunReport? = nil
        for _ in 0..<runs {
            let report = try Runner(suite: suite, target: ReferenceTarget.inProcess(world: world)).run()
            inProcess.append(report.seconds)
            last = report
        }
        if let last {
            print(line("in-process", last, inProcess, target: 2))
            add("in_process", last, inProcess, target: 2, to: record)
        }

        if !parsed.flag("skip-http") {
            guard let binary = CheckCommand.selfExecutable() else {
                throw UsageError("cannot find this program's own executable to start 'mcsec serve'")
            }
            var overHTTP: [Double] = []
            var lastHTTP: RunReport? = nil
            // Interrupted: the servers of the run in progress are stopped before exiting.
            let running = Mutex<SpawnedReferenceTarget?>(nil)
            let signalSources = InterruptCleanup.install(command: "bench check") {
                guard let target = running.withLock({ $0 }) else { return nil }
                target.close()
                return "the mcsec serve processes it started are stopped"
            }
            defer { withExtendedLifetime(signalSources) {} }
            for _ in 0..<min(runs, 3) {
                let started = Date()
                let target = SpawnedReferenceTarget(executable: binary, world: world)
                running.withLock { $0 = target }
                defer {
                    running.withLock { $0 = nil }
                    target.close()
                }
                let report = try Runner(suite: suite, target: target).run()
                overHTTP.append(Date().timeIntervalSince(started))
                lastHTTP = report
            }
            if let lastHTTP {
                print(line("over HTTP (spawned mcsec serve)", lastHTTP, overHTTP, target: 20))
                add("over_http", lastHTTP, overHTTP, target: 20, to: record)
            }
        }
        try record.write()
        return 0
    }

    static func add(_ name: String, _ report: RunReport, _ times: [Double], target: Double, to record: BenchRecord) {
        let sorted = times.sorted()
        let c = report.counts
        record.add(name, ("passed", .number(Double(c.passed))), ("failed", .number(Double(c.failed))), ("deviations", .number(Double(c.deviations))),
                   ("skipped", .number(Double(c.skipped))), ("informational", .number(Double(c.informational))),
                   ("requests", .number(Double(report.requests))), ("runs", .number(Double(times.count))),
                   ("best_seconds", .number(sorted.first ?? 0)), ("median_seconds", .number(sorted[sorted.count / 2])),
                   ("spread", .number(Rounds(times).spread)), ("target_seconds", .number(target)),
                   ("target", .text(verdict(times, target: target).key)))
    }

    static func line(_ name: String, _ report: RunReport, _ times: [Double], target: Double) -> String {
        let sorted = times.sorted()
        let best = sorted.first ?? 0
        let median = sorted[sorted.count / 2]
        let c = report.counts
        let total = c.passed + c.failed + c.deviations + c.skipped + c.informational
        return String(format: "%@: %d results (%d passed, %d failed, %d skipped, %d informational), %d requests: best %.3f s, median %.3f s, %@ (target < %.0f s: %@)",
                      name, total, c.passed, c.failed, c.skipped, c.informational, report.requests, best, median,
                      Rounds(times).spreadText, target, verdict(times, target: target).text)
    }

    /// The median against the target, with the spread between runs as its uncertainty.
    static func verdict(_ times: [Double], target: Double) -> TargetVerdict {
        let rounds = Rounds(times)
        return TargetVerdict.judge(rounds.median, target: target, atMost: true, spread: rounds.spread)
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Reference
import Simulator
import Synchronization
import Wire

/// `mcsec replay`: sends a profile to a live server on schedule and compares every answer with
/// the prediction for the declared deployment.
enum ReplayCommand {
    static let help = CommandHelp(
        path: "replay",
        about: """
        Sends every event at its scheduled time from the start (an open model: a slow answer does
        not hold back the next event), with at most N requests in flight, and records the status
        of each. Sending runs on an event loop (one thread keeps every connection), so the rate
        is bounded by the machine and the server, not by threads. Then predicts, for the
        deployment the target declares (or the options give), what a conforming server answers
        at the times the requests were actually sent, and lists every divergence (event,
        expected, actual). Prints lateness percentiles (actual minus scheduled send time) and
        how many events started late because N requests were already in flight. A progress line
        is shown on a terminal.

        The target is probed before the schedule starts (unreachable: exit 2 at once). When
        requests fail and none is answered for --timeout seconds, the replay stops. Ctrl-C (or
        SIGTERM) stops it too and prints what was found so far; a second Ctrl-C exits at once.

        A profile file over 256 MiB (or any, with --stream) is read as it is sent, and each
        event's outcome is kept on disk until it is compared: replaying 10 million events takes
        no more memory than replaying 1 million.
        """,
        options: [
            .valued("profile", "FILE", "the load profile to send (required)", kind: .inputFile),
            .valued("target", "URL", "the server (default: the target file's baseURL, else http://127.0.0.1:8000)"),
            .valued("target-file", "FILE", "ids, secrets, token and declared configuration (Fixtures/targets/README.md; default: the reference's seeded world, as 'mcsec serve' has)", kind: .inputFile),
            .valued("concurrency", "N", "requests in flight at most (default 256)"),
            .valued("threads", "N", "sending threads, each an event loop over its share of the clients (default 1; more only helps when one thread is busy all the time)"),
            .valued("sources", "MODE", "loopback (default): each client sends from its own 127.x.y.z address (profile addresses that are not loopback are mapped one to one onto 127.1.0.1 upwards); forwarded: each client's address goes in X-Forwarded-For (the target must trust this host as a proxy)"),
            .valued("timeout", "S", "seconds without progress before a request fails, and without any answer before the replay stops (default 5)"),
            .flag("no-client-order", "send a client's request even while its previous one is unanswered (by default it waits: two requests of one client in flight reach the limiter in an undetermined order, which no prediction can match)"),
            .valued("out-dir", "DIR", "write replay.csv (every event: scheduled, sent, lateness, expected, actual) and the simulate reports of the run", kind: .outputDirectory),
            .flag("stream", "read the profile as it is sent and keep each event's outcome on disk (in the system's temporary directory) instead of in memory, so memory does not grow with the events; automatic for files over 256 MiB. replay.csv then lists the events sent, in send order, and percentiles are given to within 0.1 %"),
            .flag("in-memory", "hold the profile and the outcomes in memory even for a large file"),
        ] + SimulateCommand.deploymentOptionSpecs,
        footer: "Exit status: 0 the server answered as predicted; 1 a divergence or a failed request; 2 bad input or an unreachable target; 130 interrupted (after the partial summary).")

    /// Profile files larger than this are replayed as they are read even without --stream.
    static let streamingThreshold: UInt64 = 256 << 20

    /// What both ways of replaying share: the target, the options, where the load goes.
    struct Setup {
        var target: ReplayTarget
        var options: Replayer.Options
        var endpoint: (scheme: String, host: String, port: Int, prefix: String)
    }

    static func run(_ a: Arguments) throws -> Int32 {
        try a.noPositionals()
        guard let profilePath = a.value("profile") else { throw UsageError("--profile FILE is required (see 'mcsec help replay')") }
        let setup = try self.setup(a)
        if try SimulateCommand.streams(profilePath, a, threshold: streamingThreshold) { return try runStreamed(a, profilePath: profilePath, setup: setup) }
        var options = setup.options
        let target = setup.target
        let original = try ProfileReader.read(path: profilePath)
        guard !original.isEmpty else { throw UsageError("\(profilePath) holds no events") }

        // The profile as the server sees it, and the deployment it is predicted for.
        let (profile, sources) = try ReplaySources.asSent(original, mode: options.sources)
        let deployment = try SimulateCommand.deploymentsFromOptions(a, profile: profile, base: try declared(target, options.sources, sources))[0]
        // Requests of one client (as the limiter keys it) are kept in order.
        options.orderKeys = Simulation.resolveKeys(profile, trustProxyHeaders: deployment.trustProxyHeaders).0

        let replayer: Replayer
        do {
            replayer = try Replayer(profile: profile, sources: sources, target: target, options: options)
        } catch {
            throw UsageError("\(error)")
        }
        try probe(setup)
        announce(a, setup, events: profile.count, duration: profile.duration, deployment: deployment, streamed: false)
        let (interruption, signals) = interruptible()
        let result = try withExtendedLifetime(signals) { try replayer.run(progress: progressLine(setup), stop: interruption.stop) }
        if isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("\n".utf8)) }

        let comparison = StatusComparison(profile: profile, observations: result.observations, deployment: deployment, origin: 0)
        var out = ""
        if let reason = result.stoppedEarly {
            out += "replay stopped early (\(reason)): \(result.sent) of \(profile.count) events sent; partial summary\n"
        }
        out += summary(profilePath, sent: result.sent, elapsed: result.elapsed, lateness: result.latenessLine, answerTime: result.answerTimeLine,
                       waitedForSender: result.waitedForSender, waitedForClient: result.waitedForClient, options: options, deployment: deployment)
        out += comparison.text()
        print(out, terminator: "")
        if let dir = a.value("out-dir") {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let sink = try ByteSink(path: (dir as NSString).appendingPathComponent("replay.csv"))
            try sink.write(ReplayCSV.header)
            for i in 0..<profile.count {
                let o = result.observations[i]
                try sink.write(ReplayCSV.row(index: i, scheduled: profile.times[i], sentAt: o.index < 0 ? nil : o.sentAt,
                                             lateness: result.lateness[i].isNaN ? nil : result.lateness[i],
                                             client: original.clients[Int(original.clientIDs[i])],
                                             source: sources.isEmpty ? "" : sources[Int(profile.clientIDs[i])], kind: profile.kinds[i],
                                             expected: comparison.expected[i], actual: o.status, error: o.error))
            }
            try sink.close()
            let report = SimulationReport(profileName: profilePath, profile: profile, predictions: [Simulation.predict(profile, deployment: deployment)])
            VersionStamp.files(try report.writeAll(to: dir))
        }
        return exitStatus(stoppedEarly: result.stoppedEarly, interrupted: interruption.signal.load(ordering: .relaxed),
                          agrees: comparison.divergences.isEmpty && comparison.failures.isEmpty)
    }

    /// The file read as it is sent; outcomes spooled to disk, then compared in send order.
    static func runStreamed(_ a: Arguments, profilePath: String, setup: Setup) throws -> Int32 {
        let target = setup.target
        let options = setup.options
        let file = try ReplayFile.scan(path: profilePath, mode: options.sources)
        guard file.events > 0 else { throw UsageError("\(profilePath) holds no events") }
        let deployment = try SimulateCommand.deploymentsFromOptions(a, profileDuration: file.duration,
                                                                    base: try declared(target, options.sources, file.sources))[0]
        let replayer: Replayer
        do {
            replayer = try Replayer(file: file, trustProxyHeaders: deployment.trustProxyHeaders, target: target, options: options)
        } catch {
            throw UsageError("\(error)")
        }
        try probe(setup)
        let spool = try ReplaySpool()
        defer { spool.remove() }
        announce(a, setup, events: file.events, duration: file.duration, deployment: deployment, streamed: true)
        let (interruption, signals) = interruptible(spool: spool)
        let result = try withExtendedLifetime(signals) { try replayer.runStreamed(spool: spool, progress: progressLine(setup), stop: interruption.stop) }
        if isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("\n".utf8)) }

        var csv: ByteSink?
        if let dir = a.value("out-dir") {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            csv = try ByteSink(path: (dir as NSString).appendingPathComponent("replay.csv"))
        }
        let comparison = try StreamedComparison.compare(spool: spool, tables: file.sent, originalClients: file.original.clients,
                                                        sources: file.sources, events: file.events, deployment: deployment, csv: csv)
        try csv?.close()
        var out = ""
        if let reason = result.stoppedEarly {
            out += "replay stopped early (\(reason)): \(result.sent) of \(file.events) events sent; partial summary\n"
        }
        out += summary(profilePath, sent: result.sent, elapsed: result.elapsed, lateness: result.latenessLine, answerTime: result.answerTimeLine,
                       waitedForSender: result.waitedForSender, waitedForClient: result.waitedForClient, options: options, deployment: deployment)
        out += "  (read as sent, outcomes kept on disk: percentiles to within 0.1 %)\n"
        out += comparison.text()
        print(out, terminator: "")
        if let dir = a.value("out-dir") {
            // The simulate reports of the profile at its scheduled times, streamed as well.
            var events = try file.asSentEvents()
            let report = try SimulateCommand.stream(&events, name: profilePath, deployments: [deployment], csvToStandardOutput: false, outDir: dir)
            var written = try report.writeAll(to: dir)
            written.insert((dir as NSString).appendingPathComponent("predictions.csv"), at: min(2, written.count))
            VersionStamp.files(written)
        }
        return exitStatus(stoppedEarly: result.stoppedEarly, interrupted: interruption.signal.load(ordering: .relaxed),
                          agrees: comparison.divergenceCount == 0 && comparison.failureCount == 0)
    }

    static func setup(_ a: Arguments) throws -> Setup {
        let target: ReplayTarget
        do {
            target = try ReplayTarget.load(targetFile: a.value("target-file"), baseURL: a.value("target"))
        } catch let error as TargetError {
            throw UsageError("\(error)")
        }
        var options = Replayer.Options()
        options.concurrency = try a.int("concurrency", default: 256, range: 1...65_536) ?? 256
        options.threads = try a.int("threads", default: 1, range: 1...64) ?? 1
        options.timeout = try a.double("timeout", default: 5) ?? 5
        options.clientOrder = !a.flag("no-client-order")
        guard options.timeout > 0 && options.timeout <= 600 else { throw UsageError("--timeout must be between 0 and 600 seconds") }
        let endpoint: (scheme: String, host: String, port: Int, prefix: String)
        do { endpoint = try target.endpoint() } catch { throw UsageError("--target: \(error)") }
        guard endpoint.scheme == "http" else {
            throw UsageError("--target \(target.baseURL): replay sends over plain http:// (it chooses source addresses and framing), not \(endpoint.scheme)://")
        }
        let host = endpoint.host
        let onLoopback = host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
        switch a.value("sources") ?? "loopback" {
        case "loopback":
            guard onLoopback else {
                throw UsageError("the target \(target.baseURL) is not on loopback, so clients cannot send from their own 127.x addresses; use --sources forwarded (the target must trust this host as a proxy)")
            }
            options.sources = .loopback
        case "forwarded": options.sources = .forwarded(header: "X-Forwarded-For")
        case let other: throw UsageError("--sources expects loopback or forwarded, got '\(other)'")
        }
        return Setup(target: target, options: options, endpoint: endpoint)
    }

    /// The deployment the target declares, trusting proxy headers when the clients' source
    /// addresses are its trusted proxies (or the clients travel in a proxy header).
    static func declared(_ target: ReplayTarget, _ mode: SourceMode, _ sources: [String]) throws -> Deployment {
        var declared = Deployment(workers: target.declaredWorkers, backend: target.declaredBackend)
        declared.maxPayloadBytes = target.declaredMaxPayloadBytes
        switch mode {
        case .forwarded:
            declared.trustProxyHeaders = true
        case .loopback:
            let covered = sources.filter { target.declaredTrustedProxies.contains($0) }.count
            if covered > 0 && covered < sources.count {
                throw UsageError("the target's TRUSTED_PROXIES covers \(covered) of the \(sources.count) source addresses; the prediction needs all or none")
            }
            declared.trustProxyHeaders = covered > 0
        }
        return declared
    }

    /// Up front: an unreachable target is exit 2 now, not a schedule of failures.
    static func probe(_ setup: Setup) throws {
        do {
            let probe = try RawHTTPConnection(host: setup.endpoint.host, port: setup.endpoint.port, timeout: setup.options.timeout)
            probe.close()
        } catch {
            throw UsageError("cannot reach the target \(setup.target.baseURL): \(error)")
        }
    }

    /// The first line says where the load goes, and that it is the default when it is.
    static func announce(_ a: Arguments, _ setup: Setup, events: Int, duration: Double, deployment: Deployment, streamed: Bool) {
        let defaulted = a.value("target") == nil && a.value("target-file") == nil ? " (the default target: give --target to send elsewhere)" : ""
        let how = streamed ? "; read as sent, outcomes kept on disk" : ""
        FileHandle.standardError.write(Data("mcsec replay: \(events) events over \(String(format: "%.1f", duration)) s to \(setup.target.baseURL)\(defaulted), at most \(setup.options.concurrency) in flight; predicting for \(deployment.label)\(how)\n".utf8))
    }

    /// A progress line on a terminal.
    static func progressLine(_ setup: Setup) -> (@Sendable (ReplayProgress) -> Void)? {
        guard isatty(STDERR_FILENO) == 1 else { return nil }
        let inFlight = setup.options.concurrency
        return { p in
            let line = "\r  sent \(p.sent)/\(p.total), answered \(p.answered), failed \(p.failed), started late (\(inFlight) in flight) \(p.waitedForSender)   "
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    /// The replay's stop, and the signal that asked for it (0: none).
    final class Interruption: Sendable {
        let stop = ReplayStop()
        let signal = Atomic<Int32>(0)
    }

    /// Ctrl-C or SIGTERM: stop sending and report what was found; a second one exits at once
    /// (removing the spool first, when there is one).
    static func interruptible(spool: ReplaySpool? = nil) -> (Interruption, [DispatchSourceSignal]) {
        let interruption = Interruption()
        let signals = InterruptCleanup.install(command: "replay") { signal in
            if interruption.signal.compareExchange(expected: 0, desired: signal, ordering: .relaxed).exchanged {
                interruption.stop.request("interrupted")
                FileHandle.standardError.write(Data("\nmcsec replay: interrupted; stopping after the requests in flight (Ctrl-C again to exit at once)\n".utf8))
                return .keepRunning
            }
            spool?.remove()
            return .exit(nil)
        }
        return (interruption, signals)
    }

    static func summary(_ profilePath: String, sent: Int, elapsed: Double, lateness: String, answerTime: String, waitedForSender: Int,
                        waitedForClient: Int, options: Replayer.Options, deployment: Deployment) -> String {
        var out = "replayed \(sent) events from \(profilePath) in \(String(format: "%.2f", elapsed)) s (\(String(format: "%.0f", Double(sent) / max(elapsed, 0.001))) requests/s)\n"
        out += "  " + lateness + "\n"
        out += "  " + answerTime + "\n"
        out += "  events that started late because \(options.concurrency) requests were in flight: \(waitedForSender)\n"
        if waitedForClient > 0 {
            out += "  events held back until an earlier request of the same client was answered: \(waitedForClient)\n"
        }
        if deployment.workers > 1 && deployment.backend == .memory && deployment.routing != .clientHash {
            out += "  note: with \(deployment.workers) memory-backend workers the prediction assumes \(deployment.routing.label) routing; the real balancer may differ\n"
        }
        return out
    }

    static func exitStatus(stoppedEarly: String?, interrupted: Int32, agrees: Bool) -> Int32 {
        if interrupted != 0 { return 128 + interrupted }
        if let reason = stoppedEarly {
            FileHandle.standardError.write(Data("mcsec replay: stopped early: \(reason)\n".utf8))
            return 2
        }
        return agrees ? 0 : 1
    }
}

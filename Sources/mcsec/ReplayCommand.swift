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
        not hold back the next event), with at most N requests in flight, and records the status of
        each. Sending runs on an event loop (one thread keeps every connection), so the rate is
        bounded by the machine and the server, not by threads. Then predicts, for the deployment the target declares (or the options give), what a
        conforming server answers at the times the requests were actually sent, and lists every
        divergence (event, expected, actual). Prints lateness percentiles (actual minus scheduled
        send time) and how many events started late because N requests were already in flight. A progress
        line is shown on a terminal.

        The target is probed before the schedule starts (unreachable: exit 2 at once). When
        requests fail and none is answered for --timeout seconds, the replay stops. Ctrl-C (or
        SIGTERM) stops it too and prints what was found so far; a second Ctrl-C exits at once.
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
        ] + SimulateCommand.deploymentOptionSpecs,
        footer: "Exit status: 0 the server answered as predicted; 1 a divergence or a failed request; 2 bad input or an unreachable target; 130 interrupted (after the partial summary).")

    static func run(_ a: Arguments) throws -> Int32 {
        try a.noPositionals()
        guard let profilePath = a.value("profile") else { throw UsageError("--profile FILE is required (see 'mcsec help replay')") }
        let original = try ProfileReader.read(path: profilePath)
        guard !original.isEmpty else { throw UsageError("\(profilePath) holds no events") }
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

        // The profile as the server sees it, and the deployment it is predicted for.
        let (profile, sources) = try ReplaySources.asSent(original, mode: options.sources)
        var declared = Deployment(workers: target.declaredWorkers, backend: target.declaredBackend)
        declared.maxPayloadBytes = target.declaredMaxPayloadBytes
        switch options.sources {
        case .forwarded:
            declared.trustProxyHeaders = true
        case .loopback:
            let covered = sources.filter { target.declaredTrustedProxies.contains($0) }.count
            if covered > 0 && covered < sources.count {
                throw UsageError("the target's TRUSTED_PROXIES covers \(covered) of the \(sources.count) source addresses; the prediction needs all or none")
            }
            declared.trustProxyHeaders = covered > 0
        }
        let deployment = try SimulateCommand.deploymentsFromOptions(a, profile: profile, base: declared)[0]
        // Requests of one client (as the limiter keys it) are kept in order.
        options.orderKeys = Simulation.resolveKeys(profile, trustProxyHeaders: deployment.trustProxyHeaders).0
        options.clientOrder = !a.flag("no-client-order")

        let replayer: Replayer
        do {
            replayer = try Replayer(profile: profile, sources: sources, target: target, options: options)
        } catch {
            throw UsageError("\(error)")
        }
        // Up front: an unreachable target is exit 2 now, not a schedule of failures.
        do {
            let probe = try RawHTTPConnection(host: endpoint.host, port: endpoint.port, timeout: options.timeout)
            probe.close()
        } catch {
            throw UsageError("cannot reach the target \(target.baseURL): \(error)")
        }
        let terminal = isatty(STDERR_FILENO) == 1
        // The first line says where the load goes, and that it is the default when it is.
        let defaulted = a.value("target") == nil && a.value("target-file") == nil ? " (the default target: give --target to send elsewhere)" : ""
        FileHandle.standardError.write(Data("mcsec replay: \(profile.count) events over \(String(format: "%.1f", profile.duration)) s to \(target.baseURL)\(defaulted), at most \(options.concurrency) in flight; predicting for \(deployment.label)\n".utf8))
        let inFlight = options.concurrency
        let showProgress: @Sendable (ReplayProgress) -> Void = { p in
            let line = "\r  sent \(p.sent)/\(p.total), answered \(p.answered), failed \(p.failed), started late (\(inFlight) in flight) \(p.waitedForSender)   "
            FileHandle.standardError.write(Data(line.utf8))
        }
        // Ctrl-C or SIGTERM: stop sending and report what was found; a second one exits at once.
        let stop = ReplayStop()
        let interrupted = Atomic<Int32>(0)
        let signalSources = InterruptCleanup.install(command: "replay") { signal in
            if interrupted.compareExchange(expected: 0, desired: signal, ordering: .relaxed).exchanged {
                stop.request("interrupted")
                FileHandle.standardError.write(Data("\nmcsec replay: interrupted; stopping after the requests in flight (Ctrl-C again to exit at once)\n".utf8))
                return .keepRunning
            }
            return .exit(nil)
        }
        let result = try withExtendedLifetime(signalSources) { try replayer.run(progress: terminal ? showProgress : nil, stop: stop) }
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }

        let comparison = StatusComparison(profile: profile, observations: result.observations, deployment: deployment, origin: 0)
        var out = ""
        if let reason = result.stoppedEarly {
            out += "replay stopped early (\(reason)): \(result.sent) of \(profile.count) events sent; partial summary\n"
        }
        out += "replayed \(result.sent) events from \(profilePath) in \(String(format: "%.2f", result.elapsed)) s (\(String(format: "%.0f", Double(result.sent) / max(result.elapsed, 0.001))) requests/s)\n"
        out += "  " + result.latenessLine + "\n"
        out += "  " + result.answerTimeLine + "\n"
        out += "  events that started late because \(options.concurrency) requests were in flight: \(result.waitedForSender)\n"
        if result.waitedForClient > 0 {
            out += "  events held back until an earlier request of the same client was answered: \(result.waitedForClient)\n"
        }
        if deployment.workers > 1 && deployment.backend == .memory && deployment.routing != .clientHash {
            out += "  note: with \(deployment.workers) memory-backend workers the prediction assumes \(deployment.routing.label) routing; the real balancer may differ\n"
        }
        out += comparison.text()
        print(out, terminator: "")
        if let dir = a.value("out-dir") {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let sink = try ByteSink(path: (dir as NSString).appendingPathComponent("replay.csv"))
            try sink.write("index,t,sent_at,lateness_ms,client,source,endpoint,signature,expected,actual,match,error\n")
            for i in 0..<profile.count {
                let o = result.observations[i]
                let e = comparison.expected[i].map(String.init) ?? "", act = o.status.map(String.init) ?? ""
                let match = comparison.expected[i] == nil ? "" : (comparison.expected[i] == o.status ? "yes" : "no")
                let client = original.clients[Int(original.clientIDs[i])]
                let source = sources.isEmpty ? "" : sources[Int(profile.clientIDs[i])]
                let sent = o.index < 0 ? "" : String(format: "%.6f", o.sentAt)
                let late = result.lateness[i].isNaN ? "" : String(format: "%.3f", result.lateness[i] * 1000)
                let fields: [String] = [String(i), ProfileRules.formatTime(profile.times[i]), sent, late, CSVText.field(client), source,
                                        profile.endpoint(at: i).name, profile.signature(at: i).name, e, act, match, CSVText.field(o.error ?? "")]
                try sink.write(fields.joined(separator: ",") + "\n")
            }
            try sink.close()
            let report = SimulationReport(profileName: profilePath, profile: profile, predictions: [Simulation.predict(profile, deployment: deployment)])
            VersionStamp.files(try report.writeAll(to: dir))
        }
        if interrupted.load(ordering: .relaxed) != 0 { return 128 + interrupted.load(ordering: .relaxed) }
        if let reason = result.stoppedEarly {
            FileHandle.standardError.write(Data("mcsec replay: stopped early: \(reason)\n".utf8))
            return 2
        }
        return comparison.divergences.isEmpty && comparison.failures.isEmpty ? 0 : 1
    }
}

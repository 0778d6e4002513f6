#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Harness
import Reference
import ReferenceTargets
import Simulator
import TargetFiles
import Wire

/// `mcsec check`: runs the conformance suites and prints the graded report.
enum CheckCommand {
    static let help = CommandHelp(
        path: "check",
        about: """
        Runs every fixture of the conformance suites and reports, rule by rule, pass, fail, skip
        (with the reason) or informational. With no target, against the embedded reference.
        Targets: the embedded reference (default), --over-http (spawned 'mcsec serve' processes on
        127.0.0.1 ports the system chooses), --target URL with --target-file FILE (a live server),
        or --mutation NAME (a deliberately broken embedded reference).
        """,
        options: [
            .flag("over-http", "run against 'mcsec serve' started on 127.0.0.1 (one per configuration)", section: "target"),
            .valued("workers", "N", "with --over-http: N server processes per configuration, requests spread over them (with the memory backend, exact-count limit fixtures skip)"),
            .valued("env", "KEY=VALUE", "with --over-http: the deployment's configuration (repeatable), e.g. RATE_LIMIT_BACKEND=redis RATE_LIMIT_REDIS_URL=redis://127.0.0.1:6379/0; an unknown KEY is warned about"),
            .valued("target", "URL", "run against a live server (http:// or https://)"),
            .valued("target-file", "FILE", "what the suites need to know about it: ids, secrets, tokens, declared configuration (template: Fixtures/targets/template.json); its baseURL is used when --target is not given", kind: .inputFile),
            .valued("client", "C", "raw (default: any framing, over a TLS tunnel for https://) or urlsession"),
            .valued("cacert", "FILE", "for https:// targets: trust the certificate authorities in this PEM bundle (also tls.caFile in the target file)", kind: .inputFile),
            .flag("insecure", "for https:// targets: do not verify the certificate (said in every report)"),
            .valued("mutation", "NAME", "run against a deliberately broken variant of the embedded reference, to see the suites catch it (repeatable); NAME is one of " + ReferenceMutations.named.map(\.name).joined(separator: ", ") + "; 'list' lists every mutation: what it breaks, the rules, the fixtures that must catch it (Fixtures/mutations.json), and how many rules a mutation proves"),
            .valued("rules", "PREFIX", "only fixtures covering these rules: a section (RL) or a rule (RL-3); repeatable", section: "selection and waits"),
            .flag("list", "list the rules and fixtures (with --rules: the selected ones) and exit"),
            .valued("fixtures", "DIR", "the fixtures directory (rules.json and suites/); default: the bundled one"),
            .flag("allow-waits", "really wait where a fixture needs time to pass or a fresh rate-limit window (against servers whose clock mcsec does not control)"),
            .flag("inject-faults", "stall (CLIENT PAUSE WRITE) and disconnect (CLIENT KILL) the Redis named by the target file's redis.url, a few seconds each, to check fail-open. This hits EVERY client of that Redis (queues too); never use it on a shared Redis you may not disturb. Redis is always unpaused (also on Ctrl-C, SIGTERM)"),
            .valued("fail-open-within", "S", "with --inject-faults: how long a request may wait while Redis fails (default 1 second)"),
            .valued("format", "F", "text (default), json or junit", section: "report"),
            .valued("output", "FILE", "write the report to FILE instead of standard output", kind: .outputFile),
            .flag("strict", "deviations from the real service's behaviour also fail the run"),
            .valued("min-passed", "N", "exit 1 unless at least N fixtures passed (against a mostly skipped run)"),
            .valued("fail-on-skip", "SECTION", "exit 1 when a fixture of SECTION (e.g. TEN) is skipped; repeatable"),
            .flag("print-reference-target-file", "print the target file describing the bundled reference world (to run --target against a local 'mcsec serve') and exit"),
        ],
        footer: """
        Exit status: 0 nothing failed, 1 failures (deviations too with --strict, or a coverage gate
        not met), 2 usage, target-file or fixture errors, or an unreachable target (a TLS
        certificate it cannot trust included); 128+N interrupted by signal N (the servers it
        started are stopped first).
        """)

    /// The simulator's prediction for a limit-count fixture: `requests` requests from one
    /// client, 1 ms apart, over fresh connections routed round-robin to `workers` workers.
    @Sendable static func predictAdmitted(workers: Int, backend: String, namespace: String, requests: Int) -> Int? {
        let endpoint: Endpoint = namespace == "agent_auth" ? .agentAuth : .webhook
        let events = (0..<requests).map { ProfileEvent(time: Double($0) / 1000, client: "198.51.100.1", endpoint: endpoint) }
        guard let profile = try? Profile(events: events) else { return nil }
        let deployment = Deployment(workers: workers, routing: .roundRobin, backend: backend == "redis" ? .redis : .memory)
        let prediction = Simulation.predict(profile, deployment: deployment)
        return (0..<prediction.count).filter { prediction.decision(at: $0) != .refused }.count
    }

    static func run(_ arguments: Arguments) throws -> Int32 {
        try arguments.noPositionals()
        // Checked (and unknown keys warned about) before anything else is done.
        _ = try EnvironmentAssignments.parse(arguments.values("env"), warn: EnvironmentAssignments.stderrWarning("check"))
        if let directory = arguments.value("fixtures") {
            try PathCheck.readableDirectory(directory, option: "--fixtures")
            try PathCheck.readableFile((directory as NSString).appendingPathComponent("rules.json"), option: "--fixtures")
        }
        if arguments.flag("print-reference-target-file") {
            var file = ReferenceTarget.targetFile(for: try loadWorld())
            file.baseURL = "http://127.0.0.1:8000"
            #if os(Linux)
            // Every 127/8 address reaches the loopback interface on Linux: enough source
            // addresses for every limit fixture to have a fresh one (127.0.0.1, the default
            // source, is left to the fixtures about it). macOS has only 127.0.0.1 unless
            // aliases are added, so none are declared there.
            file.sourceAddresses = (2...25).map { "127.0.0.\($0)" }
            #endif
            FileHandle.standardOutput.write(Data((file.json.pretty + "\n").utf8))
            return 0
        }
        guard let format = ReportFormat(rawValue: arguments.value("format") ?? "text") else {
            throw UsageError("--format must be text, json or junit, got '\(arguments.value("format") ?? "")'")
        }
        if arguments.flag("over-http") && (arguments.value("target") != nil || arguments.value("target-file") != nil) {
            throw UsageError("--over-http runs against a spawned reference; it cannot be combined with --target or --target-file")
        }
        if !arguments.flag("over-http") && (arguments.value("workers") != nil || !arguments.values("env").isEmpty) {
            throw UsageError("--workers and --env describe the spawned reference; they need --over-http")
        }
        if arguments.values("mutation").contains("list") {
            guard arguments.values("mutation") == ["list"] else {
                throw UsageError("--mutation list lists the mutations; it cannot be combined with other --mutation values")
            }
            let fixturesDirectory = arguments.value("fixtures").map { URL(fileURLWithPath: $0) } ?? BundledData.fixturesDirectory
            let text: String
            do {
                let suite = try Suite.load(fixturesDirectory: fixturesDirectory)
                text = mutationList(suite, try MutationCatalog.load(fixturesDirectory: fixturesDirectory, suite: suite))
            } catch let e as InputError {
                throw UsageError("\(e)")
            }
            FileHandle.standardOutput.write(Data(text.utf8))
            return 0
        }
        var mutations = ReferenceMutations()
        for name in arguments.values("mutation") {
            guard let m = ReferenceMutations(name: name) else {
                throw UsageError("--mutation \(name) is not one of \(ReferenceMutations.named.map(\.name).joined(separator: ", "))")
            }
            mutations.insert(m)
        }
        if !mutations.isEmpty && (arguments.flag("over-http") || arguments.value("target") != nil || arguments.value("target-file") != nil) {
            throw UsageError("--mutation breaks the embedded reference; it cannot be combined with --over-http, --target or --target-file")
        }
        let fixturesDirectory = arguments.value("fixtures").map { URL(fileURLWithPath: $0) } ?? BundledData.fixturesDirectory
        let suite: Suite
        do {
            suite = try Suite.load(fixturesDirectory: fixturesDirectory)
        } catch let e as InputError {
            throw UsageError("\(e)")
        }
        let selectors = arguments.values("rules")
        for s in selectors where !suite.catalog.rules.contains(where: { RuleCatalog.matches($0.id, selector: s) }) {
            throw UsageError("--rules \(s) selects no rule (sections: \(suite.catalog.sections.map(\.prefix).joined(separator: ", ")))")
        }
        if arguments.flag("list") {
            FileHandle.standardOutput.write(Data(list(suite, selectors).utf8))
            return 0
        }

        var gate = CoverageGate()
        gate.minPassed = try arguments.int("min-passed", default: 0, range: 0...100_000).flatMap { $0 > 0 ? $0 : nil }
        for section in arguments.values("fail-on-skip") {
            let prefix = section.uppercased()
            guard suite.catalog.sections.contains(where: { $0.prefix == prefix }) else {
                throw UsageError("--fail-on-skip \(section) is not a section (sections: \(suite.catalog.sections.map(\.prefix).joined(separator: ", ")))")
            }
            gate.failOnSkip.append(prefix)
        }
        let isLive = arguments.value("target") != nil || arguments.value("target-file") != nil
        if (arguments.flag("inject-faults") || arguments.value("fail-open-within") != nil) && !isLive && !arguments.flag("over-http") {
            throw UsageError("--inject-faults acts on a live target's Redis; it needs --target-file (with a redis.url entry)")
        }
        if arguments.value("fail-open-within") != nil && !arguments.flag("inject-faults") {
            throw UsageError("--fail-open-within bounds requests during injected faults; it needs --inject-faults")
        }
        if (arguments.value("cacert") != nil || arguments.flag("insecure")) && !isLive {
            throw UsageError("--cacert and --insecure are for https:// targets (--target / --target-file)")
        }
        if arguments.value("cacert") != nil && arguments.flag("insecure") {
            throw UsageError("--cacert and --insecure contradict each other: trust a bundle, or verify nothing")
        }
        if let ca = arguments.value("cacert"), !FileManager.default.isReadableFile(atPath: ca) {
            throw UsageError("--cacert \(ca): cannot read the file (a PEM bundle of certificate authorities)")
        }

        let target = try makeTarget(arguments, mutations: mutations)
        defer { target.close() }

        var options = RunOptions()
        options.ruleSelectors = selectors
        options.allowWaits = arguments.flag("allow-waits")
        options.limitPrediction = CheckCommand.predictAdmitted
        var signalSources: [DispatchSourceSignal] = []
        defer { withExtendedLifetime(signalSources) {} }
        if arguments.flag("inject-faults") {
            guard let url = target.targetFile.redisURL else {
                throw UsageError("--inject-faults needs the target file's redis.url entry: the deployment's rate-limit Redis")
            }
            let within = try arguments.double("fail-open-within", default: 1) ?? 1
            guard within > 0, within <= 60 else { throw UsageError("--fail-open-within must be a number of seconds from 0.01 to 60, got \(within)") }
            options.failOpenWithin = within
            let injector: FaultInjector
            do {
                injector = try FaultInjector(url: url)
                try injector.probe()
            } catch {
                throw UsageError("--inject-faults: cannot use the Redis at \(RedisURL.redact(url)): \(error)")
            }
            options.faultInjector = injector
            // Said first, before anything is disturbed.
            FileHandle.standardError.write(Data("mcsec check: --inject-faults: will stall and disconnect the Redis at \(RedisURL.redact(url)) for a few seconds at a time; every client of it (queues too) is affected\n".utf8))
            options.faultEvent = { line in FileHandle.standardError.write(Data("mcsec check: \(line)\n".utf8)) }
        }
        if isatty(2) == 1 {
            options.progress = { done, total, result in
                let line = "[\(done)/\(total)] \(result.verdict.label) \(result.id)"
                let padded = line.count < 78 ? line.padding(toLength: 78, withPad: " ", startingAt: 0) : String(line.prefix(78))
                FileHandle.standardError.write(Data(("\r" + padded + (done == total ? "\r" + String(repeating: " ", count: 78) + "\r" : "")).utf8))
            }
        }
        // Interrupted: undo what the run started before exiting (a Redis stall, spawned servers).
        let injector = options.faultInjector
        signalSources = InterruptCleanup.install(command: "check") { [target] in
            var said: [String] = []
            if let injector {
                injector.shutdown()
                said.append("Redis unpaused (\(injector.actions.joined(separator: ", ")))")
            }
            if target is SpawnedReferenceTarget {
                target.close()
                said.append("the mcsec serve processes it started are stopped")
            }
            return said.isEmpty ? nil : said.joined(separator: "; ")
        }
        let report: RunReport
        do {
            let runner = Runner(suite: suite, target: target, options: options)
            if let budget = runner.budgetSummary() { FileHandle.standardError.write(Data("mcsec check: \(budget)\n".utf8)) }
            report = try runner.run()
        } catch let e as TargetUnreachable {
            throw UsageError("cannot reach the target: \(e)")
        }
        let strict = arguments.flag("strict")
        var text = Report.render(report, format: format, strict: strict)
        if format == .json { text = VersionStamp.json(text) }
        if let http = target as? HTTPTarget, http.tls.insecure {
            // Loud, in every format: nothing said about this server's identity was checked.
            let warning = "INSECURE: --insecure: the server's TLS certificate was not verified"
            switch format {
            case .text: text = warning + "\n" + text
            case .json: text = "{\"insecure\": true, \"warning\": \(JSONText.quote(warning)), \"report\": " + text.trimmingCharacters(in: .whitespacesAndNewlines) + "}\n"
            case .junit: text = text.replacingOccurrences(of: "<testsuites name=\"mcsec check\"", with: "<!-- \(warning) -->\n<testsuites name=\"mcsec check (INSECURE: certificate not verified)\"")
            }
            FileHandle.standardError.write(Data("mcsec check: \(warning)\n".utf8))
        }
        let gateFailures = gate.violations(report)
        for failure in gateFailures { FileHandle.standardError.write(Data("mcsec check: coverage: \(failure)\n".utf8)) }
        if let warning = report.skipWarning, isLive { FileHandle.standardError.write(Data("mcsec check: \(warning)\n".utf8)) }
        if let path = arguments.value("output") {
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            } catch {
                throw UsageError("--output \(path): cannot write the report: \(PathCheck.plain(error))")
            }
            let c = report.counts
            let deviations = c.deviations > 0 ? ", \(c.deviations) deviation\(c.deviations == 1 ? "" : "s")" : ""
            FileHandle.standardError.write(Data("\(c.passed) passed, \(c.failed) failed, \(c.skipped) skipped\(deviations) (report in \(path))\n".utf8))
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        let status = report.exitStatus(strict: strict)
        return status == 0 && !gateFailures.isEmpty ? 1 : status
    }

    static func makeTarget(_ arguments: Arguments, mutations: ReferenceMutations) throws -> any Target {
        if arguments.flag("over-http") {
            let world = try loadWorld()
            guard let binary = selfExecutable() else {
                throw UsageError("cannot find this program's own executable to start 'mcsec serve'")
            }
            let environment = try EnvironmentAssignments.parse(arguments.values("env"), warn: { _ in })
            if let problem = DeclaredConfiguration(environment: environment).problem { throw UsageError("--env: \(problem)") }
            let workers = try arguments.int("workers", default: 1, range: 1...64) ?? 1
            return SpawnedReferenceTarget(executable: binary, world: world, workers: workers, environment: environment)
        }
        if arguments.value("target") != nil || arguments.value("target-file") != nil {
            var file = TargetFile()
            if let path = arguments.value("target-file") {
                do {
                    file = try TargetFile.load(from: URL(fileURLWithPath: path))
                } catch let e as InputError {
                    throw UsageError("target file: \(e)")
                }
            }
            guard let url = arguments.value("target") ?? file.baseURL else {
                throw UsageError("--target-file \(arguments.value("target-file") ?? "") has no baseURL; give the server with --target URL")
            }
            let client: HTTPTarget.Client
            switch arguments.value("client") ?? "raw" {
            case "raw": client = .raw
            case "urlsession": client = .urlSession
            case let other: throw UsageError("--client must be raw or urlsession, got '\(other)'")
            }
            let target: HTTPTarget
            var tls = TLSOptions(caFile: arguments.value("cacert") ?? file.tlsCAFile, insecure: arguments.flag("insecure"))
            if tls.insecure { tls.caFile = nil }
            if url.lowercased().hasPrefix("http://"), arguments.value("cacert") != nil || arguments.flag("insecure") {
                throw UsageError("--cacert and --insecure are for https:// targets; \(url) is http://")
            }
            if url.lowercased().hasPrefix("https://"), client == .urlSession, tls.caFile != nil || tls.insecure {
                throw UsageError("--client urlsession trusts the system's certificate authorities only; drop --client for --cacert / --insecure")
            }
            do {
                target = try HTTPTarget(baseURL: url, targetFile: file, client: client, tls: tls)
            } catch let e as HTTPTarget.BadURL {
                throw UsageError("--target \(url): \(e)")
            } catch let e as InputError {
                throw UsageError("target file: \(e)")
            }
            do { try target.probe() } catch let e as TargetUnreachable { throw UsageError("cannot reach the target: \(e)") }
            return target
        }
        return ReferenceTarget.inProcess(world: try loadWorld(), mutations: mutations)
    }

    static func loadWorld() throws -> World {
        do { return try World.bundled() } catch {
            throw UsageError("cannot load the reference world: \(error)")
        }
    }

    /// This program's own executable, to start `mcsec serve` from.
    static func selfExecutable() -> URL? {
        if let path = Bundle.main.executablePath, FileManager.default.isExecutableFile(atPath: path) {
            return URL(fileURLWithPath: path)
        }
        let argv0 = CommandLine.arguments[0]
        if argv0.contains("/") {
            let url = URL(fileURLWithPath: argv0)
            return FileManager.default.isExecutableFile(atPath: url.path) ? url : nil
        }
        return nil
    }

    static func list(_ suite: Suite, _ selectors: [String]) -> String {
        var out = ""
        let selectedRules = suite.catalog.rules.filter { r in selectors.isEmpty || selectors.contains { RuleCatalog.matches(r.id, selector: $0) } }
        for section in suite.catalog.sections {
            let rules = selectedRules.filter { $0.section == section.prefix }
            guard !rules.isEmpty else { continue }
            out += "\(section.title) (\(section.prefix))\n"
            for rule in rules {
                out += "  \(rule.id) [\(rule.level == .spec ? "page" : "service")] \(rule.text)\n"
                for f in suite.fixtures where f.rules.contains(rule.id) {
                    out += "      \(f.id) (\(f.kind.name)): \(f.title)\n"
                }
            }
        }
        let fixtures = suite.selected(selectors)
        out += "\n\(selectedRules.count) rules, \(fixtures.count) fixtures\n"
        return out
    }

    /// `--mutation list`: every mutation with its summary, the rules it breaks and the fixtures
    /// that catch it; then how many rules of the catalog a mutation proves, and why the others
    /// cannot be.
    static func mutationList(_ suite: Suite, _ catalog: MutationCatalog) -> String {
        var out = ""
        for (name, _, summary) in ReferenceMutations.named {
            out += "\(name): \(summary)\n"
            guard let entry = catalog[name] else {
                out += "    not in \(MutationCatalog.fileName): nothing pins what catches it\n"
                continue
            }
            out += "    breaks \(entry.breaks.joined(separator: " "))\n"
            for c in entry.caughtBy { out += "    caught by \(c.fixture) (\(c.verdict.label))\n" }
        }
        let proven = catalog.provenRules
        let provenCount = suite.catalog.rules.filter { proven.contains($0.id) }.count
        out += "\nrules proven by a mutation: \(provenCount) of \(suite.catalog.rules.count)\n"
        for rule in suite.catalog.rules where !proven.contains(rule.id) {
            out += "  \(rule.id) \(rule.unprovable.map { "unprovable: \($0)" } ?? "no mutation yet")\n"
        }
        return out
    }
}

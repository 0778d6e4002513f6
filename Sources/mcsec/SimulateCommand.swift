import Foundation
import Reference
import Simulator

/// `mcsec simulate`: predicts what a deployment answers to every event of a profile.
enum SimulateCommand {
    /// The deployment options, shared with `replay`.
    static let deploymentOptionSpecs: [OptionSpec] = [
        .valued("workers", "N", "worker processes (default 1)", section: "deployment"),
        .valued("routing", "rr|random|hash", "how the load balancer spreads requests (default rr)"),
        .valued("backend", "memory|redis", "one limiter per worker, or one shared in Redis (default memory)"),
        .valued("outage", "START-END", "a Redis outage, e.g. 10s-40s (repeatable; redis only): requests in it are allowed and not recorded (fail-open)"),
        .valued("skew", "S1,S2,…", "clock offset of each worker, e.g. 0.5s,-250ms (redis only)"),
        .flag("trust-proxy-headers", "the client key is the proxy header value, not the address"),
        .valued("max-payload-bytes", "N", "WEBHOOK_MAX_PAYLOAD_BYTES (default 1048576)"),
        .valued("seed", "S", "seed of random routing (default 1)"),
    ]

    static let help = CommandHelp(
        path: "simulate",
        about: """
        Runs every event of the profile through the reference limiters as the deployment places
        them and prints the predicted status of each event (csv) or a summary (text, json):
        admitted and refused per client and per window, and the effective admission of the busiest
        client against the documented limit. With --out-dir it also writes summary.txt,
        summary.json, predictions.csv, clients.csv, windows.csv and two SVG charts
        (timeline.svg, clients.svg) that open in a browser.

        A --profile is loaded whole and predicted in memory, the faster path: about twice the
        streamed rate, at some 43 bytes per event (the profile and its prediction; about the
        size of a CSV file, under half that of JSON Lines). A file larger than 1 GiB (some 27
        million CSV or 11 million JSON Lines events), or any file with --stream, is instead
        streamed: read a block at a time, once to check it (bad input stops the run before
        anything is written) and once per scenario, each event's prediction going straight to
        the csv output, so memory grows with the clients and their live limiter logs, not the
        events.
        --in-memory loads any file whole. Both paths write the same files byte for byte. With
        --spec the profile is generated while it is simulated (the events 'mcsec profile --spec'
        would write), streamed the same way, so no profile file is needed.
        """,
        options: [.valued("profile", "FILE", "the load profile (jsonl or csv, as 'mcsec profile' writes; this or --spec is required)", kind: .inputFile),
                  .valued("spec", "SPEC.json", "a profile spec (as 'mcsec profile --spec' reads), generated while it is simulated", kind: .inputFile),
                  .valued("max-events", "N", "with --spec: refuse a spec expected to give more events (default 1,000,000,000)"),
                  .flag("stream", "read the --profile file a block at a time, once per scenario, for bounded memory; automatic for files over 1 GiB (not with --compare, which needs the profile in memory, nor standard input, which cannot be read twice)"),
                  .flag("in-memory", "load the --profile whole and predict it in memory, whatever its size (faster, when the memory is there)")]
            + deploymentOptionSpecs + [
            .valued("scenario", "SETTINGS", "one more deployment to compare, as key=value pairs joined by ';' (keys: name, workers, routing, backend, outage, skew, trust-proxy-headers, seed, max-payload-bytes); the options above are its defaults. Repeatable: each is a scenario."),
            .valued("format", "text|json|csv", "standard output: summary (text, json) or every event (csv)", section: "output"),
            .valued("out-dir", "DIR", "write every report and chart into DIR", kind: .outputDirectory),
            .valued("compare", "RESULTS", "results of a run of this profile (vegeta JSON results, or the folder or worker-N.csv a Locust run of `profile --format locust` wrote): re-predict at the times the requests were sent and list divergences (first scenario); exit 1 when any", kind: .inputPath),
        ],
        footer: "Exit status: 0 done (with --compare: no divergence); 1 --compare found divergences; 2 bad options or input.")

    static func run(_ a: Arguments) throws -> Int32 {
        try a.noPositionals()
        let format = a.value("format") ?? "text"
        guard ["text", "json", "csv"].contains(format) else { throw UsageError("--format expects text, json or csv, got '\(format)'") }
        let report: SimulationReport
        let outDir = a.value("out-dir")
        var profile: Profile?
        var deployments: [Deployment] = []
        let streamsFromFile = try a.value("profile").map { try streams($0, a) } ?? false
        switch (a.value("profile"), a.value("spec")) {
        case (let profilePath?, nil) where streamsFromFile:
            guard a.value("max-events") == nil else { throw UsageError("--max-events limits a --spec; a --profile is read as it is") }
            var source = try ProfileFileEvents(path: profilePath)
            // A first pass checks the whole file, so that bad input stops the run before any
            // output is written (as in memory), and finds the duration the deployments are
            // checked against.
            let (events, duration) = try source.scan()
            guard events > 0 else { throw UsageError("\(profilePath) holds no events") }
            deployments = try deploymentsFromOptions(a, profileDuration: duration)
            report = try stream(&source, name: profilePath, deployments: deployments, csvToStandardOutput: format == "csv", outDir: outDir)
        case (let profilePath?, nil):
            guard a.value("max-events") == nil else { throw UsageError("--max-events limits a --spec; a --profile is read as it is") }
            let loaded = try ProfileReader.read(path: profilePath)
            guard !loaded.isEmpty else { throw UsageError("\(profilePath) holds no events") }
            profile = loaded
            // A profile already in memory is predicted in memory: that path is the faster one
            // (about twice the streaming path's rate at 10^7 events), and the streaming path
            // gives the same predictions byte for byte (StreamingTests).
            deployments = try deploymentsFromOptions(a, profile: loaded)
            report = SimulationReport(profileName: profilePath, profile: loaded,
                                      predictions: deployments.map { Simulation.predict(loaded, deployment: $0) })
            if format == "csv" {
                let sink = try ByteSink(path: "-")
                try report.writePredictionsCSV(to: sink)
                try sink.close()
            }
        case (nil, let specPath?):
            guard a.value("compare") == nil else { throw UsageError("--compare needs the profile the run replayed: give it with --profile") }
            let maxEvents = try a.int("max-events", default: 1_000_000_000, range: 1...Int.max) ?? 1_000_000_000
            let spec = try ProfileSpec.parse(try LineReader.readAll(path: specPath, limit: 16 << 20), source: specPath, maximumEvents: Int.max)
            var source = try GeneratedEvents(spec: spec, source: specPath, maximumEvents: maxEvents)
            // The last event's time is known only at the end; the spec's duration bounds it.
            deployments = try deploymentsFromOptions(a, profileDuration: spec.duration)
            report = try stream(&source, name: specPath, deployments: deployments, csvToStandardOutput: format == "csv", outDir: outDir)
            guard report.facts.events > 0 else { throw UsageError("\(specPath) generates no events") }
        case (nil, nil): throw UsageError("--profile FILE or --spec SPEC.json is required (see --help)")
        case (_?, _?): throw UsageError("give either --profile or --spec, not both")
        }
        switch format {
        case "json": print(VersionStamp.json(report.json()), terminator: "")
        case "csv": break
        default: print(report.text(), terminator: "")
        }
        if let dir = outDir {
            var written = try report.writeAll(to: dir)
            if profile == nil {
                // A streamed run wrote its predictions.csv while it ran; it is listed where the
                // in-memory run writes it.
                written.insert((dir as NSString).appendingPathComponent("predictions.csv"), at: min(2, written.count))
            }
            VersionStamp.files(written)
            FileHandle.standardError.write(Data("mcsec simulate: wrote \(written.map { ($0 as NSString).lastPathComponent }.joined(separator: ", ")) to \(dir)\n".utf8))
        }
        if let resultsPath = a.value("compare"), let profile {
            let locust = LocustResults.recognizes(path: resultsPath)
            let observations = try locust ? LocustResults.read(path: resultsPath) : VegetaResults.read(path: resultsPath)
            let comparison = StatusComparison(profile: profile, observations: observations, deployment: deployments[0])
            let text = "\n\(locust ? "Locust" : "vegeta") results \(resultsPath), re-predicted at the actual send times:\n" + comparison.text()
            if format == "text" { print(text, terminator: "") } else { FileHandle.standardError.write(Data(text.utf8)) }
            if let dir = a.value("out-dir") {
                let sink = try ByteSink(path: (dir as NSString).appendingPathComponent("comparison.csv"))
                try comparison.writeCSV(profile, observations: observations, to: sink)
                try sink.close()
            }
            return comparison.divergences.isEmpty ? 0 : 1
        }
        return 0
    }

    /// Files larger than this are streamed from the file even without --stream. Below it,
    /// the in-memory path (twice as fast) takes at most about 1.1 GB (a CSV event is some 40
    /// bytes of text and 43 in memory); above it, memory would grow a gigabyte per gigabyte
    /// of CSV.
    static let streamingThreshold: UInt64 = 1 << 30

    /// Whether `simulate --profile path` streams from the file (see `streamingThreshold`).
    static func streams(_ path: String, _ a: Arguments) throws -> Bool {
        try streams(path, a, threshold: streamingThreshold,
                    inMemoryOnly: a.value("compare") == nil ? nil : "--compare re-predicts the whole profile in memory: leave out --stream")
    }

    /// Whether a command reads its profile file as a stream: --stream, --in-memory, else
    /// automatically above `threshold` bytes. `inMemoryOnly`: why this run cannot stream, if
    /// it cannot (given --stream, that is the usage error).
    static func streams(_ path: String, _ a: Arguments, threshold: UInt64, inMemoryOnly: String? = nil) throws -> Bool {
        if a.flag("in-memory") {
            guard !a.flag("stream") else { throw UsageError("give either --stream or --in-memory, not both") }
            return false
        }
        if a.flag("stream") {
            guard path != "-" else { throw UsageError("--stream reads the profile more than once: give it as a file, not standard input") }
            if let why = inMemoryOnly { throw UsageError(why) }
            return true
        }
        guard path != "-", inMemoryOnly == nil,
              let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value else { return false }
        return size > threshold
    }

    /// Streams `source` through every deployment (one pass each), writing predictions.csv to
    /// standard output and/or `outDir` as the events are decided.
    static func stream<S: EventSource>(_ source: inout S, name: String, deployments: [Deployment], csvToStandardOutput: Bool,
                                       outDir: String?) throws -> SimulationReport {
        var sinks: [ByteSink] = []
        if csvToStandardOutput { sinks.append(try ByteSink(path: "-")) }
        if let dir = outDir {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            sinks.append(try ByteSink(path: (dir as NSString).appendingPathComponent("predictions.csv")))
        }
        for sink in sinks { try sink.write(SimulationReport.predictionColumns + "\n") }
        var summaries: [SimulationSummary] = []
        var facts = ProfileFacts()
        for (i, deployment) in deployments.enumerated() {
            let (summary, f) = try StreamingSimulation.run(&source, deployment: deployment, scenario: i + 1, predictions: sinks)
            summaries.append(summary)
            facts = f
        }
        for sink in sinks { try sink.close() }
        return SimulationReport(profileName: name, facts: facts, summaries: summaries)
    }

    /// The base deployment from the options, then one per --scenario (or the base alone);
    /// each validated against the profile.
    static func deploymentsFromOptions(_ a: Arguments, profile: Profile, base start: Deployment = Deployment()) throws -> [Deployment] {
        try deploymentsFromOptions(a, profileDuration: profile.duration, base: start)
    }

    static func deploymentsFromOptions(_ a: Arguments, profileDuration: Double, base start: Deployment = Deployment()) throws -> [Deployment] {
        var base = start
        if let w = a.value("workers") {
            guard let n = Int(w) else { throw UsageError("--workers expects a whole number, got '\(w)'") }
            base.workers = n
        }
        try applyRoutingAndBackend(a, to: &base)
        do {
            let outages = try a.values("outage").map { (text: String) throws(DeploymentError) -> TimeWindow in try Deployment.parseOutage(text) }
            if !outages.isEmpty { base.outages = outages }
            if let s = a.value("skew") { base.skews = try Deployment.parseSkews(s) }
        } catch {
            throw UsageError("\(error)")
        }
        if a.flag("trust-proxy-headers") { base.trustProxyHeaders = true }
        if let p = a.value("max-payload-bytes") {
            guard let n = Int(p), n >= 0 else { throw UsageError("--max-payload-bytes expects a whole number of bytes, got '\(p)'") }
            base.maxPayloadBytes = n
        }
        if let s = a.value("seed") {
            guard let seed = UInt64(s) else { throw UsageError("--seed expects a whole number, got '\(s)'") }
            base.seed = seed
        }
        var deployments: [Deployment] = []
        do {
            let scenarios = a.values("scenario")
            deployments = scenarios.isEmpty ? [base] : try scenarios.map { (text: String) throws(DeploymentError) -> Deployment in
                try Deployment.parseScenario(text, base: base)
            }
            for (i, d) in deployments.enumerated() {
                do {
                    try d.validate(profileDuration: profileDuration)
                } catch {
                    throw DeploymentError(deployments.count > 1 ? "scenario \(i + 1): \(error)" : error.description)
                }
            }
        } catch {
            throw UsageError("\(error)")
        }
        return deployments
    }

    /// `--routing` and `--backend`, shared with `bench simulate`.
    static func applyRoutingAndBackend(_ a: Arguments, to deployment: inout Deployment) throws {
        if let r = a.value("routing") {
            guard let routing = Deployment.Routing(text: r) else { throw UsageError("--routing expects rr, random or hash, got '\(r)'") }
            deployment.routing = routing
        }
        if let b = a.value("backend") {
            guard let backend = Deployment.Backend(rawValue: b) else { throw UsageError("--backend expects memory or redis, got '\(b)'") }
            deployment.backend = backend
        }
    }
}

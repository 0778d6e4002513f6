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
        """,
        options: [.valued("profile", "FILE", "the load profile (jsonl or csv, as 'mcsec profile' writes; required)", kind: .inputFile)]
            + deploymentOptionSpecs + [
            .valued("scenario", "SETTINGS", "one more deployment to compare, as key=value pairs joined by ';' (keys: name, workers, routing, backend, outage, skew, trust-proxy-headers, seed, max-payload-bytes); the options above are its defaults. Repeatable: each is a scenario."),
            .valued("format", "text|json|csv", "standard output: summary (text, json) or every event (csv)", section: "output"),
            .valued("out-dir", "DIR", "write every report and chart into DIR", kind: .outputDirectory),
            .valued("compare", "RESULTS", "results of a run of this profile (vegeta JSON results, or the folder or worker-N.csv a Locust run of `profile --format locust` wrote): re-predict at the times the requests were sent and list divergences (first scenario); exit 1 when any", kind: .inputPath),
        ],
        footer: "Exit status: 0 done (with --compare: no divergence); 1 --compare found divergences; 2 bad options or input.")

    static func run(_ a: Arguments) throws -> Int32 {
        try a.noPositionals()
        guard let profilePath = a.value("profile") else { throw UsageError("--profile FILE is required (see --help)") }
        let format = a.value("format") ?? "text"
        guard ["text", "json", "csv"].contains(format) else { throw UsageError("--format expects text, json or csv, got '\(format)'") }
        let profile = try ProfileReader.read(path: profilePath)
        guard !profile.isEmpty else { throw UsageError("\(profilePath) holds no events") }
        let deployments = try deploymentsFromOptions(a, profile: profile)

        let predictions = deployments.map { Simulation.predict(profile, deployment: $0) }
        let report = SimulationReport(profileName: profilePath, profile: profile, predictions: predictions)
        switch format {
        case "json": print(VersionStamp.json(report.json()), terminator: "")
        case "csv":
            let sink = try ByteSink(path: "-")
            try report.writePredictionsCSV(to: sink)
            try sink.close()
        default: print(report.text(), terminator: "")
        }
        if let dir = a.value("out-dir") {
            let written = try report.writeAll(to: dir)
            VersionStamp.files(written)
            FileHandle.standardError.write(Data("mcsec simulate: wrote \(written.map { ($0 as NSString).lastPathComponent }.joined(separator: ", ")) to \(dir)\n".utf8))
        }
        if let resultsPath = a.value("compare") {
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

    /// The base deployment from the options, then one per --scenario (or the base alone);
    /// each validated against the profile.
    static func deploymentsFromOptions(_ a: Arguments, profile: Profile, base start: Deployment = Deployment()) throws -> [Deployment] {
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
                    try d.validate(profileDuration: profile.duration)
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

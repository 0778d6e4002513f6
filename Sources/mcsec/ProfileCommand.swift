import Foundation
import Reference
import Simulator

/// `mcsec profile`: generates a deterministic load profile from options or a JSON spec, or
/// converts a profile to another format (vegeta targets, a k6 script, a Locust locustfile).
enum ProfileCommand {
    static let help = CommandHelp(
        path: "profile",
        about: """
        Writes a load profile: one event per line (time offset, client address, endpoint, body size,
        signature mode, optional proxy header). The same options and seed always give a
        byte-identical file. Fixtures/profiles/README.md documents the formats and the spec.
        Three forms:
          mcsec profile --shape SHAPE --duration D [shape, client and mix options]
          mcsec profile --spec SPEC.json              (the same, from a JSON spec)
          mcsec profile --from PROFILE --format F     (convert a profile, e.g. to vegeta, k6 or locust)

        shapes: constant (--rate), poisson (--rate), ramping ([--start-rate] --stages),
        bursts (--burst-size --burst-period [--burst-offset] [--burst-spread]),
        diurnal (--min-rate --max-rate --period [--phase]),
        spike (--rate --spike-rate --spike-start --spike-duration).
        """,
        options: [
            .valued("shape", "SHAPE", "constant, poisson, ramping, bursts, diurnal or spike", section: "shape"),
            .valued("duration", "D", "the profile length, like 60s or 10m"),
            .valued("rate", "R", "requests per second (constant, poisson; the base rate of spike)"),
            .valued("process", "regular|poisson", "arrivals evenly along the rate (default) or Poisson"),
            .valued("start-rate", "R", "ramping: the rate at the start (default 0)"),
            .valued("stages", "R1:D1,…", "ramping: linear ramps to each target rate over each duration"),
            .valued("burst-size", "N", "bursts: requests per burst"),
            .valued("burst-period", "D", "bursts: time between bursts"),
            .valued("burst-offset", "D", "bursts: time of the first burst (default 0)"),
            .valued("burst-spread", "D", "bursts: the requests of a burst spread over D (default 0: all at once)"),
            .valued("min-rate", "R", "diurnal: the lowest rate"),
            .valued("max-rate", "R", "diurnal: the highest rate"),
            .valued("period", "D", "diurnal: the cycle, like 24h or 10m"),
            .valued("phase", "D", "diurnal: shift of the cycle (default 0)"),
            .valued("spike-rate", "R", "spike: the rate during the spike"),
            .valued("spike-start", "D", "spike: when the spike starts"),
            .valued("spike-duration", "D", "spike: how long it lasts"),
            .valued("clients", "N", "how many client addresses (default 1)", section: "clients"),
            .valued("population", "KIND", "one, uniform, zipf or rotating (default: one for 1 client, else uniform)"),
            .valued("zipf-exponent", "S", "Zipf exponent (default 1.1)"),
            .valued("rotate-every", "D", "rotating: each client sends for D, then the next"),
            .valued("first-address", "A", "client k is A + k (default 10.0.0.1)"),
            .valued("endpoints", "MIX", "endpoint weights, like webhook=3,agent_auth=1 (default webhook only)", section: "mixes"),
            .valued("signatures", "MIX", "webhook signature modes, like valid=8,missing=1,invalid=1,none=0 (default valid)"),
            .valued("tokens", "MIX", "agent tokens, like valid=9,invalid=1,missing=0 (default valid)"),
            .valued("body-bytes", "N|MIN-MAX", "webhook body size (default 256)"),
            .valued("proxy-header", "NAME", "a proxy header the clients set (needs --proxy-values)", section: "proxy header"),
            .valued("proxy-values", "N", "how many distinct values the clients send in it"),
            .valued("proxy-first-address", "A", "the first value (default 198.51.100.1)"),
            .valued("proxy-share", "F", "the share of requests that carry it, 0 to 1 (default 1)"),
            .valued("spec", "SPEC.json", "generate from a JSON spec instead of the options above", kind: .inputFile, section: "input and output"),
            .valued("from", "PROFILE", "convert an existing profile instead of generating one", kind: .inputFile),
            .valued("out", "FILE", "where to write (default: standard output)", kind: .outputFile),
            .valued("format", "F", "jsonl (default, or csv for a .csv file), csv, vegeta, k6 or locust"),
            .valued("seed", "S", "seed (default 1; overrides the spec's)"),
            .valued("max-events", "N", "refuse specs expected to exceed N events (default 100,000,000)"),
            .flag("print-spec", "print the spec the options describe instead of generating"),
            .valued("target", "URL", "vegeta, k6 and locust: base URL (default http://127.0.0.1:8000)", section: "vegeta, k6 and locust (requests need ids, secrets and a token)"),
            .valued("target-file", "FILE", "vegeta, k6 and locust: the target's ids and secrets (default: the reference's seeded world)", kind: .inputFile),
            .valued("client-header", "H", "send each event's client address in header H (e.g. X-Forwarded-For)"),
            .valued("vus", "N", "k6 virtual users (default 50)"),
        ])

    static var valued: Set<String> { Set(help.options.filter { $0.value != nil }.map(\.name)) }

    static func run(_ a: Arguments) throws -> Int32 {
        try a.noPositionals()
        let out = a.value("out") ?? "-"
        let formatName = a.value("format") ?? (out.lowercased().hasSuffix(".csv") ? "csv" : "jsonl")
        let maxEvents = try a.int("max-events", default: ProfileSpec.defaultMaximumEvents, range: 1...1_000_000_000) ?? ProfileSpec.defaultMaximumEvents

        // Conversion of an existing profile.
        if let from = a.value("from") {
            for option in ["spec", "shape"] where a.value(option) != nil {
                throw UsageError("--from converts an existing profile; it cannot be combined with --\(option)")
            }
            let profile = try ProfileReader.read(path: from)
            try write(profile, formatName: formatName, out: out, source: from, arguments: a)
            FileHandle.standardError.write(Data("mcsec profile: wrote \(profile.count) events from \(from) as \(formatName) to \(out == "-" ? "standard output" : out)\(defaultTargetNote(a, formatName))\n".utf8))
            return 0
        }

        var spec: ProfileSpec
        var source = "command line"
        if let specPath = a.value("spec") {
            if let stray = valued.subtracting(["spec", "out", "format", "seed", "max-events", "target", "target-file", "client-header", "vus"]).first(where: { a.value($0) != nil }) {
                throw UsageError("--\(stray) cannot be combined with --spec: put it in the spec file")
            }
            source = specPath
            let bytes = try LineReader.readAll(path: specPath, limit: 16 << 20)
            spec = try ProfileSpec.parse(bytes, source: specPath, maximumEvents: Int.max)
        } else {
            spec = try specFromOptions(a)
        }
        if let seed = a.value("seed") {
            guard let s = UInt64(seed) else { throw UsageError("--seed expects a whole number from 0 to \(UInt64.max), got '\(seed)'") }
            spec.seed = s
        }
        try spec.validate(source: source, maximumEvents: maxEvents)
        if a.flag("print-spec") {
            print(SpecJSON.encode(spec), terminator: "")
            return 0
        }
        switch formatName {
        case "jsonl", "csv":
            let format = formatName == "csv" ? ProfileFormat.csv : .jsonl
            let sink = try ByteSink(path: out)
            let count = try ProfileGenerator.write(spec: spec, format: format, to: sink, source: source, maximumEvents: maxEvents)
            try sink.close()
            FileHandle.standardError.write(Data("mcsec profile: wrote \(count) events (seed \(spec.seed)) to \(out == "-" ? "standard output" : out)\n".utf8))
        default:
            let profile = try ProfileGenerator.profile(spec: spec, source: source, maximumEvents: maxEvents)
            try write(profile, formatName: formatName, out: out, source: source, arguments: a)
            FileHandle.standardError.write(Data("mcsec profile: wrote \(profile.count) events (seed \(spec.seed)) as \(formatName) to \(out == "-" ? "standard output" : out)\(defaultTargetNote(a, formatName))\n".utf8))
        }
        return 0
    }

    /// vegeta and k6 files send load where they say; when that is the default address, the
    /// summary line says so.
    static func defaultTargetNote(_ a: Arguments, _ formatName: String) -> String {
        guard ["vegeta", "k6", "locust"].contains(formatName), a.value("target") == nil, a.value("target-file") == nil else { return "" }
        return "; its requests go to http://127.0.0.1:8000, the default target (give --target to send elsewhere)"
    }

    /// Writes a profile held in memory in any format.
    static func write(_ profile: Profile, formatName: String, out: String, source: String, arguments a: Arguments) throws {
        let sink = try ByteSink(path: out)
        switch formatName {
        case "jsonl": try ProfileWriter.write(profile, format: .jsonl, to: sink)
        case "csv": try ProfileWriter.write(profile, format: .csv, to: sink)
        case "vegeta", "k6", "locust":
            let target = try ReplayTarget.load(targetFile: a.value("target-file"), baseURL: a.value("target"))
            try target.check(for: profile)
            if let header = a.value("client-header"), let problem = ProfileRules.checkProxyHeader(ProxyHeader(name: header, value: "")) {
                throw UsageError("--client-header: \(problem.message)")
            }
            let export = LoadEngineExport(builder: try EventRequestBuilder(target: target), clientHeader: a.value("client-header"))
            if formatName == "vegeta" {
                try export.writeVegeta(profile, to: sink)
            } else if formatName == "locust" {
                try export.writeLocust(profile, source: source, to: sink)
            } else {
                let vus = try a.int("vus", default: 50, range: 1...100_000) ?? 50
                try export.writeK6(profile, source: source, vus: vus, to: sink)
            }
        default:
            throw UsageError("--format expects jsonl, csv, vegeta, k6 or locust, got '\(formatName)'")
        }
        try sink.close()
    }

    // MARK: options → spec

    static func duration(_ a: Arguments, _ name: String) throws -> Double? {
        guard let text = a.value(name) else { return nil }
        do { return try DurationText.parse(text) } catch { throw UsageError("--\(name): \(error)") }
    }

    static func rate(_ a: Arguments, _ name: String) throws -> Double? {
        guard let value = try a.double(name) else { return nil }
        guard value >= 0 && value <= 1e7 else { throw UsageError("--\(name) must be a rate from 0 to 10000000 requests per second, got \(value)") }
        return value
    }

    static func need<T>(_ value: T?, _ message: String) throws -> T {
        guard let value else { throw UsageError(message) }
        return value
    }

    static func specFromOptions(_ a: Arguments) throws -> ProfileSpec {
        guard let shapeName = a.value("shape") else {
            throw UsageError("give --shape (constant, poisson, ramping, bursts, diurnal, spike), or --spec FILE, or --from PROFILE (see --help)")
        }
        let total = try need(try duration(a, "duration"), "--duration is required (the profile length, like 60s or 10m)")
        guard total > 0 else { throw UsageError("--duration must be above 0") }
        var process = ArrivalProcess.regular
        if let p = a.value("process") {
            guard let parsed = ArrivalProcess(rawValue: p) else { throw UsageError("--process expects regular or poisson, got '\(p)'") }
            process = parsed
        }
        let shape: ArrivalShape
        switch shapeName {
        case "constant":
            shape = .constant(rate: try need(try rate(a, "rate"), "the constant shape needs --rate (requests per second)"))
        case "poisson":
            shape = .constant(rate: try need(try rate(a, "rate"), "the poisson shape needs --rate (requests per second)"))
            process = .poisson
        case "ramping":
            let stagesText = try need(a.value("stages"), "the ramping shape needs --stages, like 10:30s,50:1m (target rate:duration)")
            var stages: [RampStage] = []
            for part in stagesText.split(separator: ",") {
                let pieces = part.split(separator: ":")
                guard pieces.count == 2, let target = Double(pieces[0]), target >= 0, target.isFinite,
                      let d = try? DurationText.parse(String(pieces[1])), d > 0 else {
                    throw UsageError("--stages: '\(part)' should be rate:duration, like 50:30s")
                }
                stages.append(RampStage(target: target, duration: d))
            }
            guard !stages.isEmpty else { throw UsageError("--stages needs at least one rate:duration") }
            shape = .ramping(startRate: try rate(a, "start-rate") ?? 0, stages: stages)
        case "bursts":
            let size = try need(try a.int("burst-size", range: 1...10_000_000), "the bursts shape needs --burst-size (requests per burst)")
            let period = try need(try duration(a, "burst-period"), "the bursts shape needs --burst-period (time between bursts)")
            guard period > 0 else { throw UsageError("--burst-period must be above 0") }
            if process == .poisson { throw UsageError("bursts are placed regularly; --process poisson does not apply") }
            shape = .bursts(size: size, period: period, offset: try duration(a, "burst-offset") ?? 0, spread: try duration(a, "burst-spread") ?? 0)
        case "diurnal":
            let lo = try need(try rate(a, "min-rate"), "the diurnal shape needs --min-rate")
            let hi = try need(try rate(a, "max-rate"), "the diurnal shape needs --max-rate")
            guard hi >= lo else { throw UsageError("--max-rate (\(hi)) must be at least --min-rate (\(lo))") }
            let period = try need(try duration(a, "period"), "the diurnal shape needs --period (the cycle, like 24h or 10m)")
            guard period > 0 else { throw UsageError("--period must be above 0") }
            shape = .diurnal(minRate: lo, maxRate: hi, period: period, phase: try duration(a, "phase") ?? 0)
        case "spike":
            let spikeDuration = try need(try duration(a, "spike-duration"), "the spike shape needs --spike-duration")
            guard spikeDuration > 0 else { throw UsageError("--spike-duration must be above 0") }
            shape = .spike(baseRate: try need(try rate(a, "rate"), "the spike shape needs --rate (the base rate)"),
                           spikeRate: try need(try rate(a, "spike-rate"), "the spike shape needs --spike-rate"),
                           start: try need(try duration(a, "spike-start"), "the spike shape needs --spike-start"),
                           duration: spikeDuration)
        default:
            throw UsageError("unknown --shape '\(shapeName)'; shapes are constant, poisson, ramping, bursts, diurnal, spike")
        }
        var stream = StreamSpec(name: shapeName, arrivals: Arrivals(shape: shape, process: process))
        stream.clients = try population(a, prefix: "", count: a.int("clients", default: 1, range: 1...ClientPopulation.maximumCount) ?? 1,
                                        defaultAddress: StreamSpec.defaultAddress)
        try applyMixes(a, to: &stream)
        if let b = a.value("body-bytes") {
            let parts = b.split(separator: "-", omittingEmptySubsequences: false)
            let limit = ProfileRules.maximumBodyBytes
            if parts.count == 1, let n = Int(b), n >= 0, n <= limit {
                stream.bodyBytes = .fixed(n)
            } else if parts.count == 2, let lo = Int(parts[0]), let hi = Int(parts[1]), lo >= 0, hi >= lo, hi <= limit {
                stream.bodyBytes = .uniform(min: lo, max: hi)
            } else {
                throw UsageError("--body-bytes expects a byte count (0 to \(limit)) or MIN-MAX, got '\(b)'")
            }
        }
        if let name = a.value("proxy-header") {
            if let problem = ProfileRules.checkProxyHeader(ProxyHeader(name: name, value: "")) {
                throw UsageError("--proxy-header: \(problem.message)")
            }
            let count = try need(try a.int("proxy-values", range: 1...ClientPopulation.maximumCount), "--proxy-header needs --proxy-values N (how many distinct values the clients send)")
            let share = try a.double("proxy-share", default: 1) ?? 1
            guard share >= 0 && share <= 1 else { throw UsageError("--proxy-share must be from 0 to 1, got \(share)") }
            let first = a.value("proxy-first-address") ?? StreamSpec.defaultProxyAddress
            guard IPAddress(first) != nil else { throw UsageError("--proxy-first-address expects an IP address, got '\(first)'") }
            stream.proxyHeader = ProxyHeaderSpec(name: name, share: share,
                                                 values: count == 1 ? .one(address: first) : .uniform(count: count, firstAddress: first))
        } else {
            for option in ["proxy-values", "proxy-share", "proxy-first-address"] where a.value(option) != nil {
                throw UsageError("--\(option) needs --proxy-header NAME")
            }
        }
        return ProfileSpec(seed: 1, duration: total, streams: [stream])
    }

    static func population(_ a: Arguments, prefix: String, count: Int, defaultAddress: String) throws -> ClientPopulation {
        let first = a.value("first-address") ?? defaultAddress
        guard IPAddress(first) != nil, !first.contains("%") else { throw UsageError("--first-address expects an IPv4 or IPv6 address, got '\(first)'") }
        let kind = a.value("population") ?? (count == 1 ? "one" : "uniform")
        switch kind {
        case "one":
            guard count == 1 else { throw UsageError("--population one means a single client; drop --clients \(count) or choose uniform, zipf or rotating") }
            return .one(address: first)
        case "uniform":
            return .uniform(count: count, firstAddress: first)
        case "zipf":
            let s = try a.double("zipf-exponent", default: 1.1) ?? 1.1
            guard s >= 0.01 && s <= 10 else { throw UsageError("--zipf-exponent must be from 0.01 to 10, got \(s)") }
            return .zipf(count: count, exponent: s, firstAddress: first)
        case "rotating":
            let every = try need(try duration(a, "rotate-every"), "the rotating population needs --rotate-every D (how long each client sends)")
            guard every > 0 else { throw UsageError("--rotate-every must be above 0") }
            return .rotating(count: count, every: every, firstAddress: first)
        default:
            throw UsageError("--population expects one, uniform, zipf or rotating, got '\(kind)'")
        }
    }

    /// The --endpoints, --signatures and --tokens mixes given in `a` (each only when the command has it).
    static func applyMixes(_ a: Arguments, to stream: inout StreamSpec) throws {
        if let e = a.value("endpoints") {
            stream.endpoints = try mix(e, option: "endpoints", names: ["webhook": .webhook, "agent_auth": .agentAuth])
        }
        if let s = a.value("signatures") {
            stream.signatures = try mix(s, option: "signatures", names: ["valid": .valid, "missing": .missing, "invalid": .invalid, "none": .none])
        }
        if let t = a.value("tokens") {
            stream.tokens = try mix(t, option: "tokens", names: ["valid": .valid, "missing": .missing, "invalid": .invalid])
        }
    }

    /// `webhook=3,agent_auth=1` (or `webhook:3`); a bare name weighs 1.
    static func mix<V>(_ text: String, option: String, names: [String: V]) throws -> WeightedMix<V> {
        var entries: [WeightedMix<V>.Entry] = []
        var seen: Set<String> = []
        for part in text.split(separator: ",") {
            let pieces = part.split(whereSeparator: { $0 == "=" || $0 == ":" })
            let name = String(pieces.first ?? "")
            guard let value = names[name] else {
                throw UsageError("--\(option): unknown name '\(name)'; expected \(names.keys.sorted().joined(separator: ", "))")
            }
            guard seen.insert(name).inserted else { throw UsageError("--\(option): '\(name)' given twice") }
            var weight = 1.0
            if pieces.count == 2 {
                guard let w = Double(pieces[1]), w >= 0, w.isFinite else { throw UsageError("--\(option): the weight of '\(name)' must be a number ≥ 0, got '\(pieces[1])'") }
                weight = w
            } else if pieces.count > 2 {
                throw UsageError("--\(option): '\(part)' should be name=weight")
            }
            entries.append(.init(value, weight))
        }
        guard entries.contains(where: { $0.weight > 0 }) else { throw UsageError("--\(option) needs at least one weight above 0") }
        return WeightedMix(entries)
    }
}

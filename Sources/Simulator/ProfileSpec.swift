import Reference
import Wire

// Rule: a profile is described by a spec: a seed, a duration and one or more streams (a stream
// is one kind of traffic: an arrival shape, a client population, mixes of endpoints, signature
// modes and agent tokens, a body size, optionally a proxy header the clients set). Streams are
// merged by time. A spec file is JSON; every value is checked and a problem names its JSON path
// (`$.streams[1].arrivals.rate`) and what was expected. The same spec and seed always generate
// the same profile.

/// Weighted choices (weights ≥ 0, not all zero).
public struct WeightedMix<Value: Sendable & Equatable>: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var value: Value
        public var weight: Double
        public init(_ value: Value, _ weight: Double) {
            self.value = value
            self.weight = weight
        }
    }
    public var entries: [Entry]
    public init(_ entries: [Entry]) { self.entries = entries }
    public static func only(_ value: Value) -> WeightedMix { WeightedMix([Entry(value, 1)]) }

    var total: Double { entries.reduce(0) { $0 + $1.weight } }
    var cumulative: [Double] {
        var sum = 0.0
        return entries.map { sum += $0.weight; return sum }
    }
}

/// Body sizes: fixed, or uniform over a range of whole bytes.
public enum BodySize: Sendable, Equatable {
    case fixed(Int)
    case uniform(min: Int, max: Int)
}

/// A proxy header clients set: its name, the share of requests carrying it, and the values
/// (drawn like client addresses, from a population).
public struct ProxyHeaderSpec: Sendable, Equatable {
    public var name: String
    public var share: Double
    public var values: ClientPopulation
    public init(name: String, share: Double = 1, values: ClientPopulation) {
        self.name = name
        self.share = share
        self.values = values
    }
}

/// One stream of traffic.
public struct StreamSpec: Sendable, Equatable {
    public var name: String
    /// Seconds from the profile start when the stream begins.
    public var start: Double = 0
    /// When it ends (nil: at the profile's end).
    public var end: Double?
    public var arrivals: Arrivals
    public var clients: ClientPopulation = .one(address: StreamSpec.defaultAddress)
    public var endpoints: WeightedMix<Endpoint> = .only(.webhook)
    /// Signature modes of webhook events.
    public var signatures: WeightedMix<SignatureMode> = .only(.valid)
    /// Token modes of agent-auth events (valid, invalid, missing).
    public var tokens: WeightedMix<SignatureMode> = .only(.valid)
    public var bodyBytes: BodySize = .fixed(256)
    public var proxyHeader: ProxyHeaderSpec?

    public static let defaultAddress = "10.0.0.1"
    public static let defaultProxyAddress = "198.51.100.1"

    public init(name: String, arrivals: Arrivals) {
        self.name = name
        self.arrivals = arrivals
    }
}

/// A whole profile description.
public struct ProfileSpec: Sendable, Equatable {
    public var seed: UInt64
    public var duration: Double
    public var streams: [StreamSpec]

    /// Generating more events than this is refused unless the caller raises it: a typo in a
    /// rate should not fill a disk.
    public static let defaultMaximumEvents = 100_000_000

    public init(seed: UInt64 = 1, duration: Double, streams: [StreamSpec]) {
        self.seed = seed
        self.duration = duration
        self.streams = streams
    }

    /// The expected number of events.
    public var expectedEvents: Double {
        streams.reduce(0) { total, stream in
            let end = min(stream.end ?? duration, duration)
            return total + stream.arrivals.expectedCount(length: max(0, end - stream.start))
        }
    }

    /// Cross-field checks (each field's own range is checked when it is read).
    public func validate(source: String = "spec", maximumEvents: Int = ProfileSpec.defaultMaximumEvents) throws(InputError) {
        func fail(_ path: String, _ message: String) -> InputError {
            InputError(file: source, path: path, message: message)
        }
        guard duration > 0, duration <= ProfileRules.maximumTime else {
            throw fail("$.duration", "expected a duration above 0 and at most \(Int(ProfileRules.maximumTime)) s, got \(duration)")
        }
        guard !streams.isEmpty else { throw fail("$.streams", "expected at least one stream") }
        for (i, stream) in streams.enumerated() {
            let path = "$.streams[\(i)]"
            let end = stream.end ?? duration
            guard stream.start >= 0, stream.start < duration else {
                throw fail("\(path).start", "must be within the profile (0 to \(DurationText.format(duration))), got \(DurationText.format(stream.start))")
            }
            guard end > stream.start, end <= duration else {
                throw fail("\(path).end", "must be after start (\(DurationText.format(stream.start))) and at most the duration (\(DurationText.format(duration))), got \(DurationText.format(end))")
            }
            if AddressRange(first: stream.clients.firstAddress, count: stream.clients.count) == nil {
                throw fail("\(path).clients", "\(stream.clients.count) addresses from \(stream.clients.firstAddress) run past the last address")
            }
            if let proxy = stream.proxyHeader, AddressRange(first: proxy.values.firstAddress, count: proxy.values.count) == nil {
                throw fail("\(path).proxy_header.values", "\(proxy.values.count) addresses from \(proxy.values.firstAddress) run past the last address")
            }
            if stream.endpoints.entries.contains(where: { $0.value == .agentAuth && $0.weight > 0 }),
               stream.tokens.entries.contains(where: { $0.value == .none && $0.weight > 0 }) {
                throw fail("\(path).tokens", "agent tokens are valid, invalid or missing (none is for webhooks)")
            }
            if case .diurnal(let lo, let hi, _, _) = stream.arrivals.shape, hi < lo {
                throw fail("\(path).arrivals.max_rate", "must be at least min_rate (\(lo)), got \(hi)")
            }
        }
        let expected = expectedEvents
        guard expected <= Double(maximumEvents) else {
            throw fail("$", "would generate about \(Int(expected.rounded())) events, more than the limit of \(maximumEvents) (lower the rates or the duration, or raise the limit with --max-events)")
        }
    }

    // MARK: reading a JSON spec

    /// Parses and validates a JSON spec.
    public static func parse(_ bytes: [UInt8], source: String, maximumEvents: Int = ProfileSpec.defaultMaximumEvents) throws(InputError) -> ProfileSpec {
        let root = try JSONCursor.parse(bytes, file: source)
        let streamKeys = ["name", "start", "end", "arrivals", "clients", "endpoints", "signatures", "tokens", "body_bytes", "proxy_header"]
        let members = try root.object(allowed: Set(["seed", "duration", "streams", "description"] + streamKeys))
        var seed: UInt64 = 1
        if let seedNode = members["seed"] { seed = UInt64(try seedNode.int(in: 0...Int.max)) }
        guard let durationNode = members["duration"] else {
            throw root.error("missing \"duration\" (the profile length, like \"2m\" or 120)")
        }
        let duration = try durationNode.duration(positive: true)
        var streams: [StreamSpec] = []
        if let list = members["streams"] {
            if let stray = streamKeys.first(where: { members[$0] != nil }) {
                throw root.error("\"\(stray)\" belongs inside a stream when \"streams\" is given")
            }
            let items = try list.array()
            guard !items.isEmpty else { throw list.error("expected at least one stream") }
            for (i, item) in items.enumerated() {
                streams.append(try parseStream(item, index: i))
            }
        } else {
            streams.append(try parseStream(root, index: 0, topLevel: true))
        }
        let spec = ProfileSpec(seed: seed, duration: duration, streams: streams)
        try spec.validate(source: source, maximumEvents: maximumEvents)
        return spec
    }

    static func parseStream(_ node: JSONCursor, index: Int, topLevel: Bool = false) throws(InputError) -> StreamSpec {
        let keys = ["name", "start", "end", "arrivals", "clients", "endpoints", "signatures", "tokens", "body_bytes", "proxy_header"]
        let m = try node.object(allowed: Set(topLevel ? keys + ["seed", "duration", "description"] : keys))
        guard let arrivalsNode = m["arrivals"] else {
            throw node.error("missing \"arrivals\" (for example {\"shape\": \"constant\", \"rate\": 10})")
        }
        var stream = StreamSpec(name: try m["name"]?.string() ?? "stream\(index + 1)", arrivals: try parseArrivals(arrivalsNode))
        if let start = m["start"] { stream.start = try start.duration(positive: false) }
        if let end = m["end"] { stream.end = try end.duration(positive: true) }
        if let clients = m["clients"] { stream.clients = try parsePopulation(clients, defaultAddress: StreamSpec.defaultAddress) }
        if let endpoints = m["endpoints"] {
            stream.endpoints = try parseMix(endpoints, names: ["webhook": .webhook, "agent_auth": .agentAuth])
        }
        if let signatures = m["signatures"] {
            stream.signatures = try parseMix(signatures, names: ["valid": .valid, "missing": .missing, "invalid": .invalid, "none": .none])
        }
        if let tokens = m["tokens"] {
            stream.tokens = try parseMix(tokens, names: ["valid": .valid, "missing": .missing, "invalid": .invalid])
        }
        if let body = m["body_bytes"] { stream.bodyBytes = try parseBodySize(body) }
        if let proxy = m["proxy_header"] {
            let p = try proxy.object(allowed: ["name", "share", "values"])
            guard let nameNode = p["name"] else { throw proxy.error("missing \"name\" (for example \"X-Forwarded-For\")") }
            let name = try nameNode.string()
            if let problem = ProfileRules.checkProxyHeader(ProxyHeader(name: name, value: "")) {
                throw nameNode.error(problem.message)
            }
            let share = try p["share"]?.double(in: 0...1) ?? 1
            guard let valuesNode = p["values"] else {
                throw proxy.error("missing \"values\" (a population, for example {\"population\": \"uniform\", \"count\": 1000})")
            }
            stream.proxyHeader = ProxyHeaderSpec(name: name, share: share,
                                                 values: try parsePopulation(valuesNode, defaultAddress: StreamSpec.defaultProxyAddress))
        }
        return stream
    }

    static func parseArrivals(_ node: JSONCursor) throws(InputError) -> Arrivals {
        let shapeKeys: [String: [String]] = [
            "constant": ["rate"], "poisson": ["rate"], "ramping": ["start_rate", "stages"],
            "bursts": ["size", "period", "offset", "spread"], "diurnal": ["min_rate", "max_rate", "period", "phase"],
            "spike": ["base_rate", "spike_rate", "spike_start", "spike_duration"],
        ]
        guard let members = node.json.objectValue, let shapeValue = members.first(where: { $0.0 == "shape" })?.1 else {
            throw node.error("expected an object with \"shape\": one of \(shapeKeys.keys.sorted().joined(separator: ", "))")
        }
        let shapeNode = node.member("shape", shapeValue)
        let shapeName = try shapeNode.string()
        guard let keys = shapeKeys[shapeName] else {
            throw shapeNode.error("unknown shape \(ProfileRules.quoted(shapeName)); shapes are \(shapeKeys.keys.sorted().joined(separator: ", "))")
        }
        let m = try node.object(allowed: Set(["shape", "process"] + keys))
        func required(_ key: String, _ hint: String) throws(InputError) -> JSONCursor {
            guard let n = m[key] else { throw node.error("the \(shapeName) shape needs \"\(key)\" (\(hint))") }
            return n
        }
        var process: ArrivalProcess = shapeName == "poisson" ? .poisson : .regular
        if let p = m["process"] {
            let text = try p.string()
            guard let parsed = ArrivalProcess(rawValue: text) else { throw p.error("expected \"regular\" or \"poisson\", got \(ProfileRules.quoted(text))") }
            if shapeName == "poisson" && parsed != .poisson { throw p.error("the poisson shape is a Poisson process; use the constant shape for regular arrivals") }
            process = parsed
        }
        let rateLimit = 1e7
        let shape: ArrivalShape
        switch shapeName {
        case "constant", "poisson":
            shape = .constant(rate: try required("rate", "requests per second").double(in: 0...rateLimit))
        case "ramping":
            let start = try m["start_rate"]?.double(in: 0...rateLimit) ?? 0
            let stagesNode = try required("stages", "a list of {\"target\": rate, \"duration\": \"30s\"}")
            var stages: [RampStage] = []
            for item in try stagesNode.array() {
                let s = try item.object(allowed: ["target", "duration"])
                guard let target = s["target"], let duration = s["duration"] else {
                    throw item.error("a stage needs \"target\" (requests per second) and \"duration\"")
                }
                stages.append(RampStage(target: try target.double(in: 0...rateLimit), duration: try duration.duration(positive: true)))
            }
            guard !stages.isEmpty else { throw stagesNode.error("expected at least one stage") }
            shape = .ramping(startRate: start, stages: stages)
        case "bursts":
            if process == .poisson { throw node.error("bursts are placed regularly; \"process\": \"poisson\" does not apply") }
            shape = .bursts(size: try required("size", "requests per burst").int(in: 1...10_000_000),
                            period: try required("period", "time between bursts").duration(positive: true),
                            offset: try m["offset"]?.duration(positive: false) ?? 0,
                            spread: try m["spread"]?.duration(positive: false) ?? 0)
        case "diurnal":
            shape = .diurnal(minRate: try required("min_rate", "the lowest rate").double(in: 0...rateLimit),
                             maxRate: try required("max_rate", "the highest rate").double(in: 0...rateLimit),
                             period: try required("period", "the cycle length, like \"24h\"").duration(positive: true),
                             phase: try m["phase"]?.duration(positive: false) ?? 0)
        default:
            shape = .spike(baseRate: try required("base_rate", "the rate outside the spike").double(in: 0...rateLimit),
                           spikeRate: try required("spike_rate", "the rate during the spike").double(in: 0...rateLimit),
                           start: try required("spike_start", "when the spike begins").duration(positive: false),
                           duration: try required("spike_duration", "how long it lasts").duration(positive: true))
        }
        return Arrivals(shape: shape, process: process)
    }

    static func parsePopulation(_ node: JSONCursor, defaultAddress: String) throws(InputError) -> ClientPopulation {
        let kinds = ["one", "uniform", "zipf", "rotating"]
        guard let members = node.json.objectValue, let kindValue = members.first(where: { $0.0 == "population" })?.1 else {
            throw node.error("expected an object with \"population\": one of \(kinds.joined(separator: ", "))")
        }
        let kindNode = node.member("population", kindValue)
        let kind = try kindNode.string()
        let allowed: [String]
        switch kind {
        case "one": allowed = ["population", "address"]
        case "uniform": allowed = ["population", "count", "first_address"]
        case "zipf": allowed = ["population", "count", "exponent", "first_address"]
        case "rotating": allowed = ["population", "count", "every", "first_address"]
        default: throw kindNode.error("unknown population \(ProfileRules.quoted(kind)); populations are \(kinds.joined(separator: ", "))")
        }
        let m = try node.object(allowed: Set(allowed))
        func address(_ key: String) throws(InputError) -> String {
            guard let n = m[key] else { return defaultAddress }
            let text = try n.string()
            guard IPAddress(text) != nil, !text.contains("%") else { throw n.error("expected an IPv4 or IPv6 address, got \(ProfileRules.quoted(text))") }
            return text
        }
        func count() throws(InputError) -> Int {
            guard let n = m["count"] else { throw node.error("the \(kind) population needs \"count\" (how many clients)") }
            return try n.int(in: 1...ClientPopulation.maximumCount)
        }
        switch kind {
        case "one": return .one(address: try address("address"))
        case "uniform": return .uniform(count: try count(), firstAddress: try address("first_address"))
        case "zipf":
            guard let e = m["exponent"] else { throw node.error("the zipf population needs \"exponent\" (s, for example 1.1)") }
            return .zipf(count: try count(), exponent: try e.double(in: 0.01...10), firstAddress: try address("first_address"))
        default:
            guard let every = m["every"] else { throw node.error("the rotating population needs \"every\" (how long each client sends, like \"10s\")") }
            return .rotating(count: try count(), every: try every.duration(positive: true), firstAddress: try address("first_address"))
        }
    }

    static func parseMix<V>(_ node: JSONCursor, names: [String: V]) throws(InputError) -> WeightedMix<V> {
        let order = names.keys.sorted()
        guard let members = node.json.objectValue else {
            throw node.error("expected weights by name, like {\"\(order[0])\": 3, \"\(order[order.count > 1 ? 1 : 0])\": 1}")
        }
        var entries: [WeightedMix<V>.Entry] = []
        var seen: Set<String> = []
        for (key, value) in members {
            let child = node.member(key, value)
            guard let v = names[key] else { throw child.error("unknown name; expected one of \(order.joined(separator: ", "))") }
            guard seen.insert(key).inserted else { throw child.error("given twice") }
            entries.append(.init(v, try child.double(in: 0...1e12)))
        }
        guard entries.contains(where: { $0.weight > 0 }) else { throw node.error("expected at least one weight above 0") }
        return WeightedMix(entries)
    }

    static func parseBodySize(_ node: JSONCursor) throws(InputError) -> BodySize {
        if case .number = node.json.kind { return .fixed(try node.int(in: 0...ProfileRules.maximumBodyBytes)) }
        let m = try node.object(allowed: ["min", "max"])
        guard let lo = m["min"], let hi = m["max"] else { throw node.error("expected a byte count or {\"min\": …, \"max\": …}") }
        let a = try lo.int(in: 0...ProfileRules.maximumBodyBytes), b = try hi.int(in: 0...ProfileRules.maximumBodyBytes)
        guard a <= b else { throw hi.error("must be at least min (\(a)), got \(b)") }
        return .uniform(min: a, max: b)
    }
}

extension JSONCursor {
    /// Seconds as a number, or a duration string (`"90s"`, `"2m"`).
    func duration(positive: Bool) throws(InputError) -> Double {
        let seconds: Double
        switch json.kind {
        case .number(let text):
            guard let n = Double(text), n.isFinite else { throw error("expected a duration, found \(text)") }
            seconds = n
        case .string(let text):
            do { seconds = try DurationText.parse(text) } catch { throw self.error(error.description) }
        default:
            throw expected("a duration (seconds as a number, or a string like \"90s\" or \"2m\")")
        }
        guard seconds >= 0, seconds <= ProfileRules.maximumTime else { throw error("expected a duration from 0 to \(Int(ProfileRules.maximumTime)) s, found \(JSONOutput.number(seconds))") }
        if positive && seconds == 0 { throw error("expected a duration above 0") }
        return seconds
    }
}

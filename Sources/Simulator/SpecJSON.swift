import Wire

/// Writes a spec as the JSON that `ProfileSpec.parse` reads back (used by
/// `mcsec profile --print-spec`, so options can be turned into a spec file and edited).
public enum SpecJSON {
    public static func encode(_ spec: ProfileSpec) -> String {
        var out = "{\n  \"seed\": \(spec.seed),\n  \"duration\": \(JSONText.quote(DurationText.format(spec.duration))),\n  \"streams\": [\n"
        out += spec.streams.map { "    " + stream($0) }.joined(separator: ",\n")
        out += "\n  ]\n}\n"
        return out
    }

    static func duration(_ seconds: Double) -> String { JSONText.quote(DurationText.format(seconds)) }

    static func stream(_ s: StreamSpec) -> String {
        var fields = ["\"name\": \(JSONText.quote(s.name))"]
        if s.start != 0 { fields.append("\"start\": \(duration(s.start))") }
        if let end = s.end { fields.append("\"end\": \(duration(end))") }
        fields.append("\"arrivals\": \(arrivals(s.arrivals))")
        fields.append("\"clients\": \(population(s.clients, addressKey: true))")
        fields.append("\"endpoints\": \(mix(s.endpoints) { $0.name })")
        fields.append("\"signatures\": \(mix(s.signatures) { $0.name })")
        fields.append("\"tokens\": \(mix(s.tokens) { $0.name })")
        switch s.bodyBytes {
        case .fixed(let n): fields.append("\"body_bytes\": \(n)")
        case .uniform(let lo, let hi): fields.append("\"body_bytes\": {\"min\": \(lo), \"max\": \(hi)}")
        }
        if let p = s.proxyHeader {
            fields.append("\"proxy_header\": {\"name\": \(JSONText.quote(p.name)), \"share\": \(JSONOutput.number(p.share)), \"values\": \(population(p.values, addressKey: true))}")
        }
        return "{" + fields.joined(separator: ", ") + "}"
    }

    static func arrivals(_ a: Arrivals) -> String {
        var fields: [String]
        switch a.shape {
        case .constant(let rate):
            fields = ["\"shape\": \"constant\"", "\"rate\": \(JSONOutput.number(rate))"]
        case .ramping(let start, let stages):
            let list = stages.map { "{\"target\": \(JSONOutput.number($0.target)), \"duration\": \(duration($0.duration))}" }.joined(separator: ", ")
            fields = ["\"shape\": \"ramping\"", "\"start_rate\": \(JSONOutput.number(start))", "\"stages\": [\(list)]"]
        case .bursts(let size, let period, let offset, let spread):
            fields = ["\"shape\": \"bursts\"", "\"size\": \(size)", "\"period\": \(duration(period))", "\"offset\": \(duration(offset))", "\"spread\": \(duration(spread))"]
        case .diurnal(let lo, let hi, let period, let phase):
            fields = ["\"shape\": \"diurnal\"", "\"min_rate\": \(JSONOutput.number(lo))", "\"max_rate\": \(JSONOutput.number(hi))", "\"period\": \(duration(period))", "\"phase\": \(duration(phase))"]
        case .spike(let base, let spike, let start, let length):
            fields = ["\"shape\": \"spike\"", "\"base_rate\": \(JSONOutput.number(base))", "\"spike_rate\": \(JSONOutput.number(spike))", "\"spike_start\": \(duration(start))", "\"spike_duration\": \(duration(length))"]
        }
        if case .bursts = a.shape {} else { fields.append("\"process\": \(JSONText.quote(a.process.rawValue))") }
        return "{" + fields.joined(separator: ", ") + "}"
    }

    static func population(_ p: ClientPopulation, addressKey: Bool) -> String {
        switch p {
        case .one(let a): return "{\"population\": \"one\", \"address\": \(JSONText.quote(a))}"
        case .uniform(let n, let a): return "{\"population\": \"uniform\", \"count\": \(n), \"first_address\": \(JSONText.quote(a))}"
        case .zipf(let n, let s, let a): return "{\"population\": \"zipf\", \"count\": \(n), \"exponent\": \(JSONOutput.number(s)), \"first_address\": \(JSONText.quote(a))}"
        case .rotating(let n, let every, let a): return "{\"population\": \"rotating\", \"count\": \(n), \"every\": \(duration(every)), \"first_address\": \(JSONText.quote(a))}"
        }
    }

    static func mix<V>(_ m: WeightedMix<V>, name: (V) -> String) -> String {
        "{" + m.entries.map { "\(JSONText.quote(name($0.value))): \(JSONOutput.number($0.weight))" }.joined(separator: ", ") + "}"
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Wire

/// What a benchmark measured, kept for `--json FILE` so that CI can archive and compare runs
/// without scraping the text. The text report stays on standard output either way.
///
/// The file is one JSON object:
///
///     {"benchmark": "redis", "build": "release", "date": "2026-11-29T10:30:00Z",
///      "arguments": ["--rounds", "5"], "cores": 2, "load_average": [0.97, 1.6, 1.56],
///      "measurements": [{"name": "sequential.new_clients", "decisions_per_second": 28983, ...}, ...]}
///
/// Measurement names are stable identifiers (dotted, lower case); every other field is a
/// number with its unit in its name, a string, or a boolean.
final class BenchRecord {
    enum Value {
        case number(Double)
        case text(String)
        case flag(Bool)
    }

    let benchmark: String
    let arguments: [String]
    /// Where `write()` puts the document; nil when `--json` was not given.
    let path: String?
    private var measurements: [(name: String, fields: [(String, Value)])] = []

    /// `path` was checked writable before any measuring (the `--json` option is an output
    /// file in every benchmark's option table).
    init(benchmark: String, arguments: [String], path: String?) throws {
        self.benchmark = benchmark
        self.arguments = arguments
        self.path = path
    }

    func add(_ name: String, _ fields: (String, Value)...) {
        measurements.append((name, fields))
    }

    func add(_ name: String, fields: [(String, Value)]) {
        measurements.append((name, fields))
    }

    var names: [String] { measurements.map(\.name) }

    /// The document as JSON text (one line per measurement, for diffs).
    func json(date: Date = Date()) -> String {
        var out = "{\"benchmark\": \(JSONText.quote(benchmark)), \"mcsec_version\": \(JSONText.quote(Version.text)), \"build\": \(JSONText.quote(Self.build)), "
        out += "\"date\": \(JSONText.quote(Self.timestamp(date))),\n"
        out += " \"arguments\": [" + arguments.map(JSONText.quote).joined(separator: ", ") + "], "
        out += "\"cores\": \(ProcessInfo.processInfo.activeProcessorCount), "
        out += "\"load_average\": [" + Self.loadAverage().map(Self.number).joined(separator: ", ") + "],\n"
        out += " \"measurements\": ["
        for (index, measurement) in measurements.enumerated() {
            out += index == 0 ? "\n  " : ",\n  "
            out += "{\"name\": " + JSONText.quote(measurement.name)
            for (key, value) in measurement.fields {
                out += ", " + JSONText.quote(key) + ": "
                switch value {
                case .number(let n): out += Self.number(n)
                case .text(let s): out += JSONText.quote(s)
                case .flag(let b): out += b ? "true" : "false"
                }
            }
            out += "}"
        }
        out += "\n ]}\n"
        return out
    }

    /// Writes the document when `--json` was given. Should the file still fail to be written,
    /// the error names the option; the text report is already on the screen.
    func write() throws {
        guard let path else { return }
        do {
            try json().write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw UsageError("--json \(path): cannot write the figures: \(PathCheck.plain(error))")
        }
    }

    /// Finite numbers as JSON: whole numbers from 1,000 up (rates, counts: more digits would be
    /// noise), otherwise at most 4 decimals; others as null.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if abs(value) >= 1000 && abs(value) < 1e15 { return String(Int64(value.rounded())) }
        let rounded = (value * 10_000).rounded() / 10_000
        if rounded == rounded.rounded() { return String(Int64(rounded)) }
        return String(rounded)
    }

    static var build: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// The 1, 5 and 15 minute load averages (Linux); empty where unavailable. Benchmarks on a
    /// shared machine are read against it.
    static func loadAverage() -> [Double] {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return [] }
        return text.split(separator: " ").prefix(3).compactMap { Double($0) }
    }
}

import Foundation
import Wire

/// `mcsec bench <what>`: performance figures, printed, never asserted (benchmarks are not tests).
enum BenchCommand {
    static let benchmarks: [Command] = [
        .leaf("limiter", "sliding-window limiter decisions/s and bytes per key", BenchLimiter.help, BenchLimiter.run),
        .leaf("hmac", "SHA-256 / HMAC-SHA256 throughput", BenchHMAC.help, BenchHMAC.run),
        .leaf("redis", "limiter decisions/s through a Redis server", BenchRedis.help, BenchRedis.run),
        .leaf("check", "time the conformance suite in-process and over HTTP", BenchCheck.help, BenchCheck.run),
        .leaf("simulate", "simulator events/s on a large generated profile", BenchSimulate.help, BenchSimulate.run),
        .leaf("fuzz", "fuzz requests/s against mcsec serve, and the oracle's decisions/s", BenchFuzz.help, BenchFuzz.run),
        .leaf("replay", "the highest replay rate kept on schedule against mcsec serve, next to wrk", BenchReplay.help, BenchReplay.run),
    ]

    static let note = """
    Benchmarks print figures; they are not tests. Build with -c release (swift run -c release
    mcsec bench ...) for real figures. Each reports the spread between its rounds; where the
    spread is wider than the margin to a target it says "inconclusive" instead of met or not met.
    Exit status 0 once measured, whatever the figures; 2 for bad options or an unreachable server.
    """

    /// `mcsec serve` (this executable, its bundled world) on a free loopback port, started and
    /// listening; the caller terminates it.
    static func startServe() throws -> (server: ChildProcess, port: Int) {
        guard let binary = CheckCommand.selfExecutable() else {
            throw UsageError("cannot find this program's own executable to start 'mcsec serve'")
        }
        let server = try ChildProcess(executable: binary, arguments: ["serve", "--port", "0"])
        do {
            let line = try server.waitForLine(prefix: "listening on http://", timeout: 30)
            guard let colon = line.lastIndex(of: ":"), let port = Int(line[line.index(after: colon)...]) else {
                throw UsageError("unexpected first line from mcsec serve: '\(line)'")
            }
            return (server, port)
        } catch {
            _ = server.terminate()
            throw error
        }
    }

    /// `text` padded with spaces to `width` columns (a column of a report table), or followed
    /// by one space when it is already that wide.
    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text.padding(toLength: width, withPad: " ", startingAt: 0)
    }
}

/// Other programs the benchmarks compare with (openssl, redis-benchmark) or start (redis-server).
enum ExternalTool {
    /// The executable called `name` on PATH or in the usual directories; nil when absent.
    static func find(_ name: String) -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/sbin", "/usr/local/bin"]
        return dirs.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs `path` with `arguments` to the end and returns what it wrote to stdout (stderr is
    /// discarded).
    static func output(_ path: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Registered, so that an interrupted benchmark stops it before exiting.
        let pid = process.processIdentifier
        InterruptCleanup.children.withLock { _ = $0.insert(pid) }
        defer { InterruptCleanup.children.withLock { _ = $0.remove(pid) } }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// One figure measured in several rounds: the best, the median, and the spread between rounds,
/// which on a shared machine can be wider than the distance to a target.
struct Rounds {
    let values: [Double]

    init(_ values: [Double]) { self.values = values }

    var best: Double { values.max() ?? 0 }
    var lowest: Double { values.min() ?? 0 }
    var median: Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    /// (highest − lowest) / median: 0 for one round.
    var spread: Double {
        guard values.count > 1, median != 0 else { return 0 }
        return (best - lowest) / abs(median)
    }

    var spreadText: String {
        values.count > 1 ? String(format: "spread %.1f%% over %d rounds", spread * 100, values.count) : "one round, spread unknown"
    }
}

/// A figure against a target, with the uncertainty the spread between rounds gives it: when the
/// figure is nearer the target than the spread, the run cannot tell, and says so.
enum TargetVerdict: Equatable {
    case met
    case notMet
    case inconclusive(spread: Double)

    /// - Parameters:
    ///   - atMost: true when the target is an upper bound (seconds, bytes), false for a lower
    ///     bound (rates, ratios).
    ///   - spread: the relative spread between rounds (`Rounds.spread`).
    static func judge(_ value: Double, target: Double, atMost: Bool, spread: Double) -> TargetVerdict {
        let margin = target == 0 ? .infinity : abs(value - target) / abs(target)
        if spread > 0 && margin < spread { return .inconclusive(spread: spread) }
        return (atMost ? value <= target : value >= target) ? .met : .notMet
    }

    var text: String {
        switch self {
        case .met: return "met"
        case .notMet: return "NOT met"
        case .inconclusive(let spread): return String(format: "inconclusive (spread %.1f%%)", spread * 100)
        }
    }

    /// For the JSON record: "met", "not_met", "inconclusive".
    var key: String {
        switch self {
        case .met: return "met"
        case .notMet: return "not_met"
        case .inconclusive: return "inconclusive"
        }
    }
}

import Foundation

/// `mcsec bench <what>`: performance figures, printed, never asserted (benchmarks are not tests).
enum BenchCommand {
    struct Benchmark: Sendable {
        let name: String
        let summary: String
        let run: @Sendable ([String]) throws -> Int32
    }

    static let benchmarks: [Benchmark] = [
        Benchmark(name: "limiter", summary: "sliding-window limiter decisions/s and bytes per key", run: BenchLimiter.run),
        Benchmark(name: "hmac", summary: "SHA-256 / HMAC-SHA256 throughput", run: BenchHMAC.run),
        Benchmark(name: "redis", summary: "limiter decisions/s through a Redis server", run: BenchRedis.run),
        Benchmark(name: "check", summary: "time the conformance suite in-process and over HTTP", run: BenchCheck.run),
        Benchmark(name: "fuzz", summary: "fuzz requests/s against mcsec serve, and the oracle's decisions/s", run: BenchFuzz.run),
        Benchmark(name: "simulate", summary: "simulator events/s on a large generated profile", run: BenchSimulate.run),
    ]

    static var usage: String {
        var text = "usage: mcsec bench <what> [options]   (build with -c release for real figures)\n\n"
        for b in benchmarks {
            text += "  " + b.name.padding(toLength: 10, withPad: " ", startingAt: 0) + b.summary + "\n"
        }
        return text
    }

    static func run(_ args: [String]) throws -> Int32 {
        guard let name = args.first, name != "--help", name != "-h" else {
            print(usage, terminator: "")
            return args.isEmpty ? 2 : 0
        }
        guard let bench = benchmarks.first(where: { $0.name == name }) else {
            throw UsageError("unknown benchmark '\(name)'\n\(usage)")
        }
        return try bench.run(Array(args.dropFirst()))
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
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

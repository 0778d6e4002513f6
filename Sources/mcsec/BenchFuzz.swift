import Foundation
import Fuzz
import Reference
import TargetFiles
import Wire

/// `mcsec bench fuzz`: requests/s of a fuzz run against a spawned `mcsec serve` (each request
/// goes to the server and to the oracle), next to the oracle's own decisions/s in-process.
enum BenchFuzz {
    static let help = CommandHelp(
        path: "bench fuzz",
        about: "Runs mcsec fuzz against a spawned mcsec serve (its bundled world) and prints requests/s, then the oracle's own decisions/s in-process on the same requests.",
        options: [
            .valued("budget", "N", "requests (default 10000)"),
            .valued("seed", "S", "the generator's seed (default 1)"),
        ])

    static func run(_ parsed: Arguments) throws -> Int32 {
        let budget = try parsed.int("budget", default: 10_000, range: 1...1_000_000) ?? 10_000
        let seed = UInt64(parsed.value("seed") ?? "1") ?? 1
        let (server, port) = try BenchCommand.startServe()
        defer { _ = server.terminate() }
        var target = World.oracleBenchWorld.targetFile
        #if os(Linux)
        target.sourceAddresses = (2...25).map { "127.0.0.\($0)" }
        #endif
        var options = FuzzOptions()
        options.budget = budget
        options.seed = seed
        options.shrink = false
        let run = try FuzzRun(target: target, host: "127.0.0.1", port: port, options: options)
        let result = run.run()
        if let first = result.findings.first, let d = first.differences.first {
            print("first difference (\(first.request.className)): \(d.aspect): expected \(d.expected), got \(d.actual)")
        }
        print("fuzz against mcsec serve: \(result.sent) requests in \(String(format: "%.2f", result.seconds)) s = \(Int(Double(result.sent) / max(result.seconds, 1e-9))) requests/s (each also answered by the oracle), \(result.findings.count) differ")

        // The oracle alone: the same requests straight into a fresh service, no sockets.
        let requests = FuzzRun.plan(budget: budget, seed: seed, classes: RequestClass.catalog,
                                    context: GenerationContext(target: target, host: "127.0.0.1:\(port)"))
        let oracle = try FuzzOracle(target: target)
        defer { oracle.stop() }
        let service = oracle.assembly.service
        let start = Date()
        var statuses = 0
        for r in requests {
            var request = HTTPRequest(method: r.method, target: r.target, headers: HTTPFields(r.headers), body: .bytes(r.body))
            request.peer = "127.0.0.1"
            statuses &+= service.handle(request).status
        }
        let seconds = Date().timeIntervalSince(start)
        print("oracle in-process: \(requests.count) decisions in \(String(format: "%.3f", seconds)) s = \(Int(Double(requests.count) / max(seconds, 1e-9))) decisions/s (status sum \(statuses))")
        return 0
    }
}

extension World {
    /// The bundled world (what `mcsec serve` serves by default).
    static var oracleBenchWorld: World { (try? World.bundled()) ?? World() }
}

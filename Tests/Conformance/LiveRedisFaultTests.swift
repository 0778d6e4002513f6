import Foundation
import ReferenceTargets
import TargetFiles
import Testing
import Harness
import Reference
import TestSupport
import Wire

/// `--inject-faults` against `mcsec serve` on the redis backend, with a real redis-server the
/// test starts: a server that waits for a stalled Redis is caught and told how long it held
/// requests, and an interrupted run never leaves Redis paused.
@Suite(.serialized) struct LiveRedisFaultTests {
    static func targetFile(redis: RedisServer) throws -> TargetFile {
        var file = try LiveTargetTests.targetFile()
        file.config["RATE_LIMIT_BACKEND"] = "redis"
        file.redisURL = redis.url()
        return file
    }

    static func serve(_ redis: RedisServer, _ extra: [String] = []) throws -> ServeProcess {
        try ServeProcess.start(arguments: ["--env", "RATE_LIMIT_BACKEND=redis", "--env", "RATE_LIMIT_REDIS_URL=\(redis.url())"] + extra)
    }

    @Test(.requires(.redisServer))
    func aServerThatWaitsForAStalledRedisFails() throws {
        let redis = try RedisServer()
        defer { redis.stop() }
        let server = try Self.serve(redis, ["--mutation", "redis-waits-on-stall"])
        defer { server.process.terminate() }
        let file = try Self.targetFile(redis: redis)
        let target = try HTTPTarget(baseURL: server.baseURL, targetFile: file)
        var options = RunOptions()
        options.ruleSelectors = ["REDIS-6"]
        let injector = try FaultInjector(url: redis.url())
        options.faultInjector = injector
        let report = try Runner(suite: try Conformance.suite(), target: target, options: options).run()
        let catalog = try MutationCatalog.load(fixturesDirectory: TestPaths.fixtures, suite: try Conformance.suite())
        let entry = try #require(catalog["redis-waits-on-stall"])
        for c in entry.caughtBy {
            let r = try #require(report.results.first { $0.id == c.fixture })
            #expect(r.verdict == c.verdict, "\(c.fixture): \(r.verdict.label)")
            // The report says how long the request was held.
            #expect(r.findings.first?.actual.hasPrefix("held ") == true, "\(r.findings.first?.actual ?? "")")
        }
        #expect(injector.actions.filter { $0 == "unpause" }.count == entry.caughtBy.count)
        // The unmodified reference on the same Redis fails open: the stall fixtures pass.
        let good = try Self.serve(redis)
        defer { good.process.terminate() }
        let goodReport = try Runner(suite: try Conformance.suite(), target: try HTTPTarget(baseURL: good.baseURL, targetFile: file),
                                    options: options).run()
        for c in entry.caughtBy { #expect(goodReport.results.first { $0.id == c.fixture }?.verdict == .pass, "\(c.fixture)") }
    }

    /// SIGINT or SIGTERM while Redis is paused: the run unpauses it before it exits.
    @Test(.requires(.redisServer), .requiresMcsecBinary, arguments: [SIGINT, SIGTERM])
    func anInterruptedRunUnpausesRedis(signal: Int32) throws {
        let redis = try RedisServer()
        defer { redis.stop() }
        let server = try Self.serve(redis)
        defer { server.process.terminate() }
        var file = try Self.targetFile(redis: redis)
        file.baseURL = server.baseURL
        let path = NSTemporaryDirectory() + "mcsec-faults-\(UUID().uuidString).json"
        try Data(file.json.pretty.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let binary = try #require(TestPaths.mcsecBinary)
        let check = try ChildProcess(executable: binary, arguments: ["check", "--target-file", path, "--inject-faults", "--rules", "REDIS-6"])
        defer { check.terminate() }
        // Wait for the stall to begin (the run says so on standard error), then interrupt.
        let deadline = Date().addingTimeInterval(30)
        while !check.stderr.contains("stalling Redis") && check.isRunning && Date() < deadline { usleep(10_000) }
        try #require(check.stderr.contains("stalling Redis"), "the stall never began: \(check.stderr.suffix(500))")
        check.send(signal: signal)
        let status = check.waitForExit(timeout: 10)
        #expect(status == 128 + signal, "exit status \(String(describing: status)); stderr: \(check.stderr.suffix(500))")
        #expect(check.stderr.contains("Redis unpaused"))
        #expect(check.stderr.contains("--inject-faults: will stall and disconnect the Redis"), "the first line warns")
        // Unpaused: a write (what the stall holds) is answered at once, not when the 3 s stall
        // would have ended; the journal printed on exit says it was undone, not left to expire.
        let client = try redis.client(timeout: 1)
        defer { client.close() }
        #expect(try client.command(["SET", "mcsec:unpaused", "1"]) == .simpleString("OK"))
        #expect(check.stderr.contains("pause 3000 ms, unpause)"), "\(check.stderr.suffix(400))")
    }
}

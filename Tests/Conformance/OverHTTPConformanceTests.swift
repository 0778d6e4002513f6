import Foundation
import Testing
import Harness
import Reference
import TestSupport

/// The whole suite over real HTTP: against `mcsec serve` started on 127.0.0.1 (one per
/// configuration), and, when `MCSEC_TARGET_URL` and `MCSEC_TARGET_FILE` are set, against that
/// server (how CI checks a staging deployment; see Fixtures/targets/README.md).
@Suite struct OverHTTPConformanceTests {
    @Test func everyFixtureAgainstSpawnedReference() throws {
        let suite = try Conformance.suite()
        let binary = try #require(TestPaths.mcsecBinary, "the mcsec executable is not built next to the tests")
        let target = SpawnedReferenceTarget(executable: binary, world: try Conformance.world())
        defer { target.close() }
        let report = try Runner(suite: suite, target: target).run()
        for r in report.results { Conformance.recordProblems(r, catalog: suite.catalog) }
        #expect(report.counts.failed == 0 && report.counts.deviations == 0, "\(Report.text(report))")
        // Over HTTP, only what needs in-process access, clock control or declared Dockerfiles may skip.
        for r in report.results where r.verdict == .skip {
            let reason = r.skipReason ?? ""
            let expected = ["in-process", "--allow-waits", "Dockerfile", "redis", "Redis"].contains { reason.contains($0) }
            #expect(expected, "\(r.id) skipped: \(reason)")
        }
        #expect(report.results.contains { $0.id == SecurityHeaderCheck.resultID && $0.verdict == .pass })
    }

    /// Two `mcsec serve` processes sharing one redis-server: the exact-count limit fixtures
    /// run across workers, and the shared-limit fixture is not skipped.
    @Test(.enabled(if: RedisServer.isAvailable, Comment(rawValue: RedisServer.unavailableReason)))
    func everyFixtureAgainstTwoWorkersSharingRedis() throws {
        let suite = try Conformance.suite()
        let binary = try #require(TestPaths.mcsecBinary, "the mcsec executable is not built next to the tests")
        let redis = try RedisServer()
        defer { redis.stop() }
        let target = SpawnedReferenceTarget(executable: binary, world: try Conformance.world(), workers: 2,
                                            environment: ["RATE_LIMIT_BACKEND": "redis", "RATE_LIMIT_REDIS_URL": redis.url()])
        defer { target.close() }
        let report = try Runner(suite: suite, target: target).run()
        for r in report.results { Conformance.recordProblems(r, catalog: suite.catalog) }
        #expect(report.counts.failed == 0 && report.counts.deviations == 0)
        #expect(report.results.first { $0.id == "redis.shared-across-workers" }?.verdict == .pass)
        #expect(report.results.first { $0.id == "rl.webhook.limit" }?.verdict == .pass)
    }

    /// Two workers with the memory backend: exact-count limit fixtures are skipped (limits are
    /// per worker, as the page says), and the deployment note says so.
    @Test func twoWorkersWithMemoryBackendSkipExactLimits() throws {
        let suite = try Conformance.suite()
        let binary = try #require(TestPaths.mcsecBinary, "the mcsec executable is not built next to the tests")
        let target = SpawnedReferenceTarget(executable: binary, world: try Conformance.world(), workers: 2)
        defer { target.close() }
        var options = RunOptions()
        options.ruleSelectors = ["RL", "REDIS"]
        let report = try Runner(suite: suite, target: target, options: options).run()
        #expect(report.counts.failed == 0)
        let limit = try #require(report.results.first { $0.id == "rl.webhook.limit" })
        #expect(limit.verdict == .skip && limit.skipReason?.contains("limits are per worker") == true)
        let note = try #require(report.results.first { $0.id == "redis.per-process-memory" })
        #expect(note.verdict == .informational && note.notes.first?.contains("2 × the limit") == true)
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["MCSEC_TARGET_URL"] != nil
                   && ProcessInfo.processInfo.environment["MCSEC_TARGET_FILE"] != nil,
                   "set MCSEC_TARGET_URL and MCSEC_TARGET_FILE to check a live server"))
    func everyFixtureAgainstConfiguredTarget() throws {
        let env = ProcessInfo.processInfo.environment
        let url = try #require(env["MCSEC_TARGET_URL"])
        let file = try TargetFile.load(from: URL(fileURLWithPath: try #require(env["MCSEC_TARGET_FILE"])))
        let target = try HTTPTarget(baseURL: url, targetFile: file)
        try target.probe()
        var options = RunOptions()
        options.allowWaits = env["MCSEC_ALLOW_WAITS"] == "1"
        let suite = try Conformance.suite()
        let report = try Runner(suite: suite, target: target, options: options).run()
        print(Report.text(report))
        // Against a real deployment, a deviation from the real service's behaviour is reported
        // (in the printed report) but does not fail the test: the page does not promise it.
        for r in report.results { Conformance.recordProblems(r, catalog: suite.catalog, deviationsToo: false) }
        #expect(report.counts.failed == 0)
    }
}

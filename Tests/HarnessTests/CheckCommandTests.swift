import Foundation
import TargetFiles
import Testing
import TestSupport
import Wire

/// `mcsec check` as users run it: exit statuses, reports, and errors that say what to fix.
@Suite struct CheckCommandTests {
    struct Run {
        var status: Int32?
        var stdout: String
        var stderr: String
    }

    func check(_ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        let binary = try #require(TestPaths.mcsecBinary, "the mcsec executable is not built next to the tests")
        let child = try ChildProcess(executable: binary, arguments: ["check"] + arguments, environment: environment)
        let status = child.waitForExit(timeout: 120)
        return Run(status: status, stdout: child.stdoutLines.joined(separator: "\n"), stderr: child.stderr)
    }

    /// A fixtures directory with the real catalog and one suite file.
    func fixtures(_ suite: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mcsec-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("suites"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: TestPaths.fixtures.appendingPathComponent("rules.json"), to: dir.appendingPathComponent("rules.json"))
        try Data(suite.utf8).write(to: dir.appendingPathComponent("suites/test.json"))
        return dir
    }

    /// The last line of a text report: `N passed, N failed, N skipped`, nothing else.
    static func countsLine(_ stdout: String) -> (passed: Int, failed: Int, skipped: Int)? {
        guard let last = stdout.split(separator: "\n").last else { return nil }
        let words = last.split(separator: " ")
        guard words.count == 6, words[1] == "passed,", words[3] == "failed,", words[5] == "skipped",
              let p = Int(words[0]), let f = Int(words[2]), let s = Int(words[4]) else { return nil }
        return (p, f, s)
    }

    @Test func passingSuiteExitsZeroWithTheCountsLine() throws {
        let run = try check(["--rules", "SIG"])
        #expect(run.status == 0, "\(run.stderr)")
        let counts = try #require(Self.countsLine(run.stdout), "last line: \(run.stdout.split(separator: "\n").last ?? "")")
        #expect(counts.passed >= 10 && counts.failed == 0 && counts.skipped == 0)
        #expect(run.stdout.contains("Webhook HMAC verification (SIG)"))
        // --rules selects: no other section is reported (headers on every response are still
        // checked, and reported only when something is wrong).
        #expect(!run.stdout.contains("Rate limiting (RL)"))
        #expect(!run.stdout.contains("Webhook payload size limit (SIZE)"))
        #expect(!run.stdout.contains("headers.every-response"))
        #expect(run.stdout.contains("PASS      sig.valid.hub"))
    }

    @Test func pageRuleBrokenExitsOneEvenWithoutStrict() throws {
        let run = try check(["--mutation", "skip-signature-check", "--rules", "SIG"])
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stdout.contains("FAIL      sig.missing"))
        #expect(run.stdout.contains("SIG-6 (page): \"Missing or invalid signatures return `403 Forbidden`.\""))
        #expect((Self.countsLine(run.stdout)?.failed ?? 0) > 0)
    }

    /// A broken variant that breaks only the real service's behaviour (refused attempts not
    /// recorded): reported as a deviation naming RL-4/RL-5; exit 0, and 1 with --strict.
    @Test func deviationFailsOnlyUnderStrict() throws {
        let plain = try check(["--mutation", "blocked-attempts-not-recorded", "--rules", "RL"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.contains("DEVIATION rl.blocked-attempts-recorded"))
        #expect(plain.stdout.contains("RL-4 (service): "))
        #expect(plain.stdout.contains("RL-5 (service): "))
        #expect(plain.stdout.contains("1 deviation from the real service's behaviour"))
        #expect(Self.countsLine(plain.stdout)?.failed == 0)
        let strict = try check(["--mutation", "blocked-attempts-not-recorded", "--rules", "RL", "--strict"])
        #expect(strict.status == 1)
        #expect(strict.stdout.contains("DEVIATION rl.blocked-attempts-recorded"))
    }

    /// JUnit agrees with the exit status: a deviation is a <failure> only under --strict.
    @Test func junitCountsDeviationsAsFailuresOnlyUnderStrict() throws {
        for strict in [false, true] {
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("report-\(UUID().uuidString).xml")
            defer { try? FileManager.default.removeItem(at: out) }
            let run = try check(["--mutation", "blocked-attempts-not-recorded", "--rules", "RL-4", "--format", "junit", "--output", out.path]
                                + (strict ? ["--strict"] : []))
            #expect(run.status == (strict ? 1 : 0))
            let xml = try String(contentsOf: out, encoding: .utf8)
            #expect(xml.contains("<testsuites name=\"mcsec check\" tests=\"2\" failures=\"\(strict ? 1 : 0)\""), "\(xml.prefix(300))")
            #expect(xml.contains("<failure type=\"deviation\"") == strict)
            #expect(xml.contains("DEVIATION from the real service") == !strict)
            #expect(run.stderr.contains("0 failed, 0 skipped, 1 deviation (report in"))
        }
    }

    @Test func jsonReportShape() throws {
        let run = try check(["--rules", "LOG", "--format", "json"])
        #expect(run.status == 0)
        let text = run.stdout
        // The summary, every result with its verdict, and every rule of the catalog with its own.
        #expect(text.hasPrefix("{"))
        for key in ["\"target\"", "\"summary\"", "\"passed\"", "\"failed\"", "\"deviations\"", "\"skipped\"", "\"informational\"",
                    "\"results\"", "\"rules\"", "\"verdict\": \"pass\"", "\"id\": \"log.unknown-token.prefix-only\""] {
            #expect(text.contains(key), "no \(key) in the JSON report")
        }
    }

    /// `--over-http` spawns `mcsec serve`; log checks read its standard error.
    @Test func overHTTPRunsLogChecksAgainstTheSpawnedServer() throws {
        let run = try check(["--over-http", "--rules", "LOG"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("mcsec check against mcsec serve on 127.0.0.1 (spawned)"))
        #expect(run.stdout.contains("PASS      log.unknown-token.prefix-only"))
        #expect(run.stdout.contains("PASS      log.optional-auth.prefix-only"))
        #expect(Self.countsLine(run.stdout)?.skipped == 0)
    }

    @Test func mutationUsageErrors() throws {
        let unknown = try check(["--mutation", "no-such-fault"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("log-whole-token"))
        #expect(try check(["--mutation", "log-whole-token", "--over-http"]).status == 2)
    }

    @Test func malformedRuleCatalogExitsTwoNamingFileAndPath() throws {
        let dir = try fixtures(#"{"fixtures": [{"id": "x", "title": "t", "rules": ["HDR-1"], "steps": [{"request": {"path": "/healthz"}, "expect": {"status": 200}}]}]}"#)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(#"{"sections": [{"prefix": "HDR", "title": "Headers"}], "rules": [{"id": "HDR-1", "text": "x", "level": "page", "source": "s"}]}"#.utf8)
            .write(to: dir.appendingPathComponent("rules.json"))
        let run = try check(["--fixtures", dir.path])
        #expect(run.status == 2)
        #expect(run.stderr.contains("rules.json:1:"), "\(run.stderr)")
        #expect(run.stderr.contains("$.rules[0].level: expected one of \"spec\", \"service\""), "\(run.stderr)")
    }

    @Test func failingFixtureExitsOne() throws {
        let dir = try fixtures(#"{"fixtures": [{"id": "wrong", "title": "expects the impossible", "rules": ["HDR-1"], "steps": [{"request": {"path": "/healthz"}, "expect": {"status": 418}}]}]}"#)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try check(["--fixtures", dir.path])
        #expect(run.status == 1)
        #expect(run.stdout.contains("FAIL      wrong"))
        #expect(run.stdout.contains("expected: status 418"))
    }

    @Test func malformedFixtureExitsTwoNamingFileAndPath() throws {
        let dir = try fixtures(#"{"fixtures": [{"id": "x", "title": "t", "rules": ["HDR-1"], "steps": [{"request": {"path": "/healthz"}, "expect": {"status": "200"}}]}]}"#)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try check(["--fixtures", dir.path])
        #expect(run.status == 2)
        #expect(run.stderr.contains("suites/test.json:1:"))
        #expect(run.stderr.contains("$.fixtures[0].steps[0].expect.status: expected a whole number from 100 to 599"))
    }

    @Test func unreachableTargetIsOneErrorExitTwo() throws {
        let port = try FreePort.find()
        let run = try check(["--target", "http://127.0.0.1:\(port)"])
        #expect(run.status == 2)
        #expect(run.stderr.contains("cannot reach the target"))
        #expect(run.stderr.split(separator: "\n").count == 1)
        #expect(run.stdout.isEmpty)
    }

    @Test func badTargetFileExitsTwo() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("target-\(UUID().uuidString).json")
        try Data(#"{"baseURL": "http://127.0.0.1:9", "webhooks": {"custom": {"id": "w", "secret": "s"}}}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let run = try check(["--target-file", file.path])
        #expect(run.status == 2)
        #expect(run.stderr.contains("$.webhooks.custom: webhooks.custom needs its \"header\""))
    }

    @Test func usageErrorsExitTwo() throws {
        #expect(try check(["--format", "yaml"]).status == 2)
        #expect(try check(["--rules", "NOPE"]).status == 2)
        #expect(try check(["--over-http", "--target", "http://x"]).status == 2)
        #expect(try check(["--workers", "2"]).status == 2)
    }

    @Test func junitReportGoesToTheOutputFile() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("report-\(UUID().uuidString).xml")
        defer { try? FileManager.default.removeItem(at: out) }
        let run = try check(["--rules", "HDR", "--format", "junit", "--output", out.path])
        #expect(run.status == 0)
        let xml = try String(contentsOf: out, encoding: .utf8)
        #expect(xml.hasPrefix("<?xml"))
        #expect(xml.contains("<testsuite name=\"HDR Security response headers\""))
        #expect(run.stderr.contains("0 failed"))
    }

    @Test func listShowsRulesAndTheirFixtures() throws {
        let run = try check(["--list", "--rules", "LOG"])
        #expect(run.status == 0)
        #expect(run.stdout.contains("LOG-2 [page] Full tokens are never written to logs."))
        #expect(run.stdout.contains("log.unknown-token.prefix-only (http)"))
    }
}

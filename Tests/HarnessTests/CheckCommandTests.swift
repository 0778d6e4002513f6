import Foundation
import Testing
import TestSupport

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

    @Test func passingSuiteExitsZeroWithTheCountsLine() throws {
        let run = try check(["--rules", "SIG"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.hasSuffix("passed, 0 failed, 0 skipped") || run.stdout.contains(" passed, 0 failed, "))
        #expect(run.stdout.contains("Webhook HMAC verification (SIG)"))
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

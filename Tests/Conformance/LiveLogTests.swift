import Foundation
import TargetFiles
import Testing
import Harness
import Reference
import TestSupport
import Wire

/// The log checks against a live server, reading its log where the target file says it is:
/// a file it appends to, or a command that prints it.
@Suite struct LiveLogTests {
    /// `mcsec serve` with its standard error (its log) appended to a file.
    struct LoggingServer {
        let process: ChildProcess
        let port: Int
        let logPath: String

        init(_ arguments: [String] = []) throws {
            let binary = try #require(TestPaths.mcsecBinary, "the mcsec executable is not built next to the tests")
            logPath = NSTemporaryDirectory() + "mcsec-serve-\(UUID().uuidString).log"
            try #require(FileManager.default.createFile(atPath: logPath, contents: Data("a line from before the run\n".utf8)))
            let command = ([binary.path, "serve", "--port", "0"] + arguments).map { "'\($0)'" }.joined(separator: " ")
            process = try ChildProcess(executable: URL(fileURLWithPath: "/bin/sh"), arguments: ["-c", "exec \(command) 2>>'\(logPath)'"])
            let line = try process.waitForLine(prefix: "listening on http://", timeout: 30)
            port = try #require(line.split(separator: ":").last.flatMap { Int($0) })
        }

        func stop() {
            _ = process.terminate()
            try? FileManager.default.removeItem(atPath: logPath)
        }
    }

    static func run(_ server: LoggingServer, logs: TargetFile.LogSource) throws -> RunReport {
        var file = try LiveTargetTests.targetFile()
        file.logs = logs
        let target = try HTTPTarget(baseURL: "http://127.0.0.1:\(server.port)", targetFile: file)
        return try Conformance.run(target, rules: ["LOG"])
    }

    @Test(arguments: ["file", "command"])
    func logChecksRunAgainstALiveServer(source: String) throws {
        let server = try LoggingServer()
        defer { server.stop() }
        let logs: TargetFile.LogSource = source == "file" ? .file(server.logPath) : .command("cat '\(server.logPath)'")
        let report = try Self.run(server, logs: logs)
        #expect(report.counts.failed == 0 && report.counts.deviations == 0, "\(Report.text(report))")
        #expect(report.counts.skipped == 0, "every log fixture runs: \(report.results.filter { $0.verdict == .skip }.map { "\($0.id): \($0.skipReason ?? "")" })")
        let scan = try #require(report.results.first { $0.id == Runner.logScanID })
        #expect(scan.verdict == .pass)
        // Only the run's lines were read: not the one written before it started.
        #expect(!scan.title.contains(" 0 log lines"))
    }

    /// A server that logs whole tokens fails the prefix fixtures and the scan, and the report
    /// (bound for a CI log) never shows a whole token.
    @Test func wholeTokensInTheLogFailAndAreMaskedInTheReport() throws {
        let server = try LoggingServer(["--mutation", "log-whole-token"])
        defer { server.stop() }
        let report = try Self.run(server, logs: .file(server.logPath))
        let failed = report.results.filter { $0.verdict == .fail }.map(\.id).sorted()
        #expect(failed == ["log.optional-auth.prefix-only", "log.unknown-bearer.prefix-only", "log.unknown-token.prefix-only", Runner.logScanID])
        let text = Report.text(report)
        let log = try String(contentsOfFile: server.logPath, encoding: .utf8)
        // Every whole token the server logged, and none of them in the report.
        let logged = log.split(separator: "\n").compactMap { line -> String? in
            guard let r = line.range(of: "token_prefix=") else { return nil }
            return line[r.upperBound...].split(separator: " ").first.map(String.init)
        }.filter { $0.count >= 12 }
        #expect(logged.count >= 3)
        for token in logged { #expect(!text.contains(token), "the report shows a whole token: \(token.prefix(8))…") }
        #expect(text.contains("[masked,"))
    }

    @Test func aCommandSeesTheRunsStartTime() throws {
        let started = Date(timeIntervalSince1970: 1_800_000_000)
        let log = try LiveLog(source: .command("echo before; test -f /nonexistent-mcsec || echo since={start}"), started: started)
        #expect(log.linesSinceStart().isEmpty, "the command's output before the run is not the run's")
        let probe = try LiveLog(source: .command("echo since={start}"), started: started)
        #expect(probe.runCommandLinesForTesting() == ["since=2027-01-15T08:00:00Z"])
    }

    @Test func anUnreadableLogIsAnInputErrorNamingIt() {
        #expect(throws: InputError.self) { try LiveLog(source: .file("/nonexistent/mcsec.log")) }
        #expect(throws: InputError.self) { try LiveLog(source: .command("exit 3")) }
    }

    @Test func theTargetFileDescribesWhereTheLogIs() throws {
        let file = try TargetFile.decode(Array(#"{"logs": {"file": "serve.log"}, "redis": {"url": "redis://127.0.0.1:6399/0"}, "tls": {"caFile": "ca.pem"}}"#.utf8),
                                        file: "t.json", directory: URL(fileURLWithPath: "/srv/mcsec"))
        #expect(file.logs == .file("/srv/mcsec/serve.log"))
        #expect(file.redisURL == "redis://127.0.0.1:6399/0")
        #expect(file.tlsCAFile == "/srv/mcsec/ca.pem")
        for (text, path, words) in [
            (#"{"logs": {"file": "a", "command": "b"}}"#, "$.logs", "exactly one of"),
            (#"{"logs": {}}"#, "$.logs", "exactly one of"),
            (#"{"redis": {"url": "http://x"}}"#, "$.redis.url", "redis:// URL"),
            (#"{"tls": {"caFile": ""}}"#, "$.tls.caFile", "non-empty"),
        ] {
            do {
                _ = try TargetFile.decode(Array(text.utf8), file: "t.json")
                Issue.record("decoded \(text)")
            } catch let e as InputError {
                #expect(e.path == path, "\(e)")
                #expect(e.description.contains(words), "\(e)")
            }
        }
    }
}

import Foundation
import Testing
import TestSupport
import Wire

/// `mcsec bench …` at small sizes: every benchmark runs to the end, prints the rows its help
/// promises, agrees with itself where it measures one thing several ways, and rejects bad
/// options with status 2. (The figures themselves need a release build; see the README.)
@Suite struct BenchCommandTests {
    struct Run {
        var status: Int32?
        var stdout: String
        var stderr: String
        var lines: [Substring] { stdout.split(separator: "\n", omittingEmptySubsequences: false) }
    }

    func bench(_ arguments: [String], timeout: Double = 120) throws -> Run {
        let binary = try #require(TestPaths.mcsecBinary, "the mcsec executable is not built next to the tests")
        let child = try ChildProcess(executable: binary, arguments: ["bench"] + arguments)
        let status = child.waitForExit(timeout: timeout)
        if status == nil { child.terminate() }
        return Run(status: status, stdout: child.stdoutLines.joined(separator: "\n"), stderr: child.stderr)
    }

    @Test func limiterPathsAgreeAndMemoryIsReported() throws {
        let run = try bench(["limiter", "--calls", "20000", "--keys", "200", "--repeat", "1", "--memory-keys", "2000"])
        #expect(run.status == 0, "\(run.stderr)")
        for policy in ["agent_auth", "webhook_ingest"] {
            // The rows of one policy: from its heading to the next blank line.
            let rows = run.lines.drop { !$0.hasPrefix("policy \(policy)") }.dropFirst().prefix { !$0.isEmpty }
            let allowed = rows.compactMap { row -> Substring? in
                guard let end = row.range(of: " allowed")?.lowerBound else { return nil }
                return row[..<end].split(separator: " ").last
            }
            // log, store and limiter: the same decisions whichever way they are reached.
            #expect(allowed.count == 3, "\(rows)")
            #expect(Set(allowed).count == 1, "the paths disagree for \(policy): \(allowed)")
            #expect(rows.contains { $0.contains("memory") && $0.contains("2000 keys held") }, "\(rows)")
        }
        #expect(!run.stdout.contains("WARNING"))
    }

    @Test func hmacPrintsEveryImplementation() throws {
        let run = try bench(["hmac", "--size", "4K", "--seconds", "0.05"])
        #expect(run.status == 0, "\(run.stderr)")
        // "SHA-256 implementations on this CPU: portable, shaExtensions (default: …)"
        let heading = try #require(run.lines.first { $0.hasPrefix("SHA-256 implementations on this CPU: ") })
        let names = heading.dropFirst("SHA-256 implementations on this CPU: ".count).prefix { $0 != "(" }
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(names.contains("portable"))
        for name in names {
            #expect(run.lines.contains { $0.hasPrefix(name + " ") && $0.contains("4 KiB") }, "no row for \(name): \(run.stdout)")
        }
    }

    @Test func simulateSaysWhenTheRunIsTooSmallToJudgeTheTarget() throws {
        let run = try bench(["simulate", "--events", "20000", "--clients", "100", "--skip-replay"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("events refused"))
        #expect(run.stdout.contains("not judged at this size"))
        #expect(!run.stdout.contains(": met"))
    }

    @Test func checkTimesTheWholeSuiteInProcess() throws {
        let run = try bench(["check", "--runs", "1", "--skip-http"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.lines.contains { $0.hasPrefix("in-process:") && $0.contains(" 0 failed") }, "\(run.stdout)")
    }

    @Test(.enabled(if: RedisServer.isAvailable, Comment(rawValue: RedisServer.unavailableReason)))
    func redisRunsEveryMeasurementAgainstAPrivateServer() throws {
        let run = try bench(["redis", "--count", "300", "--rounds", "1", "--threads", "2", "--batch", "10"])
        #expect(run.status == 0, "\(run.stderr)")
        for row in ["sequential, new clients", "sequential, clients at their limit", "pipelined, new clients",
                    "2 threads, pool of 2 connections", "PING through this client", "EVALSHA of 'return 1'",
                    "EVALSHA of ZADD + EXPIRE only"] {
            let line = run.lines.first { $0.hasPrefix(row) }
            // Each row ends in a positive rate (and, for the script rows, Redis's µs per call).
            let rate = line?.split(separator: " ").compactMap { Double($0) }.first
            #expect(rate.map { $0 > 0 } == true, "no rate in the row '\(row)': \(run.stdout)")
        }
        // The private server is gone afterwards: its port is named on stdout.
        let started = try #require(run.lines.first { $0.hasPrefix("started redis-server") })
        let port = try #require(started.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) })
        #expect((try? RedisClient(url: RedisURL(parsing: "redis://127.0.0.1:\(port)/0"), timeout: 0.5)) == nil,
                "redis-server still answers on \(port)")
    }

    @Test(arguments: [
        (["limiter", "--calls", "0"], "--calls"),
        (["limiter", "--policy", "nope"], "--policy"),
        (["hmac", "--implementation", "nope"], "nope"),
        (["redis", "--url", "rediss://127.0.0.1:1/0"], "TLS"),
        (["nope"], "unknown benchmark"),
    ])
    func badOptionsExitTwoAndSayWhich(arguments: [String], mentions: String) throws {
        let run = try bench(arguments)
        #expect(run.status == 2, "\(arguments): status \(String(describing: run.status)); \(run.stderr)")
        #expect(run.stderr.contains(mentions), "\(arguments): \(run.stderr)")
    }
}

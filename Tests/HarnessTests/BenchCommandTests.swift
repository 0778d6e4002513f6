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

    /// A temporary path for `--json`, removed by the caller.
    func jsonPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("mcsec-bench-\(UUID().uuidString).json").path
    }

    /// The `--json` document's measurements by name, after checking the envelope.
    func measurements(_ path: String, benchmark: String) throws -> [String: [String: Any]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(document["benchmark"] as? String == benchmark)
        #expect(["debug", "release"].contains(document["build"] as? String ?? ""))
        #expect((document["cores"] as? Int ?? 0) >= 1)
        let list = try #require(document["measurements"] as? [[String: Any]])
        var byName: [String: [String: Any]] = [:]
        for entry in list {
            let name = try #require(entry["name"] as? String)
            #expect(byName[name] == nil, "measurement \(name) appears twice")
            byName[name] = entry
        }
        return byName
    }

    func number(_ entry: [String: Any]?, _ key: String) -> Double? { (entry?[key] as? NSNumber)?.doubleValue }

    @Test func limiterPathsAgreeAndMemoryIsReported() throws {
        let json = jsonPath()
        defer { try? FileManager.default.removeItem(atPath: json) }
        let run = try bench(["limiter", "--calls", "20000", "--keys", "200", "--repeat", "1", "--memory-keys", "2000", "--json", json])
        #expect(run.status == 0, "\(run.stderr)")
        let figures = try measurements(json, benchmark: "limiter")
        for policy in ["agent_auth", "webhook_ingest"] {
            let allowed = ["log", "store", "limiter"].map { number(figures["\(policy).\($0)"], "allowed") }
            #expect(allowed.allSatisfy { $0 != nil && $0 == allowed[0] }, "\(policy): \(allowed)")
            for path in ["log", "store", "limiter"] {
                #expect((number(figures["\(policy).\(path)"], "best_decisions_per_cpu_second") ?? 0) > 0)
            }
            #expect(number(figures["\(policy).memory"], "keys") == 2000)
            #expect((number(figures["\(policy).memory"], "bytes_per_key_layout") ?? 0) > 0)
        }
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
        let json = jsonPath()
        defer { try? FileManager.default.removeItem(atPath: json) }
        let run = try bench(["hmac", "--size", "4K", "--seconds", "0.05", "--json", json])
        #expect(run.status == 0, "\(run.stderr)")
        let figures = try measurements(json, benchmark: "hmac")
        // "SHA-256 implementations on this CPU: portable, shaExtensions (default: …)"
        let heading = try #require(run.lines.first { $0.hasPrefix("SHA-256 implementations on this CPU: ") })
        let names = heading.dropFirst("SHA-256 implementations on this CPU: ".count).prefix { $0 != "(" }
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(names.contains("portable"))
        for name in names {
            #expect(run.lines.contains { $0.hasPrefix(name + " ") && $0.contains("4 KiB") }, "no row for \(name): \(run.stdout)")
            #expect((number(figures["\(name).4096"], "hmac_megabytes_per_second") ?? 0) > 0, "\(figures.keys.sorted())")
        }
        #expect(figures.count == names.count)
    }

    @Test func simulateSaysWhenTheRunIsTooSmallToJudgeTheTarget() throws {
        let json = jsonPath()
        defer { try? FileManager.default.removeItem(atPath: json) }
        let run = try bench(["simulate", "--events", "20000", "--clients", "100", "--json", json])
        #expect(run.status == 0, "\(run.stderr)")
        let figures = try measurements(json, benchmark: "simulate")
        #expect(Set(figures.keys) == ["generate", "simulate", "summarise", "target"])
        #expect(figures["target"]?["judged"] as? Bool == false)
        #expect(number(figures["simulate"], "events") == number(figures["generate"], "events"))
        #expect(run.stdout.contains("events refused"))
        #expect(run.stdout.contains("not judged at this size"))
        #expect(!run.stdout.contains(": met"))
    }

    @Test func checkTimesTheWholeSuiteInProcess() throws {
        let json = jsonPath()
        defer { try? FileManager.default.removeItem(atPath: json) }
        let run = try bench(["check", "--runs", "1", "--skip-http", "--json", json])
        #expect(run.status == 0, "\(run.stderr)")
        let figures = try measurements(json, benchmark: "check")
        #expect(Set(figures.keys) == ["in_process"])
        #expect(number(figures["in_process"], "failed") == 0)
        #expect((number(figures["in_process"], "passed") ?? 0) > 0)
        #expect(run.lines.contains { $0.hasPrefix("in-process:") && $0.contains(" 0 failed") }, "\(run.stdout)")
    }

    @Test(.requires(.redisServer))
    func redisRunsEveryMeasurementAgainstAPrivateServer() throws {
        let json = jsonPath()
        defer { try? FileManager.default.removeItem(atPath: json) }
        let run = try bench(["redis", "--count", "300", "--rounds", "1", "--threads", "2", "--batch", "10", "--json", json])
        #expect(run.status == 0, "\(run.stderr)")
        let figures = try measurements(json, benchmark: "redis")
        for name in ["sequential.new_clients", "sequential.at_limit", "pipelined.new_clients", "concurrent.one_connection",
                     "concurrent.pool", "this_client.ping", "this_client.evalsha_return_1", "this_client.evalsha_zcard_zadd_expire"] {
            #expect((number(figures[name], "decisions_per_second") ?? 0) > 0, "\(name): \(figures.keys.sorted())")
        }
        let latency = ["latency_p50_us", "latency_p90_us", "latency_p99_us", "latency_max_us"].map { number(figures["sequential.new_clients"], $0) ?? 0 }
        #expect(latency[0] > 0 && latency == latency.sorted(), "percentiles out of order: \(latency)")
        // The ratios are there exactly when redis-benchmark is.
        #expect((figures["ratio.sequential_to_ping"] != nil) == (figures["redis_benchmark.ping"] != nil))
        for row in ["sequential, new clients", "sequential, clients at their limit", "pipelined, new clients",
                    "2 threads, pool of 2 connections", "PING through this client", "EVALSHA of 'return 1'",
                    "EVALSHA of ZCARD + ZADD + EXPIRE"] {
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

    @Test func replayLadderComparesEveryStepWithThePrediction() throws {
        let json = jsonPath()
        defer { try? FileManager.default.removeItem(atPath: json) }
        let run = try bench(["replay", "--rates", "300,600", "--seconds", "0.5", "--clients", "20", "--p99-budget", "10000",
                             "--no-wrk", "--json", json])
        #expect(run.status == 0, "\(run.stderr)")
        let figures = try measurements(json, benchmark: "replay")
        for name in ["step.1", "step.2"] {
            let step = figures[name]
            #expect(number(step, "events").map { $0 > 0 } == true, "\(name): \(run.stdout)")
            #expect(number(step, "achieved_requests_per_second").map { $0 > 0 } == true)
            // The reference answers as the reference predicts: a step with a divergence is a bug.
            #expect(number(step, "divergences") == 0, "\(name): \(run.stdout)")
            #expect(number(step, "failures") == 0, "\(name): \(run.stdout)")
            #expect(number(step, "lateness_p99_ms").map { $0 >= 0 } == true)
        }
        // With a budget nobody misses, the highest rate of the ladder is the sustained one.
        #expect(number(figures["sustained"], "requests_per_second") == 600, "\(run.stdout)")
        #expect(run.lines.contains { $0.hasPrefix("highest rate sustained") })
    }

    @Test(arguments: [
        (["limiter", "--calls", "0"], "--calls"),
        (["limiter", "--policy", "nope"], "--policy"),
        (["hmac", "--implementation", "nope"], "nope"),
        (["redis", "--url", "rediss://127.0.0.1:1/0"], "TLS"),
        (["limiter", "--json", "/nonexistent-directory/figures.json"], "--json"),
        (["hmac", "--json", "/"], "--json"),
        (["nope"], "unknown command 'nope'"),
        (["replay", "--rates", "1000,abc"], "--rates"),
        (["replay", "--seconds", "0"], "--seconds"),
    ])
    func badOptionsExitTwoAndSayWhich(arguments: [String], mentions: String) throws {
        let run = try bench(arguments)
        #expect(run.status == 2, "\(arguments): status \(String(describing: run.status)); \(run.stderr)")
        #expect(run.stderr.contains(mentions), "\(arguments): \(run.stderr)")
    }
}

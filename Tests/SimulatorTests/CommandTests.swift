import Foundation
import Testing
import TestSupport
import Wire
@testable import Simulator

/// Runs the built `mcsec` with `arguments`; returns the exit status, standard output and error.
func mcsec(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    let binary = try #require(TestPaths.mcsecBinary, "the mcsec binary is built by swift build / swift test")
    let process = try ChildProcess(executable: binary, arguments: arguments)
    let status = process.waitForExit(timeout: 120) ?? -1
    return (status, process.stdoutLines.joined(separator: "\n"), process.stderr)
}

@Suite("Example profiles and specs in Fixtures/profiles")
struct FixtureProfilesTests {
    static let directory = TestPaths.fixtures.appendingPathComponent("profiles")

    static var specs: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".spec.json") }.sorted()
    }

    @Test("every example spec parses, validates and is documented in the README")
    func specsParse() throws {
        let readme = try String(contentsOf: FixtureProfilesTests.directory.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(FixtureProfilesTests.specs.count >= 6)
        for name in FixtureProfilesTests.specs {
            let path = FixtureProfilesTests.directory.appendingPathComponent(name).path
            let spec = try ProfileSpec.parse(try LineReader.readAll(path: path), source: name)
            #expect(spec.expectedEvents > 0)
            #expect(readme.contains(name), "README.md does not describe \(name)")
        }
    }

    @Test("the stored crossing-limits profiles are exactly what their spec generates")
    func storedProfilesMatchSpec() throws {
        let specPath = FixtureProfilesTests.directory.appendingPathComponent("crossing-limits.spec.json").path
        let spec = try ProfileSpec.parse(try LineReader.readAll(path: specPath), source: specPath)
        for format in ProfileFormat.allCases {
            let stored = try Data(contentsOf: FixtureProfilesTests.directory.appendingPathComponent("crossing-limits.\(format.rawValue)"))
            #expect(Array(stored) == (try generatedBytes(spec, format: format)))
        }
        // And it crosses both limits under one worker.
        let profile = try ProfileReader.read(path: FixtureProfilesTests.directory.appendingPathComponent("crossing-limits.jsonl").path)
        let statuses = Set(Simulation.predict(profile, deployment: Deployment()).statuses)
        #expect(statuses == [200, 202, 401, 403, 413, 429])
    }
}

@Suite("mcsec profile, simulate and replay on the command line")
struct CommandTests {
    @Test("impossible settings and bad input exit with status 2 and say what is wrong", arguments: [
        (["simulate", "--profile", "PROFILE", "--workers", "0"], "workers must be between 1"),
        (["simulate", "--profile", "PROFILE", "--workers", "-2"], "workers must be between 1"),
        (["simulate", "--profile", "PROFILE", "--backend", "redis", "--outage", "500s-600s"], "starts after the profile ends"),
        (["simulate", "--profile", "PROFILE", "--outage", "1s-2s"], "needs the redis backend"),
        (["simulate", "--profile", "PROFILE", "--backend", "redis", "--outage", "20s-10s"], "must end after it starts"),
        (["simulate", "--profile", "PROFILE", "--routing", "sticky"], "--routing expects rr, random or hash"),
        (["simulate", "--profile", "PROFILE", "--backend", "redis", "--skew", "1s,soon"], "clock skew"),
        (["simulate", "--profile", "BAD"], "BAD.jsonl:2:"),
        (["profile", "--shape", "constant", "--rate", "-5", "--duration", "10s"], "--rate must be a rate from 0"),
        (["profile", "--shape", "constant", "--rate", "5", "--duration", "soon"], "not a duration"),
        (["profile", "--shape", "wave", "--duration", "10s"], "unknown --shape"),
        (["profile", "--spec", "SPEC"], "$.arrivals.rate"),
        (["replay", "--profile", "PROFILE", "--target", "http://example.com:8000"], "not on loopback"),
        (["replay", "--profile", "PROFILE", "--stream", "--in-memory"], "either --stream or --in-memory"),
        (["replay", "--profile", "BAD", "--stream"], "BAD.jsonl:2:"),
    ])
    func badInput(arguments: [String], mentions: String) throws {
        let dir = try temporaryDirectory()
        let profile = try writeFile("{\"t\":0,\"client\":\"10.0.0.1\",\"endpoint\":\"webhook\",\"body_bytes\":1,\"signature\":\"valid\"}\n{\"t\":30,\"client\":\"10.0.0.1\",\"endpoint\":\"webhook\",\"body_bytes\":1,\"signature\":\"valid\"}\n", name: "p.jsonl", in: dir)
        let bad = try writeFile("{\"t\":0,\"client\":\"10.0.0.1\",\"endpoint\":\"webhook\",\"body_bytes\":1,\"signature\":\"valid\"}\n{\"t\":1,\"client\":\"10.0.0.1\"}\n", name: "BAD.jsonl", in: dir)
        let spec = try writeFile(#"{"duration": 10, "arrivals": {"shape": "constant", "rate": "fast"}}"#, name: "spec.json", in: dir)
        let args = arguments.map { $0 == "PROFILE" ? profile : $0 == "BAD" ? bad : $0 == "SPEC" ? spec : $0 }
        let run = try mcsec(args)
        #expect(run.status == 2)
        #expect(run.err.contains(mentions), "\(run.err)")
    }

    @Test("profile then simulate: reports, CSV and SVG charts with axes, labels and a legend")
    func endToEnd() throws {
        let dir = try temporaryDirectory()
        let profile = (dir as NSString).appendingPathComponent("p.csv")
        let generated = try mcsec(["profile", "--shape", "poisson", "--rate", "8", "--duration", "2m", "--clients", "5",
                                   "--endpoints", "webhook=3,agent_auth=1", "--seed", "3", "--out", profile])
        #expect(generated.status == 0, "\(generated.err)")
        let out = (dir as NSString).appendingPathComponent("report")
        let run = try mcsec(["simulate", "--profile", profile, "--scenario", "workers=4", "--scenario", "workers=4;backend=redis;outage=30s-50s",
                             "--out-dir", out, "--format", "json"])
        #expect(run.status == 0, "\(run.err)")
        let summary = try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any]
        #expect((summary?["scenarios"] as? [Any])?.count == 2)
        for name in ["summary.txt", "summary.json", "predictions.csv", "clients.csv", "windows.csv", "timeline.svg", "clients.svg"] {
            #expect(FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent(name)), "\(name) missing")
        }
        let predictions = try String(contentsOfFile: (out as NSString).appendingPathComponent("predictions.csv"), encoding: .utf8)
        let lines = predictions.split(separator: "\n")
        #expect(lines.first == Substring(SimulationReport.predictionColumns))
        let events = try ProfileReader.read(path: profile).count
        #expect(lines.count == 1 + 2 * events)
        for chart in ["timeline.svg", "clients.svg"] {
            let svg = try String(contentsOfFile: (out as NSString).appendingPathComponent(chart), encoding: .utf8)
            #expect(svg.hasPrefix("<?xml"))
            #expect(svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""))
            #expect(svg.hasSuffix("</svg>\n"))
            #expect(svg.components(separatedBy: "<text").count == svg.components(separatedBy: "</text>").count)
            #expect(svg.contains("admitted") && svg.contains("refused"))
        }
        let timeline = try String(contentsOfFile: (out as NSString).appendingPathComponent("timeline.svg"), encoding: .utf8)
        #expect(timeline.contains("time since start (s)") && timeline.contains("requests per second") && timeline.contains("Redis outage"))
        let clients = try String(contentsOfFile: (out as NSString).appendingPathComponent("clients.svg"), encoding: .utf8)
        #expect(clients.contains("documented limit"))
        // The same inputs give the same files.
        let again = (dir as NSString).appendingPathComponent("again")
        _ = try mcsec(["simulate", "--profile", profile, "--scenario", "workers=4", "--scenario", "workers=4;backend=redis;outage=30s-50s", "--out-dir", again])
        for name in ["summary.json", "predictions.csv", "timeline.svg", "clients.svg"] {
            #expect(try Data(contentsOf: URL(fileURLWithPath: (out as NSString).appendingPathComponent(name)))
                    == Data(contentsOf: URL(fileURLWithPath: (again as NSString).appendingPathComponent(name))))
        }
    }

    @Test("simulate --spec (generated while simulated) writes the files that profile --spec then simulate --profile write")
    func simulateSpecOnTheFly() throws {
        let dir = try temporaryDirectory()
        let spec = try writeFile(SpecJSON.encode(DeterminismTests.specs[0]), name: "spec.json", in: dir)
        let profile = (dir as NSString).appendingPathComponent("p.jsonl")
        let generated = try mcsec(["profile", "--spec", spec, "--out", profile])
        #expect(generated.status == 0, "\(generated.err)")
        let options = ["--scenario", "workers=4;routing=hash", "--scenario", "workers=2;backend=redis;trust-proxy-headers=yes"]
        let fromFile = (dir as NSString).appendingPathComponent("file"), onTheFly = (dir as NSString).appendingPathComponent("spec")
        let a = try mcsec(["simulate", "--profile", profile, "--out-dir", fromFile] + options)
        let b = try mcsec(["simulate", "--spec", spec, "--out-dir", onTheFly] + options)
        #expect(a.status == 0 && b.status == 0, "\(a.err) \(b.err)")
        for name in ["predictions.csv", "clients.csv", "windows.csv", "timeline.svg", "clients.svg"] {
            let x = try Data(contentsOf: URL(fileURLWithPath: (fromFile as NSString).appendingPathComponent(name)))
            let y = try Data(contentsOf: URL(fileURLWithPath: (onTheFly as NSString).appendingPathComponent(name)))
            #expect(!x.isEmpty && x == y, "\(name) differs")
        }
        // Only the profile's name differs in the text summary.
        #expect(a.out.replacingOccurrences(of: profile, with: "P") == b.out.replacingOccurrences(of: spec, with: "P"))
        let csv = try mcsec(["simulate", "--spec", spec, "--format", "csv"] + options)
        // (standard output comes back as lines joined without the last newline)
        #expect(csv.out + "\n" == (try String(contentsOfFile: (fromFile as NSString).appendingPathComponent("predictions.csv"), encoding: .utf8)))
        let both = try mcsec(["simulate", "--spec", spec, "--profile", profile])
        #expect(both.status == 2 && both.err.contains("either --profile or --spec"))
    }

    @Test("replay of the example profile against `mcsec serve`: zero divergences, exit status 0")
    func replayAgainstServe() throws {
        let serve = try ServeProcess.start()
        defer { _ = serve.process.terminate() }
        let profile = TestPaths.fixtures.appendingPathComponent("profiles/crossing-limits.jsonl").path
        let run = try mcsec(["replay", "--profile", profile, "--target", "http://127.0.0.1:\(serve.port)"])
        #expect(run.status == 0, "\(run.out)\n\(run.err)")
        #expect(run.out.contains("0 divergences"))
        #expect(run.out.contains("p99"))
    }

    @Test("replay --stream of the example profile against `mcsec serve`: zero divergences; replay.csv lists every event in send order")
    func streamedReplayAgainstServe() throws {
        let serve = try ServeProcess.start()
        defer { _ = serve.process.terminate() }
        let dir = try temporaryDirectory()
        let profile = TestPaths.fixtures.appendingPathComponent("profiles/crossing-limits.jsonl").path
        let run = try mcsec(["replay", "--profile", profile, "--target", "http://127.0.0.1:\(serve.port)", "--stream", "--out-dir", dir])
        #expect(run.status == 0, "\(run.out)\n\(run.err)")
        #expect(run.out.contains("0 divergences"))
        #expect(run.out.contains("to within 0.1 %"))
        let events = try ProfileReader.read(path: profile).count
        let rows = try String(contentsOfFile: (dir as NSString).appendingPathComponent("replay.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        #expect(rows.count == events)
        #expect(Set(rows.map { Int($0[0])! }) == Set(0..<events))
        let sent = rows.map { Double($0[2])! }
        #expect(sent == sent.sorted())
        #expect(rows.allSatisfy { $0[10] == "yes" })
        for report in ["summary.txt", "predictions.csv", "timeline.svg"] {
            #expect(FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent(report)), "\(report)")
        }
    }
}

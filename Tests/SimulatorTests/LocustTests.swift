import Foundation
import Reference
@testable import Simulator
import TestSupport
import Testing
import Wire

/// An exported profile run for real by Locust in its distributed mode (one master, two
/// workers, on loopback) against the reference, and compared with the prediction.
@Suite("Locust replays an exported profile")
struct LocustTests {
    @Test("a master and two workers replay crossing-limits with zero divergences", .requires(.locust))
    func distributed() throws {
        var configuration = Configuration()
        configuration.trustedProxies = try TrustedProxies.parse("127.0.0.1")
        let reference = try LiveReference(configuration: configuration)
        defer { reference.server.stop() }
        let profile = try crossingProfile()
        let export = LoadEngineExport(builder: try EventRequestBuilder(target: try ReplayTarget.reference(baseURL: reference.url)),
                                      clientHeader: "X-Forwarded-For")
        let dir = try temporaryDirectory()
        let file = (dir as NSString).appendingPathComponent("locustfile.py")
        let sink = try ByteSink(path: file)
        try export.writeLocust(profile, source: "crossing-limits", to: sink)
        try sink.close()

        let locust = try #require(ExternalTool.locust.executable)
        let port = try FreePort.find()
        let results = (dir as NSString).appendingPathComponent("results")
        // Every process starts the schedule at the same moment, once the workers have joined.
        let environment = ["MCSEC_WORKERS": "2", "MCSEC_RESULTS": results,
                           "MCSEC_START": String(format: "%.3f", Date().timeIntervalSince1970 + 6), "PYTHONUNBUFFERED": "1"]
        let master = try ChildProcess(executable: locust, arguments: [
            "-f", file, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", String(port), "--headless",
            "--expect-workers", "2", "-u", "2", "-r", "2", "--run-time", "\(Int(profile.duration.rounded(.up)) + 8)s",
            "-H", reference.url, "--only-summary",
        ], environment: environment)
        let workers = try (0..<2).map { _ in
            try ChildProcess(executable: locust, arguments: ["-f", file, "--worker", "--master-host", "127.0.0.1", "--master-port", String(port)],
                             environment: environment)
        }
        let status = master.waitForExit(timeout: 90)
        for worker in workers { worker.waitForExit(timeout: 20) }
        #expect(status != nil, "the master did not finish: \(master.stderrTail(2000))")

        let observations = try LocustResults.read(path: results)
        #expect(observations.count == profile.count, "\(master.stderrTail(2000))")
        // Each worker replayed its own clients.
        let files = try FileManager.default.contentsOfDirectory(atPath: results).sorted()
        #expect(files == ["worker-0.csv", "worker-1.csv"])
        let (sent, _) = try ReplaySources.asSent(profile, mode: .forwarded(header: "X-Forwarded-For"))
        var deployment = Deployment()
        deployment.trustProxyHeaders = true
        let comparison = StatusComparison(profile: sent, observations: observations, deployment: deployment)
        #expect(comparison.failures.isEmpty, "\(comparison.text())")
        #expect(comparison.divergences.isEmpty, "\(comparison.text())")
        #expect(observations.contains { $0.status == 429 }, "the profile crosses the limits, so some events are refused")
    }

    @Test("results files: a folder of worker files, and errors that name the file and line")
    func results() throws {
        let dir = try temporaryDirectory()
        _ = try writeFile("index,sent_at,status,error\n0,1700000000.000100,202,\n2,1700000000.5,0,connection refused\n", name: "worker-0.csv", in: dir)
        _ = try writeFile("index,sent_at,status,error\n1,1700000000.25,429,\n", name: "worker-1.csv", in: dir)
        let observations = try LocustResults.read(path: dir).sorted { $0.index < $1.index }
        #expect(observations.map(\.index) == [0, 1, 2])
        #expect(observations.map(\.status) == [202, 429, nil])
        #expect(observations[2].error == "connection refused")
        #expect(LocustResults.recognizes(path: dir))
        let bad = try writeFile("index,sent_at,status,error\n0,soon,202,\n", name: "bad.csv", in: dir)
        #expect(throws: InputError.self) { try LocustResults.read(path: bad) }
        do { _ = try LocustResults.read(path: bad) } catch { #expect("\(error)".contains("bad.csv:2")) }
        let vegeta = try writeFile("{\"code\":200}\n", name: "v.json", in: dir)
        #expect(!LocustResults.recognizes(path: vegeta))
    }
}

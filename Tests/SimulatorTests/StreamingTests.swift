import Foundation
import Reference
import Testing
import Wire
@testable import Simulator

/// What `body` writes to a sink, as bytes.
func sinkBytes(_ body: (ByteSink) throws -> Void) throws -> [UInt8] {
    let dir = try temporaryDirectory()
    let path = (dir as NSString).appendingPathComponent("out")
    let sink = try ByteSink(path: path)
    try body(sink)
    try sink.close()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Every report file of `report` except predictions.csv, by name.
func reportFiles(_ report: SimulationReport) throws -> [String: [UInt8]] {
    [
        "summary.txt": Array(report.text().utf8),
        "summary.json": Array(report.json().utf8),
        "clients.csv": try sinkBytes { try report.writeClientsCSV(to: $0) },
        "windows.csv": try sinkBytes { try report.writeWindowsCSV(to: $0) },
        "timeline.svg": Array(SVGCharts.timeline(report.summaries).utf8),
        "clients.svg": Array(SVGCharts.clients(report.summaries).utf8),
    ]
}

/// The streamed report of `source` and its predictions.csv, one pass per deployment.
func streamedReport<S: EventSource>(_ source: inout S, deployments: [Deployment]) throws -> (SimulationReport, [UInt8]) {
    var summaries: [SimulationSummary] = []
    var facts = ProfileFacts()
    let csv = try sinkBytes { sink in
        try sink.write(SimulationReport.predictionColumns + "\n")
        for (i, d) in deployments.enumerated() {
            let (summary, f) = try StreamingSimulation.run(&source, deployment: d, scenario: i + 1, predictions: [sink])
            summaries.append(summary)
            facts = f
        }
    }
    return (SimulationReport(profileName: "p", facts: facts, summaries: summaries), csv)
}

@Suite("Simulation: streaming")
struct StreamingTests {
    static let deployments: [Deployment] = {
        var list = [Deployment(), Deployment(workers: 4, routing: .roundRobin), Deployment(workers: 3, routing: .random, seed: 5),
                    Deployment(workers: 4, routing: .clientHash), Deployment(workers: 4, backend: .redis)]
        list.append(Deployment(workers: 2, backend: .redis, outages: [TimeWindow(start: 3, end: 9)]))
        list.append(Deployment(workers: 3, backend: .redis, outages: [TimeWindow(start: 15, end: 16)], skews: [0.5, -0.25, 0]))
        list.append(Deployment(workers: 2, routing: .random, trustProxyHeaders: true))
        list.append(Deployment(workers: 2, backend: .redis, trustProxyHeaders: true))
        return list
    }()

    /// The profiles compared: random ones (long enough for idle logs to be dropped and reused)
    /// and generated ones (zipf clients with spoofed proxy headers, IPv6, rotating clients).
    static func profiles() throws -> [Profile] {
        var list = [try randomProfile(seed: 3, events: 4000, clients: 12, duration: 40),
                    try randomProfile(seed: 4, events: 3000, clients: 30, duration: 700, maxBody: 2000)]
        list += try DeterminismTests.specs.map { try ProfileGenerator.profile(spec: $0) }
        return list
    }

    @Test("streaming gives the in-memory summaries, reports and predictions.csv byte for byte")
    func streamingEqualsInMemory() throws {
        for profile in try StreamingTests.profiles() {
            let deployments = StreamingTests.deployments.filter { $0.outages.allSatisfy { $0.start <= profile.duration } }
            let memory = SimulationReport(profileName: "p", profile: profile, predictions: deployments.map { Simulation.predict(profile, deployment: $0) })
            var source = ProfileEvents(profile)
            source.chunkSize = 333  // chunk boundaries and sweeps fall everywhere
            let (streamed, csv) = try streamedReport(&source, deployments: deployments)
            #expect(streamed.facts == memory.facts)
            for (i, s) in streamed.summaries.enumerated() {
                let m = memory.summaries[i]
                #expect(s.totals == m.totals)
                #expect(s.busiest == m.busiest)
                #expect(s.windowRows.count == m.windowRows.count)
                #expect(s.clients.map(\.key) == m.clients.map(\.key))
                #expect(s.clients.map(\.webhook) == m.clients.map(\.webhook))
                #expect(s.clients.map(\.agentAuth) == m.clients.map(\.agentAuth))
                #expect(s.timeline.bucketSeconds == m.timeline.bucketSeconds)
                #expect(s.timeline.admitted == m.timeline.admitted && s.timeline.refused == m.timeline.refused && s.timeline.failOpen == m.timeline.failOpen)
            }
            let memoryFiles = try reportFiles(memory), streamedFiles = try reportFiles(streamed)
            for (name, bytes) in memoryFiles {
                #expect(streamedFiles[name] == bytes, "\(name) differs")
            }
            #expect(csv == (try sinkBytes { try memory.writePredictionsCSV(to: $0) }))
        }
    }

    @Test("without predictions.csv the limiter half runs on a thread of its own: the same summaries, reports and statuses")
    func pipelinedEqualsInMemory() throws {
        var pipelined = 0
        let profiles = try StreamingTests.profiles()
        for profile in profiles {
            let deployments = StreamingTests.deployments.filter { $0.outages.allSatisfy { $0.start <= profile.duration } }
            for (size, deployment) in zip([333, 1, 4096].cycled(deployments.count), deployments) {
                let prediction = Simulation.predict(profile, deployment: deployment)
                let memory = SimulationReport(profileName: "p", profile: profile, predictions: [prediction])
                if StreamingSimulation.pipelines(StreamState(deployment: deployment, timelineBuckets: 80), writesRows: false) { pipelined += 1 }
                var source = ProfileEvents(profile)
                source.chunkSize = size
                var statuses: [Int] = []
                let (summary, facts) = try StreamingSimulation.run(&source, deployment: deployment, statuses: { statuses.append($0) })
                let streamed = SimulationReport(profileName: "p", facts: facts, summaries: [summary])
                #expect(facts == memory.facts)
                #expect(try reportFiles(streamed) == reportFiles(memory), "\(deployment)")
                #expect(statuses == prediction.statuses.map(Int.init), "\(deployment)")
            }
        }
        // Deployments without skewed clocks or trusted proxy headers (five of each profile's)
        // run pipelined on two cores.
        if ProcessInfo.processInfo.activeProcessorCount >= 2 { #expect(pipelined >= 5 * profiles.count) }
    }

    @Test("a spec streamed while it is generated predicts what the generated file predicts", arguments: 0..<DeterminismTests.specs.count)
    func generatedOnTheFlyEqualsFile(index: Int) throws {
        let spec = DeterminismTests.specs[index]
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = (dir as NSString).appendingPathComponent("p.csv")
        let sink = try ByteSink(path: path)
        _ = try ProfileGenerator.write(spec: spec, format: .csv, to: sink)
        try sink.close()
        let fromFile = try ProfileReader.read(path: path)
        let deployments = [Deployment(workers: 4, routing: .clientHash), Deployment(workers: 2, backend: .redis, trustProxyHeaders: true)]
        var file = ProfileEvents(fromFile)
        file.chunkSize = 1000
        var generated = try GeneratedEvents(spec: spec)
        generated.chunkSize = 13
        let (a, csvA) = try streamedReport(&file, deployments: deployments)
        let (b, csvB) = try streamedReport(&generated, deployments: deployments)
        #expect(a.facts == b.facts)
        #expect(try reportFiles(a) == reportFiles(b))
        #expect(csvA == csvB)
    }

    @Test("generating on the fly gives the events of the generated file read back, in chunks of any size", arguments: 0..<DeterminismTests.specs.count)
    func generatedEventsEqualFile(index: Int) throws {
        let spec = DeterminismTests.specs[index]
        for format in ProfileFormat.allCases {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let path = (dir as NSString).appendingPathComponent("p.\(format.rawValue)")
            let sink = try ByteSink(path: path)
            _ = try ProfileGenerator.write(spec: spec, format: format, to: sink)
            try sink.close()
            let fromFile = try ProfileReader.read(path: path, format: format)
            for size in [1, 7, 1 << 16] {
                var source = try GeneratedEvents(spec: spec)
                source.chunkSize = size
                var chunk = Profile()
                var events: [ProfileEvent] = []
                var clientIDs: [Int32] = []
                while source.next(into: &chunk) {
                    #expect(chunk.count <= size)
                    for i in 0..<chunk.count { events.append(chunk[i]) }
                    clientIDs += chunk.clientIDs
                }
                #expect(events.count == fromFile.count)
                #expect(events == (0..<fromFile.count).map { fromFile[$0] })
                #expect(clientIDs == fromFile.clientIDs)
                #expect(chunk.clients == fromFile.clients)
                // A second pass gives the same events again.
                source.restart()
                var again = Profile()
                var count = 0
                while source.next(into: &again) { count += again.count }
                #expect(count == fromFile.count)
            }
        }
    }

    @Test("idle limiter logs are dropped and reused: live logs follow the clients of the last window, not all clients")
    func idleLogsAreReused() throws {
        // 300 clients, each active for 2 s in turn, over 10 minutes; the limiter window is 60 s.
        let s = spec(.constant(rate: 20), duration: 600, clients: .rotating(count: 300, every: 2, firstAddress: "10.3.0.1"))
        var source = try GeneratedEvents(spec: s)
        source.chunkSize = 100  // idle logs are dropped between chunks
        var state = StreamState(deployment: Deployment(workers: 2), timelineBuckets: 80)
        var chunk = Profile()
        var facts = ProfileFacts()
        var rows: PredictionRows? = nil
        while source.next(into: &chunk) { try state.run(chunk, facts: &facts, rows: &rows, sinks: []) }
        #expect(state.keys.count == 300)
        // Two windows' worth of clients at most (one window plus one sweep interval), per worker.
        let dense = try #require(state.dense)
        #expect(dense.peakLive[0] <= 2 * 2 * 60 / 2 + 4)
        #expect(dense.peakLive[2] <= 2 * 60 / 2 + 4)
        // And the prediction is still the in-memory one.
        let profile = try ProfileGenerator.profile(spec: s)
        let memory = SimulationSummary(profile: profile, prediction: Simulation.predict(profile, deployment: Deployment(workers: 2)))
        let streamed = state.summary(facts: facts)
        #expect(streamed.totals == memory.totals)
        #expect(streamed.busiest == memory.busiest)
    }

    @Test("a client whose address is written another way shares the key of the client written plainly")
    func addressesWrittenTwoWaysShareAKey() throws {
        // The first client's address resolves to the text of a later client's address.
        let clients = ["10.9.0.1", "2001:DB8::1", "10.9.0.2", "2001:db8::1", "2001:db8:0:0:0:0:0:1"]
        var random = DeterministicRandom(seed: 9)
        var events: [ProfileEvent] = []
        for k in 0..<600 {
            events.append(ProfileEvent(time: Double(k) * 0.05, client: clients[k < 5 ? k : random.nextInt(below: clients.count)], endpoint: .webhook))
        }
        let profile = try Profile(events: events)
        for deployment in [Deployment(), Deployment(workers: 2, routing: .clientHash)] {
            let memory = SimulationSummary(profile: profile, prediction: Simulation.predict(profile, deployment: deployment))
            var source = ProfileEvents(profile)
            source.chunkSize = 2
            let (streamed, _) = try StreamingSimulation.run(&source, deployment: deployment)
            #expect(streamed.clients.count == 3)
            #expect(streamed.clients.map(\.key) == memory.clients.map(\.key))
            #expect(streamed.clients.map(\.webhook) == memory.clients.map(\.webhook))
            #expect(streamed.busiest == memory.busiest)
        }
    }

    @Test("client rows are ordered by events, then key, as the in-memory summary orders them")
    func rowOrderIsTheSummaryOrder() {
        var random = DeterministicRandom(seed: 3)
        let shapes = ["10.0.0.", "10.0.1.", "10.0.", "2001:db8::", "2001:db8:0:0:0:0:1:", "é10.", "a\u{0}b", "1"]
        var keys: [String] = []
        var seen = Set<String>()
        while keys.count < 2000 {  // of the 2,400 possible
            let key = shapes[random.nextInt(below: shapes.count)] + String(random.nextInt(below: 300))
            if seen.insert(key).inserted { keys.append(key) }
        }
        let events = (0..<(2 * keys.count)).map { _ in Int32(random.nextInt(below: 3)) }
        let expected = keys.indices.sorted { a, b in
            let ea = Int(events[2 * a] + events[2 * a + 1]), eb = Int(events[2 * b] + events[2 * b + 1])
            return ea != eb ? ea > eb : keys[a] < keys[b]
        }
        #expect(SummaryBuilder.rowOrder(keys: keys, events: events) == expected)
    }
}

extension Array {
    /// The elements repeated until there are `count`.
    func cycled(_ count: Int) -> [Element] { (0..<count).map { self[$0 % self.count] } }
}

import Foundation
import Reference
import Testing
import TestSupport
import Wire
@testable import Simulator

/// A random profile whose events sometimes carry an X-Forwarded-For header of their own.
func proxiedProfile(seed: UInt64, events: Int) throws -> Profile {
    let base = try randomProfile(seed: seed, events: events, clients: 6, duration: 90, maxBody: 1_100_000)
    var random = DeterministicRandom(seed: seed ^ 0x5151)
    var list: [ProfileEvent] = []
    for i in 0..<base.count {
        var e = base[i]
        if random.nextInt(below: 3) == 0 { e.proxyHeader = ProxyHeader(name: "X-Forwarded-For", value: "198.51.100.\(1 + random.nextInt(below: 4))") }
        list.append(e)
    }
    return try Profile(events: list)
}

/// `profile` written as a JSON Lines file.
func profileFile(_ profile: Profile) throws -> String {
    let path = (try temporaryDirectory() as NSString).appendingPathComponent("profile.jsonl")
    let sink = try ByteSink(path: path)
    try ProfileWriter.write(profile, format: .jsonl, to: sink)
    try sink.close()
    return path
}

@Suite("A streamed replay's parts: the as-sent file, the spool and its merge, the histograms")
struct StreamedReplayPartsTests {
    @Test("a file's events as sent equal the whole profile as sent, ids and all, in both source modes and at any block size",
          arguments: [SourceMode.loopback, .forwarded(header: "X-Forwarded-For")], [64, 1 << 20])
    func asSentFile(mode: SourceMode, blockSize: Int) throws {
        let profile = try proxiedProfile(seed: 11, events: 700)
        let path = try profileFile(profile)
        let (whole, sources) = try ReplaySources.asSent(profile, mode: mode == .loopback ? .loopback : mode)
        let file = try ReplayFile.scan(path: path, mode: mode)
        #expect(file.events == profile.count)
        #expect(file.duration == profile.duration)
        #expect(file.sources == (mode == .loopback ? sources : [String](repeating: "", count: profile.clients.count)))
        #expect(file.sent.clients == whole.clients)
        #expect(file.sent.proxyHeaders == whole.proxyHeaders)
        let events = AsSentEvents(file: try ProfileFileEvents(path: path, blockSize: blockSize), mode: mode, sources: file.sources)
        events.file.chunkSize = 50
        var chunk = Profile()
        var i = 0
        while try events.next(into: &chunk) {
            for k in 0..<chunk.count {
                #expect(chunk[k] == whole[i], "event \(i)")
                #expect(chunk.clientIDs[k] == whole.clientIDs[i])
                i += 1
            }
        }
        #expect(i == profile.count)
    }

    @Test("forwarded sources: an event setting another proxy header is refused before anything is sent")
    func forwardedRefusesOtherHeader() throws {
        var events = [ProfileEvent(time: 0, client: "10.0.0.1", endpoint: .webhook, bodyBytes: 5, signature: .valid)]
        events.append(ProfileEvent(time: 1, client: "10.0.0.1", endpoint: .webhook, bodyBytes: 5, signature: .valid,
                                   proxyHeader: ProxyHeader(name: "X-Real-IP", value: "192.0.2.1")))
        let path = try profileFile(try Profile(events: events))
        #expect(throws: TargetError.self) { try ReplayFile.scan(path: path, mode: .forwarded(header: "X-Forwarded-For")) }
    }

    @Test("the spool's runs merge into send order (ties by event number), every outcome once")
    func spoolMerge() throws {
        let spool = try ReplaySpool(parent: try temporaryDirectory(), runSize: 37)
        defer { spool.remove() }
        var random = DeterministicRandom(seed: 3)
        var all: [SpoolRecord] = []
        let writers = (0..<3).map { _ in SpoolWriter(spool) }
        for i in 0..<1_000 {
            // Coarse send times, so that ties occur.
            let r = SpoolRecord(index: Int64(i), sentAt: Double(random.nextInt(below: 200)) / 100, scheduled: 0, answerTime: 0.001,
                                status: 200, error: -1, clientID: Int32(i % 7), bodyBytes: Int32(i), proxyID: -1, kind: 0)
            all.append(r)
            writers[random.nextInt(below: 3)].append(r)
        }
        for w in writers { w.flush() }
        #expect(spool.count == all.count)
        var merge = try spool.merged()
        var out: [SpoolRecord] = []
        while let r = try merge.next() { out.append(r) }
        #expect(out == all.sorted(by: SpoolRecord.precedes))
    }

    @Test("histogram percentiles are never below the exact value and within 0.1 % of it; the maximum is exact; merged equals recorded together")
    func histogram() {
        var random = DeterministicRandom(seed: 9)
        // From 100 ns to 10 s, evenly in the logarithm.
        let values = (0..<20_000).map { _ in 1e-7 * pow(10, 8 * random.nextDouble()) }
        var whole = LatencyHistogram(), a = LatencyHistogram(), b = LatencyHistogram()
        for (k, v) in values.enumerated() {
            whole.record(v)
            if k % 2 == 0 { a.record(v) } else { b.record(v) }
        }
        a.add(b)
        #expect(a == whole)
        #expect(whole.maximum == values.max())
        for p in [1.0, 10, 50, 90, 99, 99.9, 100] {
            let exact = ReplayResult.percentile(p, values)
            let given = whole.percentile(p)
            #expect(given >= exact && given <= exact * 1.001 + 1e-9, "p\(p): \(given) against \(exact)")
        }
        #expect(LatencyHistogram().percentile(99) == 0)
    }

    @Test("outcomes compared streaming give the in-memory comparison's verdict for every event",
          arguments: [Deployment(), Deployment(workers: 3, backend: .memory), Deployment(workers: 2, backend: .redis)])
    func comparisonMatchesInMemory(deployment base: Deployment) throws {
        var deployment = base
        deployment.trustProxyHeaders = true
        let profile = try proxiedProfile(seed: 5, events: 3_000)
        var random = DeterministicRandom(seed: 77)
        // Send times jittered (so the send order differs from the profile's), some requests
        // without an answer, some events never sent; statuses mostly as a conforming server
        // would answer, some changed.
        let prediction = Simulation.predict(profile, deployment: deployment)
        var observations: [ObservedStatus] = []
        let spool = try ReplaySpool(parent: try temporaryDirectory(), runSize: 101)
        defer { spool.remove() }
        let writers = (0..<2).map { _ in SpoolWriter(spool) }
        for i in 0..<profile.count {
            let roll = random.nextInt(below: 100)
            if roll == 0 { continue }  // not sent
            let sentAt = profile.times[i] + 0.2 * random.nextDouble()
            var status: Int? = Int(prediction.statuses[i])
            if roll == 1 { status = nil } else if roll < 4 { status = 418 }
            observations.append(ObservedStatus(index: i, sentAt: sentAt, status: status, error: status == nil ? "timed out" : nil))
            writers[Int(profile.clientIDs[i]) % 2].append(SpoolRecord(
                index: Int64(i), sentAt: sentAt, scheduled: profile.times[i], answerTime: 0.001, status: Int16(status ?? -1),
                error: status == nil ? spool.errorID("timed out") : -1, clientID: profile.clientIDs[i], bodyBytes: profile.bodyBytes[i],
                proxyID: profile.proxyIDs.isEmpty ? -1 : profile.proxyIDs[i], kind: profile.kinds[i]))
        }
        for w in writers { w.flush() }
        let memory = StatusComparison(profile: profile, observations: observations, deployment: deployment, origin: 0)
        var tables = profile
        tables.removeAllEvents()
        let dir = try temporaryDirectory()
        let csvPath = (dir as NSString).appendingPathComponent("replay.csv")
        let csv = try ByteSink(path: csvPath)
        let streamed = try StreamedComparison.compare(spool: spool, tables: tables, originalClients: profile.clients, sources: [],
                                                      events: profile.count, deployment: deployment, csv: csv, keep: 10)
        try csv.close()
        #expect(streamed.compared == memory.compared)
        #expect(streamed.matched == memory.matched)
        #expect(streamed.divergenceCount == memory.divergences.count)
        #expect(streamed.divergenceCount > 0)
        #expect(streamed.divergences == Array(memory.divergences.prefix(10)))
        #expect(streamed.failureCount == memory.failures.count)
        #expect(streamed.notSent == memory.notSent)
        // Every row's expected status is the in-memory comparison's, and the rows are in send order.
        let rows = try String(contentsOfFile: csvPath, encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        #expect(rows.count == observations.count)
        var lastSent = -1.0
        for row in rows {
            let i = Int(row[0])!
            #expect(row[8] == (memory.expected[i].map(String.init) ?? "")[...], "event \(i)")
            let sent = Double(row[2])!
            #expect(sent >= lastSent)
            lastSent = sent
        }
    }
}

@Suite("A streamed replay against the reference over loopback")
struct StreamedReplayTests {
    func replay(_ profile: Profile, reference: LiveReference, mode: SourceMode = .loopback, deployment: Deployment = Deployment(),
                threads: Int = 1) throws -> (StreamedReplayResult, StreamedComparison, ReplayFile) {
        let file = try ReplayFile.scan(path: try profileFile(profile), mode: mode)
        var options = Replayer.Options()
        options.concurrency = 8
        options.sources = mode
        options.threads = threads
        let replayer = try Replayer(file: file, trustProxyHeaders: deployment.trustProxyHeaders,
                                    target: try ReplayTarget.reference(baseURL: reference.url), options: options)
        let spool = try ReplaySpool(parent: try temporaryDirectory(), runSize: 29)
        defer { spool.remove() }
        let result = try replayer.runStreamed(spool: spool)
        let comparison = try StreamedComparison.compare(spool: spool, tables: file.sent, originalClients: file.original.clients,
                                                        sources: file.sources, events: file.events, deployment: deployment)
        return (result, comparison, file)
    }

    @Test("a profile crossing both limits replays with zero divergences, on one sending thread or two", arguments: [1, 2])
    func zeroDivergences(threads: Int) throws {
        let reference = try LiveReference()
        defer { reference.server.stop() }
        let profile = try crossingProfile()
        let (result, comparison, _) = try replay(profile, reference: reference, threads: threads)
        #expect(result.stoppedEarly == nil)
        #expect(comparison.failureCount == 0, "\(comparison.failures)")
        #expect(comparison.divergenceCount == 0, "\(comparison.text())")
        #expect(comparison.compared == profile.count)
        #expect(result.sent == profile.count && result.answered == profile.count)
        #expect(result.lateness.count == profile.count && result.answerTime.count == profile.count)
    }

    @Test("a server with an off-by-one limit is caught when streamed: the divergences name the events")
    func divergencesFound() throws {
        let reference = try LiveReference(mutations: .limitOffByOne)
        defer { reference.server.stop() }
        let profile = try crossingProfile()
        let (_, comparison, file) = try replay(profile, reference: reference)
        #expect(comparison.divergenceCount > 0)
        for d in comparison.divergences {
            #expect(d.expected == 429)
            #expect(d.client == file.sent.clients[Int(profile.clientIDs[d.index])])
        }
    }

    @Test("forwarded sources, streamed: the client travels in X-Forwarded-For to a server that trusts this host")
    func forwardedSources() throws {
        var configuration = Configuration()
        configuration.trustedProxies = try TrustedProxies.parse("127.0.0.1")
        let reference = try LiveReference(configuration: configuration)
        defer { reference.server.stop() }
        var deployment = Deployment()
        deployment.trustProxyHeaders = true
        let (_, comparison, file) = try replay(try crossingProfile(), reference: reference, mode: .forwarded(header: "X-Forwarded-For"),
                                               deployment: deployment)
        #expect(file.sent.proxyHeaders.contains(ProxyHeader(name: "X-Forwarded-For", value: "127.0.0.77")))
        #expect(comparison.failureCount == 0)
        #expect(comparison.divergenceCount == 0, "\(comparison.text())")
    }

    @Test("a target that stops answering ends a streamed replay; outcomes so far are compared, the rest counted as not sent")
    func targetGone() throws {
        let reference = try LiveReference()
        let profile = try crossingProfile()
        let file = try ReplayFile.scan(path: try profileFile(profile), mode: .loopback)
        var options = Replayer.Options()
        options.timeout = 0.3
        let replayer = try Replayer(file: file, trustProxyHeaders: false, target: try ReplayTarget.reference(baseURL: reference.url), options: options)
        let spool = try ReplaySpool(parent: try temporaryDirectory())
        defer { spool.remove() }
        let stop = ReplayStop()
        // The server goes away a third of the way through.
        let stopper = Thread { usleep(700_000); reference.server.stop() }
        stopper.start()
        let result = try replayer.runStreamed(spool: spool, stop: stop)
        #expect(result.stoppedEarly != nil)
        let comparison = try StreamedComparison.compare(spool: spool, tables: file.sent, originalClients: file.original.clients,
                                                        sources: file.sources, events: file.events, deployment: Deployment())
        #expect(comparison.failureCount > 0)
        #expect(comparison.notSent > 0)
        #expect(comparison.compared + comparison.failureCount + comparison.notSent == profile.count)
        #expect(comparison.divergenceCount == 0, "\(comparison.text())")
    }
}

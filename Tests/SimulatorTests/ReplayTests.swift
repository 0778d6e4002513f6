import Foundation
import Reference
import Testing
import TestSupport
import Wire
@testable import Simulator

/// A profile of about 1.5 s that crosses both limits: one loopback client sends 72 webhooks
/// (limit 60) and 24 agent authentications (limit 20), every signature and token mode, one body
/// over the payload limit; a second client, not on loopback, sends a few requests.
func crossingProfile() throws -> Profile {
    var events: [ProfileEvent] = []
    let signatures: [SignatureMode] = [.valid, .missing, .invalid, .none]
    let tokens: [SignatureMode] = [.valid, .invalid, .missing]
    for k in 0..<96 {
        let agent = k % 4 == 3
        events.append(ProfileEvent(time: Double(k) * 0.015, client: "127.0.0.77", endpoint: agent ? .agentAuth : .webhook,
                                   bodyBytes: agent ? 0 : (k == 10 ? 1_048_577 : 40 + k),
                                   signature: agent ? tokens[(k / 4) % 3] : signatures[k % 4]))
        if k % 8 == 0 {
            events.append(ProfileEvent(time: Double(k) * 0.015 + 0.005, client: "10.20.30.40", endpoint: .webhook, bodyBytes: 10, signature: .valid))
        }
    }
    return try Profile(events: events)
}

/// The reference service on a loopback port for one test.
struct LiveReference {
    let server: HTTPServer
    let service: ReferenceService
    let port: Int

    init(configuration: Configuration = Configuration(), mutations: ReferenceMutations = []) throws {
        service = ReferenceService(configuration: configuration, world: try World.bundled(), mutations: mutations)
        server = HTTPServer(handler: service)
        port = try server.start()
    }

    var url: String { "http://127.0.0.1:\(port)" }
}

@Suite("Replay against the reference over loopback")
struct ReplayTests {
    func replay(_ profile: Profile, reference: LiveReference, mode: SourceMode = .loopback, deployment: Deployment = Deployment()) throws
        -> (result: ReplayResult, comparison: StatusComparison, sent: Profile) {
        let (sent, sources) = try ReplaySources.asSent(profile, mode: mode)
        var options = Replayer.Options()
        options.concurrency = 8
        options.sources = mode
        let replayer = try Replayer(profile: sent, sources: sources, target: try ReplayTarget.reference(baseURL: reference.url), options: options)
        let result = try replayer.run()
        return (result, StatusComparison(profile: sent, observations: result.observations, deployment: deployment, origin: 0), sent)
    }

    @Test("a profile crossing both limits replays with zero divergences")
    func zeroDivergences() throws {
        let reference = try LiveReference()
        defer { reference.server.stop() }
        let profile = try crossingProfile()
        let (result, comparison, _) = try replay(profile, reference: reference)
        #expect(comparison.failures.isEmpty, "\(comparison.failures.prefix(3))")
        #expect(comparison.divergences.isEmpty, "\(comparison.text())")
        #expect(comparison.compared == profile.count)
        let statuses = Set(result.observations.compactMap(\.status))
        #expect(statuses == [200, 202, 401, 403, 413, 429])
        #expect(result.lateness.count == profile.count)
        #expect(result.lateness.allSatisfy { $0 >= 0 })
    }

    @Test("a server with an off-by-one limit is caught: the divergences name the events")
    func divergencesFound() throws {
        let reference = try LiveReference(mutations: .limitOffByOne)
        defer { reference.server.stop() }
        let profile = try crossingProfile()
        let (_, comparison, sent) = try replay(profile, reference: reference)
        #expect(!comparison.divergences.isEmpty)
        for d in comparison.divergences {
            #expect(d.expected == 429)
            #expect(d.client == sent.clients[Int(sent.clientIDs[d.index])])
        }
        #expect(comparison.text().contains("divergence"))
    }

    @Test("clients not on loopback are mapped one to one onto unused loopback addresses")
    func sourceMapping() throws {
        let profile = try Profile(events: [
            ProfileEvent(time: 0, client: "127.1.0.1", endpoint: .webhook),
            ProfileEvent(time: 1, client: "10.0.0.1", endpoint: .webhook),
            ProfileEvent(time: 2, client: "2001:db8::1", endpoint: .webhook),
            ProfileEvent(time: 3, client: "127.0.0.9", endpoint: .webhook),
        ])
        let sources = try ReplaySources.loopbackAddresses(for: profile)
        #expect(sources == ["127.1.0.1", "127.1.0.2", "127.1.0.3", "127.0.0.9"])
        #expect(Set(sources).count == sources.count)
    }

    @Test("forwarded sources: the client travels in X-Forwarded-For to a server that trusts this host")
    func forwardedSources() throws {
        var configuration = Configuration()
        configuration.trustedProxies = try TrustedProxies.parse("127.0.0.1")
        let reference = try LiveReference(configuration: configuration)
        defer { reference.server.stop() }
        let profile = try crossingProfile()
        var deployment = Deployment()
        deployment.trustProxyHeaders = true
        let (_, comparison, sent) = try replay(profile, reference: reference, mode: .forwarded(header: "X-Forwarded-For"), deployment: deployment)
        #expect(sent.proxyHeader(at: 0) == ProxyHeader(name: "X-Forwarded-For", value: "127.0.0.77"))
        #expect(comparison.failures.isEmpty)
        #expect(comparison.divergences.isEmpty, "\(comparison.text())")
    }

    @Test("vegeta results of a run compare event by event; a changed status is one divergence")
    func vegetaResults() throws {
        let reference = try LiveReference()
        defer { reference.server.stop() }
        let profile = try crossingProfile()
        let (result, _, sent) = try replay(profile, reference: reference)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        func lines(tamper: Int?) -> String {
            result.observations.map { o in
                let code = o.index == tamper ? 202 : (o.status ?? 0)
                let stamp = formatter.string(from: Date(timeIntervalSince1970: 1_700_000_000 + o.sentAt))
                return "{\"attack\":\"\",\"seq\":\(o.index),\"code\":\(code),\"timestamp\":\"\(stamp)\",\"latency\":1000,\"bytes_out\":0,\"bytes_in\":0,\"error\":\"\",\"body\":null,\"method\":\"POST\",\"url\":\"http://x/api?mcsec_event=\(o.index)\"}"
            }.joined(separator: "\n") + "\n"
        }
        let dir = try temporaryDirectory()
        let clean = try VegetaResults.read(path: try writeFile(lines(tamper: nil), name: "results.json", in: dir))
        #expect(clean.count == profile.count)
        let comparison = StatusComparison(profile: sent, observations: clean, deployment: Deployment())
        #expect(comparison.divergences.isEmpty, "\(comparison.text())")
        let refused = try #require(result.observations.first { $0.status == 429 })
        let tampered = try VegetaResults.read(path: try writeFile(lines(tamper: refused.index), name: "tampered.json", in: dir))
        let second = StatusComparison(profile: sent, observations: tampered, deployment: Deployment())
        #expect(second.divergences.map(\.index) == [refused.index])
        #expect(second.divergences.first?.expected == 429 && second.divergences.first?.actual == 202)
    }
}

@Suite("Exports for load engines")
struct ExportTests {
    func target() throws -> ReplayTarget { try ReplayTarget.reference(baseURL: "http://127.0.0.1:8000") }

    @Test("vegeta targets: method, URL with the event index, headers, base64 body of the event's size, valid signatures")
    func vegeta() throws {
        let profile = try crossingProfile()
        let t = try target()
        let export = LoadEngineExport(builder: try EventRequestBuilder(target: t), clientHeader: "X-Forwarded-For")
        let dir = try temporaryDirectory()
        let path = (dir as NSString).appendingPathComponent("targets.json")
        let sink = try ByteSink(path: path)
        try export.writeVegeta(profile, to: sink)
        try sink.close()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == profile.count)
        for (i, line) in lines.enumerated() {
            let value = try JSONValue.parse(String(line))
            let e = profile[i]
            #expect(value["method"]?.stringValue == (e.endpoint == .webhook ? "POST" : "GET"))
            #expect(value["url"]?.stringValue?.hasSuffix("mcsec_event=\(i)") == true)
            guard let headers = value["header"]?.objectValue else { Issue.record("no header object"); continue }
            let names = headers.map(\.key)
            #expect(names.contains("X-Forwarded-For"))
            let body = value["body"]?.stringValue.flatMap { Data(base64Encoded: $0) }.map { Array($0) } ?? []
            #expect(body.count == e.bodyBytes)
            if e.endpoint == .webhook && e.signature == .valid {
                let header = headers.first { $0.0 == "X-Hub-Signature-256" }?.1.arrayValue?.first?.stringValue
                let mac = HMACSHA256.authenticationCode(for: body, key: Array((t.signedSecret ?? "").utf8))
                #expect(header == "sha256=" + Hex.encode(mac))
            }
        }
    }

    @Test("an event's body is its index as JSON padded with spaces to its size, or x bytes when that does not fit")
    func eventBodies() throws {
        #expect(EventRequestBuilder.body(size: 0, index: 5).isEmpty)
        #expect(String(decoding: EventRequestBuilder.body(size: 20, index: 42), as: UTF8.self) == #"{"mcsec_event":42}  "#)
        #expect(String(decoding: EventRequestBuilder.body(size: 18, index: 42), as: UTF8.self) == #"{"mcsec_event":42}"#)
        #expect(EventRequestBuilder.body(size: 17, index: 42) == [UInt8](repeating: UInt8(ascii: "x"), count: 17))
        #expect(try JSONValue.parse(EventRequestBuilder.body(size: 512, index: 1_234_567))["mcsec_event"]?.intValue == 1_234_567)
    }

    @Test("a replay's request bytes are the event's request with Connection: keep-alive, encoded", arguments: [nil, "X-Forwarded-For", "connection", "Content-Length"])
    func keepAliveRequestBytes(proxyName: String?) throws {
        let crossing = try crossingProfile()
        var events = (0..<crossing.count).map { crossing[$0] }
        events.append(ProfileEvent(time: 2, client: "127.0.0.78", endpoint: .agentAuth, bodyBytes: 30, signature: .valid))
        events.append(ProfileEvent(time: 2, client: "127.0.0.78", endpoint: .webhook, bodyBytes: 0, signature: .none))
        if let proxyName {
            for k in events.indices where k % 3 == 0 { events[k].proxyHeader = ProxyHeader(name: proxyName, value: "1.2.3.\(k % 250)") }
        }
        let profile = try Profile(events: events)
        let builder = try EventRequestBuilder(target: try target())
        for i in 0..<profile.count {
            var request = builder.request(profile, i)
            request.headers.set("Connection", "keep-alive")
            #expect(builder.keepAliveRequestBytes(profile, i) == request.encoded(), "event \(i)")
        }
    }

    @Test("the k6 script embeds every event and schedules them with shared iterations; it parses as JavaScript",
          .requires(.node))
    func k6() throws {
        let profile = try crossingProfile()
        let export = LoadEngineExport(builder: try EventRequestBuilder(target: try target()), clientHeader: nil)
        let dir = try temporaryDirectory()
        let path = (dir as NSString).appendingPathComponent("script.mjs")
        let sink = try ByteSink(path: path)
        try export.writeK6(profile, source: "test", vus: 10, to: sink)
        try sink.close()
        let script = try String(contentsOfFile: path, encoding: .utf8)
        #expect(script.contains("executor: 'shared-iterations'"))
        #expect(script.contains("iterations: T.length"))
        let t = try #require(script.range(of: "const T = [")).upperBound
        let end = try #require(script[t...].range(of: "];")).lowerBound
        #expect(script[t..<end].split(separator: ",").count == profile.count)
        let node = try #require(ExternalTool.node.executable)
        let check = try ChildProcess(executable: node, arguments: ["--check", path])
        #expect(check.waitForExit(timeout: 30) == 0, "\(check.stderr)")
    }
}

@Suite("Replay keeps each client's requests in order")
struct ReplayOrderTests {
    @Test("simultaneous bursts from one client replay with zero divergences")
    func bursts() throws {
        // 3 bursts of 30 webhooks at the same instant (90 > 60), and 25 agent authentications at
        // once (> 20), all from one client: without ordering, requests of the burst would reach
        // the limiter in any order.
        var events: [ProfileEvent] = []
        for b in 0..<3 {
            for k in 0..<30 {
                events.append(ProfileEvent(time: Double(b) * 0.3, client: "127.0.0.88", endpoint: .webhook, bodyBytes: 20,
                                           signature: k % 3 == 0 ? .missing : .valid))
            }
        }
        for k in 0..<25 {
            events.append(ProfileEvent(time: 1, client: "127.0.0.88", endpoint: .agentAuth, signature: k % 2 == 0 ? .valid : .invalid))
        }
        let profile = try Profile(events: events)
        let reference = try LiveReference()
        defer { reference.server.stop() }
        var options = Replayer.Options()
        options.concurrency = 16
        let (sent, sources) = try ReplaySources.asSent(profile, mode: .loopback)
        let result = try Replayer(profile: sent, sources: sources, target: try ReplayTarget.reference(baseURL: reference.url), options: options).run()
        let comparison = StatusComparison(profile: sent, observations: result.observations, deployment: Deployment(), origin: 0)
        #expect(comparison.divergences.isEmpty, "\(comparison.text())")
        #expect(comparison.failures.isEmpty)
        #expect(result.waitedForClient > 0)
        #expect(result.observations.filter { $0.status == 429 }.count == 30 + 5)
    }
}

@Suite("Replay is an open model on an event loop")
struct ReplayOpenModelTests {
    /// A server that answers requests from 127.0.0.91 only after `delay` seconds and all others at
    /// once (handlers run on worker threads, so the slow ones do not hold up the fast ones).
    func server(delay: Double) throws -> (HTTPServer, Int) {
        let server = HTTPServer(handler: HandlerFunction { request in
            if request.peer == "127.0.0.91" { usleep(UInt32(delay * 1_000_000)) }
            return HTTPResponse(status: 200)
        })
        return (server, try server.start())
    }

    func agentProfile(clients: [String], every: Double, count: Int) throws -> Profile {
        var events: [ProfileEvent] = []
        for k in 0..<count {
            events.append(ProfileEvent(time: Double(k) * every, client: clients[k % clients.count], endpoint: .agentAuth, signature: .valid))
        }
        return try Profile(events: events)
    }

    func target(_ port: Int) -> ReplayTarget {
        var target = ReplayTarget(baseURL: "http://127.0.0.1:\(port)")
        target.agentToken = "mcsec-open-model-token"
        return target
    }

    @Test("a client whose answers are slow waits for them; the other clients' requests still go out on time")
    func slowClientDoesNotHoldBackOthers() throws {
        let (server, port) = try server(delay: 0.25)
        defer { server.stop() }
        // A request every 10 ms, alternating between the slow client and the fast one.
        let profile = try agentProfile(clients: ["127.0.0.91", "127.0.0.92"], every: 0.01, count: 60)
        let (sent, sources) = try ReplaySources.asSent(profile, mode: .loopback)
        let result = try Replayer(profile: sent, sources: sources, target: target(port), options: Replayer.Options()).run()
        #expect(result.observations.allSatisfy { $0.status == 200 }, "\(result.observations.filter { $0.status != 200 })")
        let fast = (0..<profile.count).filter { $0 % 2 == 1 }.map { result.lateness[$0] }
        let slow = (0..<profile.count).filter { $0 % 2 == 0 }.map { result.lateness[$0] }
        // The slow client's 30 requests take 0.25 s each in turn: its last ones go out seconds late.
        #expect((slow.max() ?? 0) > 1.0, "slow client lateness \(slow)")
        #expect(result.waitedForClient >= 25)
        // The fast client's do not wait for them (generously bounded for a busy machine).
        #expect((fast.max() ?? 1) < 0.2, "fast client lateness \(fast)")
    }

    @Test("with one request in flight allowed, events due meanwhile start late and are counted; without client order a client's requests overlap")
    func inFlightBound() throws {
        let (server, port) = try server(delay: 0.1)
        defer { server.stop() }
        let profile = try agentProfile(clients: ["127.0.0.91"], every: 0.01, count: 10)
        let (sent, sources) = try ReplaySources.asSent(profile, mode: .loopback)
        var options = Replayer.Options()
        options.concurrency = 1
        options.clientOrder = false
        let bounded = try Replayer(profile: sent, sources: sources, target: target(port), options: options).run()
        #expect(bounded.waitedForSender == 9, "\(bounded.waitedForSender)")
        #expect(bounded.waitedForClient == 0)
        #expect(bounded.elapsed >= 0.9)

        options.concurrency = 16
        let open = try Replayer(profile: sent, sources: sources, target: target(port), options: options).run()
        #expect(open.waitedForSender == 0)
        #expect(open.waitedForClient == 0)
        // Ten requests 10 ms apart, each answered after 100 ms, all in flight together.
        #expect(open.elapsed < 0.6, "\(open.elapsed)")
        #expect(open.observations.allSatisfy { $0.status == 200 })
    }
}

import Foundation
import Reference
import Spec
import Testing
import TestSupport
import Wire
@testable import Simulator

/// A store that is unreachable during outage windows of a shared clock (what Redis going away
/// looks like to the limiter), and otherwise the in-process store.
final class OutageStore: RateLimitStore, @unchecked Sendable {
    struct Unreachable: Error {}
    let inner = MemoryRateLimitStore()
    let clock: ManualTimeSource
    let origin: Double
    let outages: [TimeWindow]
    init(clock: ManualTimeSource, origin: Double, outages: [TimeWindow]) {
        self.clock = clock
        self.origin = origin
        self.outages = outages
    }
    func record(policy: RateLimitPolicy, client: String, now: Double) throws -> Bool {
        let t = clock.now() - origin
        if outages.contains(where: { $0.contains(t) }) { throw Unreachable() }
        return inner.record(policy: policy, client: client, now: now)
    }
}

/// Runs `profile` through reference services placed as `deployment` says (one service per
/// worker; each with its own in-process store for memory, one shared store for Redis), with a
/// manual clock at each event's time, and returns every status.
func referenceStatuses(_ profile: Profile, deployment: Deployment, trusted: TrustedProxies = .none) throws -> [Int] {
    let world = try World.bundled()
    let origin = 1_700_000_000.0
    let clock = ManualTimeSource(origin)
    var configuration = Configuration()
    configuration.trustedProxies = trusted
    configuration.webhookMaxPayloadBytes = deployment.maxPayloadBytes
    let shared: (any RateLimitStore)? = deployment.backend == .redis
        ? OutageStore(clock: clock, origin: origin, outages: deployment.outages) : nil
    let services = (0..<deployment.workers).map { _ in
        ReferenceService(configuration: configuration, world: world, time: clock, store: shared ?? MemoryRateLimitStore())
    }
    let builder = try EventRequestBuilder(target: try ReplayTarget.reference(baseURL: "http://127.0.0.1:8000"))
    let workers = Simulation.route(profile, deployment: deployment)
    var statuses: [Int] = []
    for i in 0..<profile.count {
        clock.set(origin + profile.times[i])
        var request = builder.request(profile, i)
        request.peer = profile.clients[Int(profile.clientIDs[i])]
        statuses.append(services[Int(workers[i])].handle(request).status)
    }
    return statuses
}

@Suite("Simulation: decisions equal the reference's")
struct ReferenceEquivalenceTests {
    static let deployments: [Deployment] = [
        Deployment(),
        Deployment(workers: 4, routing: .roundRobin),
        Deployment(workers: 3, routing: .random, seed: 9),
        Deployment(workers: 5, routing: .clientHash),
        Deployment(workers: 4, routing: .roundRobin, backend: .redis),
        Deployment(workers: 2, routing: .random, backend: .redis, outages: [TimeWindow(start: 20, end: 45), TimeWindow(start: 100, end: 110)]),
    ]

    @Test("statuses equal the reference service's for random profiles", arguments: 0..<deployments.count, [11 as UInt64, 12])
    func randomProfiles(deploymentIndex: Int, seed: UInt64) throws {
        // Up to ~5 requests per second per client over two minutes: limits are crossed,
        // windows reopen, a few bodies are over the payload limit.
        let profile = try randomProfile(seed: seed, events: 900, clients: 3, duration: 120)
        let deployment = ReferenceEquivalenceTests.deployments[deploymentIndex]
        try deployment.validate(profileDuration: profile.duration)
        let predicted = Simulation.predict(profile, deployment: deployment).statuses.map(Int.init)
        let actual = try referenceStatuses(profile, deployment: deployment)
        let mismatches = (0..<profile.count).filter { predicted[$0] != actual[$0] }
        #expect(mismatches.isEmpty, "\(mismatches.count) events differ; first: \(mismatches.prefix(5).map { "#\($0) predicted \(predicted[$0]) reference \(actual[$0])" })")
        // The profile exercises every outcome, so equality says something.
        #expect(Set(actual).isSuperset(of: [202, 403, 413, 429, 200, 401]))
    }

    @Test("with trusted proxy headers the key is the header's value, as the reference resolves it")
    func trustedProxyHeaders() throws {
        var events: [ProfileEvent] = []
        for k in 0..<200 {
            let spoofed = k % 3 == 0 ? nil : ProxyHeader(name: k % 2 == 0 ? "X-Forwarded-For" : "Forwarded",
                                                       value: k % 2 == 0 ? "198.51.100.\(k % 5), 10.0.0.1" : "for=\"198.51.100.\(k % 5):443\"")
            events.append(ProfileEvent(time: Double(k) * 0.05, client: "10.9.0.\(1 + k % 2)", endpoint: k % 4 == 0 ? .agentAuth : .webhook,
                                       bodyBytes: 10, signature: .valid, proxyHeader: spoofed))
        }
        let profile = try Profile(events: events)
        let trusted = try TrustedProxies.parse("10.9.0.0/16")
        var deployment = Deployment()
        deployment.trustProxyHeaders = true
        #expect(Simulation.predict(profile, deployment: deployment).statuses.map(Int.init) == (try referenceStatuses(profile, deployment: deployment, trusted: trusted)))
        deployment.trustProxyHeaders = false
        let untrusted = Simulation.predict(profile, deployment: deployment).statuses.map(Int.init)
        #expect(untrusted == (try referenceStatuses(profile, deployment: deployment)))
        // Spoofed values spread one client over several keys: fewer refusals when trusted.
        deployment.trustProxyHeaders = true
        let refusedTrusted = Simulation.predict(profile, deployment: deployment).statuses.filter { $0 == 429 }.count
        #expect(refusedTrusted < untrusted.filter { $0 == 429 }.count)
    }

    @Test("the sorted-set log of the Redis model equals the sliding-window log when clocks agree")
    func sharedLogMatchesRing() {
        var random = DeterministicRandom(seed: 5)
        for capacity in [1, 3, 20, 60] {
            var ring = SlidingWindowLog(maxRequests: capacity)
            var shared = SharedWindowLog(maxRequests: capacity)
            var t = 0.0
            for _ in 0..<5000 {
                t += random.nextDouble() * (random.nextInt(below: 20) == 0 ? 30 : 0.5)
                if random.nextInt(below: 10) == 0 { t = t.rounded() }  // equal timestamps too
                #expect(ring.attempt(now: t, window: 10) == shared.attempt(now: t, window: 10, realTime: t))
            }
        }
    }

    /// A naive model of the Redis script: a list of scores, re-sorted every time.
    struct NaiveSortedSet {
        var scores: [Double] = []
        var lastWrite = -Double.infinity
        mutating func attempt(score: Double, real: Double, max: Int, window: Double) -> Bool {
            if real - lastWrite > window.rounded(.up) + 1 { scores = [] }
            lastWrite = real
            scores = scores.filter { $0 > score - window }.sorted()
            if scores.count < max { scores.append(score); return true }
            scores.removeFirst()
            scores.append(score)
            return false
        }
    }

    @Test("with skewed worker clocks, Redis predictions follow the sorted-set semantics")
    func skewedClocks() throws {
        let profile = try randomProfile(seed: 21, events: 1500, clients: 2, duration: 300)
        var deployment = Deployment(workers: 3, routing: .random, backend: .redis, seed: 4)
        deployment.skews = [0, 2.5, -40]
        try deployment.validate(profileDuration: profile.duration)
        let prediction = Simulation.predict(profile, deployment: deployment)
        var sets: [String: NaiveSortedSet] = [:]
        var expected: [UInt8] = []
        for i in 0..<profile.count {
            let e = profile[i]
            let policy = e.endpoint == .webhook ? RateLimitPolicy.webhookIngest : RateLimitPolicy.agentAuth
            let key = policy.namespace + e.client
            let skew = deployment.skew(Int(prediction.workers[i]))
            let allowed = sets[key, default: NaiveSortedSet()].attempt(score: e.time + skew, real: e.time, max: policy.maxRequests, window: policy.window)
            expected.append(allowed ? LimiterDecision.allowed.rawValue : LimiterDecision.refused.rawValue)
        }
        #expect(prediction.decisions == expected)
        // And skew changes the outcome compared with agreeing clocks.
        deployment.skews = []
        #expect(Simulation.predict(profile, deployment: deployment).decisions != expected)
    }
}

@Suite("Simulation: deployments")
struct DeploymentTests {
    /// One client sending 10 webhooks a second for two minutes.
    func steady() throws -> Profile {
        try ProfileGenerator.profile(spec: spec(.constant(rate: 10), duration: 120))
    }

    @Test("4 memory workers behind round-robin admit 4 × the limit; Redis exactly the limit")
    func memoryVersusRedis() throws {
        let p = try steady()
        let memory = SimulationSummary(profile: p, prediction: Simulation.predict(p, deployment: Deployment(workers: 4, routing: .roundRobin)))
        #expect(memory.busiest[0]?.admitted == 240)
        #expect(memory.effectiveAdmission(namespace: 0) == 4.0)
        #expect(memory.effectiveAdmissionLines()[0].contains("got 240 per 60s = 4.0× the limit"))
        let redis = SimulationSummary(profile: p, prediction: Simulation.predict(p, deployment: Deployment(workers: 4, backend: .redis)))
        #expect(redis.busiest[0]?.admitted == 60)
        #expect(redis.effectiveAdmission(namespace: 0) == 1.0)
        let single = SimulationSummary(profile: p, prediction: Simulation.predict(p, deployment: Deployment()))
        #expect(single.busiest[0]?.admitted == 60)
        // Client-hash routing keeps a client on one worker: the limit holds even with memory.
        let hashed = SimulationSummary(profile: p, prediction: Simulation.predict(p, deployment: Deployment(workers: 4, routing: .clientHash)))
        #expect(hashed.busiest[0]?.admitted == 60)
    }

    @Test("a Redis outage lets everything through and records nothing")
    func outage() throws {
        let p = try steady()
        let deployment = Deployment(workers: 2, backend: .redis, outages: [TimeWindow(start: 70, end: 90)])
        let prediction = Simulation.predict(p, deployment: deployment)
        for i in 0..<p.count {
            let inOutage = p.times[i] >= 70 && p.times[i] < 90
            #expect((prediction.decision(at: i) == .failOpen) == inOutage)
            if inOutage { #expect(prediction.statuses[i] == 202) }
        }
        // Nothing was recorded during the outage: right after it the log still holds the
        // refused attempts of the minute before, so the next request is refused.
        let after = try #require((0..<p.count).first { p.times[$0] >= 90 })
        #expect(prediction.decision(at: after) == .refused)
        let summary = SimulationSummary(profile: p, prediction: prediction)
        #expect(summary.totals[0].failOpen == 200)
        #expect(summary.busiest[0]?.admitted == 200)
    }

    @Test("client-hash routing keeps each client on one worker; random routing is seeded")
    func routing() throws {
        let p = try ProfileGenerator.profile(spec: spec(.constant(rate: 100), duration: 10, clients: .uniform(count: 50, firstAddress: "10.0.0.1")))
        let hashed = Simulation.route(p, deployment: Deployment(workers: 7, routing: .clientHash))
        var workerOf: [Int32: UInt16] = [:]
        for i in 0..<p.count {
            if let w = workerOf[p.clientIDs[i]] { #expect(w == hashed[i]) } else { workerOf[p.clientIDs[i]] = hashed[i] }
        }
        #expect(Set(workerOf.values).count > 1)
        let a = Simulation.route(p, deployment: Deployment(workers: 4, routing: .random, seed: 1))
        #expect(a == Simulation.route(p, deployment: Deployment(workers: 4, routing: .random, seed: 1)))
        #expect(a != Simulation.route(p, deployment: Deployment(workers: 4, routing: .random, seed: 2)))
        let counts = Dictionary(grouping: a, by: { $0 }).mapValues(\.count)
        #expect(counts.count == 4 && counts.values.allSatisfy { abs($0 - 250) < 70 })
        let rr = Simulation.route(p, deployment: Deployment(workers: 3, routing: .roundRobin))
        #expect(rr.prefix(7) == [0, 1, 2, 0, 1, 2, 0])
    }

    @Test("the busiest-client figure equals a brute-force count over sliding windows")
    func slidingWindowCount() throws {
        let p = try randomProfile(seed: 3, events: 700, clients: 4, duration: 200)
        let prediction = Simulation.predict(p, deployment: Deployment(workers: 3, routing: .random))
        let summary = SimulationSummary(profile: p, prediction: prediction)
        for row in summary.clients {
            for ns in 0..<2 {
                let times = (0..<p.count).filter {
                    Int(p.kinds[$0] & 1) == ns && prediction.keys[Int(prediction.keyIDs[$0])] == row.key && prediction.statuses[$0] != 429
                }.map { p.times[$0] }
                let window = ns == 0 ? 60.0 : 60.0
                let best = times.map { t in times.filter { $0 > t - window && $0 <= t }.count }.max() ?? 0
                #expect(row[ns].maxPerWindow == best)
                #expect(row[ns].admitted == times.count)
            }
        }
        #expect(summary.totals[0].events + summary.totals[1].events == p.count)
        #expect(summary.windowRows.reduce(0) { $0 + $1.events } == p.count)
    }

    @Test("impossible settings are clear errors", arguments: [
        (Deployment(workers: 0), "workers must be between 1"),
        (Deployment(workers: -3), "workers must be between 1"),
        (Deployment(workers: 2, outages: [TimeWindow(start: 1, end: 2)]), "needs the redis backend"),
        (Deployment(workers: 2, backend: .redis, outages: [TimeWindow(start: 500, end: 600)]), "after the profile ends"),
        (Deployment(workers: 2, backend: .redis, outages: [TimeWindow(start: 5, end: 5)]), "must end after it starts"),
        (Deployment(workers: 2, backend: .redis, skews: [0, 1, 2]), "3 clock skews given for 2 workers"),
        (Deployment(workers: 2, skews: [0, 1]), "only with the redis backend"),
    ])
    func impossible(deployment: Deployment, mentions: String) {
        do {
            try deployment.validate(profileDuration: 120)
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains(mentions), "\(error)")
        }
    }

    @Test("settings parse: outages, skews, scenarios; bad text is refused")
    func parsing() throws {
        #expect(try Deployment.parseOutage("10s-40s") == TimeWindow(start: 10, end: 40))
        #expect(try Deployment.parseOutage("1m-1m30s") == TimeWindow(start: 60, end: 90))
        #expect(try Deployment.parseSkews("0.5s,-250ms,0") == [0.5, -0.25, 0])
        let d = try Deployment.parseScenario("name=four; workers=4; routing=hash; backend=redis; outage=10s-20s,30s-40s; skew=0,1s; trust-proxy-headers=yes; seed=3")
        #expect(d.name == "four" && d.workers == 4 && d.routing == .clientHash && d.backend == .redis)
        #expect(d.outages.count == 2 && d.skews == [0, 1] && d.trustProxyHeaders && d.seed == 3)
        for bad in ["40s-10s", "10s", "x-y", "10s-20s-30s"] {
            #expect(throws: DeploymentError.self) { _ = try Deployment.parseOutage(bad) }
        }
        #expect(throws: DeploymentError.self) { _ = try Deployment.parseSkews("1s,fast") }
        #expect(throws: DeploymentError.self) { _ = try Deployment.parseScenario("workers=many") }
        #expect(throws: DeploymentError.self) { _ = try Deployment.parseScenario("colour=blue") }
    }
}

@Suite("Simulation: the Redis model against a real redis-server",
       .requires(.redisServer))
struct RedisModelTests {
    @Test("workers with skewed clocks sharing Redis answer as predicted")
    func skewedWorkersOnRealRedis() throws {
        let server = try RedisServer()
        let store = try RedisRateLimitStore.connect(url: server.url(), timeout: 2)
        // Under a minute of profile time, so the keys' expiry (by Redis's clock, 61 s after the
        // last request) plays no part in a test that runs in seconds.
        let profile = try randomProfile(seed: 31, events: 800, clients: 2, duration: 55, maxBody: 100)
        var deployment = Deployment(workers: 3, routing: .random, backend: .redis, seed: 8)
        deployment.skews = [0, -30, 20]
        try deployment.validate(profileDuration: profile.duration)
        let prediction = Simulation.predict(profile, deployment: deployment)
        let world = try World.bundled()
        let origin = 1_700_000_000.0
        let clocks = deployment.skews.map { ManualTimeSource(origin + $0) }
        let services = clocks.map { ReferenceService(configuration: Configuration(), world: world, time: $0, store: store) }
        let builder = try EventRequestBuilder(target: try ReplayTarget.reference(baseURL: "http://127.0.0.1:8000"))
        var mismatches: [Int] = []
        for i in 0..<profile.count {
            let w = Int(prediction.workers[i])
            clocks[w].set(origin + deployment.skews[w] + profile.times[i])
            var request = builder.request(profile, i)
            request.peer = profile.clients[Int(profile.clientIDs[i])]
            if services[w].handle(request).status != Int(prediction.statuses[i]) { mismatches.append(i) }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) events differ, first \(mismatches.prefix(5))")
        // The skew matters here: agreeing clocks would predict differently.
        deployment.skews = []
        #expect(Simulation.predict(profile, deployment: deployment).statuses != prediction.statuses)
    }
}

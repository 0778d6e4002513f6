import Reference
import Wire

// Rule: the prediction runs every event, in profile order, through the same sliding-window-log
// algorithm the reference limiters use (`SlidingWindowLog`, the `webhook_ingest` and
// `agent_auth` policies in separate namespaces), placed as the deployment places them: one log
// per (worker, namespace, client key) with the memory backend, one per (namespace, client key)
// with Redis (`SharedWindowLog` when worker clocks disagree). Client keys are resolved once per
// distinct (address, proxy header) with `ClientAddress.resolve`, so the simulator and the
// service agree on who a client is. Keys are integer ids: no hashing per event.

/// The predicted outcome of every event of a profile under one deployment.
public struct Prediction: Sendable {
    public let deployment: Deployment
    /// Worker that handled each event.
    public var workers: [UInt16]
    /// `LimiterDecision` raw values.
    public var decisions: [UInt8]
    public var statuses: [UInt16]
    /// The limiter key (client identity as the service sees it) of each event.
    public var keyIDs: [Int32]
    public var keys: [String]

    public var count: Int { statuses.count }

    public func decision(at i: Int) -> LimiterDecision { LimiterDecision(rawValue: decisions[i]) ?? .allowed }
}

public enum Simulation {
    /// Predicts what `deployment` answers to every event of `profile`. The deployment must be
    /// valid for the profile (`Deployment.validate`).
    public static func predict(_ profile: Profile, deployment: Deployment) -> Prediction {
        let (keyIDs, keys) = resolveKeys(profile, trustProxyHeaders: deployment.trustProxyHeaders)
        let workers = route(profile, deployment: deployment)
        let n = profile.count
        var decisions = [UInt8](repeating: 0, count: n)
        var statuses = [UInt16](repeating: 0, count: n)

        let keyCount = keys.count
        let workerCount = max(1, deployment.workers)
        let policies = [deployment.webhookPolicy, deployment.agentPolicy]
        let windows = policies.map(\.window)
        let maxPayload = deployment.maxPayloadBytes
        let outages = mergedOutages(deployment.outages)
        let skews = (0..<workerCount).map { deployment.skew($0) }
        let skewed = deployment.backend == .redis && skews.contains(where: { $0 != skews[0] })

        // A client's log depends only on its own requests, in order. So instead of walking the
        // events in time order with every log live at once (hundreds of MB touched at random),
        // the events are grouped by log (a stable counting sort: time order is kept within a
        // group) and each log is run over its group while it sits in cache. The decisions are
        // exactly those of the time-ordered walk.
        // Log slots: memory → (namespace, key, worker); Redis → (namespace, key).
        let memory = deployment.backend == .memory
        let perNamespace = memory ? keyCount * workerCount : keyCount
        let slotCount = 2 * perNamespace
        let capacities = policies.map(\.maxRequests)
        var offsets = [Int](repeating: 0, count: slotCount + 1)
        var groupedTimes = [Double](repeating: 0, count: n)
        var groupedIndex = [Int32](repeating: 0, count: n)

        profile.times.withUnsafeBufferPointer { times in
        profile.kinds.withUnsafeBufferPointer { kinds in
        keyIDs.withUnsafeBufferPointer { keyIDs in
        workers.withUnsafeBufferPointer { workers in
        offsets.withUnsafeMutableBufferPointer { offsets in
        groupedTimes.withUnsafeMutableBufferPointer { groupedTimes in
        groupedIndex.withUnsafeMutableBufferPointer { groupedIndex in
        decisions.withUnsafeMutableBufferPointer { decisions in
            @inline(__always) func slot(_ i: Int) -> Int {
                let ns = Int(kinds[i] & 1)
                return ns * perNamespace + (memory ? Int(keyIDs[i]) * workerCount + Int(workers[i]) : Int(keyIDs[i]))
            }
            for i in 0..<n { offsets[slot(i) + 1] += 1 }
            for s in 0..<slotCount { offsets[s + 1] += offsets[s] }
            var fill = Array(offsets.dropLast())
            fill.withUnsafeMutableBufferPointer { fill in
                for i in 0..<n {
                    let s = slot(i)
                    let position = fill[s]
                    fill[s] = position + 1
                    groupedTimes[position] = times[i]
                    groupedIndex[position] = Int32(truncatingIfNeeded: i)
                }
            }
            for s in 0..<slotCount where offsets[s + 1] > offsets[s] {
                let ns = s < perNamespace ? 0 : 1
                let window = windows[ns]
                var outageCursor = 0
                if skewed {
                    var log = SharedWindowLog(maxRequests: capacities[ns])
                    for position in offsets[s]..<offsets[s + 1] {
                        let t = groupedTimes[position]
                        let i = Int(groupedIndex[position])
                        var decision = LimiterDecision.failOpen
                        if !Simulation.inOutage(t, outages, cursor: &outageCursor) {
                            decision = log.attempt(now: t + skews[Int(workers[i])], window: window, realTime: t) ? .allowed : .refused
                        }
                        decisions[i] = decision.rawValue
                    }
                } else {
                    var log = SlidingWindowLog(maxRequests: capacities[ns])
                    let first = Int(groupedIndex[offsets[s]])
                    // Every request of a slot goes to one worker (memory) or carries that
                    // worker's clock offset, which is the same for all workers here (Redis).
                    let offset = skews[Int(workers[first])]
                    for position in offsets[s]..<offsets[s + 1] {
                        let t = groupedTimes[position]
                        var decision = LimiterDecision.failOpen
                        if memory || !Simulation.inOutage(t, outages, cursor: &outageCursor) {
                            decision = log.attempt(now: t + offset, window: window) ? .allowed : .refused
                        }
                        decisions[Int(groupedIndex[position])] = decision.rawValue
                    }
                }
            }
        }}}}}}}}
        groupedTimes = []
        groupedIndex = []

        profile.kinds.withUnsafeBufferPointer { kinds in
        profile.bodyBytes.withUnsafeBufferPointer { bodies in
        decisions.withUnsafeBufferPointer { decisions in
        statuses.withUnsafeMutableBufferPointer { statuses in
            for i in 0..<n {
                let kind = kinds[i]
                let endpoint: Endpoint = kind & 1 == 0 ? .webhook : .agentAuth
                let signature = SignatureMode(rawValue: (kind >> 1) & 3) ?? .none
                let decision = LimiterDecision(rawValue: decisions[i]) ?? .allowed
                statuses[i] = UInt16(PredictedStatus.status(endpoint: endpoint, signature: signature, bodyBytes: Int(bodies[i]),
                                                            decision: decision, maxPayloadBytes: maxPayload))
            }
        }}}}
        return Prediction(deployment: deployment, workers: workers, decisions: decisions, statuses: statuses, keyIDs: keyIDs, keys: keys)
    }

    /// True when `t` lies in an outage; `cursor` advances with non-decreasing `t`.
    @inline(__always)
    static func inOutage(_ t: Double, _ outages: [TimeWindow], cursor: inout Int) -> Bool {
        while cursor < outages.count && outages[cursor].end <= t { cursor += 1 }
        return cursor < outages.count && outages[cursor].start <= t
    }

    /// Outages sorted and merged, so one cursor walks them as time advances.
    static func mergedOutages(_ outages: [TimeWindow]) -> [TimeWindow] {
        var merged: [TimeWindow] = []
        for o in outages.sorted(by: { $0.start < $1.start }) {
            if let last = merged.last, o.start <= last.end {
                merged[merged.count - 1].end = max(last.end, o.end)
            } else {
                merged.append(o)
            }
        }
        return merged
    }

    /// The limiter key of every event and the distinct keys.
    public static func resolveKeys(_ profile: Profile, trustProxyHeaders: Bool) -> ([Int32], [String]) {
        var resolver = LimiterKeys(trustProxyHeaders: trustProxyHeaders)
        resolver.addClients(profile.clients)
        var ids = [Int32](repeating: 0, count: profile.count)
        let proxies = profile.proxyIDs
        if !trustProxyHeaders || proxies.isEmpty {
            let clientKeys = resolver.clientKeys
            profile.clientIDs.withUnsafeBufferPointer { clients in
                for i in 0..<profile.count { ids[i] = clientKeys[Int(clients[i])] }
            }
            return (ids, resolver.keys)
        }
        for i in 0..<profile.count {
            ids[i] = resolver.key(client: profile.clientIDs[i], proxy: proxies[i], clients: profile.clients, proxyHeaders: profile.proxyHeaders)
        }
        return (ids, resolver.keys)
    }

    /// The worker of every event.
    public static func route(_ profile: Profile, deployment: Deployment) -> [UInt16] {
        let n = profile.count
        let workers = max(1, deployment.workers)
        var result = [UInt16](repeating: 0, count: n)
        guard workers > 1 else { return result }
        switch deployment.routing {
        case .roundRobin:
            var w = 0
            for i in 0..<n {
                result[i] = UInt16(truncatingIfNeeded: w)
                w += 1
                if w == workers { w = 0 }
            }
        case .random:
            var random = DeterministicRandom(seed: deployment.seed, stream: 0x726F_7574)
            for i in 0..<n { result[i] = UInt16(truncatingIfNeeded: random.nextInt(below: workers)) }
        case .clientHash:
            let byClient = profile.clients.map { UInt16(truncatingIfNeeded: Int(fnv1a($0) % UInt64(workers))) }
            profile.clientIDs.withUnsafeBufferPointer { clients in
                for i in 0..<n { result[i] = byClient[Int(clients[i])] }
            }
        }
        return result
    }

    /// FNV-1a, 64-bit: a stable hash of the address text (the same on every run and machine).
    public static func fnv1a(_ text: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in text.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }
}

/// Limiter keys numbered in order of first use: each client's own address as its clients are
/// added, then the keys that trusted proxy headers name, as events meet them. A whole profile
/// adds every client first; a stream adds them chunk by chunk.
struct LimiterKeys {
    let trustProxyHeaders: Bool
    private(set) var keys: [String] = []
    private var keyIndex: [String: Int32] = [:]
    /// Per client: the key of its own address.
    private(set) var clientKeys: [Int32] = []
    private var pairKeys: [Int64: Int32] = [:]

    init(trustProxyHeaders: Bool) { self.trustProxyHeaders = trustProxyHeaders }

    private mutating func intern(_ key: String) -> Int32 {
        if let id = keyIndex[key] { return id }
        let id = Int32(truncatingIfNeeded: keys.count)
        keys.append(key)
        keyIndex[key] = id
        return id
    }

    /// Registers the clients beyond those already known (ids are positions in `clients`).
    mutating func addClients(_ clients: [String]) {
        while clientKeys.count < clients.count {
            clientKeys.append(intern(ClientAddress.resolve(peer: clients[clientKeys.count], headers: HTTPFields(), trusted: .none)))
        }
    }

    /// The key of an event from `client` with proxy header `proxy` (-1: none); its client must
    /// have been added.
    mutating func key(client: Int32, proxy: Int32, clients: [String], proxyHeaders: [ProxyHeader]) -> Int32 {
        guard trustProxyHeaders && proxy >= 0 else { return clientKeys[Int(client)] }
        let pair = Int64(client) << 32 | Int64(proxy)
        if let id = pairKeys[pair] { return id }
        let header = proxyHeaders[Int(proxy)]
        let id = intern(ClientAddress.resolve(peer: clients[Int(client)], headers: HTTPFields([(header.name, header.value)]),
                                              trusted: .none, trustAnyPeer: true))
        pairKeys[pair] = id
        return id
    }
}

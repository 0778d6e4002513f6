import Foundation
import Reference
import Wire

// Rule: the streaming prediction walks the events in time order, once per scenario, and keeps
// only what outlives an event: the limiter log of every live (namespace, key, worker) slot, the
// report's aggregates (per key, per fixed window, the timeline) and the tables of clients and
// keys. Each event's decision comes from the same logs, fed the same requests in the same order
// as `Simulation.predict` (which groups the events by log; a log depends only on its own
// requests), so the decisions are identical. A log whose every entry has left the window acts
// exactly like a new one, so it is dropped from its slot and reused. Every event's prediction
// goes straight to the given sinks as a predictions.csv row.

/// What a report says about the profile itself, gathered while streaming.
public struct ProfileFacts: Sendable, Equatable {
    public var events = 0
    /// Time of the last event.
    public var duration = 0.0
    public var clients = 0
    /// Events per endpoint (webhook, agent_auth).
    public var endpointEvents = [0, 0]

    public init() {}

    public init(_ profile: Profile) {
        events = profile.count
        duration = profile.duration
        clients = profile.clients.count
        for k in profile.kinds { endpointEvents[Int(k & 1)] += 1 }
    }
}

public enum StreamingSimulation {
    /// Predicts `deployment` over one pass of `source` (from its start), writing every event's
    /// predictions.csv row (scenario number `scenario`, no header) to each of `predictions`, and
    /// giving every event's predicted status, in stream order, to `statuses` (on the calling
    /// thread).
    public static func run<Source: EventSource>(_ source: inout Source, deployment: Deployment, scenario: Int = 1,
                                                predictions: [ByteSink] = [], timelineBuckets: Int = 80,
                                                statuses: ((Int) -> Void)? = nil) throws -> (SimulationSummary, ProfileFacts) {
        try source.restart()
        var state = StreamState(deployment: deployment, timelineBuckets: timelineBuckets)
        state.statuses = statuses
        var rows = predictions.isEmpty ? nil : PredictionRows(scenario: scenario)
        var facts = ProfileFacts()
        // The source is read on a thread of its own, a chunk ahead of the prediction (a bounded
        // hand-off of two chunks): reading or generating events and predicting them take
        // comparable time, and they need nothing from each other but the events, in order.
        let reader = ChunkReader(source)
        defer {
            // The source the reader was made with, advanced (the cast cannot fail).
            if let advanced = reader.finish() as? Source { source = advanced }
        }
        if pipelines(state, writesRows: !predictions.isEmpty) {
            facts.clients = try runPipelined(reader, state: &state, facts: &facts)
            return (state.summary(facts: facts), facts)
        }
        var columns = EventColumns()
        while let handOff = try reader.next() {
            columns.take(handOff)
            try state.run(columns, facts: &facts, rows: &rows, sinks: predictions)
            reader.recycle(columns.giveBackEvents())
        }
        for sink in predictions { try sink.flush() }
        facts.clients = columns.clients.count
        return (state.summary(facts: facts), facts)
    }
}

/// The columns of a chunk's events with the clients and proxy headers their ids refer to.
struct EventColumns {
    var times: [Double] = []
    var clientIDs: [Int32] = []
    var kinds: [UInt8] = []
    var bodyBytes: [Int32] = []
    var proxyIDs: [Int32] = []
    var clients: [String] = []
    var proxyHeaders: [ProxyHeader] = []

    init() {}

    init(_ p: Profile) {
        times = p.times
        clientIDs = p.clientIDs
        kinds = p.kinds
        bodyBytes = p.bodyBytes
        proxyIDs = p.proxyIDs
        clients = p.clients
        proxyHeaders = p.proxyHeaders
    }

    var count: Int { times.count }

    /// Hands the event columns back (for the reader to refill) and keeps the clients.
    mutating func giveBackEvents() -> ChunkHandOff {
        defer { times = []; clientIDs = []; kinds = []; bodyBytes = []; proxyIDs = [] }
        return ChunkHandOff(times: times, clientIDs: clientIDs, kinds: kinds, bodyBytes: bodyBytes, proxyIDs: proxyIDs,
                            newClients: [], newProxyHeaders: [])
    }

    /// The next chunk: its events replace these, its new clients and proxy headers join these.
    mutating func take(_ h: ChunkHandOff) {
        times = h.times
        clientIDs = h.clientIDs
        kinds = h.kinds
        bodyBytes = h.bodyBytes
        proxyIDs = h.proxyIDs
        clients.append(contentsOf: h.newClients)
        proxyHeaders.append(contentsOf: h.newProxyHeaders)
    }
}

/// A chunk's events and the clients and proxy headers first seen in it.
struct ChunkHandOff: Sendable {
    var times: [Double], clientIDs: [Int32], kinds: [UInt8], bodyBytes: [Int32], proxyIDs: [Int32]
    var newClients: [String], newProxyHeaders: [ProxyHeader]

    /// These columns filled with `chunk`'s events, keeping their capacity.
    mutating func refill(from chunk: Profile, clientsFrom clients: Int, proxyHeadersFrom proxies: Int) {
        times.removeAll(keepingCapacity: true)
        times.append(contentsOf: chunk.times)
        clientIDs.removeAll(keepingCapacity: true)
        clientIDs.append(contentsOf: chunk.clientIDs)
        kinds.removeAll(keepingCapacity: true)
        kinds.append(contentsOf: chunk.kinds)
        bodyBytes.removeAll(keepingCapacity: true)
        bodyBytes.append(contentsOf: chunk.bodyBytes)
        proxyIDs.removeAll(keepingCapacity: true)
        proxyIDs.append(contentsOf: chunk.proxyIDs)
        newClients = Array(chunk.clients[clients...])
        newProxyHeaders = Array(chunk.proxyHeaders[proxies...])
    }
}

/// Reads an event source on a thread of its own, at most two chunks ahead of the reader.
final class ChunkReader: @unchecked Sendable {
    // @unchecked: `source` is used by the reading thread only until `finish` has waited for it
    // to end; `thread` is set once, before anything waits for it.

    typealias HandOff = ChunkHandOff

    private var source: any EventSource
    private let queue = HandOffQueue<HandOff>(depth: 2)
    private var thread: JoinableThread?

    init(_ source: any EventSource) {
        self.source = source
        thread = JoinableThread { [self] in read() }
    }

    private func read() {
        var chunk = Profile()
        var clients = 0, proxies = 0
        while true {
            let more: Bool
            do {
                more = try source.next(into: &chunk)
            } catch {
                queue.close(failure: error)
                return
            }
            guard more else { break }
            // Copied into columns the predicting side has given back, so neither side
            // allocates (and the kernel zeroes) a chunk's worth of memory per chunk.
            var h = queue.spare() ?? HandOff(times: [], clientIDs: [], kinds: [], bodyBytes: [], proxyIDs: [], newClients: [], newProxyHeaders: [])
            h.refill(from: chunk, clientsFrom: clients, proxyHeadersFrom: proxies)
            clients = chunk.clients.count
            proxies = chunk.proxyHeaders.count
            if !queue.push(h) { return }
        }
        queue.close()
    }

    /// Takes back a chunk's columns, to be refilled.
    func recycle(_ h: HandOff) { queue.giveBack(h) }

    /// The next chunk, or nil at the end; rethrows the source's error.
    func next() throws -> HandOff? { try queue.pop() }

    /// Stops the reading thread (if it has not ended), waits for it, and returns the source.
    func finish() -> any EventSource {
        queue.stop()
        thread?.join()
        return source
    }
}

/// predictions.csv rows, with the client and key texts encoded once each.
struct PredictionRows {
    let scenario: [UInt8]
    var clientText: [[UInt8]] = []
    var keyText: [[UInt8]] = []

    init(scenario: Int) { self.scenario = Array(String(scenario).utf8) }
}

/// A pool of logs for the live slots of one namespace; a free log is idle, so reusing it for
/// another slot is the same as starting a new one.
struct LogPool<Log> {
    var logs: [Log] = []
    /// The slot each log serves, -1 when free.
    var owners: [Int] = []
    var free: [Int32] = []

    /// A log for `slot`: a freed one when there is one, else a new one from `make`.
    @inline(__always)
    mutating func take(for slot: Int, make: () -> Log) -> Int {
        if let reused = free.popLast() {
            owners[Int(reused)] = slot
            return Int(reused)
        }
        logs.append(make())
        owners.append(slot)
        return logs.count - 1
    }
}

struct StreamState {
    let deployment: Deployment
    let workerCount: Int
    let memory: Bool
    let skewed: Bool
    let skews: [Double]
    let windows: [Double]
    let capacities: [Int]
    let outages: [TimeWindow]
    let maxPayload: Int
    let trustProxy: Bool
    /// Logs per (key, namespace): one per worker (memory) or one (Redis).
    let perKeyNamespace: Int

    // Clients and keys.
    var clientKey: [Int32] = []
    /// True while every client's key id is its client id (each address so far resolved to a
    /// key of its own, numbered in client order, as without trusted proxy headers): then an
    /// event's key needs no look-up in `clientKey`, a table read at random.
    var keysAreClients = true
    var clientWorker: [UInt16] = []
    var keys: [String] = []
    /// Key text → id, for the first `indexedKeys` keys: while every key is the text of its own
    /// client (`keysAreAddresses`), a new client's address is a new key without a look-up (the
    /// clients are distinct); the index catches up when a look-up is first needed.
    var keyIndex: [String: Int32] = [:]
    var indexedKeys = 0
    /// True while every key is the text of its own client's address (so the keys are distinct
    /// clients' addresses).
    var keysAreAddresses = true
    var pairKeys: [Int64: Int32] = [:]

    // Routing.
    var nextWorker = 0
    var random: DeterministicRandom

    // Limiter logs: slot → log index in the namespace's pool, -1 when the slot has no live log.
    var slotLog: [Int32] = []
    var pools = [LogPool<SlidingWindowLog>(), LogPool<SlidingWindowLog>()]
    var sharedPools = [LogPool<SharedWindowLog>(), LogPool<SharedWindowLog>()]
    var nextSweep = -Double.infinity

    var summary: SummaryBuilder
    var eventIndex = 0
    /// Told every event's predicted status, in stream order (a replay compares with it).
    var statuses: ((Int) -> Void)?

    /// Without skewed Redis clocks every log is a `SlidingWindowLog` fed in time order, so the
    /// dense path below predicts each event in one step (see `DenseKeyState`).
    let dense: DenseKeyState?

    init(deployment d: Deployment, timelineBuckets: Int) {
        deployment = d
        workerCount = max(1, d.workers)
        memory = d.backend == .memory
        let skews = (0..<max(1, d.workers)).map { d.skew($0) }
        self.skews = skews
        skewed = d.backend == .redis && skews.contains(where: { $0 != skews[0] })
        windows = [d.webhookPolicy.window, d.agentPolicy.window]
        capacities = [d.webhookPolicy.maxRequests, d.agentPolicy.maxRequests]
        outages = Simulation.mergedOutages(d.outages)
        maxPayload = d.maxPayloadBytes
        trustProxy = d.trustProxyHeaders
        perKeyNamespace = d.backend == .memory ? max(1, d.workers) : 1
        random = DeterministicRandom(seed: d.seed, stream: 0x726F_7574)
        dense = skewed ? nil : DenseKeyState(logsPerSlot: d.backend == .memory ? max(1, d.workers) : 1,
                                              capacities: [d.webhookPolicy.maxRequests, d.agentPolicy.maxRequests],
                                              windows: windows, interval: StreamState.sweepInterval(windows), offsets: skews)
        summary = SummaryBuilder(deployment: d, timelineBuckets: timelineBuckets, countsPerKey: skewed)
    }

    /// The id of key `key`, added when new; `new` says the caller knows it is new.
    mutating func intern(_ key: String, client: Int32, new: Bool = false) -> Int32 {
        if !new {
            while indexedKeys < keys.count {
                keyIndex[keys[indexedKeys]] = Int32(truncatingIfNeeded: indexedKeys)
                indexedKeys += 1
            }
            if let id = keyIndex[key] {
                if client < summary.firstClient[Int(id)] { summary.firstClient[Int(id)] = client }
                return id
            }
        }
        let id = Int32(truncatingIfNeeded: keys.count)
        keys.append(key)
        if !new {
            keyIndex[key] = id
            indexedKeys = keys.count
        }
        if let dense {
            dense.addKey()
        } else {
            slotLog.append(contentsOf: repeatElement(-1, count: 2 * perKeyNamespace))
        }
        summary.addKey(firstClient: client)
        return id
    }

    /// Registers the clients a chunk added, in id order (as `Simulation.resolveKeys` does).
    mutating func addClients(_ chunk: EventColumns, rows: inout PredictionRows?) {
        while clientKey.count < chunk.clients.count {
            let id = Int32(truncatingIfNeeded: clientKey.count)
            let address = chunk.clients[Int(id)]
            let resolved = ClientAddress.resolve(peer: address, headers: HTTPFields(), trusted: .none)
            // The keys so far are exactly the earlier clients' addresses, none of them this one.
            if resolved != address { keysAreAddresses = false }
            let new = keysAreAddresses && keys.count == Int(id)
            let key = intern(resolved, client: id, new: new)
            if key != id {
                keysAreAddresses = false
                keysAreClients = false
            }
            clientKey.append(key)
            if deployment.routing == .clientHash && workerCount > 1 {
                clientWorker.append(UInt16(truncatingIfNeeded: Int(Simulation.fnv1a(address) % UInt64(workerCount))))
            }
            rows?.clientText.append(Array(CSVLine.quoted(address).utf8))
        }
    }

    // Per-chunk work space, reused from chunk to chunk.
    var keyOf: [Int32] = []
    var workerOf: [UInt16] = []
    var groupOf: [Int32] = []
    var decisions: [UInt8] = []
    var grouped: [Int32] = []
    var offsets: [Int] = []
    /// The limiter half's outcomes of the chunk being predicted on one thread.
    let outcomes = LimiterOutcomes()
    /// Per namespace, the limiter half's open fixed window (see `SummaryBuilder.windowStart`).
    var windowLimits = [-Double.infinity, -Double.infinity]
    var windowStarts = [-1.0, -1.0]

    /// Predicts one chunk, a stretch of time at most one sweep interval long at a time, so
    /// that logs left idle are dropped within about a window, whatever the chunk's length.
    mutating func run(_ chunk: Profile, facts: inout ProfileFacts, rows: inout PredictionRows?, sinks: [ByteSink]) throws(FileError) {
        try run(EventColumns(chunk), facts: &facts, rows: &rows, sinks: sinks)
    }

    mutating func run(_ chunk: EventColumns, facts: inout ProfileFacts, rows: inout PredictionRows?, sinks: [ByteSink]) throws(FileError) {
        addClients(chunk, rows: &rows)
        if let dense {
            try denseRun(chunk, dense, facts: &facts, rows: &rows, sinks: sinks)
            return
        }
        let n = chunk.count
        var lo = 0
        while lo < n {
            // Every later attempt is at or after this time, which is what sweeping relies on.
            if chunk.times[lo] >= nextSweep { sweep(now: chunk.times[lo]) }
            var low = lo + 1, high = n
            while low < high {
                let mid = (low + high) / 2
                if chunk.times[mid] < nextSweep { low = mid + 1 } else { high = mid }
            }
            try segment(chunk, lo, low, facts: &facts, rows: &rows, sinks: sinks)
            lo = low
        }
    }

    /// The events' positions (0..<count) ordered by group, stably: a counting sort when the
    /// groups are few for the events, a sort otherwise (so a short stretch of events costs
    /// nothing per idle group).
    static func groupOrder(_ groupOf: [Int32], count n: Int, groups: Int, offsets: inout [Int], into order: inout [Int32]) {
        order.removeAll(keepingCapacity: true)
        if groups <= 4 * n {
            offsets.removeAll(keepingCapacity: true)
            offsets.append(contentsOf: repeatElement(0, count: groups + 1))
            for k in 0..<n { offsets[Int(groupOf[k]) + 1] += 1 }
            for g in 0..<groups { offsets[g + 1] += offsets[g] }
            order.append(contentsOf: repeatElement(0, count: n))
            for k in 0..<n {
                let g = Int(groupOf[k])
                order[offsets[g]] = Int32(truncatingIfNeeded: k)
                offsets[g] += 1
            }
        } else {
            var pairs = (0..<n).map { UInt64(UInt32(bitPattern: groupOf[$0])) << 32 | UInt64($0) }
            pairs.sort()
            order.append(contentsOf: pairs.lazy.map { Int32(truncatingIfNeeded: $0 & 0xFFFF_FFFF) })
        }
    }

    /// Predicts events lo..<hi of a chunk. The limiter step runs log by log (the events grouped
    /// by log, in time order within each), so a log's requests are applied while it sits in
    /// cache; the aggregates and the csv rows then follow the events in time order.
    mutating func segment(_ chunk: EventColumns, _ lo: Int, _ hi: Int, facts: inout ProfileFacts, rows: inout PredictionRows?, sinks: [ByteSink]) throws(FileError) {
        let n = hi - lo
        let proxies = chunk.proxyIDs
        let useProxies = trustProxy && !proxies.isEmpty
        keyOf.removeAll(keepingCapacity: true)
        workerOf.removeAll(keepingCapacity: true)
        groupOf.removeAll(keepingCapacity: true)

        // Who is the client, which worker, which log.
        for i in lo..<hi {
            let (key, worker) = keyAndWorker(chunk, i, useProxies: useProxies)
            let ns = Int(chunk.kinds[i] & 1)
            let slot = (Int(key) * 2 + ns) * perKeyNamespace + (memory ? worker : 0)
            let log = logIndex(slot, ns: ns)
            keyOf.append(key)
            workerOf.append(UInt16(truncatingIfNeeded: worker))
            groupOf.append(Int32(truncatingIfNeeded: log))
        }

        // The limiter, log by log; groups are (namespace, log).
        let first = skewed ? sharedPools[0].logs.count : pools[0].logs.count
        let groups = first + (skewed ? sharedPools[1].logs.count : pools[1].logs.count)
        for k in 0..<n { groupOf[k] = Int32(truncatingIfNeeded: Int(chunk.kinds[lo + k] & 1) * first + Int(groupOf[k])) }
        StreamState.groupOrder(groupOf, count: n, groups: groups, offsets: &offsets, into: &grouped)
        decisions.removeAll(keepingCapacity: true)
        decisions.append(contentsOf: repeatElement(LimiterDecision.failOpen.rawValue, count: n))
        var position = 0
        while position < n {
            let g = Int(groupOf[Int(grouped[position])])
            let ns = g < first ? 0 : 1
            let log = g - ns * first
            let window = windows[ns]
            var cursor = 0
            // Without skew every request of a log carries the same clock offset (one worker's
            // with memory; all agree with Redis).
            var offset = skews[Int(workerOf[Int(grouped[position])])]
            while position < n {
                let k = Int(grouped[position])
                if Int(groupOf[k]) != g { break }
                position += 1
                let t = chunk.times[lo + k]
                if skewed {
                    offset = skews[Int(workerOf[k])]
                    if !Simulation.inOutage(t, outages, cursor: &cursor) {
                        let allowed = sharedPools[ns].logs[log].attempt(now: t + offset, window: window, realTime: t)
                        decisions[k] = (allowed ? LimiterDecision.allowed : .refused).rawValue
                    }
                } else if memory || !Simulation.inOutage(t, outages, cursor: &cursor) {
                    decisions[k] = (pools[ns].logs[log].attempt(now: t + offset, window: window) ? LimiterDecision.allowed : .refused).rawValue
                }
            }
        }

        summary.addPerKey(times: chunk.times, kinds: chunk.kinds, base: lo, keys: keyOf, decisions: decisions)
        // Statuses, the other aggregates and rows, in time order.
        for k in 0..<n {
            let i = lo + k
            let t = chunk.times[i]
            let kind = chunk.kinds[i]
            let key = keyOf[k]
            let decision = LimiterDecision(rawValue: decisions[k]) ?? .allowed
            try finish(chunk, i, time: t, kind: kind, key: key, worker: Int(workerOf[k]), decision: decision, windowCount: nil,
                       facts: &facts, rows: &rows, sinks: sinks)
        }
        facts.events = eventIndex
        facts.duration = chunk.times[hi - 1]
    }

    /// After the limiter's decision on event `i`: its status, the aggregates and its
    /// predictions.csv row (both paths end every event here, in time order).
    @inline(__always)
    mutating func finish(_ chunk: EventColumns, _ i: Int, time t: Double, kind: UInt8, key: Int32, worker: Int, decision: LimiterDecision,
                         windowCount: UInt32?, facts: inout ProfileFacts, rows: inout PredictionRows?,
                         sinks: [ByteSink]) throws(FileError) {
        let body = chunk.bodyBytes[i]
        let status = StreamState.tally(&summary, facts: &facts, time: t, kind: kind, key: key, decision: decision, bodyBytes: body,
                                       maxPayload: maxPayload, windowCount: windowCount)
        statuses?(status)
        if rows != nil {
            while rows!.keyText.count < keys.count { rows!.keyText.append(Array(CSVLine.quoted(keys[rows!.keyText.count]).utf8)) }
            let client = chunk.clientIDs[i]
            let endpoint: Endpoint = kind & 1 == 0 ? .webhook : .agentAuth
            let signature = SignatureMode(rawValue: (kind >> 1) & 3) ?? .none
            for sink in sinks {
                try sink.withBuffer { out in
                    SimulationReport.appendPredictionRow(scenario: rows!.scenario, index: eventIndex, time: t, client: rows!.clientText[Int(client)],
                                                         key: rows!.keyText[Int(key)], endpoint: endpoint, signature: signature, bodyBytes: body,
                                                         worker: worker, decision: decision, status: status, to: &out)
                }
            }
        }
        eventIndex += 1
    }

    /// The time-ordered part of one event that needs nothing but the event and the limiter's
    /// outcome: its status (returned), the summary's time-ordered aggregates, the facts' count
    /// per endpoint. `windowCount` is nil when the summary counts per key itself.
    @inline(__always)
    static func tally(_ summary: inout SummaryBuilder, facts: inout ProfileFacts, time t: Double, kind: UInt8, key: Int32,
                      decision: LimiterDecision, bodyBytes: Int32, maxPayload: Int, windowCount: UInt32?) -> Int {
        let ns = Int(kind & 1)
        let endpoint: Endpoint = ns == 0 ? .webhook : .agentAuth
        let signature = SignatureMode(rawValue: (kind >> 1) & 3) ?? .none
        let status = PredictedStatus.status(endpoint: endpoint, signature: signature, bodyBytes: Int(bodyBytes),
                                            decision: decision, maxPayloadBytes: maxPayload)
        if let windowCount {
            summary.add(time: t, namespace: ns, key: Int(key), decision: decision, status: status, windowCount: windowCount)
        } else {
            summary.add(time: t, namespace: ns, key: Int(key), decision: decision, status: status)
        }
        facts.endpointEvents[ns] += 1
        return status
    }

    /// The limiter key of event `i` (its client's, or the one its trusted proxy header names)
    /// and the worker the load balancer sends it to.
    @inline(__always)
    mutating func keyAndWorker(_ chunk: EventColumns, _ i: Int, useProxies: Bool) -> (Int32, Int) {
        let client = chunk.clientIDs[i]
        var key = keysAreClients ? client : clientKey[Int(client)]
        if useProxies {
            let proxy = chunk.proxyIDs[i]
            if proxy >= 0 {
                let pair = Int64(client) << 32 | Int64(proxy)
                if let id = pairKeys[pair] {
                    key = id
                } else {
                    let header = chunk.proxyHeaders[Int(proxy)]
                    let resolved = ClientAddress.resolve(peer: chunk.clients[Int(client)], headers: HTTPFields([(header.name, header.value)]),
                                                         trusted: .none, trustAnyPeer: true)
                    key = intern(resolved, client: Int32.max)
                    pairKeys[pair] = key
                }
            }
        }
        var worker = 0
        if workerCount > 1 {
            switch deployment.routing {
            case .roundRobin:
                worker = nextWorker
                nextWorker += 1
                if nextWorker == workerCount { nextWorker = 0 }
            case .random: worker = random.nextInt(below: workerCount)
            case .clientHash: worker = Int(clientWorker[Int(client)])
            }
        }
        return (key, worker)
    }

    /// Predicts a chunk event by event in time order: the limiter half for the whole chunk
    /// (`limit`), then the time-ordered half, event by event (`finish`).
    mutating func denseRun(_ chunk: EventColumns, _ dense: DenseKeyState, facts: inout ProfileFacts, rows: inout PredictionRows?,
                           sinks: [ByteSink]) throws(FileError) {
        let n = chunk.count
        guard n > 0 else { return }
        let out = outcomes
        limit(chunk, dense, into: out)
        for i in 0..<n {
            try finish(chunk, i, time: chunk.times[i], kind: chunk.kinds[i], key: out.keys[i], worker: Int(out.workers[i]),
                       decision: LimiterDecision(rawValue: out.decisions[i]) ?? .allowed, windowCount: out.windowCounts[i],
                       facts: &facts, rows: &rows, sinks: sinks)
        }
        facts.events = eventIndex
        facts.duration = chunk.times[n - 1]
    }

    /// The limiter half of a dense prediction of a chunk whose clients are registered: each
    /// event's key, worker, decision and its key's admitted count in its fixed window, into
    /// `out`; each event's limiter log and per-key counts are read and written in one place
    /// (`DenseKeyState`). First every event's key and worker, then the events in order, each
    /// asking for the record lines of the event `recordAhead` later and, once those are in
    /// cache, for the times of the event `timesAhead` later (which its record locates): each
    /// event's own steps depend on what it has just read, so without asking ahead every event
    /// would wait for its misses one after the other.
    mutating func limit(_ chunk: EventColumns, _ dense: DenseKeyState, into out: LimiterOutcomes) {
        let n = chunk.count
        out.reset(count: n)
        guard n > 0 else { return }
        let useProxies = trustProxy && !chunk.proxyIDs.isEmpty
        let webhookWindow = windows[0], agentWindow = windows[1]
        let multiple = dense.logsPerSlot > 1
        var cursor = 0
        let keyOf = out.keys, workerOf = out.workers
        for i in 0..<n {
            let (key, worker) = keyAndWorker(chunk, i, useProxies: useProxies)
            keyOf[i] = key
            workerOf[i] = UInt16(truncatingIfNeeded: worker)
        }
        let recordAhead = DenseKeyState.recordAhead, timesAhead = DenseKeyState.timesAhead
        chunk.kinds.withUnsafeBufferPointer { kinds in
            chunk.times.withUnsafeBufferPointer { times in
                for i in 0..<min(n, recordAhead) {
                    dense.prefetchRecord(slot: Int(keyOf[i]) &* 2 &+ Int(kinds[i] & 1), log: multiple ? Int(workerOf[i]) : 0)
                }
                for i in 0..<n {
                    let ahead = i &+ recordAhead
                    if ahead < n {
                        dense.prefetchRecord(slot: Int(keyOf[ahead]) &* 2 &+ Int(kinds[ahead] & 1), log: multiple ? Int(workerOf[ahead]) : 0)
                    }
                    let near = i &+ timesAhead
                    if near < n {
                        dense.prefetchTimes(slot: Int(keyOf[near]) &* 2 &+ Int(kinds[near] & 1), log: multiple ? Int(workerOf[near]) : 0)
                    }
                    let t = times[i]
                    if t >= nextSweep { sweep(now: t) }
                    let worker = Int(workerOf[i])
                    let ns = Int(kinds[i] & 1)
                    let window = ns == 0 ? webhookWindow : agentWindow
                    let slot = Int(keyOf[i]) &* 2 &+ ns
                    var decision = LimiterDecision.failOpen
                    if memory || !Simulation.inOutage(t, outages, cursor: &cursor) {
                        decision = dense.attempt(slot: slot, log: multiple ? worker : 0, ns: ns, now: t + skews[worker], window: window)
                            ? .allowed : .refused
                    }
                    let admitted = decision != .refused
                    dense.count(slot: slot, time: t, window: window, admitted: admitted)
                    out.decisions[i] = decision.rawValue
                    let start = SummaryBuilder.windowStart(t, window: window, limit: &windowLimits[ns], start: windowStarts[ns])
                    windowStarts[ns] = start
                    out.windowCounts[i] = admitted ? dense.countInWindow(slot: slot, start: start) : 0
                }
            }
        }
    }

    /// The log of `slot` in namespace `ns`, taken from the pool when the slot has none.
    @inline(__always)
    mutating func logIndex(_ slot: Int, ns: Int) -> Int {
        let index = slotLog[slot]
        if index >= 0 { return Int(index) }
        let capacity = capacities[ns]
        let log = skewed ? sharedPools[ns].take(for: slot) { SharedWindowLog(maxRequests: capacity) }
                         : pools[ns].take(for: slot) { SlidingWindowLog(maxRequests: capacity) }
        slotLog[slot] = Int32(truncatingIfNeeded: log)
        return log
    }

    /// A quarter window: idle logs are kept at most a quarter window longer than needed.
    static func sweepInterval(_ windows: [Double]) -> Double { max(0.25, (windows.min() ?? 1) / 4) }

    /// Frees every log that can no longer refuse anything (its next attempt, at `now` or later,
    /// starts from empty), and the aggregates' idle per-key windows; runs once per window of
    /// profile time, so the cost per event stays constant.
    mutating func sweep(now t: Double) {
        nextSweep = t + StreamState.sweepInterval(windows)
        if let dense {
            dense.sweep(now: t)
            return
        }
        let offsets = skews
        for ns in 0..<2 {
            let window = windows[ns]
            for log in pools[ns].owners.indices where pools[ns].owners[log] >= 0 {
                // Every slot's attempts carry one worker's clock; the smallest offset is the
                // safe bound (a log is idle when even the earliest clock has left it behind).
                let offset = offsets.min() ?? 0
                if pools[ns].logs[log].isIdle(now: t + offset, window: window) {
                    slotLog[pools[ns].owners[log]] = -1
                    pools[ns].owners[log] = -1
                    pools[ns].free.append(Int32(truncatingIfNeeded: log))
                }
            }
            for log in sharedPools[ns].owners.indices where sharedPools[ns].owners[log] >= 0 {
                if sharedPools[ns].logs[log].isExpired(realTime: t, window: window) {
                    slotLog[sharedPools[ns].owners[log]] = -1
                    sharedPools[ns].owners[log] = -1
                    sharedPools[ns].free.append(Int32(truncatingIfNeeded: log))
                }
            }
        }
        summary.sweep(now: t)
    }

    consuming func summary(facts: ProfileFacts) -> SimulationSummary {
        if let dense { dense.fillCounts(&summary) }
        return summary.finish(facts: facts, keys: keys)
    }
}

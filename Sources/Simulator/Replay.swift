#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization
import Wire

// Rule: a replay sends each event at its scheduled time, measured from the start of the replay
// (an open model, as wrk2 does): a slow answer does not delay the next event. Lateness is the
// actual send time minus the scheduled time, never the time since the previous response.
// At most N requests are in flight; an event due while all N are out starts when one returns,
// late, and is counted as such. Sending runs on an event loop (Wire's `HTTPClientLoop`): one
// thread keeps every connection, writes each request when it is due and reads answers as they
// come, so the rate is bounded by the machine, not by a thread per request in flight.
// Connections are kept alive and reused per source address, and opened before the first event
// is due (for the first clients, up to the idle-connection limit), as wrk2 does: the schedule
// does not pay for connection setup. A request's bytes are built ahead of its time while the
// loop would otherwise wait, so only the write happens at the scheduled moment.
//
// Requests of one client are kept in order: an event is not sent while an earlier event of the
// same client (limiter key) is still unanswered. Two requests of one client in flight at once
// reach the limiter in an order nobody controls, and the prediction could not say which one
// was refused; waiting keeps the server's order the profile's order. The wait counts as
// lateness (and is reported apart); with requests answered in well under the gap between a
// client's events it never happens. `clientOrder = false` turns it off for pure load. With more
// than one sending thread, each thread takes whole clients (by key), so the order needs no lock.
//
// Source addresses: every client of the profile sends from its own loopback address. A client
// whose address is already an IPv4 loopback address keeps it; every other client is given an
// unused address in 127.1.0.1 upwards (one to one, so the server sees as many clients as the
// profile has, and the prediction is made for the addresses actually used). For a target that
// is not on loopback, or that trusts the replaying host as a proxy, `forwarded` sends each
// client's address in X-Forwarded-For instead.

/// How the server learns who each event's client is.
public enum SourceMode: Sendable, Equatable {
    /// Bind a loopback source address per client.
    case loopback
    /// Send the client's address in this proxy header (the target must trust this host).
    case forwarded(header: String)
}

/// The clients of a profile as a replay sends them.
public enum ReplaySources {
    /// The loopback source address of every client of `profile` (indexed by client id). Clients
    /// without one get addresses from `spare` upwards (127.1.0.1 by default; several replays
    /// against one server that must not share limiter state give each its own block).
    public static func loopbackAddresses(for profile: Profile, spare: String = "127.1.0.1") throws(TargetError) -> [String] {
        var used = Set<UInt32>()
        var assigned = [UInt32?](repeating: nil, count: profile.clients.count)
        for (i, client) in profile.clients.enumerated() {
            if let v4 = ipv4(client), v4 >> 24 == 127, v4 & 0xFF != 0, v4 & 0xFF != 255 {
                assigned[i] = v4
                used.insert(v4)
            }
        }
        guard var next = ipv4(spare), next >> 24 == 127 else {
            throw TargetError("the first spare source address must be an IPv4 loopback address, got '\(spare)'")
        }
        for i in assigned.indices where assigned[i] == nil {
            while used.contains(next) || next & 0xFF == 0 || next & 0xFF == 255 {
                next += 1
            }
            guard next < 128 << 24 else {
                throw TargetError("the profile has more clients than there are loopback addresses; use --sources forwarded")
            }
            assigned[i] = next
            used.insert(next)
            next += 1
        }
        return assigned.map { v in
            let a = v ?? 0
            return "\(a >> 24).\((a >> 16) & 255).\((a >> 8) & 255).\(a & 255)"
        }
    }

    static func ipv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for p in parts {
            guard let n = UInt32(p), n <= 255, p.count <= 3 else { return nil }
            value = value << 8 | n
        }
        return value
    }

    /// The profile as the server will see it: clients renamed to their source addresses
    /// (loopback), or each event's client carried in the proxy header (forwarded; an event's own
    /// header of that name keeps its value in front, as a proxy appends the peer it saw).
    public static func asSent(_ profile: Profile, mode: SourceMode, spare: String = "127.1.0.1") throws(TargetError) -> (profile: Profile, sources: [String]) {
        switch mode {
        case .loopback:
            let sources = try loopbackAddresses(for: profile, spare: spare)
            return (profile.renamingClients(to: sources), sources)
        case .forwarded(let header):
            var events: [ProfileEvent] = []
            events.reserveCapacity(profile.count)
            for i in 0..<profile.count {
                var e = profile[i]
                if let own = e.proxyHeader {
                    guard own.name.lowercased() == header.lowercased() else {
                        throw TargetError("event \(i) sets its own \(own.name) header; with --sources forwarded events may only set \(header)")
                    }
                    e.proxyHeader = ProxyHeader(name: header, value: own.value + ", " + e.client)
                } else {
                    e.proxyHeader = ProxyHeader(name: header, value: e.client)
                }
                events.append(e)
            }
            do {
                return (try Profile(events: events), [String](repeating: "", count: profile.clients.count))
            } catch {
                throw TargetError("\(error)")
            }
        }
    }
}

/// What a replay observed.
public struct ReplayResult: Sendable {
    /// Per event, in profile order (send times relative to the replay start).
    public var observations: [ObservedStatus]
    /// Per event: actual send time − scheduled time, seconds.
    public var lateness: [Double]
    /// Events that started late because N requests were in flight at their scheduled time.
    public var waitedForSender: Int
    /// Events held back until an earlier request of the same client was answered.
    public var waitedForClient: Int
    /// Wall-clock length of the replay.
    public var elapsed: Double
    /// Why the replay ended before every event was sent (interrupted, nothing answering);
    /// nil when it ran to the end. Events not sent have no observation (index -1) and a NaN
    /// lateness.
    public var stoppedEarly: String? = nil
    /// Per event: seconds from sending the request to its answer (NaN when not answered).
    public var answerTime: [Float] = []
    /// Events sent (answered or failed).
    public var sent: Int { lateness.filter { !$0.isNaN }.count }

    /// Lateness percentile (0…100) in seconds, over the events sent.
    public func latenessPercentile(_ p: Double) -> Double {
        Self.percentile(p, lateness.filter { !$0.isNaN })
    }

    /// Answer time percentile (0…100) in seconds, over the events answered: how fast the server
    /// answered under this load.
    public func answerTimePercentile(_ p: Double) -> Double {
        Self.percentile(p, answerTime.filter { !$0.isNaN }.map(Double.init))
    }

    static func percentile(_ p: Double, _ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    public var answerTimeLine: String {
        String(format: "answer time (request sent to answer read): p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms",
               answerTimePercentile(50) * 1000, answerTimePercentile(90) * 1000, answerTimePercentile(99) * 1000,
               answerTimePercentile(100) * 1000)
    }

    public var latenessLine: String {
        String(format: "lateness (actual − scheduled send time): p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms",
               latenessPercentile(50) * 1000, latenessPercentile(90) * 1000, latenessPercentile(99) * 1000,
               latenessPercentile(100) * 1000)
    }
}

/// Progress of a running replay.
public struct ReplayProgress: Sendable {
    public var sent: Int
    public var total: Int
    public var answered: Int
    public var failed: Int
    public var waitedForSender: Int
}

/// Ends a running replay early: from a signal handler (Ctrl-C) or when nothing answers.
public final class ReplayStop: Sendable {
    private let state = Mutex<String?>(nil)
    public init() {}

    /// Asks the sending threads to stop after the requests in flight; the first reason is kept.
    public func request(_ reason: String) {
        state.withLock { if $0 == nil { $0 = reason } }
    }

    public var reason: String? { state.withLock { $0 } }
}

/// Sends a profile to a target on schedule.
public final class Replayer: Sendable {
    public struct Options: Sendable {
        /// Requests in flight at most.
        public var concurrency = 256
        /// Seconds without progress before a request counts as failed; when requests fail and
        /// none is answered for this long, the replay stops (the target is gone).
        public var timeout = 5.0
        /// Idle keep-alive connections kept for reuse, in total: by default half the descriptors
        /// this process may open (at most 16,384), so that every client of a profile with
        /// thousands keeps its own connection instead of reconnecting for each request.
        public var maxIdleConnections = min(16_384, max(64, (Platform.openFilesLimit ?? 32_768) / 2))
        public var sources: SourceMode = .loopback
        /// Lead time before the first event, so that connections are open (seconds).
        public var leadTime = 0.2
        /// Keep each client's requests in order (see above).
        public var clientOrder = true
        /// The key that defines "one client" for ordering, per event (nil: the client address).
        public var orderKeys: [Int32]?
        /// Sending threads, each an event loop over its share of the clients.
        public var threads = 1
        /// How connections are watched (epoll on Linux by default).
        public var backend = EventBackend.platformDefault
        public init() {}
    }

    let profile: Profile
    let sources: [String]
    let builder: EventRequestBuilder
    let host: String
    let port: Int
    let options: Options

    /// - Parameters:
    ///   - profile: the profile as sent (`ReplaySources.asSent`).
    ///   - sources: the source address of each client ("" for none).
    public init(profile: Profile, sources: [String], target: ReplayTarget, options: Options) throws(TargetError) {
        try target.check(for: profile)
        let endpoint = try target.endpoint()
        guard endpoint.scheme == "http" else {
            throw TargetError("replay sends over plain http:// (it chooses source addresses and framing); '\(target.baseURL)' is \(endpoint.scheme)")
        }
        if let keys = options.orderKeys, keys.count != profile.count || keys.contains(where: { $0 < 0 }) {
            throw TargetError("the ordering keys must give one key (0 or more) per event")
        }
        guard options.concurrency >= 1 && options.concurrency <= 65_536 else {
            throw TargetError("concurrency must be between 1 and 65536, got \(options.concurrency)")
        }
        guard options.threads >= 1 && options.threads <= 64 else {
            throw TargetError("threads must be between 1 and 64, got \(options.threads)")
        }
        self.profile = profile
        self.sources = sources
        builder = try EventRequestBuilder(target: target)
        host = endpoint.host
        port = endpoint.port
        self.options = options
    }

    /// Runs the replay; `progress` is called about four times a second from another thread.
    /// `stop` ends it early (the events not yet sent are not sent); the replay also ends itself
    /// when requests fail and none has been answered for `options.timeout` seconds.
    public func run(progress: (@Sendable (ReplayProgress) -> Void)? = nil, stop: ReplayStop = ReplayStop()) throws -> ReplayResult {
        let n = profile.count
        let shared = ReplayShared(count: n)
        let keys = options.orderKeys ?? profile.clientIDs
        let keyCount = (keys.max().map { Int($0) } ?? 0) + 1
        // Whole clients per thread, in time order within each.
        let threads = max(1, min(options.threads, keyCount))
        var lanes = [[Int32]](repeating: [], count: threads)
        for i in 0..<n { lanes[Int(keys[i]) % threads].append(Int32(i)) }
        let binding = sources.contains { !$0.isEmpty }
        let lanesCopy = lanes
        let start = HTTPClientLoop.now() + options.leadTime
        var loops: [HTTPClientLoop] = []
        do {
            var clientOptions = HTTPClientLoop.Options()
            clientOptions.timeout = options.timeout
            clientOptions.maxIdleConnections = max(1, options.maxIdleConnections / threads)
            clientOptions.backend = options.backend
            for _ in 0..<threads {
                loops.append(try HTTPClientLoop(host: host, port: port, sources: binding ? sources : [], options: clientOptions))
            }
        } catch {
            throw TargetError("cannot start sending: \(error)")
        }
        let handOff = LoopHandOff(loops)
        var senders: [OSThread] = []
        for t in 0..<threads {
            senders.append(try startSenderThread { [self] in
                let lane = ReplayLane(replayer: self, events: lanesCopy[t], keys: keys, keyCount: keyCount, binding: binding,
                                      client: handOff.take(t), start: start, shared: shared, stop: stop)
                lane.run()
            })
        }
        let done = Atomic<Bool>(false)
        let timeout = options.timeout
        let monitor = try startSenderThread {
            // A failure with no answer since, for `timeout` seconds: the target is gone.
            var lastAnswered = 0, failedBefore = 0
            var failingSince: Double? = nil
            var ticks = 0
            while !done.load(ordering: .acquiring) {
                usleep(50_000)
                ticks += 1
                let answered = shared.answered.load(ordering: .relaxed), failed = shared.failed.load(ordering: .relaxed)
                let now = HTTPClientLoop.now()
                if answered != lastAnswered {
                    lastAnswered = answered
                    failedBefore = failed
                    failingSince = nil
                } else if failed > failedBefore {
                    let since = failingSince ?? now
                    failingSince = since
                    if now - since >= timeout {
                        stop.request("no request was answered for \(String(format: "%g", timeout)) s (--timeout) while \(failed - failedBefore) failed: the target seems gone")
                    }
                }
                if let progress, ticks % 5 == 0 {
                    progress(ReplayProgress(sent: shared.sent.load(ordering: .relaxed), total: n,
                                            answered: answered, failed: failed,
                                            waitedForSender: shared.waited.load(ordering: .relaxed)))
                }
            }
        }
        for t in senders { t.join() }
        let elapsed = HTTPClientLoop.now() - start
        done.store(true, ordering: .releasing)
        monitor.join()
        var result = shared.result(elapsed: elapsed, start: start)
        result.stoppedEarly = stop.reason
        return result
    }

    /// The bytes of event `i`'s request, kept alive.
    func requestBytes(_ i: Int) -> [UInt8] {
        var request = builder.request(profile, i)
        request.headers.set("Connection", "keep-alive")
        return request.encoded() ?? []
    }
}

/// Hands each sending thread its client loop (made on the caller's thread, so a failure to
/// create one is an error before anything is sent).
final class LoopHandOff: @unchecked Sendable {
    // @unchecked: each loop is taken by exactly one thread, once, and used only there.
    private let loops: [HTTPClientLoop]
    init(_ loops: [HTTPClientLoop]) { self.loops = loops }
    func take(_ index: Int) -> HTTPClientLoop { loops[index] }
}

/// One sending thread: its share of the events, in time order, through one event loop.
final class ReplayLane {
    let replayer: Replayer
    let events: [Int32]
    let keys: [Int32]
    let binding: Bool
    let client: HTTPClientLoop
    let start: Double
    let shared: ReplayShared
    let stop: ReplayStop
    let ordered: Bool
    let concurrency: Int
    let times: [Double]
    let clientIDs: [Int32]

    /// Next event (position in `events`) not yet due.
    var cursor = 0
    /// Due events waiting for one of the N requests in flight to return, oldest first.
    var waiting: [Int32] = []
    var waitingHead = 0
    /// Per key: a request of the client is in flight.
    var keyBusy: [Bool]
    /// Per key: due events held back behind the client's request in flight, oldest first.
    var heldBack: [Int32: [Int32]] = [:]
    /// Requests built ahead of their time: `prepared[p % capacity]` is event `events[p]`'s, for
    /// p in cursor..<preparedEnd.
    var prepared: [[UInt8]]
    var preparedEnd = 0
    static let lookahead = 512

    init(replayer: Replayer, events: [Int32], keys: [Int32], keyCount: Int, binding: Bool, client: HTTPClientLoop,
         start: Double, shared: ReplayShared, stop: ReplayStop) {
        self.replayer = replayer
        self.events = events
        self.keys = keys
        self.binding = binding
        self.client = client
        self.start = start
        self.shared = shared
        self.stop = stop
        ordered = replayer.options.clientOrder
        concurrency = replayer.options.concurrency
        times = replayer.profile.times
        clientIDs = replayer.profile.clientIDs
        keyBusy = [Bool](repeating: false, count: keyCount)
        prepared = [[UInt8]](repeating: [], count: Self.lookahead)
    }

    func run() {
        defer { client.close() }
        preconnect()
        var completions: [HTTPClientLoop.Completion] = []
        var stopped = false
        while true {
            if !stopped && stop.reason != nil {
                // Nothing more is sent; the requests in flight are still awaited.
                stopped = true
                cursor = events.count
                waiting = []
                waitingHead = 0
                heldBack = [:]
                pendingBytes = [:]
            }
            let now = HTTPClientLoop.now()
            while cursor < events.count && start + times[Int(events[cursor])] <= now {
                due(cursor)
                cursor += 1
            }
            if cursor == events.count && client.inFlight == 0 && waitingHead == waiting.count && heldBack.isEmpty { break }
            let next = cursor < events.count ? start + times[Int(events[cursor])] : now + 0.05
            // While the next event is not due yet, its request (and a few more) is built now.
            if next - HTTPClientLoop.now() > 0.000_2 { prepare(until: next - 0.000_1) }
            client.run(until: min(next, now + 0.05), completions: &completions)
            for completion in completions { finished(completion) }
            completions.removeAll(keepingCapacity: true)
        }
    }

    /// Opens connections for the first clients of this lane before the schedule starts.
    func preconnect() {
        guard binding else {
            for _ in 0..<min(8, client.options.maxIdleConnections) { client.preconnect(source: -1) }
            return
        }
        var seen = Set<Int32>()
        // The clients of the first events (a bounded look: a long profile is not walked whole).
        for e in events.prefix(1_000_000) where seen.count < client.options.maxIdleConnections {
            let source = clientIDs[Int(e)]
            if seen.insert(source).inserted && !client.preconnect(source: Int(source)) { break }
        }
    }

    func prepare(until deadline: Double) {
        var built = 0
        while preparedEnd < events.count && preparedEnd < cursor + Self.lookahead {
            prepared[preparedEnd % Self.lookahead] = replayer.requestBytes(Int(events[preparedEnd]))
            preparedEnd += 1
            built += 1
            if built % 16 == 0 && HTTPClientLoop.now() >= deadline { return }
        }
    }

    /// Event at position `p` is due now.
    func due(_ p: Int) {
        let i = events[p]
        var bytes: [UInt8]
        if p < preparedEnd {
            bytes = []
            swap(&bytes, &prepared[p % Self.lookahead])
        } else {
            bytes = replayer.requestBytes(Int(i))
            preparedEnd = p + 1
        }
        let key = keys[Int(i)]
        if ordered && keyBusy[Int(key)] {
            pendingBytes[i] = bytes
            heldBack[key, default: []].append(i)
            shared.waitedForClient.add(1, ordering: .relaxed)
        } else if client.inFlight >= concurrency || waitingHead < waiting.count {
            pendingBytes[i] = bytes
            waiting.append(i)
            shared.waited.add(1, ordering: .relaxed)
        } else {
            send(i, bytes)
        }
    }

    /// Requests of due events not sent yet (waiting or held back), by event.
    var pendingBytes: [Int32: [UInt8]] = [:]

    func send(_ i: Int32, _ built: [UInt8]? = nil) {
        let bytes = built ?? pendingBytes.removeValue(forKey: i) ?? replayer.requestBytes(Int(i))
        if ordered { keyBusy[Int(keys[Int(i)])] = true }
        shared.sent.add(1, ordering: .relaxed)
        client.start(tag: Int(i), request: bytes, source: binding ? Int(clientIDs[Int(i)]) : -1)
    }

    func finished(_ c: HTTPClientLoop.Completion) {
        let i = c.tag
        shared.record(i, sentAt: c.sentAt - start, lateness: c.sentAt - (start + times[i]), answerTime: HTTPClientLoop.now() - c.sentAt,
                      status: c.status, error: c.error)
        let key = keys[i]
        if ordered {
            keyBusy[Int(key)] = false
            // The client's next event takes the place its answered request left.
            if var queue = heldBack[key], !queue.isEmpty {
                let next = queue.removeFirst()
                heldBack[key] = queue.isEmpty ? nil : queue
                send(next)
            }
        }
        while client.inFlight < concurrency && waitingHead < waiting.count {
            let next = waiting[waitingHead]
            waitingHead += 1
            let nextKey = keys[Int(next)]
            if ordered && keyBusy[Int(nextKey)] {
                heldBack[nextKey, default: []].append(next)
                shared.waitedForClient.add(1, ordering: .relaxed)
            } else {
                send(next)
            }
        }
        if waitingHead == waiting.count && waitingHead > 0 {
            waiting.removeAll(keepingCapacity: true)
            waitingHead = 0
        }
    }
}

/// Per-event results written by the sending threads (each index by exactly one) and read after
/// they have all been joined.
final class ReplayShared: @unchecked Sendable {
    // @unchecked: every slot is written by one thread only, and read after all writers joined.
    let statuses: UnsafeMutableBufferPointer<Int32>
    let sentAt: UnsafeMutableBufferPointer<Double>
    let lateness: UnsafeMutableBufferPointer<Double>
    let answerTime: UnsafeMutableBufferPointer<Float>
    let errors = Mutex<[Int: String]>([:])
    let answered = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let sent = Atomic<Int>(0)
    let waited = Atomic<Int>(0)
    let waitedForClient = Atomic<Int>(0)

    init(count: Int) {
        statuses = .allocate(capacity: count)
        statuses.initialize(repeating: -1)
        sentAt = .allocate(capacity: count)
        sentAt.initialize(repeating: 0)
        lateness = .allocate(capacity: count)
        // NaN until the event is sent: a replay stopped early leaves some unsent.
        lateness.initialize(repeating: .nan)
        answerTime = .allocate(capacity: count)
        answerTime.initialize(repeating: .nan)
    }

    deinit {
        statuses.deallocate()
        sentAt.deallocate()
        lateness.deallocate()
        answerTime.deallocate()
    }

    /// `answer`: seconds from sending to the answer (kept only for an answered request).
    func record(_ i: Int, sentAt t: Double, lateness late: Double, answerTime answer: Double, status: Int?, error: String?) {
        sentAt[i] = t
        lateness[i] = late
        if let status {
            statuses[i] = Int32(status)
            answerTime[i] = Float(answer)
            answered.add(1, ordering: .relaxed)
        } else {
            failed.add(1, ordering: .relaxed)
            errors.withLock { $0[i] = error ?? "no answer" }
        }
    }

    func result(elapsed: Double, start: Double) -> ReplayResult {
        let errorTexts = errors.withLock { $0 }
        var observations: [ObservedStatus] = []
        observations.reserveCapacity(statuses.count)
        for i in 0..<statuses.count {
            let s = statuses[i]
            // An event never sent has no observation (index -1: compared with nothing).
            let sent = !lateness[i].isNaN
            observations.append(ObservedStatus(index: sent ? i : -1, sentAt: sentAt[i], status: s >= 0 ? Int(s) : nil,
                                               error: s >= 0 ? nil : sent ? errorTexts[i] : "not sent"))
        }
        var result = ReplayResult(observations: observations, lateness: Array(lateness), waitedForSender: waited.load(ordering: .relaxed),
                                  waitedForClient: waitedForClient.load(ordering: .relaxed), elapsed: elapsed)
        result.answerTime = Array(answerTime)
        return result
    }
}

/// Starts a sending thread or the monitor (1 MiB of stack is plenty for either).
func startSenderThread(_ body: @escaping @Sendable () -> Void) throws(TargetError) -> OSThread {
    do {
        return try OSThread.start(stackSize: 1 << 20, body)
    } catch {
        throw TargetError("cannot start a sending thread (error \(error.code)); lower --threads")
    }
}

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
// A replay that falls behind (the server or the machine slower than the schedule) leaves its
// backlog unread: a due event waits at its place in the profile for a slot, and at most
// 65,536 events are held behind their clients, so memory does not grow with the lag.

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

    public var answerTimeLine: String { ReplayResult.answerTimeLine(answerTimePercentile) }
    public var latenessLine: String { ReplayResult.latenessLine(latenessPercentile) }

    /// The answer-time line from a percentile function (seconds).
    static func answerTimeLine(_ percentile: (Double) -> Double) -> String {
        String(format: "answer time (request sent to answer read): p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms",
               percentile(50) * 1000, percentile(90) * 1000, percentile(99) * 1000, percentile(100) * 1000)
    }

    static func latenessLine(_ percentile: (Double) -> Double) -> String {
        String(format: "lateness (actual − scheduled send time): p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms",
               percentile(50) * 1000, percentile(90) * 1000, percentile(99) * 1000, percentile(100) * 1000)
    }
}

/// What a streamed replay observed: counts and histograms here, each event's outcome in the
/// spool (compared by `StreamedComparison`).
public struct StreamedReplayResult: Sendable {
    public var sent = 0
    public var answered = 0
    public var failed = 0
    public var waitedForSender = 0
    public var waitedForClient = 0
    public var elapsed = 0.0
    public var stoppedEarly: String? = nil
    /// Actual − scheduled send time of every event sent.
    public var lateness = LatencyHistogram()
    /// Sending to answer of every event answered.
    public var answerTime = LatencyHistogram()

    public var latenessLine: String { ReplayResult.latenessLine(lateness.percentile) }
    public var answerTimeLine: String { ReplayResult.answerTimeLine(answerTime.percentile) }
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

/// A profile file to replay as it is read: what a first pass found in it.
public struct ReplayFile: Sendable {
    public let path: String
    public let format: ProfileFormat
    public let mode: SourceMode
    public let events: Int
    /// The last event's time.
    public let duration: Double
    /// The file's clients (ids in order of first use) and proxy headers, without events.
    public let original: Profile
    /// The same as the server sees them (`ReplaySources.asSent`), without events.
    public let sent: Profile
    /// The source address of every client (loopback), else "" for each.
    public let sources: [String]
    /// Whether each kind of event (`Profile.kind`) occurs.
    let kinds: [Bool]

    /// Reads the file once to check it and learn its clients, and (forwarded sources) once more
    /// for the headers its events are sent with: bad input stops the replay before anything is
    /// sent. `spare`: the first source address for clients not on loopback.
    public static func scan(path: String, format: ProfileFormat? = nil, mode: SourceMode, spare: String = "127.1.0.1") throws -> ReplayFile {
        let file = try ProfileFileEvents(path: path, format: format)
        var chunk = Profile()
        var events = 0, duration = 0.0
        var kinds = [Bool](repeating: false, count: 256)
        while try file.next(into: &chunk) {
            events += chunk.count
            duration = chunk.duration
            for k in chunk.kinds { kinds[Int(k)] = true }
        }
        chunk.removeAllEvents()
        let sources: [String]
        var sent: Profile
        switch mode {
        case .loopback:
            sources = try ReplaySources.loopbackAddresses(clients: chunk.clients, spare: spare)
            sent = chunk.renamingClients(to: sources)
        case .forwarded:
            sources = [String](repeating: "", count: chunk.clients.count)
            let asSent = AsSentEvents(file: file, mode: mode, sources: sources)
            sent = Profile()
            try asSent.restart()
            while try asSent.next(into: &sent) {}
            sent.removeAllEvents()
        }
        return ReplayFile(path: path, format: file.format, mode: mode, events: events, duration: duration, original: chunk,
                          sent: sent, sources: sources, kinds: kinds)
    }

    /// The file's events as sent, from the start (`AsSentEvents`).
    public func asSentEvents() throws(FileError) -> AsSentEvents {
        AsSentEvents(file: try ProfileFileEvents(path: path, format: format), mode: mode, sources: sources)
    }
}

/// Sends a profile to a target on schedule: one held in memory (`run`), or a file read as it
/// is sent (`runStreamed`), each event's outcome spooled to disk.
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
        /// The key that defines "one client" for ordering, per event (nil: the client address;
        /// a profile in memory only: a streamed one orders by limiter key).
        public var orderKeys: [Int32]?
        /// Sending threads, each an event loop over its share of the clients.
        public var threads = 1
        /// How connections are watched (epoll on Linux by default).
        public var backend = EventBackend.platformDefault
        public init() {}
    }

    enum Input: Sendable {
        case memory(Profile, keys: [Int32])
        /// A file, ordered by the limiter key (from trusted proxy headers when they are).
        case file(ReplayFile, trustProxyHeaders: Bool)
    }

    let input: Input
    let sources: [String]
    let builder: EventRequestBuilder
    let host: String
    let port: Int
    let options: Options

    /// - Parameters:
    ///   - profile: the profile as sent (`ReplaySources.asSent`).
    ///   - sources: the source address of each client ("" for none).
    public convenience init(profile: Profile, sources: [String], target: ReplayTarget, options: Options) throws(TargetError) {
        if let keys = options.orderKeys, keys.count != profile.count || keys.contains(where: { $0 < 0 }) {
            throw TargetError("the ordering keys must give one key (0 or more) per event")
        }
        try target.check(kinds: profile.kinds)
        try self.init(input: .memory(profile, keys: options.orderKeys ?? profile.clientIDs), sources: sources, target: target, options: options)
    }

    /// A replay of `file` as it is read; each client's requests are kept in order by limiter
    /// key, as `deployment` resolves it (`trustProxyHeaders`).
    public convenience init(file: ReplayFile, trustProxyHeaders: Bool, target: ReplayTarget, options: Options) throws(TargetError) {
        try target.check(kinds: file.kinds.indices.filter { file.kinds[$0] }.map { UInt8($0) })
        try self.init(input: .file(file, trustProxyHeaders: trustProxyHeaders), sources: file.sources, target: target, options: options)
    }

    private init(input: Input, sources: [String], target: ReplayTarget, options: Options) throws(TargetError) {
        let endpoint = try target.endpoint()
        guard endpoint.scheme == "http" else {
            throw TargetError("replay sends over plain http:// (it chooses source addresses and framing); '\(target.baseURL)' is \(endpoint.scheme)")
        }
        guard options.concurrency >= 1 && options.concurrency <= 65_536 else {
            throw TargetError("concurrency must be between 1 and 65536, got \(options.concurrency)")
        }
        guard options.threads >= 1 && options.threads <= 64 else {
            throw TargetError("threads must be between 1 and 64, got \(options.threads)")
        }
        self.input = input
        self.sources = sources
        builder = try EventRequestBuilder(target: target)
        host = endpoint.host
        port = endpoint.port
        self.options = options
    }

    /// Runs the replay of a profile in memory; `progress` is called about four times a second
    /// from another thread. `stop` ends it early (the events not yet sent are not sent); the
    /// replay also ends itself when requests fail and none has been answered for
    /// `options.timeout` seconds.
    public func run(progress: (@Sendable (ReplayProgress) -> Void)? = nil, stop: ReplayStop = ReplayStop()) throws -> ReplayResult {
        guard case .memory(let profile, let keys) = input else {
            throw TargetError("a replay of a file as it is read runs with runStreamed")
        }
        let n = profile.count
        let shared = ReplayShared(count: n)
        let keyCount = (keys.max().map { Int($0) } ?? 0) + 1
        // Whole clients per thread, in time order within each.
        let threads = max(1, min(options.threads, keyCount))
        var lanes = [[Int32]](repeating: [], count: threads)
        for i in 0..<n { lanes[Int(keys[i]) % threads].append(Int32(i)) }
        let feeds: [any LaneFeed] = lanes.map { ProfileLaneFeed(profile: profile, events: $0, keys: keys) }
        let (elapsed, start) = try send(feeds: feeds, recorders: [ReplayRecorder](repeating: shared, count: threads), total: n,
                                        shared: shared, progress: progress, stop: stop)
        var result = shared.result(elapsed: elapsed, start: start)
        result.stoppedEarly = stop.reason
        return result
    }

    /// Runs the replay of a file as it is read, each event's outcome written to `spool`
    /// (compare them with `StreamedComparison`); otherwise as `run`.
    public func runStreamed(spool: ReplaySpool, progress: (@Sendable (ReplayProgress) -> Void)? = nil,
                            stop: ReplayStop = ReplayStop()) throws -> StreamedReplayResult {
        guard case .file(let file, let trust) = input else {
            throw TargetError("a replay of a profile in memory runs with run")
        }
        let shared = ReplayShared(count: 0)
        let threads = options.threads
        var feeds: [any LaneFeed] = []
        for t in 0..<threads {
            feeds.append(try FileLaneFeed(file: file, trustProxyHeaders: trust, lane: t, lanes: threads))
        }
        let recorders = (0..<threads).map { _ in SpoolRecorder(SpoolWriter(spool), stop: stop) }
        let (elapsed, _) = try send(feeds: feeds, recorders: recorders, total: file.events, shared: shared, progress: progress, stop: stop)
        var result = StreamedReplayResult()
        for r in recorders {
            result.lateness.add(r.lateness)
            result.answerTime.add(r.answers)
        }
        result.sent = shared.sent.load(ordering: .relaxed)
        result.answered = shared.answered.load(ordering: .relaxed)
        result.failed = shared.failed.load(ordering: .relaxed)
        result.waitedForSender = shared.waited.load(ordering: .relaxed)
        result.waitedForClient = shared.waitedForClient.load(ordering: .relaxed)
        result.elapsed = elapsed
        result.stoppedEarly = stop.reason
        return result
    }

    /// Sends every lane's events, one thread and client loop per lane, and watches for a target
    /// that stopped answering. Returns the replay's length and its start (monotonic seconds).
    private func send(feeds: [any LaneFeed], recorders: [any ReplayRecorder], total n: Int, shared: ReplayShared,
                      progress: (@Sendable (ReplayProgress) -> Void)?, stop: ReplayStop) throws -> (Double, Double) {
        let threads = feeds.count
        let binding = sources.contains { !$0.isEmpty }
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
            for feed in feeds { feed.close() }
            throw TargetError("cannot start sending: \(error)")
        }
        let parts = LaneParts(loops: loops, feeds: feeds, recorders: recorders)
        var senders: [OSThread] = []
        for t in 0..<threads {
            senders.append(try startSenderThread { [self] in
                let lane = ReplayLane(replayer: self, feed: parts.feeds[t], recorder: parts.recorders[t], binding: binding,
                                      client: parts.loops[t], start: start, shared: shared, stop: stop)
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
        return (elapsed, start)
    }

    /// The bytes of the request of the event at `position` of `window`, kept alive.
    func requestBytes(_ window: LaneWindow, _ position: Int) -> [UInt8] {
        let i = Int(window.positions[position])
        let c = window.columns
        let proxy = c.proxyIDs.isEmpty || c.proxyIDs[i] < 0 ? nil : c.proxyHeaders[Int(c.proxyIDs[i])]
        return builder.keepAliveRequestBytes(kind: c.kinds[i], bodyBytes: Int(c.bodyBytes[i]), proxy: proxy, index: window.base + i)
    }
}

/// Hands each sending thread its client loop, feed and recorder (made on the caller's thread,
/// so a failure to make one is an error before anything is sent).
final class LaneParts: @unchecked Sendable {
    // @unchecked: each part is taken by exactly one thread and used only there until that
    // thread has been joined.
    let loops: [HTTPClientLoop]
    let feeds: [any LaneFeed]
    let recorders: [any ReplayRecorder]
    init(loops: [HTTPClientLoop], feeds: [any LaneFeed], recorders: [any ReplayRecorder]) {
        self.loops = loops
        self.feeds = feeds
        self.recorders = recorders
    }
}

/// Some of a lane's events: a chunk's columns and which of its events are the lane's.
struct LaneWindow {
    var columns = EventColumns()
    /// Positions in `columns` of the lane's events, in time order.
    var positions: [Int32] = []
    /// Per position: the event's ordering key.
    var keys: [Int32] = []
    /// The event number of `columns`' first event.
    var base = 0
}

/// Where a sending thread's events come from, a window at a time.
protocol LaneFeed: AnyObject {
    /// Replaces `window` with the next one holding at least one of the lane's events (its
    /// columns are given back first); false at the end.
    func next(_ window: inout LaneWindow) throws -> Bool
    /// Ends the feed (early or at the end).
    func close()
}

/// A lane's events of a profile in memory: one window.
final class ProfileLaneFeed: LaneFeed {
    private var window: LaneWindow?

    init(profile: Profile, events: [Int32], keys: [Int32]) {
        // The columns share the profile's storage: nothing is copied.
        window = LaneWindow(columns: EventColumns(profile), positions: events, keys: events.map { keys[Int($0)] }, base: 0)
    }

    func next(_ window: inout LaneWindow) -> Bool {
        guard let w = self.window else { return false }
        window = w
        self.window = nil
        return true
    }

    func close() { window = nil }
}

/// A lane's events of a file, read as they are sent: the file is read (and the events made as
/// sent) on a thread of its own, a chunk or two ahead; each lane reads the whole file and keeps
/// the events of its keys (key modulo the lanes, numbered as every lane numbers them).
final class FileLaneFeed: LaneFeed {
    let reader: ChunkReader
    let lane: Int
    let lanes: Int
    let path: String
    private var keys: LimiterKeys
    private var read = 0
    private var closed = false

    init(file: ReplayFile, trustProxyHeaders: Bool, lane: Int, lanes: Int) throws(TargetError) {
        do {
            // Small chunks: a sending thread needs only the next events, and the reader keeps
            // a few chunks in hand.
            let events = try file.asSentEvents()
            events.file.chunkSize = 1 << 14
            reader = ChunkReader(events)
        } catch {
            throw TargetError("cannot read \(file.path): \(error)")
        }
        self.lane = lane
        self.lanes = lanes
        path = file.path
        keys = LimiterKeys(trustProxyHeaders: trustProxyHeaders)
    }

    func next(_ window: inout LaneWindow) throws -> Bool {
        while !closed {
            if window.columns.count > 0 { reader.recycle(window.columns.giveBackEvents()) }
            guard let chunk = try reader.next() else { return false }
            window.columns.take(chunk)
            window.base = read
            read += window.columns.count
            keys.addClients(window.columns.clients)
            window.positions.removeAll(keepingCapacity: true)
            window.keys.removeAll(keepingCapacity: true)
            let c = window.columns
            let proxies = c.proxyIDs
            for i in 0..<c.count {
                let key = keys.key(client: c.clientIDs[i], proxy: proxies.isEmpty ? -1 : proxies[i], clients: c.clients, proxyHeaders: c.proxyHeaders)
                if Int(key) % lanes == lane {
                    window.positions.append(Int32(i))
                    window.keys.append(key)
                }
            }
            if !window.positions.isEmpty { return true }
        }
        return false
    }

    func close() {
        guard !closed else { return }
        closed = true
        _ = reader.finish()
    }
}

/// An event a lane has taken from its window: what sending and recording it need.
struct LaneEvent {
    var index: Int
    var scheduled: Double
    var key: Int32
    var clientID: Int32
    var kind: UInt8
    var bodyBytes: Int32
    var proxyID: Int32
}

/// Where a lane records each event's outcome.
protocol ReplayRecorder: AnyObject {
    /// `sentAt`: seconds from the start; `answerTime`: from sending to the answer.
    func record(_ event: LaneEvent, sentAt: Double, answerTime: Double, status: Int?, error: String?)
    /// The lane has ended.
    func finish()
}

/// Records outcomes in a spool, and their lateness and answer times in histograms.
final class SpoolRecorder: ReplayRecorder, @unchecked Sendable {
    // @unchecked: used by one sending thread, read after it has been joined.
    let writer: SpoolWriter
    let stop: ReplayStop
    var lateness = LatencyHistogram()
    var answers = LatencyHistogram()

    init(_ writer: SpoolWriter, stop: ReplayStop) {
        self.writer = writer
        self.stop = stop
    }

    func record(_ e: LaneEvent, sentAt: Double, answerTime: Double, status: Int?, error: String?) {
        lateness.record(sentAt - e.scheduled)
        if status != nil { answers.record(answerTime) }
        writer.append(SpoolRecord(index: Int64(e.index), sentAt: sentAt, scheduled: e.scheduled,
                                  answerTime: status == nil ? .nan : Float(answerTime), status: Int16(clamping: status ?? -1),
                                  error: status == nil ? writer.spool.errorID(error ?? "no answer") : -1,
                                  clientID: e.clientID, bodyBytes: e.bodyBytes, proxyID: e.proxyID, kind: e.kind))
        if let failure = writer.failure { stop.request("cannot keep the replay's outcomes: \(failure)") }
    }

    func finish() {
        writer.flush()
        if let failure = writer.failure { stop.request("cannot keep the replay's outcomes: \(failure)") }
    }
}

/// One sending thread: its share of the events, in time order, through one event loop.
final class ReplayLane {
    let replayer: Replayer
    let feed: any LaneFeed
    let recorder: any ReplayRecorder
    let binding: Bool
    let client: HTTPClientLoop
    let start: Double
    let shared: ReplayShared
    let stop: ReplayStop
    let ordered: Bool
    let concurrency: Int

    /// The lane's events at hand, and the next one (position in `window`) not yet due.
    var window = LaneWindow()
    var cursor = 0
    /// No events are left to take (the feed ended, or the replay was stopped).
    var exhausted = false
    /// A due event's request, not sent yet.
    struct Pending {
        var event: LaneEvent
        var bytes: [UInt8]
    }
    /// Per key: a request of the client is in flight.
    var keyBusy: [Bool] = []
    /// Per key: due events held back behind the client's request in flight, oldest first.
    var heldBack: [Int32: [Pending]] = [:]
    var heldCount = 0
    /// Held-back events at most: past this, due events stay unread (in the feed) until some
    /// are sent, so a replay that falls behind does not hold its backlog in memory.
    static let heldLimit = 65_536
    /// Window positions below this have been counted as waiting for one of the N requests in
    /// flight.
    var countedWaiting = 0
    /// Requests in flight, by event number.
    var inFlight: [Int: LaneEvent] = [:]
    /// Requests built ahead of their time: `prepared[p % lookahead]` is the one of the event at
    /// position p of the window, for p in cursor..<preparedEnd.
    var prepared: [[UInt8]]
    var preparedEnd = 0
    static let lookahead = 512

    init(replayer: Replayer, feed: any LaneFeed, recorder: any ReplayRecorder, binding: Bool, client: HTTPClientLoop,
         start: Double, shared: ReplayShared, stop: ReplayStop) {
        self.replayer = replayer
        self.feed = feed
        self.recorder = recorder
        self.binding = binding
        self.client = client
        self.start = start
        self.shared = shared
        self.stop = stop
        ordered = replayer.options.clientOrder
        concurrency = replayer.options.concurrency
        prepared = [[UInt8]](repeating: [], count: Self.lookahead)
    }

    func run() {
        defer {
            client.close()
            feed.close()
            recorder.finish()
        }
        takeWindow()
        preconnect()
        var completions: [HTTPClientLoop.Completion] = []
        var stopped = false
        while true {
            if !stopped && stop.reason != nil {
                // Nothing more is sent; the requests in flight are still awaited.
                stopped = true
                exhausted = true
                heldBack = [:]
                heldCount = 0
                feed.close()
            }
            let now = HTTPClientLoop.now()
            let blocked = takeDue(now: now)
            if exhausted && client.inFlight == 0 && heldBack.isEmpty { break }
            // Blocked: due events wait for an answer (which ends the run below early).
            let next = blocked ? now + 0.05 : nextTime().map { start + $0 } ?? now + 0.05
            // While the next event is not due yet, its request (and a few more) is built now.
            if next - HTTPClientLoop.now() > 0.000_2 { prepare(until: next - 0.000_1) }
            client.run(until: min(next, now + 0.05), completions: &completions)
            for completion in completions { finished(completion) }
            completions.removeAll(keepingCapacity: true)
        }
    }

    /// Takes every event due by `now`, in order, until one must wait: for one of the N
    /// requests in flight to return, or for room among the held-back events. Returns whether
    /// a due event is waiting. A waiting event stays at the cursor (read, not yet taken), so
    /// a backlog costs no memory; it is counted once as started late because of the N.
    func takeDue(now: Double) -> Bool {
        while let t = nextTime(), start + t <= now {
            let key = Int(window.keys[cursor])
            if key >= keyBusy.count { keyBusy.append(contentsOf: repeatElement(false, count: max(key + 1, 2 * keyBusy.count) - keyBusy.count)) }
            if ordered && keyBusy[key] {
                guard heldCount < Self.heldLimit else { return true }
            } else if client.inFlight >= concurrency {
                // Every event due by now and not yet counted waited for the N.
                var p = max(cursor, countedWaiting)
                while p < window.positions.count && start + window.columns.times[Int(window.positions[p])] <= now { p += 1 }
                if p > countedWaiting {
                    shared.waited.add(p - max(cursor, countedWaiting), ordering: .relaxed)
                    countedWaiting = p
                }
                return true
            }
            due()
        }
        return false
    }

    /// The scheduled time of the next event not yet due.
    func nextTime() -> Double? {
        exhausted ? nil : window.columns.times[Int(window.positions[cursor])]
    }

    /// Moves to the feed's next window (or marks the lane exhausted).
    func takeWindow() {
        cursor = 0
        preparedEnd = 0
        countedWaiting = 0
        do {
            if try !feed.next(&window) { exhausted = true }
        } catch {
            stop.request("cannot read the profile: \(error)")
            exhausted = true
        }
    }

    /// Opens connections for the first clients of this lane before the schedule starts.
    func preconnect() {
        guard binding else {
            for _ in 0..<min(8, client.options.maxIdleConnections) { client.preconnect(source: -1) }
            return
        }
        guard !exhausted else { return }
        var seen = Set<Int32>()
        // The clients of the first events (a bounded look: a long profile is not walked whole).
        for p in window.positions.prefix(1_000_000) where seen.count < client.options.maxIdleConnections {
            let source = window.columns.clientIDs[Int(p)]
            if seen.insert(source).inserted && !client.preconnect(source: Int(source)) { break }
        }
    }

    func prepare(until deadline: Double) {
        guard !exhausted else { return }
        var built = 0
        while preparedEnd < window.positions.count && preparedEnd < cursor + Self.lookahead {
            prepared[preparedEnd % Self.lookahead] = replayer.requestBytes(window, preparedEnd)
            preparedEnd += 1
            built += 1
            if built % 16 == 0 && HTTPClientLoop.now() >= deadline { return }
        }
    }

    /// The event at the cursor is due now.
    func due() {
        let p = cursor
        var bytes: [UInt8]
        if p < preparedEnd {
            bytes = []
            swap(&bytes, &prepared[p % Self.lookahead])
        } else {
            bytes = replayer.requestBytes(window, p)
            preparedEnd = p + 1
        }
        let event = self.event(at: p)
        cursor += 1
        if cursor == window.positions.count { takeWindow() }
        if ordered && keyBusy[Int(event.key)] {
            heldBack[event.key, default: []].append(Pending(event: event, bytes: bytes))
            heldCount += 1
            shared.waitedForClient.add(1, ordering: .relaxed)
        } else {
            send(Pending(event: event, bytes: bytes))
        }
    }

    func event(at p: Int) -> LaneEvent {
        let i = Int(window.positions[p])
        return LaneEvent(index: window.base + i, scheduled: window.columns.times[i], key: window.keys[p],
                         clientID: window.columns.clientIDs[i], kind: window.columns.kinds[i], bodyBytes: window.columns.bodyBytes[i],
                         proxyID: window.columns.proxyIDs.isEmpty ? -1 : window.columns.proxyIDs[i])
    }

    func send(_ pending: Pending) {
        if ordered { keyBusy[Int(pending.event.key)] = true }
        shared.sent.add(1, ordering: .relaxed)
        inFlight[pending.event.index] = pending.event
        client.start(tag: pending.event.index, request: pending.bytes, source: binding ? Int(pending.event.clientID) : -1)
    }

    func finished(_ c: HTTPClientLoop.Completion) {
        guard let event = inFlight.removeValue(forKey: c.tag) else { return }
        if c.status != nil {
            shared.answered.add(1, ordering: .relaxed)
        } else {
            shared.failed.add(1, ordering: .relaxed)
        }
        recorder.record(event, sentAt: c.sentAt - start, answerTime: HTTPClientLoop.now() - c.sentAt, status: c.status, error: c.error)
        let key = event.key
        if ordered {
            keyBusy[Int(key)] = false
            // The client's next event takes the place its answered request left.
            // (Changed in place: a copy of the queue per answer would cost its length.)
            if let next = heldBack[key]?.first {
                heldBack[key]!.removeFirst()
                if heldBack[key]!.isEmpty { heldBack[key] = nil }
                heldCount -= 1
                send(next)
            }
        }
    }
}

/// Per-event results written by the sending threads (each index by exactly one) and read after
/// they have all been joined, and the counts every thread adds to.
final class ReplayShared: ReplayRecorder, @unchecked Sendable {
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

    /// `count`: events kept per index (0 for counts alone).
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

    /// `answerTime`: seconds from sending to the answer (kept only for an answered request).
    func record(_ e: LaneEvent, sentAt t: Double, answerTime answer: Double, status: Int?, error: String?) {
        let i = e.index
        sentAt[i] = t
        lateness[i] = t - e.scheduled
        if let status {
            statuses[i] = Int32(status)
            answerTime[i] = Float(answer)
        } else {
            errors.withLock { $0[i] = error ?? "no answer" }
        }
    }

    func finish() {}

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

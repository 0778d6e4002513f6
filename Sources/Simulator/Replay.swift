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
// Concurrency is bounded: N senders take events in order; a sender sleeps until its event is
// due, sends it and reads the answer. When all N are busy the next event starts late, and it
// is counted as such. Connections are kept alive and reused per source address, and opened
// before the first event is due (for the first clients, up to the idle-connection limit), as
// wrk2 does: the schedule does not pay for connection setup.
//
// Requests of one client are kept in order: an event is not sent while an earlier event of the
// same client (limiter key) is still unanswered. Two requests of one client in flight at once
// reach the limiter in an order nobody controls, and the prediction could not say which one
// was refused; waiting keeps the server's order the profile's order. The wait counts as
// lateness (and is reported apart); with requests answered in well under the gap between a
// client's events it never happens. `clientOrder = false` turns it off for pure load.
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
    /// The loopback source address of every client of `profile` (indexed by client id).
    public static func loopbackAddresses(for profile: Profile) throws(TargetError) -> [String] {
        var used = Set<UInt32>()
        var assigned = [UInt32?](repeating: nil, count: profile.clients.count)
        for (i, client) in profile.clients.enumerated() {
            if let v4 = ipv4(client), v4 >> 24 == 127, v4 & 0xFF != 0, v4 & 0xFF != 255 {
                assigned[i] = v4
                used.insert(v4)
            }
        }
        var next: UInt32 = 127 << 24 | 1 << 16 | 1
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
    public static func asSent(_ profile: Profile, mode: SourceMode) throws(TargetError) -> (profile: Profile, sources: [String]) {
        switch mode {
        case .loopback:
            let sources = try loopbackAddresses(for: profile)
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
    /// Events that started late because every sender was busy at their scheduled time.
    public var waitedForSender: Int
    /// Events held back until an earlier request of the same client was answered.
    public var waitedForClient: Int
    /// Wall-clock length of the replay.
    public var elapsed: Double
    /// Why the replay ended before every event was sent (interrupted, nothing answering);
    /// nil when it ran to the end. Events not sent have no observation (index -1) and a NaN
    /// lateness.
    public var stoppedEarly: String? = nil
    /// Events sent (answered or failed).
    public var sent: Int { lateness.filter { !$0.isNaN }.count }

    /// Lateness percentile (0…100) in seconds, over the events sent.
    public func latenessPercentile(_ p: Double) -> Double {
        let sorted = lateness.filter { !$0.isNaN }.sorted()
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
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

    /// Asks the senders to stop after the requests in flight; the first reason is kept.
    public func request(_ reason: String) {
        state.withLock { if $0 == nil { $0 = reason } }
    }

    public var reason: String? { state.withLock { $0 } }
}

/// Sends a profile to a target on schedule.
public final class Replayer: Sendable {
    public struct Options: Sendable {
        /// Senders (and at most this many requests in flight).
        public var concurrency = 32
        /// Seconds without progress before a request counts as failed; when requests fail and
        /// none is answered for this long, the replay stops (the target is gone).
        public var timeout = 5.0
        /// Idle keep-alive connections kept for reuse, in total.
        public var maxIdleConnections = 1024
        public var sources: SourceMode = .loopback
        /// Lead time before the first event, so that every sender is ready (seconds).
        public var leadTime = 0.2
        /// Keep each client's requests in order (see above).
        public var clientOrder = true
        /// The key that defines "one client" for ordering, per event (nil: the client address).
        public var orderKeys: [Int32]?
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
        guard options.concurrency >= 1 && options.concurrency <= 4096 else {
            throw TargetError("concurrency must be between 1 and 4096, got \(options.concurrency)")
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
        let pool = ConnectionPool(limit: options.maxIdleConnections)
        preconnect(pool)
        let start = ReplayClock.now() + options.leadTime
        let next = Atomic<Int>(0)
        let senders = min(options.concurrency, max(1, n))
        let keys = options.orderKeys ?? profile.clientIDs
        var seen = [Int32](repeating: 0, count: (keys.max().map { Int($0) } ?? 0) + 1)
        let ordinals = keys.map { key -> Int32 in
            defer { seen[Int(key)] += 1 }
            return seen[Int(key)]
        }
        let order = ClientOrder(clients: seen.count)
        let ordered = options.clientOrder
        var threads: [OSThread] = []
        for _ in 0..<senders {
            threads.append(try startSenderThread { [self] in
                while stop.reason == nil {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if i >= n { break }
                    let due = start + profile.times[i]
                    let picked = ReplayClock.now()
                    if picked > due + 0.000_05 { shared.waited.add(1, ordering: .relaxed) }
                    // The request (body, signature) is built before waiting, so that only
                    // sending happens at the scheduled time.
                    var request = builder.request(profile, i)
                    request.headers.set("Connection", "keep-alive")
                    // In slices, so that a stop is noticed during a long gap in the schedule.
                    while ReplayClock.now() < due - 0.05 && stop.reason == nil { ReplayClock.sleep(until: min(due - 0.05, ReplayClock.now() + 0.05)) }
                    if stop.reason == nil { ReplayClock.sleep(until: due) }
                    let key = Int(keys[i])
                    if ordered && order.wait(client: key, ordinal: ordinals[i]) { shared.waitedForClient.add(1, ordering: .relaxed) }
                    // Stopped: the event is not sent, but still takes its turn in its client's
                    // order, so that a later event of the client picked by another sender is
                    // not left waiting for it.
                    if stop.reason == nil { send(i, request: request, due: due, start: start, shared: shared, pool: pool) }
                    if ordered { order.done(client: key) }
                }
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
                let now = ReplayClock.now()
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
                    progress(ReplayProgress(sent: min(n, next.load(ordering: .relaxed)), total: n,
                                            answered: answered, failed: failed,
                                            waitedForSender: shared.waited.load(ordering: .relaxed)))
                }
            }
        }
        for t in threads { t.join() }
        let elapsed = ReplayClock.now() - start
        done.store(true, ordering: .releasing)
        monitor.join()
        pool.closeAll()
        var result = shared.result(elapsed: elapsed, start: start)
        result.stoppedEarly = stop.reason
        return result
    }

    /// Opens one keep-alive connection per source of the earliest clients, up to the pool's
    /// limit. A connection that cannot be opened now is simply opened later, when needed.
    func preconnect(_ pool: ConnectionPool) {
        var seen = Set<String>()
        for i in 0..<profile.count where seen.count < options.maxIdleConnections {
            let source = sources.isEmpty ? "" : sources[Int(profile.clientIDs[i])]
            guard seen.insert(source).inserted else { continue }
            guard let connection = try? RawHTTPConnection(host: host, port: port, sourceAddress: source.isEmpty ? nil : source,
                                                         timeout: options.timeout) else { break }
            pool.give(source, connection)
            if sources.isEmpty { break }
        }
    }

    /// Sends event `i` (due at `due`) and records what happened.
    func send(_ i: Int, request: HTTPRequest, due: Double, start: Double, shared: ReplayShared, pool: ConnectionPool) {
        let source = sources.isEmpty ? "" : sources[Int(profile.clientIDs[i])]
        var lastError = "no answer"
        // A pooled connection the server has closed in the meantime fails at once; the request
        // is then sent once more on a fresh connection (never after part of an answer arrived).
        for attempt in 0..<2 {
            let connection: RawHTTPConnection
            if attempt == 0, let pooled = pool.take(source) {
                connection = pooled
            } else {
                do {
                    connection = try RawHTTPConnection(host: host, port: port, sourceAddress: source.isEmpty ? nil : source,
                                                       timeout: options.timeout)
                } catch {
                    lastError = "\(error)"
                    break
                }
            }
            let sentAt = ReplayClock.now()
            do {
                try connection.send(request)
                let response = try connection.readResponse()
                shared.record(i, sentAt: sentAt - start, lateness: sentAt - due, status: response.status, error: nil)
                if (response.headers["Connection"] ?? "").lowercased().contains("close") || connection.stoppedSendingEarly {
                    connection.close()
                } else {
                    pool.give(source, connection)
                }
                return
            } catch {
                connection.close()
                lastError = "\(error)"
                if attempt == 0 && connection.bodyBytesSent == 0 { continue }
                break
            }
        }
        let now = ReplayClock.now()
        shared.record(i, sentAt: now - start, lateness: now - due, status: nil, error: lastError)
    }
}

/// Per-event results written by the senders (each index by exactly one sender) and read after
/// they have all been joined.
final class ReplayShared: @unchecked Sendable {
    // @unchecked: every slot is written by one thread only, and read after all writers joined.
    let statuses: UnsafeMutableBufferPointer<Int32>
    let sentAt: UnsafeMutableBufferPointer<Double>
    let lateness: UnsafeMutableBufferPointer<Double>
    let errors = Mutex<[Int: String]>([:])
    let answered = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
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
    }

    deinit {
        statuses.deallocate()
        sentAt.deallocate()
        lateness.deallocate()
    }

    func record(_ i: Int, sentAt t: Double, lateness late: Double, status: Int?, error: String?) {
        sentAt[i] = t
        lateness[i] = late
        if let status {
            statuses[i] = Int32(status)
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
        return ReplayResult(observations: observations, lateness: Array(lateness), waitedForSender: waited.load(ordering: .relaxed),
                            waitedForClient: waitedForClient.load(ordering: .relaxed), elapsed: elapsed)
    }
}

/// Keeps each client's requests in order: a request waits until every earlier request of its
/// client has been answered.
final class ClientOrder: @unchecked Sendable {
    // @unchecked: `completed` is only touched with the lock held.
    private let lock = ConditionLock()
    private let completed: UnsafeMutableBufferPointer<Int32>

    init(clients: Int) {
        completed = .allocate(capacity: max(1, clients))
        completed.initialize(repeating: 0)
    }

    deinit { completed.deallocate() }

    /// Waits until `ordinal` earlier requests of `client` are answered; true when it had to wait.
    func wait(client: Int, ordinal: Int32) -> Bool {
        lock.withLock {
            var waited = false
            while completed[client] < ordinal {
                waited = true
                lock.wait()
            }
            return waited
        }
    }

    func done(client: Int) {
        lock.withLock {
            completed[client] += 1
            lock.broadcast()
        }
    }
}

/// Idle keep-alive connections by source address.
final class ConnectionPool: @unchecked Sendable {
    // @unchecked: the connections inside are handed from thread to thread only through the
    // mutex; a connection is used by one thread at a time.
    private let idle = Mutex<(bySource: [String: [ConnectionBox]], count: Int)>(([:], 0))
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func take(_ source: String) -> RawHTTPConnection? {
        let box: ConnectionBox? = idle.withLock { state in
            guard var list = state.bySource[source], let last = list.popLast() else { return nil }
            state.bySource[source] = list.isEmpty ? nil : list
            state.count -= 1
            return last
        }
        return box?.connection
    }

    func give(_ source: String, _ connection: RawHTTPConnection) {
        let box = ConnectionBox(connection)
        let kept = idle.withLock { state -> Bool in
            guard state.count < limit else { return false }
            state.bySource[source, default: []].append(box)
            state.count += 1
            return true
        }
        if !kept { connection.close() }
    }

    func closeAll() {
        let all = idle.withLock { state -> [ConnectionBox] in
            let boxes = state.bySource.values.flatMap { $0 }
            state = ([:], 0)
            return boxes
        }
        for box in all { box.connection.close() }
    }
}

/// A connection passed between threads through the pool.
final class ConnectionBox: @unchecked Sendable {
    // @unchecked: owned by one thread at a time (see ConnectionPool).
    let connection: RawHTTPConnection
    init(_ connection: RawHTTPConnection) { self.connection = connection }
}

/// Monotonic time and precise sleeping.
enum ReplayClock {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Sleeps until monotonic time `t` (returns at once when it has passed).
    static func sleep(until t: Double) {
        guard t > now() else { return }
        let ts = timespec(tv_sec: Int(t.rounded(.down)), tv_nsec: Int((t - t.rounded(.down)) * 1e9))
        Platform.sleep(untilMonotonic: ts)
    }
}

/// Starts a sender (blocking sockets need real threads; 1 MiB of stack is plenty for one).
func startSenderThread(_ body: @escaping @Sendable () -> Void) throws(TargetError) -> OSThread {
    do {
        return try OSThread.start(stackSize: 1 << 20, body)
    } catch {
        throw TargetError("cannot start a sender thread (error \(error.code)); lower --concurrency")
    }
}

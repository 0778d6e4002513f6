import CMemoryHints
import Reference

// Rule: when every log of the streaming prediction sees its requests in time order with one
// clock (the memory backend, or Redis with agreeing clocks), one event's prediction needs its
// key's limiter log and its key's aggregates: the events, admitted and refused counts, the most
// admitted within a window and the admitted times still inside the window. All of that for one
// (key, namespace) sits in one record of words here, indexed by key id, so an event reads and
// writes one place instead of a log table, a pool and several per-key arrays. The times
// themselves are rings in `TimeRings` blocks, sized to what they hold; idle ones are freed by
// the sweep, which walks only the rings that have a block.

/// The per-(key, namespace) state of the streaming prediction.
final class DenseKeyState {
    /// Words of a record: events, admitted, refused, most admitted per window, the admitted
    /// times' ring header, the open fixed window's start and admitted count (for the summary),
    /// then from word 16 one log ring header per worker (memory) or one (Redis); records are
    /// whole cache lines, so one event's reads stay within its record's lines.
    let stride: Int
    let logsPerSlot: Int
    private static let recentWord = 4
    private static let windowWord = 8
    private static let logWord = 16
    // Exclusive access to these is this class's own business (no caller holds a reference
    // into them across a call), so the per-access runtime checks are left out.
    @exclusivity(unchecked) private var words: UnsafeMutablePointer<UInt32>
    @exclusivity(unchecked) private var capacity: Int
    @exclusivity(unchecked) private(set) var slots = 0
    /// The limiter logs of each namespace (two names, not an array: one event reads one
    /// without the array's reference counting), and the admitted times.
    private let webhookLogs: TimeRings
    private let agentLogs: TimeRings
    private let recent = TimeRings(limit: Int(Int32.max))
    private let capacities: [Int]

    @inline(__always)
    private func logs(_ ns: Int) -> TimeRings { ns == 0 ? webhookLogs : agentLogs }
    private let windows: [Double]
    private let interval: Double
    /// The earliest of the workers' clock offsets (a log is idle when even it is past).
    private let minimumOffset: Double

    // The sweep: every ring that holds a block is in one queue, the one of the sweep at which
    // it can first be idle (queues are visited round robin, one per sweep), so a sweep looks
    // only at rings that may be due, and an active ring about once a window.
    @exclusivity(unchecked) private var queues: [[Int]]
    @exclusivity(unchecked) private var round = 0
    @exclusivity(unchecked) private var lastSweep = -Double.infinity
    /// Rings with a block: webhook logs, agent-auth logs, admitted times.
    @exclusivity(unchecked) private var live = [0, 0, 0]
    /// How many events (or rings) ahead a record's lines are asked for, and its times: far
    /// enough for a miss to be served meanwhile, near enough that the lines are still in cache.
    static let recordAhead = 16
    static let timesAhead = 8

    /// - Parameters:
    ///   - interval: the least profile time between two sweeps.
    ///   - offsets: the workers' clock offsets.
    init(logsPerSlot: Int, capacities: [Int], windows: [Double], interval: Double, offsets: [Double]) {
        self.logsPerSlot = logsPerSlot
        self.capacities = capacities
        self.windows = windows
        self.interval = interval
        minimumOffset = offsets.min() ?? 0
        let spread = (offsets.max() ?? 0) - minimumOffset
        stride = (DenseKeyState.logWord + 4 * logsPerSlot + 15) / 16 * 16
        webhookLogs = TimeRings(limit: max(1, capacities[0]))
        agentLogs = TimeRings(limit: max(1, capacities[1]))
        // 16 GB of address space reserved (backed only as keys arrive: 89 million keys with 4 workers),
        // else grown by copying.
        let reservable = (1 << 32) / stride
        if let reserved = LargeTable.reserve(UInt32.self, count: reservable * stride) {
            capacity = reservable
            words = reserved
        } else {
            capacity = 1024
            words = LargeTable.allocate(UInt32.self, count: capacity * stride)
        }
        let longest = (windows.max() ?? 1) + spread
        queues = [[Int]](repeating: [], count: min(4096, Int((longest / interval).rounded(.up)) + 3))
    }

    deinit { LargeTable.release(words, count: capacity * stride) }

    /// The most limiter logs of each namespace, and admitted-time rings, that held a block at once.
    @exclusivity(unchecked) private(set) var peakLive = [0, 0, 0]
    /// Bytes of time blocks (in use or free).
    var timeBytes: Int { webhookLogs.footprintBytes + agentLogs.footprintBytes + recent.footprintBytes }

    /// Adds the records of the next key (both namespaces).
    func addKey() {
        if slots + 2 > capacity {
            let grown = capacity * 2
            words = LargeTable.grow(words, count: capacity * stride, used: slots * stride, to: grown * stride)
            capacity = grown
        }
        // Records past `slots` are still as mapped, zero (never used, and not copied on growth),
        // so a new one is ready without a write: the pages are first touched by its events.
        slots += 2
    }

    /// Asks for the lines of record `slot` that an event on its log `log` uses, to have them
    /// in cache when the event comes (see `StreamState.limit`).
    @inline(__always)
    func prefetchRecord(slot: Int, log: Int) {
        let record = words + slot &* stride
        mcsec_prefetch(record)
        mcsec_prefetch(record + (DenseKeyState.logWord &+ 4 &* log))
    }

    /// Counts an admitted event of record `slot` in the fixed window starting at `start` and
    /// returns the key's admitted count in that window so far, this event included (for
    /// `SummaryBuilder.add(…windowCount:)`). The record keeps the window's start (two words,
    /// its bits inverted, so a new record's zeros are a NaN: no window) and the count.
    @inline(__always)
    func countInWindow(slot: Int, start: Double) -> UInt32 {
        let counts = words + (slot &* stride &+ DenseKeyState.windowWord)
        let raw = UnsafeMutableRawPointer(counts)
        var count: UInt32 = 1
        if Double(bitPattern: ~raw.load(as: UInt64.self)) == start {
            count = counts[2] &+ 1
        } else {
            raw.storeBytes(of: ~start.bitPattern, as: UInt64.self)
        }
        counts[2] = count
        return count
    }

    /// Asks for the oldest and newest times of the log and of the admitted times (the record
    /// must be in cache: the rings' headers are read).
    @inline(__always)
    func prefetchTimes(slot: Int, log: Int) {
        let record = words + slot &* stride
        logs(slot & 1).prefetch(record + (DenseKeyState.logWord &+ 4 &* log))
        recent.prefetch(record + DenseKeyState.recentWord)
    }

    /// One attempt on log `log` of record `slot` (namespace `ns`); true when allowed.
    @inline(__always)
    func attempt(slot: Int, log: Int, ns: Int, now: Double, window: Double) -> Bool {
        guard capacities[ns] > 0 else { return false }  // a limit of 0 refuses everything
        let position = slot &* stride &+ DenseKeyState.logWord &+ 4 &* log
        let (allowed, became) = logs(ns).attempt(words + position, now: now, window: window)
        if became { enlist(position, kind: ns, newest: now) }
        return allowed
    }

    /// Counts one event of record `slot` at `t`; an admitted one also joins the admitted times.
    @inline(__always)
    func count(slot: Int, time t: Double, window: Double, admitted: Bool) {
        let record = words + slot &* stride
        record[0] &+= 1
        guard admitted else {
            record[2] &+= 1
            return
        }
        record[1] &+= 1
        let (inWindow, became) = recent.push(record + DenseKeyState.recentWord, t, window: window)
        if became { enlist(slot &* stride &+ DenseKeyState.recentWord, kind: 2, newest: t) }
        if UInt32(truncatingIfNeeded: inWindow) > record[3] { record[3] = UInt32(truncatingIfNeeded: inWindow) }
    }

    /// The profile time from which the ring at `position` (of `kind`) whose newest time is
    /// `newest` holds nothing that counts.
    @inline(__always)
    private func idleFrom(_ newest: Double, kind: Int, position: Int) -> Double {
        kind == 2 ? newest + windows[(position / stride) & 1] : newest - minimumOffset + windows[kind]
    }

    /// Queues a ring for the first sweep at or after the time it may be idle.
    private func enlist(_ position: Int, kind: Int, newest: Double) {
        live[kind] += 1
        if live[kind] > peakLive[kind] { peakLive[kind] = live[kind] }
        queue(position, due: idleFrom(newest, kind: kind, position: position))
    }

    private func queue(_ position: Int, due: Double) {
        // Sweeps are at least `interval` apart, so the sweep `ahead` rounds on is no earlier
        // than `due` (a ring checked early is only queued again).
        let rounds = (due - lastSweep) / interval
        let ahead = rounds < Double(queues.count - 1) ? max(1, Int(rounds.rounded(.up))) : queues.count - 1
        queues[(round + ahead) % queues.count].append(position)
    }

    /// Frees the due rings that can no longer count anything at `t` or later: a log none of
    /// whose times an attempt would keep (with clocks at least the earliest offset ahead), and
    /// admitted times all outside the window. Called at most once per `interval`, in time order.
    func sweep(now t: Double) {
        round += 1
        lastSweep = t
        let index = round % queues.count
        var due: [Int] = []
        swap(&due, &queues[index])
        // The rings are scattered over the whole table: each one's header is asked for some
        // rings ahead, and its times (which the header locates) a few rings ahead, as
        // `StreamState.limit` does for events.
        let count = due.count
        for k in 0..<min(count, DenseKeyState.recordAhead) { mcsec_prefetch(words + due[k]) }
        for k in 0..<count {
            if k &+ DenseKeyState.recordAhead < count { mcsec_prefetch(words + due[k &+ DenseKeyState.recordAhead]) }
            if k &+ DenseKeyState.timesAhead < count {
                prefetchRing(due[k &+ DenseKeyState.timesAhead])
            }
            check(due[k], now: t)
        }
        // Keep the emptied queue's capacity for its next use.
        due.removeAll(keepingCapacity: true)
        if queues[index].isEmpty { swap(&due, &queues[index]) }
    }

    /// Frees the ring at `position` when it is idle at `t`, else queues it for later.
    @inline(__always)
    private func check(_ position: Int, now t: Double) {
        let slot = position / stride
        let kind = position - slot * stride == DenseKeyState.recentWord ? 2 : slot & 1
        // The store passed as an argument, not held in a local: borrowed, so a ring checked
        // costs no reference counting.
        switch kind {
        case 0: check(position, kind: 0, store: webhookLogs, now: t)
        case 1: check(position, kind: 1, store: agentLogs, now: t)
        default: check(position, kind: 2, store: recent, now: t)
        }
    }

    @inline(__always)
    private func check(_ position: Int, kind: Int, store: TimeRings, now t: Double) {
        let h = words + position
        // A ring down to one time keeps it in its header, and needs no more sweeping.
        if store.shrink(h) {
            live[kind] -= 1
            return
        }
        if let newest = store.newest(h) {
            let idle = kind == 2 ? newest <= t - windows[(position / stride) & 1] : newest <= (t + minimumOffset) - windows[kind]
            if !idle {
                queue(position, due: idleFrom(newest, kind: kind, position: position))
                return
            }
        }
        store.clear(h)
        live[kind] -= 1
    }

    /// Asks for the times of the ring at `position` (its header in cache).
    @inline(__always)
    private func prefetchRing(_ position: Int) {
        if position % stride == DenseKeyState.recentWord {
            recent.prefetch(words + position)
        } else if (position / stride) & 1 == 0 {
            webhookLogs.prefetch(words + position)
        } else {
            agentLogs.prefetch(words + position)
        }
    }

    /// Hands the per-key counts to the summary.
    func fillCounts(_ summary: inout SummaryBuilder) {
        func column(_ word: Int) -> [Int32] {
            (0..<slots).map { Int32(truncatingIfNeeded: words[$0 * stride + word]) }
        }
        summary.events = column(0)
        summary.admitted = column(1)
        summary.refused = column(2)
        summary.maxPerWindow = column(3)
    }
}

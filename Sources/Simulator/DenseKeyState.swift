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
    /// times' ring header, then one log ring header per worker (memory) or one (Redis).
    let stride: Int
    let logsPerSlot: Int
    private static let recentWord = 4
    private static let logWord = 8
    private var words: UnsafeMutablePointer<UInt32>
    private var capacity: Int
    private(set) var slots = 0
    /// The limiter logs of each namespace, and the admitted times.
    private let logs: [TimeRings]
    private let recent = TimeRings(limit: Int(Int32.max))
    private let capacities: [Int]
    /// Word positions of the ring headers that hold a block, to sweep.
    private var liveLogs: [[Int]] = [[], []]
    private var liveRecent: [Int] = []

    init(logsPerSlot: Int, capacities: [Int]) {
        self.logsPerSlot = logsPerSlot
        self.capacities = capacities
        stride = DenseKeyState.logWord + 4 * logsPerSlot
        logs = capacities.map { TimeRings(limit: max(1, $0)) }
        capacity = 1024
        words = .allocate(capacity: capacity * stride)
    }

    deinit { words.deallocate() }

    /// The most limiter logs of each namespace, and admitted-time rings, that held a block at once.
    private(set) var peakLiveLogs = [0, 0]
    private(set) var peakLiveRecent = 0
    /// Bytes of time blocks (in use or free).
    var timeBytes: Int { logs[0].footprintBytes + logs[1].footprintBytes + recent.footprintBytes }

    /// Adds the records of the next key (both namespaces).
    func addKey() {
        if slots + 2 > capacity {
            let grown = capacity * 2
            let moved = UnsafeMutablePointer<UInt32>.allocate(capacity: grown * stride)
            moved.update(from: words, count: slots * stride)
            words.deallocate()
            words = moved
            capacity = grown
        }
        (words + slots * stride).initialize(repeating: 0, count: 2 * stride)
        slots += 2
    }

    /// One attempt on log `log` of record `slot` (namespace `ns`); true when allowed.
    @inline(__always)
    func attempt(slot: Int, log: Int, ns: Int, now: Double, window: Double) -> Bool {
        guard capacities[ns] > 0 else { return false }  // a limit of 0 refuses everything
        let position = slot &* stride &+ DenseKeyState.logWord &+ 4 &* log
        let (allowed, became) = logs[ns].attempt(words + position, now: now, window: window)
        if became {
            liveLogs[ns].append(position)
            peakLiveLogs[ns] = max(peakLiveLogs[ns], liveLogs[ns].count)
        }
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
        if became {
            liveRecent.append(slot &* stride &+ DenseKeyState.recentWord)
            peakLiveRecent = max(peakLiveRecent, liveRecent.count)
        }
        if UInt32(truncatingIfNeeded: inWindow) > record[3] { record[3] = UInt32(truncatingIfNeeded: inWindow) }
    }

    /// Frees every log that can no longer refuse anything at `now` or later (clocks at least
    /// `offset` ahead), and every admitted-time ring with nothing inside its window.
    func sweep(now t: Double, offset: Double, windows: [Double]) {
        for ns in 0..<2 {
            let cutoff = (t + offset) - windows[ns]
            var kept = 0
            for position in liveLogs[ns] {
                let h = words + position
                if let newest = logs[ns].newest(h), newest > cutoff {
                    liveLogs[ns][kept] = position
                    kept += 1
                } else {
                    logs[ns].clear(h)
                }
            }
            liveLogs[ns].removeLast(liveLogs[ns].count - kept)
        }
        var kept = 0
        for position in liveRecent {
            let h = words + position
            let slot = position / stride
            if let newest = recent.newest(h), newest > t - windows[slot & 1] {
                liveRecent[kept] = position
                kept += 1
            } else {
                recent.clear(h)
            }
        }
        liveRecent.removeLast(liveRecent.count - kept)
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

import Reference

// Rule: the summary of a streamed prediction, built event by event in time order with memory
// bounded by the keys and the report's tables: counts per key, the admitted times of each key
// still inside its window (for the most admitted per window), the open fixed window of each
// namespace, and the timeline. The timeline's bucket depends on the duration, known only at
// the end; so a histogram is kept for every candidate bucket length of the 1-2-5 series that
// is still long enough (at most `buckets` + 1 buckets each), updated only when an event crosses
// a bucket boundary of one of them. Key ids follow first appearance; where that differs from
// `Simulation.resolveKeys` (keys from trusted proxy headers) ties are broken by the latter's
// order at the end, so the summary is the in-memory one exactly.

struct SummaryBuilder {
    let deployment: Deployment
    let windows: [Double]
    let buckets: Int
    /// False when the caller keeps the per-key counts itself and hands them over at the end,
    /// and keeps each key's admitted count in the open fixed window (`add(…windowCount:)`).
    let countsPerKey: Bool

    var totals = [SimulationSummary.Totals(), SimulationSummary.Totals()]
    var statusCounts = [Int](repeating: 0, count: 2 * 1000)
    /// Per (key × 2 + namespace).
    var events: [Int32] = []
    var admitted: [Int32] = []
    var refused: [Int32] = []
    var maxPerWindow: [Int32] = []
    /// Admitted times still inside the window, per live (key, namespace): slot → pool index.
    var recentIndex: [Int32] = []
    var recent: [RecentTimes] = []
    var recentOwner: [Int] = []
    var recentFree: [Int32] = []

    // Fixed windows, per namespace.
    var rows: [[SimulationSummary.WindowRow]] = [[], []]
    var open = [SimulationSummary.WindowRow(namespace: 0, start: -1), SimulationSummary.WindowRow(namespace: 1, start: -1)]
    var perKey: [[Int32]] = [[], []]
    var touched: [[Int]] = [[], []]
    /// With the counts kept by the caller: the most admitted by one key in the open window,
    /// and the keys that have reached it (in the order they did).
    var windowBest: [Int32] = [0, 0]
    var windowTied: [[Int]] = [[], []]
    /// Per namespace, the time over window length from which an event is past the open window
    /// (its index + 1; times only grow, so a time below it is in the open window).
    var windowLimit = [-Double.infinity, -Double.infinity]
    /// Rows whose busiest key is decided at the end: row index → tied keys.
    var undecided: [[Int: [Int]]] = [[:], [:]]
    /// The key id named busiest by each row (-1: none, or undecided).
    var busiestKeys: [[Int]] = [[], []]
    /// Per key, the first client id whose own address resolves to it (Int32.max: none yet).
    var firstClient: [Int32] = []

    // Timeline.
    var steps: [Double]
    var firstStep = 0
    var stepIndex: [Int]
    var stepCounts: [[Int]]
    var pending = [Int](repeating: 0, count: 6)
    var nextFlush = -Double.infinity

    struct RecentTimes {
        var times: [Double] = []
        var head = 0
        var count: Int { times.count - head }
    }

    init(deployment d: Deployment, timelineBuckets: Int, countsPerKey: Bool = true) {
        deployment = d
        self.countsPerKey = countsPerKey
        windows = [d.webhookPolicy.window, d.agentPolicy.window]
        buckets = timelineBuckets
        steps = ChartScale.niceSteps
        stepIndex = [Int](repeating: 0, count: steps.count)
        stepCounts = [[Int]](repeating: [0, 0, 0, 0, 0, 0], count: steps.count)
    }

    mutating func addKey(firstClient client: Int32) {
        firstClient.append(client)
        if countsPerKey {
            events.append(contentsOf: [0, 0])
            admitted.append(contentsOf: [0, 0])
            refused.append(contentsOf: [0, 0])
            maxPerWindow.append(contentsOf: [0, 0])
            recentIndex.append(contentsOf: [-1, -1])
        }
        if countsPerKey {
            perKey[0].append(0)
            perKey[1].append(0)
        }
    }

    /// `add` for a caller that keeps each key's admitted count of the open fixed window:
    /// `windowCount` is the event's key's admitted count in the event's window, this event
    /// included (0 for a refused event; see `DenseKeyState.countInWindow`). The busiest key of
    /// a window is followed as counts grow (a count only grows within a window, so the
    /// keys at the top at its end are those that reached the top last), so closing a window
    /// costs nothing per key.
    @inline(__always)
    mutating func add(time t: Double, namespace ns: Int, key: Int, decision: LimiterDecision, status: Int, windowCount: UInt32) {
        guard enter(time: t, namespace: ns, decision: decision, status: status) else { return }
        let c = Int32(truncatingIfNeeded: windowCount)
        if c >= windowBest[ns] {
            if c > windowBest[ns] {
                windowBest[ns] = c
                windowTied[ns].removeAll(keepingCapacity: true)
            }
            windowTied[ns].append(key)
        }
    }

    /// The start of the fixed window of length `window` holding `t`, given the start found for
    /// the previous time (`start`) and `limit`, that window's index + 1: times only grow, so a
    /// time whose quotient is below the limit is in the same window, and the rounding is only
    /// needed when it may not be. The limiter half of a prediction and the summary both call
    /// this, so they agree on every window to the bit.
    @inline(__always)
    static func windowStart(_ t: Double, window: Double, limit: inout Double, start: Double) -> Double {
        let q = t / window
        if q < limit { return start }
        let index = q.rounded(.down)
        limit = index + 1
        return index * window
    }

    /// The time-ordered part of one event: status counts, timeline, fixed windows.
    @inline(__always)
    mutating func add(time t: Double, namespace ns: Int, key: Int, decision: LimiterDecision, status: Int) {
        guard enter(time: t, namespace: ns, decision: decision, status: status) else { return }
        if perKey[ns][key] == 0 { touched[ns].append(key) }
        perKey[ns][key] += 1
    }

    /// What both `add`s do first: the status and timeline counts, then the event's fixed
    /// window (closing the open one when the event is past it) and its counts there; true when
    /// the event was admitted.
    @inline(__always)
    mutating func enter(time t: Double, namespace ns: Int, decision: LimiterDecision, status: Int) -> Bool {
        statusCounts[ns * 1000 + min(999, status)] += 1
        if t >= nextFlush { flushTimeline(at: t) }
        pending[Int(decision.rawValue) * 2 + ns] += 1
        let start = SummaryBuilder.windowStart(t, window: windows[ns], limit: &windowLimit[ns], start: open[ns].start)
        if open[ns].start != start {
            close(ns)
            open[ns] = SimulationSummary.WindowRow(namespace: ns, start: start)
        }
        return countInOpenWindow(ns, decision)
    }

    /// Counts an event in its namespace's open fixed window; true when it was admitted.
    @inline(__always)
    mutating func countInOpenWindow(_ ns: Int, _ decision: LimiterDecision) -> Bool {
        open[ns].events += 1
        if decision == .refused {
            open[ns].refused += 1
            return false
        }
        if decision == .failOpen { open[ns].failOpen += 1 }
        open[ns].admitted += 1
        return true
    }

    var groupOffsets: [Int] = []
    var groupOf: [Int32] = []
    var groupedEvents: [Int32] = []

    /// The per-key part of events base..<base + keys.count: counts, and the most admitted
    /// within any window ending at an admitted request. Runs key by key (the events grouped by
    /// (key, namespace), in time order within each), so each key's state is touched once per
    /// stretch, not once per event.
    mutating func addPerKey(times: [Double], kinds: [UInt8], base: Int, keys: [Int32], decisions: [UInt8]) {
        let n = keys.count
        groupOf.removeAll(keepingCapacity: true)
        for k in 0..<n { groupOf.append(keys[k] &* 2 &+ Int32(kinds[base + k] & 1)) }
        StreamState.groupOrder(groupOf, count: n, groups: events.count, offsets: &groupOffsets, into: &groupedEvents)
        var position = 0
        while position < n {
            let slot = Int(groupOf[Int(groupedEvents[position])])
            let window = windows[slot & 1]
            var admittedHere: Int32 = 0
            var total: Int32 = 0
            var index = -1
            var best = maxPerWindow[slot]
            while position < n {
                let k = Int(groupedEvents[position])
                if Int(groupOf[k]) != slot { break }
                position += 1
                total += 1
                if decisions[k] == LimiterDecision.refused.rawValue { continue }
                admittedHere += 1
                let t = times[base + k]
                if index < 0 {
                    index = Int(recentIndex[slot])
                    if index < 0 {
                        if let reused = recentFree.popLast() {
                            index = Int(reused)
                            recentOwner[index] = slot
                        } else {
                            index = recent.count
                            recent.append(RecentTimes())
                            recentOwner.append(slot)
                        }
                        recentIndex[slot] = Int32(truncatingIfNeeded: index)
                    }
                }
                let cutoff = t - window
                var head = recent[index].head
                while head < recent[index].times.count && recent[index].times[head] <= cutoff { head += 1 }
                if head > 32 && head * 2 > recent[index].times.count {
                    recent[index].times.removeFirst(head)
                    head = 0
                }
                recent[index].head = head
                recent[index].times.append(t)
                let inWindow = Int32(truncatingIfNeeded: recent[index].count)
                if inWindow > best { best = inWindow }
            }
            events[slot] += total
            admitted[slot] += admittedHere
            refused[slot] += total - admittedHere
            maxPerWindow[slot] = best
        }
    }

    /// Releases the admitted-time lists whose every time has left the window.
    mutating func sweep(now t: Double) {
        for index in recentOwner.indices where recentOwner[index] >= 0 {
            let slot = recentOwner[index]
            if let newest = recent[index].times.last, newest > t - windows[slot & 1] { continue }
            recentIndex[slot] = -1
            recentOwner[index] = -1
            recent[index].times.removeAll(keepingCapacity: recent[index].times.capacity <= 64)
            recent[index].head = 0
            recentFree.append(Int32(truncatingIfNeeded: index))
        }
    }

    /// Adds the pending counts to the current bucket of every candidate, then moves each to
    /// `t`'s bucket, dropping candidates too short for a duration of at least `t`.
    mutating func flushTimeline(at t: Double) {
        let raw = max(t, 0.001) / Double(max(1, buckets))
        var next = Double.infinity
        for c in firstStep..<steps.count {
            let base = stepIndex[c] * 6
            for k in 0..<6 { stepCounts[c][base + k] += pending[k] }
            if steps[c] < raw {
                firstStep = c + 1
                stepCounts[c] = []
                continue
            }
            let index = Int(t / steps[c])
            if index != stepIndex[c] {
                stepIndex[c] = index
                if stepCounts[c].count < (index + 1) * 6 {
                    stepCounts[c].append(contentsOf: repeatElement(0, count: (index + 1) * 6 - stepCounts[c].count))
                }
            }
            // A little before the boundary, so rounding in t / step never hides a crossing.
            let boundary = Double(index + 1) * steps[c] * (1 - 1e-9)
            next = min(next, boundary > t ? boundary : t.nextUp)
        }
        for k in 0..<6 { pending[k] = 0 }
        nextFlush = next
    }

    /// Closes the open fixed window of `ns`, naming its busiest key: ties go to the key
    /// `Simulation.resolveKeys` numbers first. Keys of client addresses come first, in client
    /// order, and that order is final once a key has a client; only a tie among keys that so far
    /// come from proxy headers alone waits for the end.
    mutating func close(_ ns: Int) {
        guard open[ns].events > 0 else { return }
        var best: Int32 = 0
        if countsPerKey {
            for k in touched[ns] where perKey[ns][k] > best { best = perKey[ns][k] }
        } else {
            best = windowBest[ns]
        }
        var winner = -1
        var proxyOnly: [Int] = []
        for k in countsPerKey ? touched[ns] : windowTied[ns] where !countsPerKey || perKey[ns][k] == best {
            let first = firstClient[k]
            if first == Int32.max {
                proxyOnly.append(k)
            } else if winner < 0 || first < firstClient[winner] {
                winner = k
            }
        }
        if winner < 0 && proxyOnly.count == 1 { winner = proxyOnly[0] }
        if winner < 0 && proxyOnly.count > 1 {
            undecided[ns][rows[ns].count] = proxyOnly
        }
        if best > 0 { open[ns].busiestAdmitted = Int(best) }
        rows[ns].append(open[ns])
        busiestKeys[ns].append(winner)
        for k in touched[ns] { perKey[ns][k] = 0 }
        touched[ns].removeAll(keepingCapacity: true)
        windowBest[ns] = 0
        windowTied[ns].removeAll(keepingCapacity: true)
    }

    /// The keys in the order of the report's client rows: most events first, then by key
    /// (`String` order). A million keys with a handful of events each tie on the count; a key
    /// of at most 16 ASCII bytes (every IPv4 address) is compared by its bytes as two numbers,
    /// which is the same order, instead of as a string.
    static func rowOrder(keys: [String], events: [Int32]) -> [Int] {
        struct Entry {
            var events: Int
            var short: Bool
            var high: UInt64, low: UInt64
            var key: Int32
        }
        var entries: [Entry] = []
        entries.reserveCapacity(keys.count)
        for (k, text) in keys.enumerated() {
            var high: UInt64 = 0, low: UInt64 = 0
            var count = 0
            var short = true
            for byte in text.utf8 {
                // Zero bytes would be taken for the padding, other bytes >= 0x80 for another order.
                if count == 16 || byte == 0 || byte >= 0x80 { short = false; break }
                if count < 8 { high |= UInt64(byte) << (56 - 8 * count) } else { low |= UInt64(byte) << (56 - 8 * (count - 8)) }
                count += 1
            }
            entries.append(Entry(events: Int(events[2 * k]) + Int(events[2 * k + 1]), short: short, high: high, low: low,
                                 key: Int32(truncatingIfNeeded: k)))
        }
        entries.sort { a, b in
            if a.events != b.events { return a.events > b.events }
            if a.short && b.short { return a.high != b.high ? a.high < b.high : a.low < b.low }
            return keys[Int(a.key)] < keys[Int(b.key)]
        }
        return entries.map { Int($0.key) }
    }

    consuming func finish(facts: ProfileFacts, keys: [String]) -> SimulationSummary {
        close(0)
        close(1)
        flushTimeline(at: facts.duration)
        let keyCount = keys.count
        // `Simulation.resolveKeys` numbers the keys of client addresses first (in client
        // order), then those only proxy headers name (in order of appearance).
        let order = (0..<keyCount).sorted { a, b in
            let fa = firstClient[a], fb = firstClient[b]
            if (fa == Int32.max) != (fb == Int32.max) { return fa != Int32.max }
            return fa != Int32.max ? fa < fb : a < b
        }
        var rank = [Int](repeating: 0, count: keyCount)
        for (r, k) in order.enumerated() { rank[k] = r }

        for ns in 0..<2 {
            for (row, tied) in undecided[ns] {
                busiestKeys[ns][row] = tied.min { rank[$0] < rank[$1] } ?? tied[0]
            }
            for i in rows[ns].indices where busiestKeys[ns][i] >= 0 {
                rows[ns][i].busiestKey = keys[busiestKeys[ns][i]]
            }
        }

        let bucket = SimulationSummary.bucketSize(duration: facts.duration, buckets: buckets)
        let bucketCount = max(1, Int((facts.duration / bucket).rounded(.down)) + 1)
        var series = [[Int]](repeating: [Int](repeating: 0, count: bucketCount), count: 6)
        if let c = steps.firstIndex(of: bucket), c >= firstStep {
            let counts = stepCounts[c]
            for b in 0..<(counts.count / 6) {
                for k in 0..<6 { series[k][min(bucketCount - 1, b)] += counts[b * 6 + k] }
            }
        }
        var totals = self.totals
        SimulationSummary.fillTotals(&totals, series: series, statusCounts: statusCounts)
        let timeline = SimulationSummary.Timeline(bucketSeconds: bucket, admitted: [series[0], series[1]], refused: [series[2], series[3]],
                                                  failOpen: [series[4], series[5]])
        var busiest: [SimulationSummary.Busiest?] = [nil, nil]
        for ns in 0..<2 {
            var bestKey = -1
            for key in order where maxPerWindow[key * 2 + ns] > 0 {
                if bestKey < 0 || maxPerWindow[key * 2 + ns] > maxPerWindow[bestKey * 2 + ns] { bestKey = key }
            }
            if bestKey >= 0 { busiest[ns] = SimulationSummary.Busiest(key: keys[bestKey], admitted: Int(maxPerWindow[bestKey * 2 + ns])) }
        }
        var clients: [SimulationSummary.ClientRow] = []
        clients.reserveCapacity(keyCount)
        for key in SummaryBuilder.rowOrder(keys: keys, events: events) {
            var row = SimulationSummary.ClientRow(key: keys[key])
            for ns in 0..<2 {
                let s = key * 2 + ns
                let counts = SimulationSummary.Counts(events: Int(events[s]), admitted: Int(admitted[s]), refused: Int(refused[s]), maxPerWindow: Int(maxPerWindow[s]))
                if ns == 0 { row.webhook = counts } else { row.agentAuth = counts }
            }
            clients.append(row)
        }
        return SimulationSummary(deployment: deployment, eventCount: facts.events, duration: facts.duration, totals: totals,
                                 clients: clients, windowRows: rows[0] + rows[1], timeline: timeline, busiest: busiest)
    }
}

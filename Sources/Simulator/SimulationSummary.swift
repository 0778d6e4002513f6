import Foundation

// Rule: what a prediction means for the documented limits. "Admitted" is every request the
// limiter let through (allowed, or failed open during a Redis outage); "refused" got 429. The
// effective admission of a client is the most requests it had admitted within any sliding
// window of the policy's length (the interval (t − window, t], as the limiter counts), compared
// with the documented limit: with N memory-backend workers a client can reach N × the limit;
// with Redis exactly the limit, unless an outage lets everything through.

/// Totals, per-client and per-window tables, and a timeline of one prediction.
public struct SimulationSummary: Sendable {
    /// Each namespace's totals from the timeline series (allowed, refused, fail-open for
    /// namespaces 0 and 1) and the status counts (1000 per namespace).
    static func fillTotals(_ totals: inout [Totals], series: [[Int]], statusCounts: [Int]) {
        for ns in 0..<2 {
            totals[ns].allowed = series[ns].reduce(0, +)
            totals[ns].refused = series[2 + ns].reduce(0, +)
            totals[ns].failOpen = series[4 + ns].reduce(0, +)
            totals[ns].events = totals[ns].allowed + totals[ns].refused + totals[ns].failOpen
            totals[ns].statuses = (0..<1000).compactMap { code in
                let c = statusCounts[ns * 1000 + code]
                return c > 0 ? (code, c) : nil
            }
        }
    }

    public struct Totals: Sendable, Equatable {
        public var events = 0
        public var allowed = 0
        public var refused = 0
        public var failOpen = 0
        /// Count per status code, ascending by code.
        public var statuses: [(status: Int, count: Int)] = []
        public var admitted: Int { allowed + failOpen }

        public static func == (a: Totals, b: Totals) -> Bool {
            a.events == b.events && a.allowed == b.allowed && a.refused == b.refused && a.failOpen == b.failOpen
                && a.statuses.map(\.status) == b.statuses.map(\.status) && a.statuses.map(\.count) == b.statuses.map(\.count)
        }
    }

    /// One client's figures in one namespace.
    public struct Counts: Sendable, Equatable {
        public var events = 0
        public var admitted = 0
        public var refused = 0
        /// Most admitted within any sliding window of the namespace's policy.
        public var maxPerWindow = 0
    }

    /// One client key's figures, per namespace (0 webhook_ingest, 1 agent_auth).
    public struct ClientRow: Sendable {
        public var key: String
        public var webhook = Counts()
        public var agentAuth = Counts()
        public subscript(ns: Int) -> Counts { ns == 0 ? webhook : agentAuth }
        public var totalEvents: Int { webhook.events + agentAuth.events }
    }

    /// One fixed window (of the policy's length) of one namespace.
    public struct WindowRow: Sendable {
        public var namespace: Int
        public var start: Double
        public var events = 0
        public var admitted = 0
        public var refused = 0
        public var failOpen = 0
        public var busiestKey = ""
        public var busiestAdmitted = 0
    }

    /// Counts per time bucket, per namespace.
    public struct Timeline: Sendable {
        public var bucketSeconds: Double
        /// [namespace][bucket]
        public var admitted: [[Int]]
        public var refused: [[Int]]
        public var failOpen: [[Int]]
        public var bucketCount: Int { admitted[0].count }
    }

    /// The busiest client of a namespace.
    public struct Busiest: Sendable, Equatable {
        public var key: String
        public var admitted: Int
    }

    public let deployment: Deployment
    public let namespaces: [String]
    public let limits: [Int]
    public let windows: [Double]
    public let eventCount: Int
    public let duration: Double
    public var totals: [Totals]
    /// Clients by events (most first), then key.
    public var clients: [ClientRow]
    public var windowRows: [WindowRow]
    public var timeline: Timeline
    /// Per namespace, the client with the highest effective admission (nil without events).
    public var busiest: [Busiest?]

    public init(profile: Profile, prediction: Prediction, timelineBuckets: Int = 80) {
        let d = prediction.deployment
        deployment = d
        namespaces = [d.webhookPolicy.namespace, d.agentPolicy.namespace]
        limits = [d.webhookPolicy.maxRequests, d.agentPolicy.maxRequests]
        windows = [d.webhookPolicy.window, d.agentPolicy.window]
        eventCount = profile.count
        duration = profile.duration
        let n = profile.count
        let keyCount = prediction.keys.count

        // Totals, per-client counts (flat: slot = namespace × keys + key) and the timeline.
        var totals = [Totals(), Totals()]
        var statusCounts = [Int](repeating: 0, count: 2 * 1000)
        var events = [Int32](repeating: 0, count: 2 * keyCount)
        var admitted = [Int32](repeating: 0, count: 2 * keyCount)
        var refused = [Int32](repeating: 0, count: 2 * keyCount)
        var maxPerWindow = [Int32](repeating: 0, count: 2 * keyCount)
        let bucket = SimulationSummary.bucketSize(duration: profile.duration, buckets: timelineBuckets)
        let bucketCount = max(1, Int((profile.duration / bucket).rounded(.down)) + 1)
        var series = [[Int]](repeating: [Int](repeating: 0, count: bucketCount), count: 6)  // [decision × 2 + ns]
        profile.times.withUnsafeBufferPointer { times in
        profile.kinds.withUnsafeBufferPointer { kinds in
        prediction.keyIDs.withUnsafeBufferPointer { keyIDs in
        prediction.decisions.withUnsafeBufferPointer { decisions in
        prediction.statuses.withUnsafeBufferPointer { statuses in
            for i in 0..<n {
                let ns = Int(kinds[i] & 1)
                let slot = ns * keyCount + Int(keyIDs[i])
                let decision = Int(decisions[i])
                statusCounts[ns * 1000 + min(999, Int(statuses[i]))] += 1
                events[slot] += 1
                if decision == Int(LimiterDecision.refused.rawValue) { refused[slot] += 1 } else { admitted[slot] += 1 }
                let b = min(bucketCount - 1, Int(times[i] / bucket))
                series[decision * 2 + ns][b] += 1
            }
        }}}}}
        SimulationSummary.fillTotals(&totals, series: series, statusCounts: statusCounts)
        let timeline = Timeline(bucketSeconds: bucket, admitted: [series[0], series[1]], refused: [series[2], series[3]],
                                failOpen: [series[4], series[5]])

        // Effective admission: admitted events grouped by slot in time order (a counting sort),
        // then a sliding window over each slot's times.
        var offsets = [Int](repeating: 0, count: 2 * keyCount + 1)
        for s in 0..<(2 * keyCount) { offsets[s + 1] = offsets[s] + Int(admitted[s]) }
        var grouped = [Double](repeating: 0, count: offsets[2 * keyCount])
        var busiest: [Busiest?] = [nil, nil]
        let windowLengths = windows
        profile.times.withUnsafeBufferPointer { times in
        profile.kinds.withUnsafeBufferPointer { kinds in
        prediction.keyIDs.withUnsafeBufferPointer { keyIDs in
        prediction.decisions.withUnsafeBufferPointer { decisions in
        grouped.withUnsafeMutableBufferPointer { grouped in
            var fill = offsets
            for i in 0..<n where decisions[i] != LimiterDecision.refused.rawValue {
                let slot = Int(kinds[i] & 1) * keyCount + Int(keyIDs[i])
                grouped[fill[slot]] = times[i]
                fill[slot] += 1
            }
            for ns in 0..<2 {
                let window = windowLengths[ns]
                var bestSlot = -1
                for key in 0..<keyCount {
                    let slot = ns * keyCount + key
                    var low = offsets[slot]
                    var best = 0
                    for j in offsets[slot]..<offsets[slot + 1] {
                        let t = grouped[j]
                        while grouped[low] <= t - window { low += 1 }
                        if j - low + 1 > best { best = j - low + 1 }
                    }
                    maxPerWindow[slot] = Int32(truncatingIfNeeded: best)
                    if best > 0 && (bestSlot < 0 || best > Int(maxPerWindow[bestSlot])) { bestSlot = slot }
                }
                if bestSlot >= 0 {
                    busiest[ns] = Busiest(key: prediction.keys[bestSlot - ns * keyCount], admitted: Int(maxPerWindow[bestSlot]))
                }
            }
        }}}}}
        var rows: [ClientRow] = []
        rows.reserveCapacity(keyCount)
        for key in 0..<keyCount {
            var row = ClientRow(key: prediction.keys[key])
            row.webhook = Counts(events: Int(events[key]), admitted: Int(admitted[key]), refused: Int(refused[key]), maxPerWindow: Int(maxPerWindow[key]))
            let a = keyCount + key
            row.agentAuth = Counts(events: Int(events[a]), admitted: Int(admitted[a]), refused: Int(refused[a]), maxPerWindow: Int(maxPerWindow[a]))
            rows.append(row)
        }

        // Fixed windows of each policy's length, with the busiest client in each.
        var windowRows: [WindowRow] = []
        var perKey = [Int32](repeating: 0, count: keyCount)
        for ns in 0..<2 where totals[ns].events > 0 {
            let window = windows[ns]
            var touched: [Int] = []
            var row = WindowRow(namespace: ns, start: -1)
            func close() {
                guard row.events > 0 else { return }
                var bestKey = -1
                for k in touched where bestKey < 0 || perKey[k] > perKey[bestKey] || (perKey[k] == perKey[bestKey] && k < bestKey) { bestKey = k }
                if bestKey >= 0 {
                    row.busiestKey = prediction.keys[bestKey]
                    row.busiestAdmitted = Int(perKey[bestKey])
                }
                windowRows.append(row)
                for k in touched { perKey[k] = 0 }
                touched.removeAll(keepingCapacity: true)
            }
            profile.times.withUnsafeBufferPointer { times in
            profile.kinds.withUnsafeBufferPointer { kinds in
            prediction.keyIDs.withUnsafeBufferPointer { keyIDs in
            prediction.decisions.withUnsafeBufferPointer { decisions in
                for i in 0..<n where Int(kinds[i] & 1) == ns {
                    let start = (times[i] / window).rounded(.down) * window
                    if row.start != start {
                        close()
                        row = WindowRow(namespace: ns, start: start)
                    }
                    row.events += 1
                    let decision = decisions[i]
                    if decision == LimiterDecision.refused.rawValue {
                        row.refused += 1
                        continue
                    }
                    if decision == LimiterDecision.failOpen.rawValue { row.failOpen += 1 }
                    row.admitted += 1
                    let key = Int(keyIDs[i])
                    if perKey[key] == 0 { touched.append(key) }
                    perKey[key] += 1
                }
            }}}}
            close()
        }

        rows.sort { $0.totalEvents != $1.totalEvents ? $0.totalEvents > $1.totalEvents : $0.key < $1.key }
        self.totals = totals
        self.clients = rows
        self.windowRows = windowRows
        self.timeline = timeline
        self.busiest = busiest
    }

    /// A summary from aggregates gathered elsewhere (the streaming path).
    init(deployment d: Deployment, eventCount: Int, duration: Double, totals: [Totals], clients: [ClientRow],
         windowRows: [WindowRow], timeline: Timeline, busiest: [Busiest?]) {
        deployment = d
        namespaces = [d.webhookPolicy.namespace, d.agentPolicy.namespace]
        limits = [d.webhookPolicy.maxRequests, d.agentPolicy.maxRequests]
        windows = [d.webhookPolicy.window, d.agentPolicy.window]
        self.eventCount = eventCount
        self.duration = duration
        self.totals = totals
        self.clients = clients
        self.windowRows = windowRows
        self.timeline = timeline
        self.busiest = busiest
    }

    /// A bucket length from the 1-2-5 series giving at most `buckets` buckets.
    static func bucketSize(duration: Double, buckets: Int) -> Double {
        let raw = max(duration, 0.001) / Double(max(1, buckets))
        for step in ChartScale.niceSteps where step >= raw { return step }
        return (raw / 3600).rounded(.up) * 3600
    }

    /// Effective admission as a multiple of the documented limit, per namespace with events.
    public func effectiveAdmission(namespace ns: Int) -> Double? {
        guard let b = busiest[ns], limits[ns] > 0 else { return nil }
        return Double(b.admitted) / Double(limits[ns])
    }

    /// "4 workers, memory, round-robin: webhook_ingest — busiest client 10.0.0.1 got 240 per 60 s = 4.0× the limit (60)".
    public func effectiveAdmissionLines() -> [String] {
        var lines: [String] = []
        for ns in 0..<2 where totals[ns].events > 0 {
            let window = DurationText.format(windows[ns])
            guard let b = busiest[ns] else {
                lines.append("\(deployment.displayName): \(namespaces[ns]) — no request admitted (limit \(limits[ns]) per \(window))")
                continue
            }
            let ratio = effectiveAdmission(namespace: ns).map { String(format: "%.1f", $0) } ?? "∞"
            lines.append("\(deployment.displayName): \(namespaces[ns]) — busiest client \(b.key) got \(b.admitted) per \(window) = \(ratio)× the limit (\(limits[ns]))")
        }
        return lines
    }
}

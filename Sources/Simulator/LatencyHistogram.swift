// Rule: a streamed replay reports its lateness and answer-time percentiles from histograms, not
// from one number per event, so that its memory does not grow with the events. A bucket is
// 1/1024 of a power of two of nanoseconds wide (below 1,024 ns a bucket is one nanosecond), so
// a percentile is given to within 0.1 %; it is the upper end of the bucket it falls in, never
// less than the true value. The maximum is kept exactly.

/// Counts of durations (seconds) in log-linear buckets.
public struct LatencyHistogram: Sendable, Equatable {
    static let subBits = 10
    static let subCount = 1 << subBits
    private var counts = [UInt64](repeating: 0, count: (64 - subBits + 1) * subCount)
    public private(set) var count = 0
    /// The largest duration recorded, exactly (seconds).
    public private(set) var maximum = 0.0

    public init() {}

    static func bucket(_ ns: UInt64) -> Int {
        guard ns >= UInt64(subCount) else { return Int(ns) }
        let exponent = 63 - ns.leadingZeroBitCount
        let shift = exponent - subBits
        return (shift + 1) * subCount + Int(ns >> UInt64(shift)) - subCount
    }

    /// The largest duration (nanoseconds) that falls in `bucket`.
    static func upperBound(_ bucket: Int) -> UInt64 {
        guard bucket >= subCount else { return UInt64(bucket) }
        let shift = bucket / subCount - 1
        let sub = UInt64(bucket % subCount + subCount)
        return ((sub + 1) << UInt64(shift)) - 1
    }

    /// Records a duration in seconds (a negative one as 0).
    public mutating func record(_ seconds: Double) {
        let s = seconds.isNaN ? 0 : max(0, seconds)
        let ns = s >= 1.8e10 ? UInt64.max : UInt64((s * 1e9).rounded(.up))
        counts[Self.bucket(ns)] += 1
        count += 1
        maximum = max(maximum, s)
    }

    public mutating func add(_ other: LatencyHistogram) {
        for i in counts.indices where other.counts[i] != 0 { counts[i] += other.counts[i] }
        count += other.count
        maximum = max(maximum, other.maximum)
    }

    /// The p-th percentile (0…100) in seconds, by the nearest-rank rule: the upper end of the
    /// bucket holding that rank, at most the maximum; 0 when empty.
    public func percentile(_ p: Double) -> Double {
        guard count > 0 else { return 0 }
        let rank = min(max(Int((p / 100 * Double(count)).rounded(.up)), 1), count)
        var seen: UInt64 = 0
        for (b, c) in counts.enumerated() where c != 0 {
            seen += c
            if seen >= UInt64(rank) { return min(Double(Self.upperBound(b)) / 1e9, maximum) }
        }
        return maximum
    }
}

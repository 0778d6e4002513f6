// Rule: the Redis store keeps each client's log as a sorted set scored by the writing worker's
// clock. One atomic script per request: drop scores <= now - window, then if fewer than `max`
// remain add `now` (allowed), else remove the lowest score and add `now` (refused, still
// recorded); then EXPIRE ⌈window⌉ + 1 seconds (`RedisRateLimitScript`). With every worker's clock in agreement the scores
// arrive in order and this is exactly `SlidingWindowLog`. With skewed clocks they do not: a
// worker whose clock is behind writes low scores that a worker ahead prunes early, and a
// worker ahead writes scores that linger. This value models the sorted set itself so those
// effects are predicted, including the key expiring (by Redis's own clock) ⌈window⌉ + 1
// seconds after the last request that reached it.

/// One client's shared log in the Redis store, with scores in ascending order.
public struct SharedWindowLog: Sendable, Equatable {
    var scores: [Double] = []
    let capacity: Int
    /// Real (Redis) time of the last request that ran the script, or -∞.
    var lastWrite = -Double.infinity

    public init(maxRequests: Int) {
        capacity = max(maxRequests, 0)
        scores.reserveCapacity(capacity)
    }

    public var entryCount: Int { scores.count }

    /// True when Redis has expired the key by real time `realTime`: the next request, at that
    /// time or later, finds it empty, exactly as a new log.
    public func isExpired(realTime: Double, window: Double) -> Bool {
        realTime - lastWrite > window.rounded(.up) + 1
    }

    /// Applies one request scored `now` (the worker's clock) that reaches Redis at real time
    /// `realTime`; returns true when allowed.
    public mutating func attempt(now: Double, window: Double, realTime: Double) -> Bool {
        guard capacity > 0 else { return false }  // a limit of 0 refuses everything and stores nothing
        // Expired keys vanish whole (Redis keeps a key until its expiry time has passed).
        if realTime - lastWrite > window.rounded(.up) + 1 { scores.removeAll(keepingCapacity: true) }
        lastWrite = realTime
        let cutoff = now - window
        var drop = 0
        while drop < scores.count && scores[drop] <= cutoff { drop += 1 }
        if drop > 0 { scores.removeFirst(drop) }
        let allowed = scores.count < capacity
        if !allowed { scores.removeFirst() }
        // Insert after equal scores (members with equal scores are interchangeable).
        var low = 0, high = scores.count
        while low < high {
            let mid = (low + high) / 2
            if scores[mid] <= now { low = mid + 1 } else { high = mid }
        }
        scores.insert(now, at: low)
        return allowed
    }
}

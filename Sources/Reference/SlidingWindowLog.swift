import Spec

/// The sliding-window-log algorithm for one key, as a value: the single definition of the
/// limiter's semantics that the memory store, the simulator and the Redis script's tests share.
///
/// An attempt at `now` first forgets entries `<= now - window`. With fewer than `max` entries
/// left it is recorded and allowed. Otherwise it is refused **and still recorded**, replacing
/// the oldest entry, so storage stays at `max` and a client that keeps trying keeps its window
/// closed: it has to go quiet for a whole window to get through again.
public struct SlidingWindowLog: Sendable, Equatable {
    /// Ring buffer of timestamps, oldest at `head`.
    @usableFromInline var stamps: [Double]
    @usableFromInline var head: Int = 0
    @usableFromInline var count: Int = 0

    public init(maxRequests: Int) {
        stamps = [Double](repeating: 0, count: max(maxRequests, 0))
    }

    /// Number of entries currently held (after the last attempt's pruning).
    public var entryCount: Int { count }

    /// The newest recorded timestamp, if any (used to sweep idle keys).
    public var newest: Double? {
        count == 0 ? nil : stamps[(head + count - 1) % stamps.count]
    }

    /// Applies one attempt; returns true when allowed.
    @inlinable
    public mutating func attempt(now: Double, window: Double) -> Bool {
        let capacity = stamps.count
        guard capacity > 0 else { return false }  // a limit of 0 refuses everything
        let cutoff = now - window
        while count > 0 && stamps[head] <= cutoff {
            head += 1
            if head == capacity { head = 0 }
            count -= 1
        }
        if count < capacity {
            var tail = head + count
            if tail >= capacity { tail -= capacity }
            stamps[tail] = now
            count += 1
            return true
        }
        // Full: drop the oldest and record this refused attempt in its place.
        stamps[head] = now
        head += 1
        if head == capacity { head = 0 }
        return false
    }

    /// True when every entry is at or before `now - window`, i.e. the key holds nothing live.
    public func isIdle(now: Double, window: Double) -> Bool {
        guard let newest else { return true }
        return newest <= now - window
    }
}

/// Where limiter state lives: in this process (`MemoryRateLimitStore`) or shared (Redis).
/// `record` applies one attempt atomically and returns true when it is allowed; it throws
/// only when the backend cannot be reached, which the limiter turns into fail-open.
public protocol RateLimitStore: Sendable {
    func record(policy: RateLimitPolicy, client: String, now: Double) throws -> Bool
}

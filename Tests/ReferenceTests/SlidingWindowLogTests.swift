import Testing
import Reference
import Wire

@Suite struct SlidingWindowLogTests {
    @Test func allowsMaxThenRefuses() {
        var log = SlidingWindowLog(maxRequests: 3)
        do { let allowed = log.attempt(now: 0, window: 60); #expect(allowed) }
        do { let allowed = log.attempt(now: 1, window: 60); #expect(allowed) }
        do { let allowed = log.attempt(now: 2, window: 60); #expect(allowed) }
        do { let allowed = log.attempt(now: 3, window: 60); #expect(!allowed) }
        #expect(log.entryCount == 3)
    }

    @Test func refusedAttemptsAreRecordedSoRetryingKeepsTheWindowClosed() {
        var log = SlidingWindowLog(maxRequests: 2)
        do { let allowed = log.attempt(now: 0, window: 10); #expect(allowed) }
        do { let allowed = log.attempt(now: 0, window: 10); #expect(allowed) }
        // Keep trying every 3 s (more than 2 per 10 s): each refusal replaces the oldest entry, so the window never opens.
        for t in stride(from: 3.0, through: 60.0, by: 3.0) {
            do { let allowed = log.attempt(now: t, window: 10); #expect(!allowed, "attempt at \(t)") }
        }
        // Quiet for a whole window after the last attempt (at 60): allowed again.
        do { let allowed = log.attempt(now: 70, window: 10); #expect(allowed) }
    }

    @Test func entriesExactlyAWindowOldAreForgotten() {
        var log = SlidingWindowLog(maxRequests: 1)
        do { let allowed = log.attempt(now: 100, window: 60); #expect(allowed) }
        do { let allowed = log.attempt(now: 159.5, window: 60); #expect(!allowed) }
        // The refused attempt at 159.5 is now the entry; at 219.5 it is exactly `window` old.
        do { let allowed = log.attempt(now: 219.5, window: 60); #expect(allowed) }
    }

    @Test func zeroLimitRefusesEverything() {
        var log = SlidingWindowLog(maxRequests: 0)
        do { let allowed = log.attempt(now: 0, window: 60); #expect(!allowed) }
        #expect(log.isIdle(now: 0, window: 60))
    }
}

/// The ring buffer against the rule written in the most naive way (a list of timestamps).
@Suite struct SlidingWindowLogModelTests {
    struct NaiveLog {
        var stamps: [Double] = []
        let max: Int
        mutating func attempt(now: Double, window: Double) -> Bool {
            stamps.removeAll { $0 <= now - window }
            if stamps.count < max {
                stamps.append(now)
                return true
            }
            if max > 0 {
                stamps.removeFirst()
                stamps.append(now)
            }
            return false
        }
    }

    @Test(arguments: [1, 2, 3, 7, 20])
    func ringAgreesWithTheNaiveRule(max: Int) {
        var rng = SplitMix64(seed: UInt64(max))
        var ring = SlidingWindowLog(maxRequests: max)
        var naive = NaiveLog(max: max)
        var now = 0.0
        for step in 0..<20_000 {
            // Bursts and pauses: mostly small steps, sometimes a pause longer than the window.
            let r = rng.next() % 100
            now += r < 90 ? Double(rng.next() % 1000) / 1000 : Double(rng.next() % 30)
            let a = ring.attempt(now: now, window: 10)
            let b = naive.attempt(now: now, window: 10)
            if a != b {
                Issue.record("step \(step) at \(now): ring \(a), rule \(b)")
                return
            }
            #expect(ring.entryCount == naive.stamps.count)
        }
    }
}

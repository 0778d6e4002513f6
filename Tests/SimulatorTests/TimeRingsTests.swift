import Reference
import Testing
@testable import Simulator

@Suite("Time rings")
struct TimeRingsTests {
    /// Random attempt traces (bursts, gaps, equal times, limits from 0 to 70) for many logs
    /// sharing one store, so blocks grow, are freed and are reused by other logs.
    @Test("a ring log decides every attempt as SlidingWindowLog does", arguments: [1, 2, 3, 4, 5, 6, 7, 8])
    func ringLogEqualsReference(seed: UInt64) {
        var random = DeterministicRandom(seed: seed)
        for _ in 0..<20 {
            let limit = random.nextInt(below: 6) == 0 ? random.nextInt(below: 3) : 1 + random.nextInt(below: 70)
            let window = [0.5, 1, 7.5, 60][random.nextInt(below: 4)]
            let store = TimeRings(limit: max(1, limit))
            let logCount = 1 + random.nextInt(below: 12)
            var headers = [UInt32](repeating: 0, count: 4 * logCount)
            var reference = (0..<logCount).map { _ in SlidingWindowLog(maxRequests: limit) }
            var now = 0.0
            var decided = 0, refused = 0
            headers.withUnsafeMutableBufferPointer { h in
                for _ in 0..<4000 {
                    // Mostly short steps (so logs fill), sometimes a gap longer than the window.
                    switch random.nextInt(below: 20) {
                    case 0: now += window * (1 + random.nextDouble())
                    case 1, 2: break  // an attempt at the same time as the last
                    default: now += window / Double(10 + random.nextInt(below: 200))
                    }
                    let log = random.nextInt(below: logCount)
                    let expected = reference[log].attempt(now: now, window: window)
                    let actual = limit > 0 ? store.attempt(h.baseAddress! + 4 * log, now: now, window: window).allowed : false
                    #expect(actual == expected)
                    decided += 1
                    if !expected { refused += 1 }
                    // Now and then free the idle logs, as the sweep does.
                    if random.nextInt(below: 50) == 0 {
                        for l in 0..<logCount where reference[l].isIdle(now: now, window: window) {
                            #expect(store.newest(h.baseAddress! + 4 * l).map { $0 <= now - window } ?? true)
                            store.clear(h.baseAddress! + 4 * l)
                            reference[l] = SlidingWindowLog(maxRequests: limit)
                        }
                    }
                }
            }
            #expect(decided == 4000)
            if limit == 0 { #expect(refused == decided) }
        }
    }

    @Test("a ring's store holds about what its rings hold now, not what they once held")
    func storeFollowsTheTimesHeld() {
        let store = TimeRings(limit: Int(Int32.max))
        var header = [UInt32](repeating: 0, count: 4 * 8)
        var t = 0.0
        header.withUnsafeMutableBufferPointer { h in
            // Eight rings, each in turn taking a burst of 500 times, then a time that expires them.
            for round in 0..<40 {
                let ring = round % 8
                for _ in 0..<500 {
                    t += 0.001
                    _ = store.push(h.baseAddress! + 4 * ring, t, window: 1)
                }
                t += 2
                _ = store.push(h.baseAddress! + 4 * ring, t, window: 1)
                #expect(store.newest(h.baseAddress! + 4 * ring) == t)
            }
        }
        // One burst of 500 at a time: 72 chunks of 64 bytes, give or take one per ring.
        #expect(store.footprintBytes <= (500 / 7 + 1 + 8) * 64)
    }

    @Test("pushed times count what lies inside the window, however many there are")
    func pushCountsTheWindow() {
        var random = DeterministicRandom(seed: 11)
        let store = TimeRings(limit: Int(Int32.max))
        var header = [UInt32](repeating: 0, count: 8)
        var kept: [[Double]] = [[], []]
        var t = 0.0
        header.withUnsafeMutableBufferPointer { h in
            for _ in 0..<20000 {
                t += random.nextInt(below: 30) == 0 ? 3 : random.nextDouble() * 0.01
                let ring = random.nextInt(below: 2)
                let window = 2.0
                kept[ring] = kept[ring].filter { $0 > t - window } + [t]
                let count = store.push(h.baseAddress! + 4 * ring, t, window: window).count
                #expect(count == kept[ring].count)
                #expect(store.newest(h.baseAddress! + 4 * ring) == t)
            }
        }
    }
}

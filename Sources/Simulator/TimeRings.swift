import CMemoryHints
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Rule: the streaming prediction keeps, for every live limiter log and every key's recent
// admitted times, a ring of times. A million clients with a log per worker are millions of
// rings, most holding a few times: an array each (a heap block, a header, room for the whole
// limit from the start) costs more than the times. Here a ring's state is four words the
// caller keeps wherever it keeps the rest of the key's state, so one event reads one place. A
// ring of at most one time keeps it in those words (over a long profile with many clients,
// most rings never hold two times within a window, and such a ring needs no more memory and no
// sweeping); a ring that needs more is a chain of cache-line chunks of one shared store (seven
// times and the next chunk's number each): it takes a chunk as it fills one and gives back
// each chunk its times have left, so the store holds what the rings hold and no copies (a
// ring grown by doubling would copy its times and leave the smaller blocks behind, and fresh
// memory is dear: the kernel zeroes every page first).

/// Where a ring's four words are: with chunks, [first chunk + 1, count, last chunk, position of
/// the oldest time in the first chunk | position of the next time in the last chunk << 16];
/// with none, [0, count (0 or 1), the time (two words)].
typealias RingHeader = UnsafeMutablePointer<UInt32>

/// Memory for the large tables of randomly accessed state: one event touches a few random
/// places of tables of hundreds of megabytes, and with 4 KB pages nearly every touch also misses
/// the TLB, which costs more than the touch. So tables are mapped whole and, on Linux, marked
/// for transparent huge pages (the kernel may decline; then they are ordinary memory).
enum LargeTable {
    static let hugePage = 2 << 20

    /// Bytes reserved for `count` elements: whole huge pages.
    static func bytes<T>(_ type: T.Type, count: Int) -> Int {
        let raw = max(1, count) * MemoryLayout<T>.stride
        return (raw + hugePage - 1) / hugePage * hugePage
    }

    /// Zeroed memory for `count` elements. Pages are only backed once touched.
    static func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let size = bytes(T.self, count: count)
        #if os(Linux)
        let raw = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let raw, raw != MAP_FAILED else { fatalError("out of memory for \(size) bytes of simulation state") }
        _ = madvise(raw, size, MADV_HUGEPAGE)
        #else
        guard let raw = calloc(1, size) else { fatalError("out of memory for \(size) bytes of simulation state") }
        #endif
        return raw.bindMemory(to: T.self, capacity: max(1, count))
    }

    /// Address space for up to `count` elements, backed only where touched, so a table that
    /// grows within it is never copied (nor its pages zeroed twice); nil where the system will
    /// not reserve that much (then tables start small and grow by copying).
    static func reserve<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T>? {
        #if os(Linux)
        let size = bytes(T.self, count: count)
        let raw = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let raw, raw != MAP_FAILED else { return nil }
        _ = madvise(raw, size, MADV_HUGEPAGE)
        return raw.bindMemory(to: T.self, capacity: count)
        #else
        return nil
        #endif
    }

    static func release<T>(_ pointer: UnsafeMutablePointer<T>, count: Int) {
        #if os(Linux)
        _ = munmap(UnsafeMutableRawPointer(pointer), bytes(T.self, count: count))
        #else
        free(UnsafeMutableRawPointer(pointer))
        #endif
    }

    /// The table of `old` (room for `count` elements, the first `used` in use) with room for
    /// `newCount`; `old` is released.
    static func grow<T>(_ old: UnsafeMutablePointer<T>, count: Int, used: Int, to newCount: Int) -> UnsafeMutablePointer<T> {
        let moved = allocate(T.self, count: newCount)
        moved.update(from: old, count: used)
        release(old, count: count)
        return moved
    }
}

/// A store of chunked rings of times.
final class TimeRings {
    /// Words (times, as their bits) of a chunk: `perChunk` times, then the next chunk's number.
    private static let chunkWords = 8
    private static let perChunk = 7
    // Exclusive access to these is this class's own business, so the per-access runtime checks
    // are left out.
    @exclusivity(unchecked) private var base: UnsafeMutablePointer<UInt64>
    /// Room, in chunks.
    @exclusivity(unchecked) private var capacity: Int
    @exclusivity(unchecked) private var used = 0
    @exclusivity(unchecked) private var free: [UInt32] = []
    /// The most times a limiter log holds (a full log replaces its oldest).
    let limit: Int

    init(limit: Int) {
        self.limit = max(1, min(limit, Int(UInt32.max)))
        // 16 GB of address space (chunk numbers are 32-bit).
        let most = 1 << 28
        if let reserved = LargeTable.reserve(UInt64.self, count: most * TimeRings.chunkWords) {
            capacity = most
            base = reserved
        } else {
            capacity = LargeTable.hugePage / (TimeRings.chunkWords * 8)
            base = LargeTable.allocate(UInt64.self, count: capacity * TimeRings.chunkWords)
        }
    }

    deinit { LargeTable.release(base, count: capacity * TimeRings.chunkWords) }

    /// Bytes held by chunks (in use or free).
    var footprintBytes: Int { used * TimeRings.chunkWords * 8 }

    private func takeChunk() -> Int {
        if let c = free.popLast() {
            // The next ring to grow takes the chunk freed before this one, long out of cache.
            if let following = free.last { mcsec_prefetch(base + Int(following) &* TimeRings.chunkWords) }
            return Int(c)
        }
        if used == capacity {
            let grown = capacity * 2
            precondition(grown <= 1 << 32, "more limiter state than the simulation can index")
            base = LargeTable.grow(base, count: capacity * TimeRings.chunkWords, used: used * TimeRings.chunkWords,
                                   to: grown * TimeRings.chunkWords)
            capacity = grown
        }
        defer { used += 1 }
        return used
    }

    @inline(__always)
    private func time(_ chunk: Int, _ position: Int) -> Double {
        Double(bitPattern: base[chunk &* TimeRings.chunkWords &+ position])
    }

    @inline(__always)
    private func next(_ chunk: Int) -> Int { Int(truncatingIfNeeded: base[chunk &* TimeRings.chunkWords &+ TimeRings.perChunk]) }

    @inline(__always)
    private static func held(_ h: RingHeader) -> Double {
        Double(bitPattern: UnsafeRawPointer(h + 2).loadUnaligned(as: UInt64.self))
    }

    @inline(__always)
    private static func hold(_ h: RingHeader, _ t: Double) {
        UnsafeMutableRawPointer(h + 2).storeBytes(of: t.bitPattern, as: UInt64.self)
    }

    /// Drops the oldest time of a chained ring holding at least two (so a chunk it leaves has a next).
    @inline(__always)
    private func dropOldest(_ h: RingHeader) {
        var position = Int(h[3] & 0xFFFF) &+ 1
        if position == TimeRings.perChunk {
            let first = Int(h[0]) &- 1
            h[0] = UInt32(truncatingIfNeeded: next(first) &+ 1)
            free.append(UInt32(truncatingIfNeeded: first))
            position = 0
        }
        h[3] = h[3] & 0xFFFF_0000 | UInt32(truncatingIfNeeded: position)
        h[1] &-= 1
    }

    /// Drops the times of a chained ring that are `<= cutoff` (oldest first); an emptied ring
    /// keeps one chunk, from its start.
    @inline(__always)
    private func expire(_ h: RingHeader, _ cutoff: Double) {
        while h[1] > 1 && time(Int(h[0]) &- 1, Int(h[3] & 0xFFFF)) <= cutoff { dropOldest(h) }
        if h[1] == 1 && time(Int(h[0]) &- 1, Int(h[3] & 0xFFFF)) <= cutoff {
            // The last time: first and last chunk are one.
            h[1] = 0
            h[3] = 0
        }
    }

    /// Appends `t` to a chained ring, taking a chunk when its last is full.
    @inline(__always)
    private func append(_ h: RingHeader, _ t: Double) {
        var last = Int(h[2])
        var position = Int(h[3] >> 16)
        if position == TimeRings.perChunk {
            let chunk = takeChunk()
            base[last &* TimeRings.chunkWords &+ TimeRings.perChunk] = UInt64(chunk)
            last = chunk
            h[2] = UInt32(truncatingIfNeeded: chunk)
            position = 0
        }
        base[last &* TimeRings.chunkWords &+ position] = t.bitPattern
        h[3] = h[3] & 0xFFFF | UInt32(truncatingIfNeeded: position &+ 1) << 16
        h[1] &+= 1
    }

    /// For a ring without chunks: drops its time if `<= cutoff`, then adds `t` when it is
    /// empty (returns true) or leaves it alone (returns false: it holds a time still inside).
    @inline(__always)
    private static func holdIfEmpty(_ h: RingHeader, _ t: Double, cutoff: Double) -> Bool {
        if h[1] != 0 && held(h) > cutoff { return false }
        hold(h, t)
        h[1] = 1
        return true
    }

    /// Moves the one time of a ring without chunks into a chunk, and adds `t` after it.
    private func spill(_ h: RingHeader, _ t: Double) {
        let chunk = takeChunk()
        base[chunk &* TimeRings.chunkWords] = TimeRings.held(h).bitPattern
        base[chunk &* TimeRings.chunkWords &+ 1] = t.bitPattern
        h[0] = UInt32(truncatingIfNeeded: chunk &+ 1)
        h[1] = 2
        h[2] = UInt32(truncatingIfNeeded: chunk)
        h[3] = 2 << 16
    }

    /// One limiter attempt at `now` on the log whose header is `h`, with the semantics of
    /// `SlidingWindowLog.attempt` for a limit of `limit` (which must be > 0). Returns whether it
    /// is allowed, and whether the log has just taken a chunk (so the caller can sweep it).
    @inline(__always)
    func attempt(_ h: RingHeader, now: Double, window: Double) -> (allowed: Bool, became: Bool) {
        if h[0] == 0 {
            if TimeRings.holdIfEmpty(h, now, cutoff: now - window) { return (true, false) }
            if limit == 1 {
                // Full: the one time is replaced by this refused attempt.
                TimeRings.hold(h, now)
                return (false, false)
            }
            spill(h, now)
            return (true, true)
        }
        expire(h, now - window)
        if Int(h[1]) < limit {
            append(h, now)
            return (true, false)
        }
        // Full: the oldest is replaced by this refused attempt (the newest of all).
        dropOldest(h)
        append(h, now)
        return (false, false)
    }

    /// Adds time `t` to the times of `h` after dropping those `<= t - window`; returns how many
    /// it then holds, and whether it has just taken a chunk. Needs `limit` above any count.
    @inline(__always)
    func push(_ h: RingHeader, _ t: Double, window: Double) -> (count: Int, became: Bool) {
        if h[0] == 0 {
            if TimeRings.holdIfEmpty(h, t, cutoff: t - window) { return (1, false) }
            spill(h, t)
            return (2, true)
        }
        expire(h, t - window)
        append(h, t)
        return (Int(h[1]), false)
    }

    /// The newest time of `h`, or nil when it holds none.
    @inline(__always)
    func newest(_ h: RingHeader) -> Double? {
        guard h[1] > 0 else { return nil }
        if h[0] == 0 { return TimeRings.held(h) }
        return time(Int(h[2]), Int(h[3] >> 16) &- 1)
    }

    /// Whether `h` has chunks.
    @inline(__always)
    func hasBlock(_ h: RingHeader) -> Bool { h[0] != 0 }

    /// Asks for the line of a chained ring's oldest time and the line of its newest (a long
    /// ring's two ends are in different chunks); the header must be in cache to be read.
    @inline(__always)
    func prefetch(_ h: RingHeader) {
        if h[0] == 0 { return }
        mcsec_prefetch(base + ((Int(h[0]) &- 1) &* TimeRings.chunkWords &+ Int(h[3] & 0xFFFF)))
        mcsec_prefetch(base + Int(h[2]) &* TimeRings.chunkWords)
    }

    /// Moves the time of a chained ring that holds at most one back into its header and gives
    /// back its chunk; returns whether it did.
    func shrink(_ h: RingHeader) -> Bool {
        guard h[0] != 0, h[1] <= 1 else { return false }
        let newest = self.newest(h)
        // At most one time: the first chunk is the last.
        free.append(h[2])
        h[0] = 0
        h[1] = newest == nil ? 0 : 1
        TimeRings.hold(h, newest ?? 0)
        return true
    }

    /// Empties `h` and gives back its chunks.
    func clear(_ h: RingHeader) {
        if h[0] != 0 {
            var chunk = Int(h[0]) - 1
            let last = Int(h[2])
            while chunk != last {
                let following = next(chunk)
                free.append(UInt32(truncatingIfNeeded: chunk))
                chunk = following
            }
            free.append(UInt32(truncatingIfNeeded: last))
        }
        h[0] = 0; h[1] = 0; h[2] = 0; h[3] = 0
    }
}

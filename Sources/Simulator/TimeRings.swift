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
// sweeping); a ring that needs more moves to a block of one shared store, sized to what it
// holds (doubling up to its limit). Freed blocks are reused by size.

/// Where a ring's four words are: with a block, [block size, count, block offset, head]; with
/// none, [0, count (0 or 1), the time (two words)].
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

/// A store of ring blocks of times.
final class TimeRings {
    // Exclusive access to these is this class's own business, so the per-access runtime checks
    // are left out.
    @exclusivity(unchecked) private var base: UnsafeMutablePointer<Double>
    @exclusivity(unchecked) private var capacity: Int
    @exclusivity(unchecked) private var used = 0
    /// Free blocks by size class (the class of a size is the number of bits it needs).
    @exclusivity(unchecked) private var free: [[UInt32]] = [[UInt32]](repeating: [], count: 33)
    /// The largest block (a ring that is full at this size stays so, replacing its oldest).
    let limit: Int
    /// Size of a ring's first block.
    let initial: Int

    init(limit: Int, initial: Int = 2) {
        self.limit = max(1, min(limit, Int(UInt32.max)))
        self.initial = max(1, min(initial, self.limit))
        // 16 GB of address space (offsets are 32-bit: a store never holds more than 2^32 times).
        if let reserved = LargeTable.reserve(Double.self, count: 1 << 31) {
            capacity = 1 << 31
            base = reserved
        } else {
            capacity = LargeTable.hugePage / MemoryLayout<Double>.stride
            base = LargeTable.allocate(Double.self, count: capacity)
        }
    }

    deinit { LargeTable.release(base, count: capacity) }

    /// Bytes held by blocks (in use or free).
    var footprintBytes: Int { used * MemoryLayout<Double>.stride }

    @inline(__always)
    private static func sizeClass(_ size: Int) -> Int { Int.bitWidth - (size - 1).leadingZeroBitCount }

    private func allocate(_ size: Int) -> Int {
        let c = TimeRings.sizeClass(size)
        if let offset = free[c].popLast() { return Int(offset) }
        if used + size > capacity {
            var grown = capacity * 2
            while grown < used + size { grown *= 2 }
            precondition(grown <= 1 << 32, "more limiter state than the simulation can index")
            base = LargeTable.grow(base, count: capacity, used: used, to: grown)
            capacity = grown
        }
        defer { used += size }
        return used
    }

    private func release(offset: Int, size: Int) {
        free[TimeRings.sizeClass(size)].append(UInt32(truncatingIfNeeded: offset))
    }

    @inline(__always)
    private static func held(_ h: RingHeader) -> Double {
        Double(bitPattern: UnsafeRawPointer(h + 2).loadUnaligned(as: UInt64.self))
    }

    @inline(__always)
    private static func hold(_ h: RingHeader, _ t: Double) {
        UnsafeMutableRawPointer(h + 2).storeBytes(of: t.bitPattern, as: UInt64.self)
    }

    /// Moves a full ring into a block of `size` (at most `limit`), oldest first.
    @inline(__always)
    private func grow(_ h: RingHeader, to size: Int) {
        let old = Int(h[0])
        let offset = allocate(size)
        let from = base + Int(h[2]), to = base + offset
        let head = Int(h[3]), count = Int(h[1])
        let firstPart = min(count, old - head)
        to.update(from: from + head, count: firstPart)
        (to + firstPart).update(from: from, count: count - firstPart)
        release(offset: Int(h[2]), size: old)
        h[0] = UInt32(truncatingIfNeeded: size)
        h[2] = UInt32(truncatingIfNeeded: offset)
        h[3] = 0
    }

    /// Drops the times of a ring with a block that are `<= cutoff` (oldest first).
    @inline(__always)
    private func expire(_ h: RingHeader, _ cutoff: Double) {
        let size = Int(h[0])
        var head = Int(h[3]), count = Int(h[1])
        let p = base + Int(h[2])
        while count > 0 && p[head] <= cutoff {
            head += 1
            if head == size { head = 0 }
            count -= 1
        }
        h[3] = UInt32(truncatingIfNeeded: head)
        h[1] = UInt32(truncatingIfNeeded: count)
    }

    /// Appends `t` to a ring with a block, first moving a full one into a block twice its size
    /// (at most `limit`, which the caller keeps above the count).
    @inline(__always)
    private func append(_ h: RingHeader, _ t: Double) {
        if h[1] == h[0] { grow(h, to: min(Int(h[0]) * 2, limit)) }
        let size = Int(h[0]), count = Int(h[1])
        var tail = Int(h[3]) + count
        if tail >= size { tail -= size }
        base[Int(h[2]) + tail] = t
        h[1] = UInt32(truncatingIfNeeded: count + 1)
    }

    /// For a ring without a block: drops its time if `<= cutoff`, then adds `t` when it is
    /// empty (returns true) or leaves it alone (returns false: it holds a time still inside).
    @inline(__always)
    private static func holdIfEmpty(_ h: RingHeader, _ t: Double, cutoff: Double) -> Bool {
        if h[1] != 0 && held(h) > cutoff { return false }
        hold(h, t)
        h[1] = 1
        return true
    }

    /// Moves a ring without a block that holds one time into a block, and adds `t` after it.
    private func spill(_ h: RingHeader, _ t: Double) {
        let size = min(max(2, initial), limit)
        let offset = allocate(size)
        base[offset] = TimeRings.held(h)
        base[offset + 1] = t
        h[0] = UInt32(truncatingIfNeeded: size)
        h[1] = 2
        h[2] = UInt32(truncatingIfNeeded: offset)
        h[3] = 0
    }

    /// One limiter attempt at `now` on the log whose header is `h`, with the semantics of
    /// `SlidingWindowLog.attempt` for a limit of `limit` (which must be > 0). Returns whether it
    /// is allowed, and whether the log has just taken a block (so the caller can sweep it).
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
        // Full: the oldest is replaced by this refused attempt.
        let size = Int(h[0])
        var head = Int(h[3])
        base[Int(h[2]) + head] = now
        head += 1
        if head == size { head = 0 }
        h[3] = UInt32(truncatingIfNeeded: head)
        return (false, false)
    }

    /// Adds time `t` to the times of `h` after dropping those `<= t - window`; returns how many
    /// it then holds, and whether it has just taken a block. Needs `limit` above any count.
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
        let count = Int(h[1])
        guard count > 0 else { return nil }
        if h[0] == 0 { return TimeRings.held(h) }
        var last = Int(h[3]) + count - 1
        if last >= Int(h[0]) { last -= Int(h[0]) }
        return base[Int(h[2]) + last]
    }

    /// Whether `h` has a block.
    @inline(__always)
    func hasBlock(_ h: RingHeader) -> Bool { h[0] != 0 }

    /// Reads the oldest time of a ring's block, if it has one, and the place of the next time
    /// (a long ring's two ends are on different cache lines), to bring them into cache.
    @inline(__always)
    func touch(_ h: RingHeader) -> UInt32 {
        if h[0] == 0 { return h[1] }
        let p = base + Int(h[2])
        let head = Int(h[3])
        var tail = head &+ Int(h[1])
        if tail >= Int(h[0]) { tail &-= Int(h[0]) }
        return UInt32(truncatingIfNeeded: p[head].bitPattern ^ p[tail].bitPattern)
    }

    /// Moves the time of a ring with a block that holds at most one back into its header and
    /// frees the block; returns whether it did.
    func shrink(_ h: RingHeader) -> Bool {
        guard h[0] != 0, h[1] <= 1 else { return false }
        let newest = self.newest(h)
        release(offset: Int(h[2]), size: Int(h[0]))
        h[0] = 0
        h[1] = newest == nil ? 0 : 1
        TimeRings.hold(h, newest ?? 0)
        return true
    }

    /// Empties `h` and frees its block.
    func clear(_ h: RingHeader) {
        if h[0] > 0 { release(offset: Int(h[2]), size: Int(h[0])) }
        h[0] = 0; h[1] = 0; h[2] = 0; h[3] = 0
    }
}

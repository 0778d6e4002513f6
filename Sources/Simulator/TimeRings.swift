#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Rule: the streaming prediction keeps, for every live limiter log and every key's recent
// admitted times, a ring of times. A million clients with a log per worker are millions of
// rings, most holding a few times: an array each (a heap block, a header, room for the whole
// limit from the start) costs more than the times. Here every ring is a block of one shared
// store, sized to what it holds (doubling up to its limit), and a ring's state (where its block
// is, its size, head and count) is four words the caller keeps wherever it keeps the rest of
// the key's state, so one event reads one place. Freed blocks are reused by size.

/// Where a ring's four words are: [block offset, block size, head, count]; a size of 0 means
/// no block (an empty ring).
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

    /// Moves a full ring into a block of `size` (at most `limit`), oldest first; returns true
    /// when the ring had no block before (it has just become live).
    @inline(__always)
    private func grow(_ h: RingHeader, to size: Int) -> Bool {
        let old = Int(h[1])
        let offset = allocate(size)
        if old > 0 {
            let from = base + Int(h[0]), to = base + offset
            let head = Int(h[2]), count = Int(h[3])
            let firstPart = min(count, old - head)
            to.update(from: from + head, count: firstPart)
            (to + firstPart).update(from: from, count: count - firstPart)
            release(offset: Int(h[0]), size: old)
        }
        h[0] = UInt32(truncatingIfNeeded: offset)
        h[1] = UInt32(truncatingIfNeeded: size)
        h[2] = 0
        return old == 0
    }

    /// Drops the times of `h` that are `<= cutoff` (oldest first).
    @inline(__always)
    private func expire(_ h: RingHeader, _ cutoff: Double) {
        let size = Int(h[1])
        var head = Int(h[2]), count = Int(h[3])
        let p = base + Int(h[0])
        while count > 0 && p[head] <= cutoff {
            head += 1
            if head == size { head = 0 }
            count -= 1
        }
        h[2] = UInt32(truncatingIfNeeded: head)
        h[3] = UInt32(truncatingIfNeeded: count)
    }

    /// Appends `t` to `h`, first moving a full ring into a block twice its size (at most
    /// `limit`, which the caller keeps above the count); returns whether `h` has just taken a block.
    @inline(__always)
    private func append(_ h: RingHeader, _ t: Double) -> Bool {
        var became = false
        if h[3] == h[1] {
            let size = Int(h[1])
            became = grow(h, to: size == 0 ? initial : min(size * 2, limit))
        }
        let size = Int(h[1]), count = Int(h[3])
        var tail = Int(h[2]) + count
        if tail >= size { tail -= size }
        base[Int(h[0]) + tail] = t
        h[3] = UInt32(truncatingIfNeeded: count + 1)
        return became
    }

    /// One limiter attempt at `now` on the log whose header is `h`, with the semantics of
    /// `SlidingWindowLog.attempt` for a limit of `limit` (which must be > 0). Returns whether it
    /// is allowed, and whether the log has just taken a block (so the caller can sweep it).
    @inline(__always)
    func attempt(_ h: RingHeader, now: Double, window: Double) -> (allowed: Bool, became: Bool) {
        expire(h, now - window)
        if Int(h[3]) < limit { return (true, append(h, now)) }
        // Full: the oldest is replaced by this refused attempt.
        let size = Int(h[1])
        var head = Int(h[2])
        base[Int(h[0]) + head] = now
        head += 1
        if head == size { head = 0 }
        h[2] = UInt32(truncatingIfNeeded: head)
        return (false, false)
    }

    /// Adds time `t` to the times of `h` after dropping those `<= t - window`; returns how many
    /// it then holds, and whether it has just taken a block. Needs `limit` above any count.
    @inline(__always)
    func push(_ h: RingHeader, _ t: Double, window: Double) -> (count: Int, became: Bool) {
        expire(h, t - window)
        let became = append(h, t)
        return (Int(h[3]), became)
    }

    /// The newest time of `h`, or nil when it holds none.
    @inline(__always)
    func newest(_ h: RingHeader) -> Double? {
        let count = Int(h[3])
        guard count > 0 else { return nil }
        var last = Int(h[2]) + count - 1
        if last >= Int(h[1]) { last -= Int(h[1]) }
        return base[Int(h[0]) + last]
    }

    /// Reads the oldest time of `h` (a block's first word when empty), to bring it into cache.
    @inline(__always)
    func touch(_ h: RingHeader) -> UInt32 {
        UInt32(truncatingIfNeeded: base[Int(h[0]) &+ Int(h[2])].bitPattern)
    }

    /// Empties `h` and frees its block.
    func clear(_ h: RingHeader) {
        if h[1] > 0 { release(offset: Int(h[0]), size: Int(h[1])) }
        h[0] = 0; h[1] = 0; h[2] = 0; h[3] = 0
    }
}

import Spec
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Rule: per-IP rate limits on sensitive endpoints (agent_auth 20/60 s, webhook_ingest 60/60 s),
// a sliding-window log per (namespace, client) with the semantics of `SlidingWindowLog`, kept in
// this process (`MemoryRateLimitStore`) or in Redis; a store that fails lets the request through
// and logs a warning (fail-open).

/// The limiter an endpoint consults: a policy, a store, and the fail-open rule.
public struct RateLimiter: Sendable {
    public let policy: RateLimitPolicy
    public let store: any RateLimitStore
    public let log: ServiceLog
    /// Refuse when the store fails (only the deliberately broken variant `.limiterFailsClosed`).
    public let failClosed: Bool

    public init(policy: RateLimitPolicy, store: any RateLimitStore, log: ServiceLog, failClosed: Bool = false) {
        self.policy = policy
        self.store = store
        self.log = log
        self.failClosed = failClosed
    }

    /// The key a client's log lives under in a shared store (and in the fail-open warning).
    public static func key(namespace: String, client: String) -> String {
        "ratelimit:\(namespace):\(client)"
    }

    /// Records one attempt by `client` at `now` and says whether it is allowed. When the store
    /// throws (Redis unreachable), the attempt is allowed and a warning is logged: the
    /// documented fail-open behaviour.
    public func allow(client: String, now: Double) -> Bool {
        do {
            return try store.record(policy: policy, client: client, now: now)
        } catch {
            let key = RateLimiter.key(namespace: policy.namespace, client: client)
            log.write("rate_limit.redis.unavailable namespace=\(ServiceLog.field(policy.namespace)) key=\(ServiceLog.field(key, maxLength: 200))")
            return !failClosed
        }
    }
}

/// The in-process limiter store: every (namespace, client) has a sliding-window log of at most
/// `maxRequests` timestamps, in lock-striped open-addressing tables whose pages keep each
/// key's small metadata apart from its timestamps; idle keys are swept incrementally. The
/// layout and its costs per key are in docs/limiter-store.md.
public final class MemoryRateLimitStore: RateLimitStore, @unchecked Sendable {
    // @unchecked: `stripes` is set once in init and freed in deinit; every access to a stripe's
    // state happens while holding that stripe's lock.

    /// A table is swept every this many calls.
    public static let sweepInterval = 128
    /// Slots examined per sweep.
    public static let sweepBatch = 256

    private let stripes: UnsafeMutablePointer<Stripe>
    private let stripeCount: Int
    private let stripeShift: UInt64
    private let recordsRefusedAttempts: Bool
    private let seed: (UInt64, UInt64)

    /// - Parameters:
    ///   - stripes: number of independently locked parts (rounded up to a power of two, at most 1024).
    ///   - recordsRefusedAttempts: false only for a deliberately broken variant: refused attempts
    ///     are then not recorded, so a client retrying at the limit is let through early.
    ///   - sweepsIdleKeys: false keeps every key until `sweep(now:)` is called. For tests that
    ///     compare decisions with `SlidingWindowLog` over traces whose time steps back: a key
    ///     swept while idle has forgotten entries that a later, earlier-dated attempt would
    ///     still count (the algorithm, with only a log per key, has no sweep to disagree with).
    public init(stripes: Int = 16, recordsRefusedAttempts: Bool = true, sweepsIdleKeys: Bool = true) {
        var count = 1
        var bits: UInt64 = 0
        while count < stripes && count < 1024 { count <<= 1; bits += 1 }
        self.stripes = .allocate(capacity: count)
        for i in 0..<count { (self.stripes + i).initialize(to: Stripe(state: StripeState(sweeps: sweepsIdleKeys))) }
        stripeCount = count
        stripeShift = 64 - bits
        self.recordsRefusedAttempts = recordsRefusedAttempts
        var generator = SystemRandomNumberGenerator()
        seed = (generator.next(), generator.next())
    }

    deinit {
        stripes.deinitialize(count: stripeCount)
        stripes.deallocate()
    }

    public func record(policy: RateLimitPolicy, client: String, now: Double) -> Bool {
        let h = SipHash13.hash(client, seed: seed)
        // The top bits pick the stripe, the low 32 bits index the table: independent bits.
        let stripe = stripeShift == 64 ? 0 : Int(truncatingIfNeeded: h >> stripeShift)
        let recordRefused = recordsRefusedAttempts
        let seed = self.seed
        let part = stripes + stripe
        part.pointee.lock()
        defer { part.pointee.unlock() }
        return part.pointee.state.record(policy: policy, client: client, hash: UInt32(truncatingIfNeeded: h), now: now,
                                         recordRefused: recordRefused, seed: seed)
    }

    /// Number of keys currently held for `namespace` (all namespaces when nil).
    public func keyCount(namespace: String? = nil) -> Int {
        var total = 0
        for i in 0..<stripeCount {
            total += withStripe(i) { state in
                state.tables.reduce(0) { $0 + ((namespace == nil || $1.policy.namespace == namespace) ? $1.count : 0) }
            }
        }
        return total
    }

    /// Removes every idle key now (the periodic sweep does this a batch at a time).
    public func sweep(now: Double) {
        let seed = self.seed
        for i in 0..<stripeCount {
            withStripe(i) { state in
                for t in state.tables.indices { state.tables[t].sweep(now: now, limit: Int.max, seed: seed) }
            }
        }
    }

    /// Bytes held by the store's tables (index buckets, slot pages, and the heap storage of
    /// client strings too long to be stored inline), computed from the layout.
    public var footprintBytes: Int {
        var total = 0
        for i in 0..<stripeCount {
            total += withStripe(i) { state in state.tables.reduce(0) { $0 + $1.footprintBytes } }
        }
        return total
    }

    private func withStripe<T>(_ i: Int, _ body: (inout StripeState) -> T) -> T {
        let part = stripes + i
        part.pointee.lock()
        defer { part.pointee.unlock() }
        return body(&part.pointee.state)
    }
}

/// A lock stripe: a small spin lock and the state it guards. A critical section is a few dozen
/// nanoseconds (one hash-table lookup, one ring update, occasionally a bounded sweep), so
/// spinning beats parking a thread; a waiter that spins too long yields its CPU, so a
/// preempted holder cannot starve it. Unlocking is a plain releasing store, one atomic
/// read-modify-write cheaper than a general-purpose mutex.
private struct Stripe: ~Copyable {
    let flag = Atomic<Bool>(false)
    var state: StripeState

    @inline(__always)
    func lock() {
        if flag.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged { return }
        var spins = 0
        while true {
            // Wait reading (no cache-line ping-pong), then try again.
            while flag.load(ordering: .relaxed) {
                spins += 1
                if spins >= 64 { spins = 0; Stripe.yieldProcessor() }
            }
            if flag.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged { return }
        }
    }

    @inline(__always)
    func unlock() {
        flag.store(false, ordering: .releasing)
    }

    static func yieldProcessor() {
        #if canImport(Glibc)
        sched_yield()
        #endif
    }
}

/// One stripe: a table per policy (there are only a few policies, so a linear search). Owns the
/// tables' memory and frees it when the store goes away.
private struct StripeState: ~Copyable {
    let sweeps: Bool
    var tables: [KeyTable] = []

    mutating func record(policy: RateLimitPolicy, client: String, hash: UInt32, now: Double,
                         recordRefused: Bool, seed: (UInt64, UInt64)) -> Bool {
        var index = 0
        while index < tables.count {
            if tables[index].policy == policy { break }
            index += 1
        }
        if index == tables.count {
            guard policy.maxRequests > 0 else { return false }  // a limit of 0 refuses everything; nothing to store
            tables.append(KeyTable(policy: policy, sweeps: sweeps))
        }
        return tables[index].record(client: client, hash: hash, now: now, recordRefused: recordRefused, seed: seed)
    }

    deinit {
        for table in tables { table.deallocate() }
    }
}

/// What a decision reads about a key besides its timestamps: 16 bytes, kept apart from the
/// timestamps (see `KeyTable`).
private struct SlotMeta {
    /// The largest timestamp recorded (-infinity when none): what the sweep reads.
    var newest: Double
    /// The ring of timestamps: oldest at `head`.
    var head: UInt32
    /// The number of entries in the ring (low 31 bits), and in the top bit whether forgetting
    /// is deferred: then the entries at the head of the ring that are at or before
    /// `newest - window` are already forgotten (see `KeyTable.record`).
    var state: UInt32

    static let deferredBit: UInt32 = 1 << 31

    var count: Int { Int(state & ~SlotMeta.deferredBit) }
    var deferred: Bool { state & SlotMeta.deferredBit != 0 }

    mutating func set(count: Int, deferred: Bool) {
        state = UInt32(truncatingIfNeeded: count) | (deferred ? SlotMeta.deferredBit : 0)
    }
}

/// The keys of one policy in one stripe, in manually managed memory (no reference counting or
/// uniqueness checks on the hot path). Owned by exactly one `StripeState`, which calls
/// `deallocate()`; never copied while in use.
private struct KeyTable {
    /// Slots per page: 64, fewer when slots are large (a policy with thousands of requests
    /// per window), so that a page stays around 64 KiB and one key never costs a whole page.
    let pageShift: Int
    var pageSize: Int { 1 << pageShift }

    let policy: RateLimitPolicy
    let sweeps: Bool
    let capacity: Int
    let window: Double
    /// Bytes from one slot to the next: the client string (16 bytes) and the timestamps.
    let slotStride: Int
    /// Where a page's slots start: after the `SlotMeta` of each of its slots. The metadata of
    /// all keys is small and dense (16 bytes a key), so it stays in cache where the slots do
    /// not; a decision then waits for one miss at a time, the client string and the oldest
    /// timestamp being fetched side by side, and the sweep reads metadata sequentially.
    let slotsOffset: Int
    /// 0 = empty; else hash << 32 | (slot + 1). Linear probing, at most 3/4 full.
    var buckets: UnsafeMutablePointer<UInt64>
    var mask: Int
    var pages: [UnsafeMutableRawPointer] = []
    /// Slots in use: 0..<count, dense (removal moves the last slot into the hole).
    var count = 0
    var calls = 0
    var sweepCursor = 0

    init(policy: RateLimitPolicy, sweeps: Bool) {
        self.policy = policy
        self.sweeps = sweeps
        capacity = policy.maxRequests
        window = policy.window
        slotStride = MemoryLayout<String>.stride + 8 * policy.maxRequests
        let metaStride = MemoryLayout<SlotMeta>.stride
        var shift = 6
        while shift > 0 && ((slotStride + metaStride) << shift) > 1 << 16 { shift -= 1 }
        pageShift = shift
        slotsOffset = metaStride << shift
        buckets = .allocate(capacity: 16)
        buckets.initialize(repeating: 0, count: 16)
        mask = 15
    }

    /// Frees the table's memory; the table must not be used afterwards.
    func deallocate() {
        for slot in 0..<count { key(slot).deinitialize(count: 1) }
        for page in pages { page.deallocate() }
        buckets.deallocate()
    }

    @inline(__always)
    func slotBase(_ slot: Int) -> UnsafeMutableRawPointer {
        pages[slot >> pageShift] + slotsOffset + (slot & (pageSize - 1)) * slotStride
    }

    @inline(__always)
    func meta(_ slot: Int) -> UnsafeMutablePointer<SlotMeta> {
        pages[slot >> pageShift].assumingMemoryBound(to: SlotMeta.self) + (slot & (pageSize - 1))
    }

    @inline(__always)
    func key(_ slot: Int) -> UnsafeMutablePointer<String> {
        slotBase(slot).assumingMemoryBound(to: String.self)
    }

    @inline(__always)
    func stamps(_ slot: Int) -> UnsafeMutablePointer<Double> {
        (slotBase(slot) + MemoryLayout<String>.stride).assumingMemoryBound(to: Double.self)
    }

    mutating func record(client: String, hash: UInt32, now: Double, recordRefused: Bool, seed: (UInt64, UInt64)) -> Bool {
        calls &+= 1
        if calls & (MemoryRateLimitStore.sweepInterval - 1) == 0 && sweeps {
            sweep(now: now, limit: MemoryRateLimitStore.sweepBatch, seed: seed)
        }
        // Find the client's slot, or the empty bucket where it goes.
        var i = Int(hash) & mask
        let tag = UInt64(hash) << 32
        var slot = -1
        while true {
            let b = buckets[i]
            if b == 0 { break }
            if b & 0xFFFF_FFFF_0000_0000 == tag {
                let candidate = Int(truncatingIfNeeded: b & 0xFFFF_FFFF) - 1
                if key(candidate).pointee == client { slot = candidate; break }
            }
            i = (i + 1) & mask
        }
        if slot < 0 { slot = insert(client: client, hash: hash, bucket: i) }

        let page = pages[slot >> pageShift]
        let within = slot & (pageSize - 1)
        let h = page.assumingMemoryBound(to: SlotMeta.self) + within
        let stamps = (page + slotsOffset + within * slotStride + MemoryLayout<String>.stride).assumingMemoryBound(to: Double.self)
        let cap = capacity
        var head = Int(h.pointee.head)
        var n = h.pointee.count
        // `SlidingWindowLog.attempt` first forgets the entries at the head that are at or
        // before now - window, then appends. Forgetting needs the oldest timestamps, which
        // usually sit in another cache line than the one the new entry goes to; so it is
        // deferred while the ring has room. While deferred, the log proper is the ring minus its
        // leading run of entries <= floor, where floor = newest - window: the largest cutoff of
        // the attempts since forgetting was last done. Forgetting up to a and then up to b
        // leaves the same as forgetting up to max(a, b) at once, so deferring changes no
        // decision, whatever order the attempts' times come in (the differential tests run
        // traces whose time also steps back):
        // - the ring has room: the log, a part of it, has fewer than max entries too, so the
        //   attempt is allowed and appended, and the floor becomes the larger of the two
        //   cutoffs, which is newest - window again. (The ring then always holds an entry above
        //   the floor, so no later entry is taken for a forgotten one; only a window of zero or
        //   less could break that, hence `now > floor`.) One case cannot be written that way:
        //   nothing deferred yet and this attempt older than the newest entry (time stepped
        //   back); it takes the exact path.
        // - the ring is full: forget the run now (usually one entry, in the same cache line the
        //   new entry then takes) and decide exactly as the algorithm does.
        let cutoff = now - window
        let newest = h.pointee.newest
        let deferred = h.pointee.deferred
        let floor = deferred ? max(newest, now) - window : cutoff
        let allowed: Bool
        if n < cap && now > floor && (deferred || now >= newest) {
            var tail = head + n
            if tail >= cap { tail -= cap }
            stamps[tail] = now
            h.pointee.set(count: n + 1, deferred: true)
            if now > newest { h.pointee.newest = now }
            return true
        }
        while n > 0 && stamps[head] <= floor {
            head += 1
            if head == cap { head = 0 }
            n -= 1
        }
        if n < cap {
            var tail = head + n
            if tail >= cap { tail -= cap }
            stamps[tail] = now
            n += 1
            allowed = true
        } else {
            if recordRefused {
                // Full: the refused attempt replaces the oldest entry, keeping the window closed.
                stamps[head] = now
                head += 1
                if head == cap { head = 0 }
            }
            allowed = false
        }
        // The ring is the log again. After a refusal its new head may be an entry recorded out
        // of time order, which a floor could wrongly hide, so forgetting is not deferred.
        h.pointee.head = UInt32(truncatingIfNeeded: head)
        h.pointee.set(count: n, deferred: false)
        // The newest entry for the sweep: the largest recorded, so a key is only swept when
        // nothing it holds can still count.
        if (allowed || recordRefused) && now > newest { h.pointee.newest = now }
        return allowed
    }

    mutating func insert(client: String, hash: UInt32, bucket: Int) -> Int {
        let slot = count
        if slot >> pageShift == pages.count {
            pages.append(UnsafeMutableRawPointer.allocate(byteCount: slotsOffset + pageSize * slotStride, alignment: 64))
        }
        key(slot).initialize(to: client)
        meta(slot).initialize(to: SlotMeta(newest: -Double.infinity, head: 0, state: 0))
        count += 1
        buckets[bucket] = UInt64(hash) << 32 | UInt64(slot + 1)
        if count * 4 > (mask + 1) * 3 { grow() }
        return slot
    }

    mutating func grow() {
        let oldCount = mask + 1
        let old = buckets
        buckets = .allocate(capacity: oldCount * 2)
        buckets.initialize(repeating: 0, count: oldCount * 2)
        mask = oldCount * 2 - 1
        for k in 0..<oldCount where old[k] != 0 {
            var i = Int(old[k] >> 32) & mask
            while buckets[i] != 0 { i = (i + 1) & mask }
            buckets[i] = old[k]
        }
        old.deallocate()
    }

    /// The bucket that points at `slot` (found by re-hashing its key: removals are rare next
    /// to lookups, so the hash is not stored).
    func bucket(of slot: Int, seed: (UInt64, UInt64)) -> Int {
        let hash = UInt32(truncatingIfNeeded: SipHash13.hash(key(slot).pointee, seed: seed))
        var i = Int(hash) & mask
        let target = UInt64(slot + 1)
        while buckets[i] & 0xFFFF_FFFF != target { i = (i + 1) & mask }
        return i
    }

    /// Removes `slot`: backward-shift deletion in the index, then the last slot moves into the hole.
    mutating func remove(slot: Int, seed: (UInt64, UInt64)) {
        var hole = bucket(of: slot, seed: seed)
        var j = (hole + 1) & mask
        while buckets[j] != 0 {
            let ideal = Int(buckets[j] >> 32) & mask
            // Move the entry back when the hole lies between its ideal bucket and where it is.
            if (j &- ideal) & mask >= (j &- hole) & mask {
                buckets[hole] = buckets[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        buckets[hole] = 0

        let last = count - 1
        if slot != last {
            let lastBucket = bucket(of: last, seed: seed)
            key(slot).pointee = key(last).move()
            meta(slot).pointee = meta(last).pointee
            stamps(slot).update(from: stamps(last), count: capacity)
            buckets[lastBucket] = buckets[lastBucket] & 0xFFFF_FFFF_0000_0000 | UInt64(slot + 1)
        } else {
            key(last).deinitialize(count: 1)
        }
        count = last
        // Give back a trailing page once two pages stand empty, so memory shrinks after a crowd
        // of clients goes away (keeping one spare avoids thrashing at a page boundary).
        if pages.count >= 2 && count <= (pages.count - 2) * pageSize {
            pages.removeLast().deallocate()
        }
    }

    @inline(__always)
    func isIdle(slot: Int, now: Double) -> Bool {
        meta(slot).pointee.newest <= now - window
    }

    /// Examines up to `limit` slots from the cursor (every slot when `limit` is `Int.max`)
    /// and removes the idle ones.
    mutating func sweep(now: Double, limit: Int, seed: (UInt64, UInt64)) {
        if limit == Int.max {
            var slot = 0
            while slot < count {
                if isIdle(slot: slot, now: now) { remove(slot: slot, seed: seed) } else { slot += 1 }
            }
            sweepCursor = 0
            return
        }
        var examined = 0
        while examined < limit && count > 0 {
            if sweepCursor >= count { sweepCursor = 0 }
            if isIdle(slot: sweepCursor, now: now) {
                remove(slot: sweepCursor, seed: seed)  // the last slot moved here: examine it next
            } else {
                sweepCursor += 1
            }
            examined += 1
        }
    }

    var footprintBytes: Int {
        var bytes = (mask + 1) * 8 + pages.count * (slotsOffset + pageSize * slotStride)
        for slot in 0..<count {
            let length = key(slot).pointee.utf8.count
            if length > 15 {
                // A string longer than 15 UTF-8 bytes lives on the heap: a 32-byte header plus
                // its bytes and a terminator, rounded up by malloc to 16.
                bytes += (32 + length + 1 + 15) & ~15
            }
        }
        return bytes
    }
}

/// SipHash-1-3 (the keyed hash the standard library uses for `Hasher`), written out so that it
/// inlines: hashing a short client address costs a few nanoseconds instead of three calls
/// into the runtime. Keyed with a random seed per store, so clients cannot aim collisions.
enum SipHash13 {
    @inline(__always)
    static func hash(_ text: String, seed: (UInt64, UInt64)) -> UInt64 {
        if let h = text.utf8.withContiguousStorageIfAvailable({ hash(UnsafeRawBufferPointer($0), seed: seed) }) { return h }
        return Array(text.utf8).withUnsafeBytes { hash($0, seed: seed) }
    }

    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer, seed: (UInt64, UInt64)) -> UInt64 {
        var v0: UInt64 = seed.0 ^ 0x736f_6d65_7073_6575
        var v1: UInt64 = seed.1 ^ 0x646f_7261_6e64_6f6d
        var v2: UInt64 = seed.0 ^ 0x6c79_6765_6e65_7261
        var v3: UInt64 = seed.1 ^ 0x7465_6462_7974_6573
        @inline(__always) func round() {
            v0 = v0 &+ v1; v1 = (v1 << 13) | (v1 >> 51); v1 ^= v0; v0 = (v0 << 32) | (v0 >> 32)
            v2 = v2 &+ v3; v3 = (v3 << 16) | (v3 >> 48); v3 ^= v2
            v0 = v0 &+ v3; v3 = (v3 << 21) | (v3 >> 43); v3 ^= v0
            v2 = v2 &+ v1; v1 = (v1 << 17) | (v1 >> 47); v1 ^= v2; v2 = (v2 << 32) | (v2 >> 32)
        }
        let length = bytes.count
        var offset = 0
        while offset + 8 <= length {
            let m = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            v3 ^= m; round(); v0 ^= m
            offset += 8
        }
        var last = UInt64(truncatingIfNeeded: length) << 56
        var shift: UInt64 = 0
        while offset < length {
            last |= UInt64(bytes[offset]) << shift
            shift += 8
            offset += 1
        }
        v3 ^= last; round(); v0 ^= last
        v2 ^= 0xFF
        round(); round(); round()
        return v0 ^ v1 ^ v2 ^ v3
    }
}

import Wire

// Rule: a streaming simulation reads its events in time order, a chunk at a time, from an
// event source: a profile already in memory, or a spec whose generator produces the events on
// the fly. A chunk is a `Profile` whose events are replaced on every call while its clients and
// proxy headers (and so their ids) accumulate: memory grows with the distinct clients, never
// with the events. A source can start over (`restart`), so each scenario is one more pass.

/// Events in time order, delivered in chunks.
public protocol EventSource {
    /// Replaces `chunk`'s events with the next ones (at least one) and returns true, or returns
    /// false at the end. `chunk` must be the same value on every call of a pass: its client and
    /// proxy header ids carry over from one chunk to the next.
    mutating func next(into chunk: inout Profile) throws -> Bool
    /// Starts a new pass from the first event, into a fresh chunk.
    mutating func restart() throws
}

/// A profile held in memory, delivered in chunks (so idle logs are dropped as it streams).
public struct ProfileEvents: EventSource {
    public let profile: Profile
    var position = 0
    public var chunkSize = 1 << 20

    public init(_ profile: Profile) { self.profile = profile }

    public mutating func next(into chunk: inout Profile) -> Bool {
        guard position < profile.count else { return false }
        if position == 0 {
            chunk = profile  // the clients and proxy headers, shared
        }
        chunk.removeAllEvents()
        let end = min(profile.count, position + chunkSize)
        let proxies = profile.proxyIDs
        for i in position..<end {
            chunk.appendRaw(time: profile.times[i], clientID: profile.clientIDs[i], kind: profile.kinds[i],
                            bodyBytes: profile.bodyBytes[i], proxyID: proxies.isEmpty ? -1 : proxies[i])
        }
        position = end
        return true
    }

    public mutating func restart() { position = 0 }
}

/// A spec's events, generated as they are consumed (the file `ProfileGenerator.write` would
/// produce, read back, without the file).
public struct GeneratedEvents: EventSource {
    let start: ProfileGenerator
    var streams: [ProfileGenerator.ColumnStream]
    /// Where each stream's clients (proxy values) begin in `clientIDs` (`proxyIDs`).
    let clientBase: [Int]
    let proxyBase: [Int]
    /// Per stream, one after the other: local client (proxy value) index → chunk id.
    var clientIDs: IDTable
    var proxyIDs: IDTable
    /// With several streams, each one's next event waiting to be merged.
    var pending: [ProfileGenerator.Drawn]
    var hasPending: [Bool]
    public var chunkSize = 1 << 20

    /// Events drawn per batch: the batch's columns stay in the first-level cache between being
    /// drawn and being appended, and its client id look-ups (a large population's table is
    /// read at random) are issued together so that their cache misses overlap.
    static let batch = 256

    public init(spec: ProfileSpec, source: String = "spec", maximumEvents: Int = ProfileSpec.defaultMaximumEvents) throws(InputError) {
        self.init(try ProfileGenerator(spec: spec, source: source, maximumEvents: maximumEvents))
    }

    init(_ generator: ProfileGenerator) {
        start = generator
        streams = generator.streams.map(ProfileGenerator.ColumnStream.init)
        var clientBase: [Int] = [], proxyBase: [Int] = []
        var clients = 0, proxies = 0
        for s in generator.streams.indices {
            clientBase.append(clients)
            proxyBase.append(proxies)
            clients += generator.clientCount(stream: s)
            proxies += generator.proxyValueCount(stream: s)
        }
        self.clientBase = clientBase
        self.proxyBase = proxyBase
        clientIDs = IDTable(count: clients)
        proxyIDs = IDTable(count: proxies)
        pending = [ProfileGenerator.Drawn](repeating: ProfileGenerator.Drawn(), count: streams.count)
        hasPending = [Bool](repeating: false, count: streams.count)
    }

    public mutating func restart() { self = GeneratedEvents(start) }

    public mutating func next(into chunk: inout Profile) -> Bool {
        chunk.removeAllEvents()
        return append(to: &chunk, limit: chunkSize) > 0
    }

    /// The columns of one batch as drawn (`drawn`: the time, kind and body as they are
    /// appended, the client and proxy value as indices into `clientIDs` and `proxyIDs`), and
    /// the batch's ids.
    struct Batch {
        let drawn: ProfileGenerator.Columns
        let clientIDs: UnsafeMutablePointer<Int32>
        let proxyIDs: UnsafeMutablePointer<Int32>

        init(capacity: Int) {
            drawn = ProfileGenerator.Columns(relative: .allocate(capacity: capacity), times: .allocate(capacity: capacity),
                                             clients: .allocate(capacity: capacity), kinds: .allocate(capacity: capacity),
                                             bodyBytes: .allocate(capacity: capacity), proxyValues: .allocate(capacity: capacity))
            clientIDs = .allocate(capacity: capacity)
            proxyIDs = .allocate(capacity: capacity)
        }

        func deallocate() {
            drawn.relative.deallocate(); drawn.times.deallocate(); drawn.clients.deallocate(); drawn.kinds.deallocate()
            drawn.bodyBytes.deallocate(); drawn.proxyValues.deallocate(); clientIDs.deallocate(); proxyIDs.deallocate()
        }

        @inline(__always)
        func store(_ e: ProfileGenerator.Drawn, at i: Int, clientBase: Int, proxyBase: Int) {
            drawn.times[i] = e.time
            drawn.clients[i] = clientBase + e.client
            drawn.kinds[i] = e.kind
            drawn.bodyBytes[i] = e.bodyBytes
            drawn.proxyValues[i] = e.proxyValue < 0 ? -1 : proxyBase + e.proxyValue
        }
    }

    /// Appends up to `limit` events to `profile`; returns how many. Client and proxy header
    /// ids are given in order of first use, as reading the generated file back would.
    mutating func append(to profile: inout Profile, limit: Int) -> Int {
        // A copy of this source shares the tables until one of them writes.
        if !isKnownUniquelyReferenced(&clientIDs) { clientIDs = clientIDs.copy() }
        if !isKnownUniquelyReferenced(&proxyIDs) { proxyIDs = proxyIDs.copy() }
        let batch = Batch(capacity: GeneratedEvents.batch)
        defer { batch.deallocate() }
        var appended = 0
        while appended < limit {
            let wanted = min(GeneratedEvents.batch, limit - appended)
            let n = streams.count == 1 ? drawOne(wanted, into: batch) : drawMerged(wanted, into: batch)
            if n == 0 { break }
            let anyProxy = assignIDs(n, batch, in: &profile)
            profile.appendColumns(times: UnsafeBufferPointer(start: batch.drawn.times, count: n),
                                  clientIDs: UnsafeBufferPointer(start: batch.clientIDs, count: n),
                                  kinds: UnsafeBufferPointer(start: batch.drawn.kinds, count: n),
                                  bodyBytes: UnsafeBufferPointer(start: batch.drawn.bodyBytes, count: n),
                                  proxyIDs: UnsafeBufferPointer(start: batch.proxyIDs, count: n), anyProxy: anyProxy)
            appended += n
        }
        return appended
    }

    /// One stream: its events in order, no merge.
    mutating func drawOne(_ wanted: Int, into batch: Batch) -> Int {
        // Drawn from a local copy, so the stream is not reached through the array per event.
        var stream = streams[0]
        var columns = batch.drawn
        columns.prefetch = clientIDs.slots
        let n = stream.next(wanted, into: columns)
        streams[0] = stream
        return n
    }

    /// Several streams merged by time, ties to the lower stream index (`ProfileGenerator.next`).
    /// Each stream's next event is drawn by its batched draw, one event at a time (a stream
    /// drawn further ahead would be copied with its events still to merge).
    mutating func drawMerged(_ wanted: Int, into batch: Batch) -> Int {
        let clientBase = clientBase, proxyBase = proxyBase
        let one = Batch(capacity: 1)
        defer { one.deallocate() }
        var n = 0
        streams.withUnsafeMutableBufferPointer { streams in
            pending.withUnsafeMutableBufferPointer { pending in
                hasPending.withUnsafeMutableBufferPointer { hasPending in
                    while n < wanted {
                        var best = -1
                        var bestTime = Double.infinity
                        for i in streams.indices {
                            if !hasPending[i] && !streams[i].done && streams[i].next(1, into: one.drawn) == 1 {
                                pending[i] = ProfileGenerator.Drawn(time: one.drawn.times[0], client: one.drawn.clients[0],
                                                                    kind: one.drawn.kinds[0], bodyBytes: one.drawn.bodyBytes[0],
                                                                    proxyValue: one.drawn.proxyValues[0])
                                hasPending[i] = true
                            }
                            if hasPending[i] && pending[i].time < bestTime {
                                best = i
                                bestTime = pending[i].time
                            }
                        }
                        guard best >= 0 else { break }
                        batch.store(pending[best], at: n, clientBase: clientBase[best], proxyBase: proxyBase[best])
                        hasPending[best] = false
                        n += 1
                    }
                }
            }
        }
        return n
    }

    /// Completes the batch's client ids (those still -1) and fills its proxy header ids,
    /// entering each client and header in `profile` on its first use, in event order; returns
    /// whether any event has a proxy header.
    func assignIDs(_ n: Int, _ batch: Batch, in profile: inout Profile) -> Bool {
        var table = clientIDs.slots
        // The look-ups first, in a loop of nothing else, so that their cache misses are
        // outstanding together (one at a time, between draws, each costs the full latency).
        for i in 0..<n { batch.clientIDs[i] = table[batch.drawn.clients[i]] &- 1 }
        for i in 0..<n where batch.clientIDs[i] < 0 {
            // Read again: an earlier event of the batch may have entered the client.
            let index = batch.drawn.clients[i]
            var id = table[index] &- 1
            if id < 0 {
                let stream = clientBase.lastIndex { $0 <= index } ?? 0
                id = profile.clientID(start.address(stream: stream, client: index - clientBase[stream]))
                table[index] = id &+ 1
            }
            batch.clientIDs[i] = id
        }
        var anyProxy = false
        table = proxyIDs.slots
        for i in 0..<n {
            let index = batch.drawn.proxyValues[i]
            var id: Int32 = -1
            if index >= 0 {
                anyProxy = true
                id = table[index] &- 1
                if id < 0 {
                    let stream = proxyBase.lastIndex { $0 <= index } ?? 0
                    if let header = start.proxyHeader(stream: stream, value: index - proxyBase[stream]) {
                        id = profile.proxyID(header)
                        table[index] = id &+ 1
                    }
                }
            }
            batch.proxyIDs[i] = id
        }
        return anyProxy
    }
}

/// Local index → chunk id + 1 (0: not used yet), for the clients or proxy values of a source's
/// streams. A large population's table is read at random once per event, so it is mapped for
/// huge pages (`LargeTable`: one TLB entry per 2 MB instead of per 4 KB), and its zeroed pages
/// need no filling.
final class IDTable {
    let slots: UnsafeMutablePointer<Int32>
    let count: Int
    /// Below a huge page's worth a table is ordinary memory.
    private var large: Bool { count * MemoryLayout<Int32>.stride >= LargeTable.hugePage }

    init(count: Int) {
        self.count = count
        if count * MemoryLayout<Int32>.stride >= LargeTable.hugePage {
            slots = LargeTable.allocate(Int32.self, count: count)
        } else {
            slots = .allocate(capacity: max(1, count))
            slots.initialize(repeating: 0, count: max(1, count))
        }
    }

    deinit {
        if large { LargeTable.release(slots, count: count) } else { slots.deallocate() }
    }

    func copy() -> IDTable {
        let copy = IDTable(count: count)
        copy.slots.update(from: slots, count: count)
        return copy
    }
}

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
    var generator: ProfileGenerator
    /// Per stream: local client index → chunk client id, filled on first use.
    var clientIDs: [[Int32]]
    var proxyIDs: [[Int32]]
    public var chunkSize = 1 << 20
    /// What the read-ahead of client ids read (kept, so it is not optimised away).
    var touchedSum: Int32 = 0

    public init(spec: ProfileSpec, source: String = "spec", maximumEvents: Int = ProfileSpec.defaultMaximumEvents) throws(InputError) {
        self.init(try ProfileGenerator(spec: spec, source: source, maximumEvents: maximumEvents))
    }

    init(_ generator: ProfileGenerator) {
        start = generator
        self.generator = generator
        clientIDs = generator.streams.indices.map { [Int32](repeating: -1, count: generator.clientCount(stream: $0)) }
        proxyIDs = generator.streams.indices.map { [Int32](repeating: -1, count: generator.proxyValueCount(stream: $0)) }
    }

    public mutating func restart() { self = GeneratedEvents(start) }

    public mutating func next(into chunk: inout Profile) -> Bool {
        chunk.removeAllEvents()
        return append(to: &chunk, limit: chunkSize) > 0
    }

    /// Appends up to `limit` events to `profile`; returns how many. Client and proxy header
    /// ids are given in order of first use, as reading the generated file back would. Events
    /// are drawn a batch at a time and the batch's client ids read ahead, so their cache misses
    /// (a large population's table is read at random) overlap.
    mutating func append(to profile: inout Profile, limit: Int) -> Int {
        var appended = 0
        var batch: [ProfileGenerator.Event] = []
        batch.reserveCapacity(32)
        var touched: Int32 = 0
        while appended < limit {
            batch.removeAll(keepingCapacity: true)
            while batch.count < min(32, limit - appended), let e = generator.next() { batch.append(e) }
            if batch.isEmpty { break }
            for e in batch { touched ^= clientIDs[e.stream][e.client] }
            for e in batch {
                var id = clientIDs[e.stream][e.client]
                if id < 0 {
                    id = profile.clientID(generator.address(stream: e.stream, client: e.client))
                    clientIDs[e.stream][e.client] = id
                }
                var proxy: Int32 = -1
                if e.proxyValue >= 0 {
                    proxy = proxyIDs[e.stream][e.proxyValue]
                    if proxy < 0, let header = generator.proxyHeader(stream: e.stream, value: e.proxyValue) {
                        proxy = profile.proxyID(header)
                        proxyIDs[e.stream][e.proxyValue] = proxy
                    }
                }
                profile.append(time: e.time, clientID: id, endpoint: e.endpoint, signature: e.signature,
                               bodyBytes: e.bodyBytes, proxyID: proxy)
            }
            appended += batch.count
        }
        touchedSum ^= touched
        return appended
    }
}

import Wire

// Source addresses: every client of the profile sends from its own loopback address. A client
// whose address is already an IPv4 loopback address keeps it; every other client is given an
// unused address in 127.1.0.1 upwards (one to one, so the server sees as many clients as the
// profile has, and the prediction is made for the addresses actually used). For a target that
// is not on loopback, or that trusts the replaying host as a proxy, `forwarded` sends each
// client's address in X-Forwarded-For instead.
//
// A profile file too large to hold is replayed as it is read: `AsSentEvents` gives its events
// as the server will see them, a chunk at a time, exactly as `ReplaySources.asSent` gives the
// whole profile (the same client and proxy header ids in the same order of first use), so a
// streamed replay and its prediction see what an in-memory one sees.

/// How the server learns who each event's client is.
public enum SourceMode: Sendable, Equatable {
    /// Bind a loopback source address per client.
    case loopback
    /// Send the client's address in this proxy header (the target must trust this host).
    case forwarded(header: String)
}

/// The clients of a profile as a replay sends them.
public enum ReplaySources {
    /// The loopback source address of every client of `profile` (indexed by client id). Clients
    /// without one get addresses from `spare` upwards (127.1.0.1 by default; several replays
    /// against one server that must not share limiter state give each its own block).
    public static func loopbackAddresses(for profile: Profile, spare: String = "127.1.0.1") throws(TargetError) -> [String] {
        try loopbackAddresses(clients: profile.clients, spare: spare)
    }

    /// The loopback source address of each of `clients` (see above).
    public static func loopbackAddresses(clients: [String], spare: String = "127.1.0.1") throws(TargetError) -> [String] {
        var used = Set<UInt32>()
        var assigned = [UInt32?](repeating: nil, count: clients.count)
        for (i, client) in clients.enumerated() {
            if let v4 = ipv4(client), v4 >> 24 == 127, v4 & 0xFF != 0, v4 & 0xFF != 255 {
                assigned[i] = v4
                used.insert(v4)
            }
        }
        guard var next = ipv4(spare), next >> 24 == 127 else {
            throw TargetError("the first spare source address must be an IPv4 loopback address, got '\(spare)'")
        }
        for i in assigned.indices where assigned[i] == nil {
            while used.contains(next) || next & 0xFF == 0 || next & 0xFF == 255 {
                next += 1
            }
            guard next < 128 << 24 else {
                throw TargetError("the profile has more clients than there are loopback addresses; use --sources forwarded")
            }
            assigned[i] = next
            used.insert(next)
            next += 1
        }
        return assigned.map { v in
            let a = v ?? 0
            return "\(a >> 24).\((a >> 16) & 255).\((a >> 8) & 255).\(a & 255)"
        }
    }

    static func ipv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for p in parts {
            guard let n = UInt32(p), n <= 255, p.count <= 3 else { return nil }
            value = value << 8 | n
        }
        return value
    }

    /// The profile as the server will see it: clients renamed to their source addresses
    /// (loopback), or each event's client carried in the proxy header (forwarded; an event's own
    /// header of that name keeps its value in front, as a proxy appends the peer it saw).
    public static func asSent(_ profile: Profile, mode: SourceMode, spare: String = "127.1.0.1") throws(TargetError) -> (profile: Profile, sources: [String]) {
        switch mode {
        case .loopback:
            let sources = try loopbackAddresses(for: profile, spare: spare)
            return (profile.renamingClients(to: sources), sources)
        case .forwarded(let header):
            var events: [ProfileEvent] = []
            events.reserveCapacity(profile.count)
            for i in 0..<profile.count {
                var e = profile[i]
                e.proxyHeader = try forwardedHeader(header, own: e.proxyHeader, client: e.client, event: i)
                events.append(e)
            }
            do {
                return (try Profile(events: events), [String](repeating: "", count: profile.clients.count))
            } catch {
                throw TargetError("\(error)")
            }
        }
    }

    /// The proxy header an event is sent with when its client travels in `header`: the
    /// client's address, after the event's own value of that header (as a proxy appends the
    /// peer it saw). An event may not set another proxy header.
    static func forwardedHeader(_ header: String, own: ProxyHeader?, client: String, event i: Int) throws(TargetError) -> ProxyHeader {
        guard let own else { return ProxyHeader(name: header, value: client) }
        guard own.name.lowercased() == header.lowercased() else {
            throw TargetError("event \(i) sets its own \(own.name) header; with --sources forwarded events may only set \(header)")
        }
        return ProxyHeader(name: header, value: own.value + ", " + client)
    }
}

/// A profile file's events as a replay sends them (`ReplaySources.asSent`), a chunk at a time:
/// clients renamed to their source addresses (loopback) or each event's client carried in the
/// proxy header (forwarded). Memory holds one chunk and the distinct clients and headers.
public final class AsSentEvents: EventSource {
    let file: ProfileFileEvents
    let mode: SourceMode
    /// The source address of every client (loopback mode; indexed by client id).
    let sources: [String]
    private var raw = Profile()
    /// Forwarded mode: (own header id + 1, client id) → the header id in the chunk.
    private var forwardedIDs: [Int64: Int32] = [:]
    private var read = 0

    /// `sources`: for loopback, the address of every client of the file, in order of first
    /// use (`ReplaySources.loopbackAddresses(clients:)` of the file's clients).
    public init(file: ProfileFileEvents, mode: SourceMode, sources: [String]) {
        self.file = file
        self.mode = mode
        self.sources = sources
    }

    public func restart() throws {
        try file.restart()
        read = 0
        forwardedIDs = [:]
    }

    public func next(into chunk: inout Profile) throws -> Bool {
        if read == 0 { chunk = Profile() }
        guard try file.next(into: &raw) else { return false }
        chunk.removeAllEvents()
        chunk.reserveCapacity(raw.count)
        switch mode {
        case .loopback:
            while chunk.clients.count < raw.clients.count {
                let k = chunk.clients.count
                guard k < sources.count, chunk.clientID(sources[k]) == Int32(k) else {
                    throw TargetError("\(file.path) changed while it was replayed: its client \(raw.clients[k]) has no source address")
                }
            }
            while chunk.proxyHeaders.count < raw.proxyHeaders.count { _ = chunk.proxyID(raw.proxyHeaders[chunk.proxyHeaders.count]) }
            let proxies = raw.proxyIDs
            for i in 0..<raw.count {
                chunk.appendRaw(time: raw.times[i], clientID: raw.clientIDs[i], kind: raw.kinds[i], bodyBytes: raw.bodyBytes[i],
                                proxyID: proxies.isEmpty ? -1 : proxies[i])
            }
        case .forwarded(let header):
            while chunk.clients.count < raw.clients.count { _ = chunk.clientID(raw.clients[chunk.clients.count]) }
            let proxies = raw.proxyIDs
            for i in 0..<raw.count {
                let client = raw.clientIDs[i], own = proxies.isEmpty ? -1 : proxies[i]
                let pair = Int64(own + 1) << 32 | Int64(client)
                var id = forwardedIDs[pair]
                if id == nil {
                    let sent = try ReplaySources.forwardedHeader(header, own: own < 0 ? nil : raw.proxyHeaders[Int(own)],
                                                                 client: raw.clients[Int(client)], event: read + i)
                    id = chunk.proxyID(sent)
                    forwardedIDs[pair] = id
                }
                chunk.appendRaw(time: raw.times[i], clientID: client, kind: raw.kinds[i], bodyBytes: raw.bodyBytes[i], proxyID: id!)
            }
        }
        read += raw.count
        return true
    }
}

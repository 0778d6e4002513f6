import CMemoryHints
import Wire

// Rule: the generator turns a spec and its seed into events, streaming (constant memory per
// stream, whatever the count). Each stream draws from its own generators, one per purpose
// (arrival times, clients, attributes, proxy values), seeded from the spec's seed and the
// stream's index: changing a stream's signature mix does not move its arrival times, and adding
// a stream does not change the others. Streams are merged by time (ties: lower stream index
// first). Times are rounded to whole microseconds, the resolution of profile files. Agent-auth
// events are GET requests and carry no body (body_bytes 0).

/// Generates the events of a spec in time order.
public struct ProfileGenerator {
    /// One generated event; `client` and `proxyValue` index the stream's populations.
    public struct Event: Sendable, Equatable {
        public var time: Double
        public var stream: Int
        public var client: Int
        public var endpoint: Endpoint
        public var signature: SignatureMode
        public var bodyBytes: Int
        /// Index into the stream's proxy header values, or -1 for none.
        public var proxyValue: Int
    }

    struct StreamState {
        let spec: StreamSpec
        var clock: ArrivalClock
        var arrivalRandom: DeterministicRandom
        var clientRandom: DeterministicRandom
        var attributeRandom: DeterministicRandom
        var proxyRandom: DeterministicRandom
        let clients: ClientSampler
        let proxyValues: ClientSampler?
        let endpoints: [Endpoint], endpointCumulative: [Double]
        let signatures: [SignatureMode], signatureCumulative: [Double]
        let tokens: [SignatureMode], tokenCumulative: [Double]
        var pending: Event?
        var done = false
    }

    public let spec: ProfileSpec
    var streams: [StreamState]

    /// Validates `spec` and prepares its streams.
    public init(spec: ProfileSpec, source: String = "spec", maximumEvents: Int = ProfileSpec.defaultMaximumEvents) throws(InputError) {
        try spec.validate(source: source, maximumEvents: maximumEvents)
        self.spec = spec
        streams = []
        for (index, stream) in spec.streams.enumerated() {
            guard let clients = ClientSampler(stream.clients) else {
                throw InputError(file: source, path: "$.streams[\(index)].clients", message: "the address range is not valid")
            }
            var proxyValues: ClientSampler?
            if let proxy = stream.proxyHeader {
                guard let sampler = ClientSampler(proxy.values) else {
                    throw InputError(file: source, path: "$.streams[\(index)].proxy_header.values", message: "the address range is not valid")
                }
                proxyValues = sampler
            }
            let base = UInt64(index) &* 4
            let end = min(stream.end ?? spec.duration, spec.duration)
            streams.append(StreamState(
                spec: stream,
                clock: ArrivalClock(arrivals: stream.arrivals, length: end - stream.start),
                arrivalRandom: DeterministicRandom(seed: spec.seed, stream: base),
                clientRandom: DeterministicRandom(seed: spec.seed, stream: base + 1),
                attributeRandom: DeterministicRandom(seed: spec.seed, stream: base + 2),
                proxyRandom: DeterministicRandom(seed: spec.seed, stream: base + 3),
                clients: clients, proxyValues: proxyValues,
                endpoints: stream.endpoints.entries.map(\.value), endpointCumulative: stream.endpoints.cumulative,
                signatures: stream.signatures.entries.map(\.value), signatureCumulative: stream.signatures.cumulative,
                tokens: stream.tokens.entries.map(\.value), tokenCumulative: stream.tokens.cumulative))
        }
    }

    /// The address of client `client` of stream `stream`.
    public func address(stream: Int, client: Int) -> String {
        streams[stream].clients.address(client)
    }

    /// The proxy header for value `value` of stream `stream`.
    public func proxyHeader(stream: Int, value: Int) -> ProxyHeader? {
        guard value >= 0, let proxy = streams[stream].spec.proxyHeader, let values = streams[stream].proxyValues else { return nil }
        return ProxyHeader(name: proxy.name, value: values.address(value))
    }

    /// Number of clients in stream `stream`'s population.
    public func clientCount(stream: Int) -> Int { streams[stream].spec.clients.count }

    /// Number of proxy values of stream `stream` (0 without a proxy header).
    public func proxyValueCount(stream: Int) -> Int { streams[stream].spec.proxyHeader?.values.count ?? 0 }

    /// The next event in time order, or nil when every stream has ended.
    public mutating func next() -> Event? {
        // One stream needs no merge (nor its pending event).
        if streams.count == 1 {
            if streams[0].done { return nil }
            let e = ProfileGenerator.produce(&streams[0], index: 0)
            if e == nil { streams[0].done = true }
            return e
        }
        var best = -1
        var bestTime = Double.infinity
        for i in streams.indices {
            if streams[i].pending == nil && !streams[i].done {
                streams[i].pending = ProfileGenerator.produce(&streams[i], index: i)
                if streams[i].pending == nil { streams[i].done = true }
            }
            if let e = streams[i].pending, e.time < bestTime {
                best = i
                bestTime = e.time
            }
        }
        guard best >= 0 else { return nil }
        defer { streams[best].pending = nil }
        return streams[best].pending
    }

    static func pick<V>(_ values: [V], _ cumulative: [Double], _ random: inout DeterministicRandom) -> V {
        if values.count == 1 { return values[0] }
        let total = cumulative[cumulative.count - 1]
        let u = random.nextDouble() * total
        for (i, c) in cumulative.enumerated() where u < c { return values[i] }
        return values[values.count - 1]
    }

    static func produce(_ s: inout StreamState, index: Int) -> Event? {
        guard let relative = s.clock.next(&s.arrivalRandom) else { return nil }
        let time = ProfileRules.quantize(s.spec.start + relative)
        let client = s.clients.sample(at: relative, &s.clientRandom)
        let endpoint = pick(s.endpoints, s.endpointCumulative, &s.attributeRandom)
        let signature: SignatureMode
        var bodyBytes = 0
        if endpoint == .webhook {
            signature = pick(s.signatures, s.signatureCumulative, &s.attributeRandom)
            switch s.spec.bodyBytes {
            case .fixed(let n): bodyBytes = n
            case .uniform(let lo, let hi): bodyBytes = lo + s.attributeRandom.nextInt(below: hi - lo + 1)
            }
        } else {
            signature = pick(s.tokens, s.tokenCumulative, &s.attributeRandom)
        }
        var proxyValue = -1
        if let values = s.proxyValues, let proxy = s.spec.proxyHeader {
            if proxy.share >= 1 || s.proxyRandom.nextDouble() < proxy.share {
                proxyValue = values.sample(at: relative, &s.proxyRandom)
            }
        }
        return Event(time: time, stream: index, client: client, endpoint: endpoint, signature: signature,
                     bodyBytes: bodyBytes, proxyValue: proxyValue)
    }

    // MARK: consumers

    /// Generates the whole profile in memory.
    public static func profile(spec: ProfileSpec, source: String = "spec", maximumEvents: Int = ProfileSpec.defaultMaximumEvents) throws(InputError) -> Profile {
        let generator = try ProfileGenerator(spec: spec, source: source, maximumEvents: maximumEvents)
        var profile = Profile()
        profile.reserveCapacity(Int(min(spec.expectedEvents * 1.05 + 16, Double(min(maximumEvents, 1 << 27)))))
        var events = GeneratedEvents(generator)
        _ = events.append(to: &profile, limit: Int.max)
        return profile
    }

    /// Generates the profile straight into a file, without holding it in memory.
    public static func write(spec: ProfileSpec, format: ProfileFormat, to sink: ByteSink, source: String = "spec",
                             maximumEvents: Int = ProfileSpec.defaultMaximumEvents) throws -> Int {
        var generator = try ProfileGenerator(spec: spec, source: source, maximumEvents: maximumEvents)
        let withProxy = spec.streams.contains { $0.proxyHeader != nil }
        try ProfileWriter.writeHeader(format: format, withProxyColumns: withProxy, to: sink)
        // Encoded addresses are cached per stream for populations up to a million clients.
        var addresses = generator.streams.indices.map { s -> [[UInt8]?] in
            let n = generator.clientCount(stream: s)
            return n <= 1 << 20 ? [[UInt8]?](repeating: nil, count: n) : []
        }
        var written = 0
        while let e = generator.next() {
            let address: [UInt8]
            if addresses[e.stream].isEmpty {
                address = ProfileWriter.encodedClient(generator.address(stream: e.stream, client: e.client), format: format)
            } else if let cached = addresses[e.stream][e.client] {
                address = cached
            } else {
                address = ProfileWriter.encodedClient(generator.address(stream: e.stream, client: e.client), format: format)
                addresses[e.stream][e.client] = address
            }
            let proxy = generator.proxyHeader(stream: e.stream, value: e.proxyValue)
            try address.withUnsafeBufferPointer { client throws(FileError) in
                try sink.withBuffer { out in
                    ProfileWriter.appendEvent(format: format, time: e.time, client: client, endpoint: e.endpoint, bodyBytes: e.bodyBytes,
                                              signature: e.signature, proxy: proxy, withProxyColumns: withProxy, to: &out)
                }
            }
            written += 1
        }
        try sink.flush()
        return written
    }
}

// MARK: column draws

extension ProfileGenerator {
    /// One event as the columns of a profile hold it; `client` and `proxyValue` index the
    /// stream's populations (`proxyValue` -1 for none).
    struct Drawn {
        var time = 0.0
        var client = 0
        var kind: UInt8 = 0
        var bodyBytes: Int32 = 0
        var proxyValue = -1
    }

    /// A weighted choice among a few values, as `pick` makes it (the same draws, the same
    /// comparisons in the same order), with up to four entries held inline.
    struct SmallMix {
        let count: Int
        let total: Double
        let v0: UInt8, v1: UInt8, v2: UInt8, v3: UInt8
        let c0: Double, c1: Double, c2: Double
        let values: [UInt8], cumulative: [Double]

        init(values: [UInt8], cumulative: [Double]) {
            count = values.count
            total = cumulative.last ?? 0
            func value(_ i: Int) -> UInt8 { i < values.count ? values[i] : 0 }
            func bound(_ i: Int) -> Double { i < cumulative.count ? cumulative[i] : 0 }
            (v0, v1, v2, v3) = (value(0), value(1), value(2), value(3))
            (c0, c1, c2) = (bound(0), bound(1), bound(2))
            self.values = values
            self.cumulative = cumulative
        }

        @inline(__always)
        func pick(_ random: inout DeterministicRandom) -> UInt8 {
            if count == 1 { return v0 }
            let u = random.nextDouble() * total
            switch count {
            case 2: return u < c0 ? v0 : v1
            case 3: return u < c0 ? v0 : u < c1 ? v1 : v2
            case 4: return u < c0 ? v0 : u < c1 ? v1 : u < c2 ? v2 : v3
            default:
                for (i, c) in cumulative.enumerated() where u < c { return values[i] }
                return values.last ?? 0
            }
        }
    }

    /// A stream's events drawn straight into column values: what `produce` gives, from the
    /// same generators in the same order, without an `Event` or its enums in between (the
    /// streaming source's path; `produce` stays the plain statement of the rules).
    struct ColumnStream {
        var clock: ArrivalClock
        var arrivalRandom: DeterministicRandom
        var clientRandom: DeterministicRandom
        var attributeRandom: DeterministicRandom
        var proxyRandom: DeterministicRandom
        let start: Double
        let clients: ClientSampler
        let proxyValues: ClientSampler?
        let proxyShare: Double
        let endpoints: SmallMix, signatures: SmallMix, tokens: SmallMix
        /// A webhook's body: `bodyLow` plus a draw below `bodyRange`, or `bodyLow` when the
        /// range is 0 (a fixed size, no draw).
        let bodyLow: Int, bodyRange: Int
        var done = false

        init(_ s: StreamState) {
            clock = s.clock
            arrivalRandom = s.arrivalRandom
            clientRandom = s.clientRandom
            attributeRandom = s.attributeRandom
            proxyRandom = s.proxyRandom
            start = s.spec.start
            clients = s.clients
            proxyValues = s.proxyValues
            proxyShare = s.spec.proxyHeader?.share ?? 0
            endpoints = SmallMix(values: s.endpoints.map(\.rawValue), cumulative: s.endpointCumulative)
            signatures = SmallMix(values: s.signatures.map(\.rawValue), cumulative: s.signatureCumulative)
            tokens = SmallMix(values: s.tokens.map(\.rawValue), cumulative: s.tokenCumulative)
            switch s.spec.bodyBytes {
            case .fixed(let n): (bodyLow, bodyRange) = (n, 0)
            case .uniform(let lo, let hi): (bodyLow, bodyRange) = (lo, hi - lo + 1)
            }
            done = s.done
        }

        /// Draws up to `count` events into `c`; returns how many (fewer only when the stream
        /// ends). The same events as `count` calls of `produce`, drawn a column at a time: each
        /// generator serves one purpose, so its draws stay in order whatever the columns'
        /// order, and short loops of one kind of work let the processor overlap the events.
        mutating func next(_ count: Int, into c: Columns) -> Int {
            guard !done else { return 0 }
            let n = clock.next(count, into: c.relative, &arrivalRandom)
            if n < count { done = true }
            for i in 0..<n { c.times[i] = ProfileGenerator.quantize(start + c.relative[i]) }
            // Each loop draws from a local copy of its generator (kept in registers: a store
            // through the columns could otherwise alias it, so it would go through memory).
            var random = clientRandom
            switch clients.draw {
            case .one:
                for i in 0..<n { c.clients[i] = 0 }
            case .uniform(let size):
                for i in 0..<n { c.clients[i] = random.nextInt(below: size) }
            case .zipf, .rotating:
                let clients = clients
                for i in 0..<n { c.clients[i] = clients.sample(at: c.relative[i], &random) }
            }
            clientRandom = random
            random = attributeRandom
            let endpoints = endpoints, signatures = signatures, tokens = tokens
            let bodyLow = bodyLow, bodyRange = bodyRange
            // Without a table the kinds column stands in (a stride of 0), so the loop has no
            // branch for it.
            let table = c.prefetch.map { UnsafeRawPointer($0) } ?? UnsafeRawPointer(c.kinds)
            let stride = c.prefetch == nil ? 0 : MemoryLayout<Int32>.stride
            for i in 0..<n {
                // Asked for here, a batch ahead of the look-up, so the table's cache misses
                // overlap the draws (a plain read would wait for its line).
                mcsec_prefetch(table + stride &* c.clients[i])
                let endpoint = endpoints.pick(&random)
                let signature: UInt8
                var bodyBytes = 0
                if endpoint == Endpoint.webhook.rawValue {
                    signature = signatures.pick(&random)
                    bodyBytes = bodyRange == 0 ? bodyLow : bodyLow + random.nextInt(below: bodyRange)
                } else {
                    signature = tokens.pick(&random)
                }
                c.kinds[i] = endpoint | signature << 1
                c.bodyBytes[i] = Int32(clamping: bodyBytes)
            }
            attributeRandom = random
            if let values = proxyValues {
                random = proxyRandom
                let share = proxyShare
                for i in 0..<n {
                    c.proxyValues[i] = -1
                    if share >= 1 || random.nextDouble() < share {
                        c.proxyValues[i] = values.sample(at: c.relative[i], &random)
                    }
                }
                proxyRandom = random
            } else {
                for i in 0..<n { c.proxyValues[i] = -1 }
            }
            return n
        }
    }

    /// Column buffers for a batch of drawn events (`relative`: times from the stream start).
    struct Columns {
        let relative: UnsafeMutablePointer<Double>
        let times: UnsafeMutablePointer<Double>
        let clients: UnsafeMutablePointer<Int>
        let kinds: UnsafeMutablePointer<UInt8>
        let bodyBytes: UnsafeMutablePointer<Int32>
        /// -1: no proxy header.
        let proxyValues: UnsafeMutablePointer<Int>
        /// A table the clients will be looked up in, whose entries are asked for as the
        /// clients are drawn (nil: none).
        var prefetch: UnsafeMutablePointer<Int32>? = nil
    }

    /// `ProfileRules.quantize` with the rounding done without a library call. For 0 < y < 2⁵²,
    /// (y + 2⁵²) − 2⁵² is y rounded to the nearest integer, ties to even (the sum's unit in the
    /// last place is 1; the difference is exact), and y minus that is exact (Sterbenz), so the
    /// one case where it differs from `rounded()` (half away from zero), a tie rounded down, is
    /// the difference being exactly ½. Other values take `rounded()` itself.
    @inline(__always)
    static func quantize(_ seconds: Double) -> Double {
        let y = seconds * 1e6
        guard y > 0, y < 0x1p52 else { return y.rounded() / 1e6 }
        let nearestEven = (y + 0x1p52) - 0x1p52
        return (y - nearestEven == 0.5 ? nearestEven + 1 : nearestEven) / 1e6
    }
}

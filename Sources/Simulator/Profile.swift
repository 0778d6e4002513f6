import Reference
import Wire

// Rule: a load profile is a list of events in non-decreasing time order. Each event has a time
// offset in seconds from the start (microsecond resolution), the client address the request
// comes from, the endpoint, the body size, a signature mode and optionally one proxy header the
// client sets. Events out of time order are an error naming the line (a profile is a schedule;
// silently re-sorting it would hide a mistake in whatever produced it).

/// The endpoints a profile exercises; each has its own limiter namespace.
public enum Endpoint: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// `POST /api/v1/boards/{board}/webhooks/{webhook}`, limited by `webhook_ingest`.
    case webhook = 0
    /// `GET /api/v1/agent/healthz` with an agent token, limited by `agent_auth`.
    case agentAuth = 1

    /// The name used in profile files.
    public var name: String { self == .webhook ? "webhook" : "agent_auth" }
    public var description: String { name }

    public init?(name: String) {
        switch name {
        case "webhook": self = .webhook
        case "agent_auth": self = .agentAuth
        default: return nil
        }
    }
}

/// What an event presents as its credential.
///
/// For a webhook event, the signature: `valid`, `missing` or `invalid` target the signed webhook
/// (one with a secret); `none` targets the open webhook, whose signature is not checked. For an
/// agent-auth event, the agent token: `valid` (a known token), `invalid` (an unknown token),
/// `missing` (no token); `none` is not allowed there, since agent authentication always needs a
/// token.
public enum SignatureMode: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case valid = 0
    case missing = 1
    case invalid = 2
    case none = 3

    public var name: String {
        switch self {
        case .valid: return "valid"
        case .missing: return "missing"
        case .invalid: return "invalid"
        case .none: return "none"
        }
    }
    public var description: String { name }

    public init?(name: String) {
        switch name {
        case "valid": self = .valid
        case "missing": self = .missing
        case "invalid": self = .invalid
        case "none": self = .none
        default: return nil
        }
    }
}

/// A proxy header a client sets itself (for example a spoofed `X-Forwarded-For`).
public struct ProxyHeader: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// One event of a profile.
public struct ProfileEvent: Sendable, Equatable {
    /// Seconds since the start of the profile (microsecond resolution).
    public var time: Double
    public var client: String
    public var endpoint: Endpoint
    public var bodyBytes: Int
    public var signature: SignatureMode
    public var proxyHeader: ProxyHeader?

    public init(time: Double, client: String, endpoint: Endpoint, bodyBytes: Int = 0,
                signature: SignatureMode = .valid, proxyHeader: ProxyHeader? = nil) {
        self.time = time
        self.client = client
        self.endpoint = endpoint
        self.bodyBytes = bodyBytes
        self.signature = signature
        self.proxyHeader = proxyHeader
    }
}

/// Why an event is not acceptable, independent of where it was read from (the readers add the
/// line and column).
public struct EventProblem: Error, Sendable, Equatable {
    /// The field at fault (`t`, `client`, …).
    public var field: String
    public var message: String
}

/// The limits and checks every event passes, wherever it comes from (a file or the generator).
public enum ProfileRules {
    /// Latest accepted time offset: about 31 years, far beyond any profile, small enough that
    /// microseconds stay exact in a Double.
    public static let maximumTime = 1e9
    /// Largest body size an event may declare.
    public static let maximumBodyBytes = Int(Int32.max)
    /// Longest proxy header value.
    public static let maximumHeaderValueLength = 1024

    /// A time offset rounded to whole microseconds: the resolution of profile files, so that an
    /// event read back from a file equals the event written.
    @inlinable
    public static func quantize(_ seconds: Double) -> Double {
        (seconds * 1e6).rounded() / 1e6
    }

    /// Whole microseconds of a quantized time.
    @inlinable
    public static func microseconds(_ seconds: Double) -> Int64 {
        Int64((seconds * 1e6).rounded())
    }

    public static func checkClient(_ client: String) -> EventProblem? {
        guard !client.utf8.contains(UInt8(ascii: "%")), IPAddress(client) != nil else {
            return EventProblem(field: "client", message: "expected an IPv4 or IPv6 address like 10.0.0.7, got \(quoted(client))")
        }
        return nil
    }

    public static func checkBodyBytes(_ bytes: Int) -> EventProblem? {
        guard bytes >= 0 && bytes <= maximumBodyBytes else {
            return EventProblem(field: "body_bytes", message: "expected a whole number of bytes from 0 to \(maximumBodyBytes), got \(bytes)")
        }
        return nil
    }

    public static func checkTime(_ time: Double, previous: Double?) -> EventProblem? {
        guard time.isFinite, time >= 0, time <= maximumTime else {
            return EventProblem(field: "t", message: "expected seconds from 0 to \(Int(maximumTime)), got \(time)")
        }
        if let previous, time < previous {
            return EventProblem(field: "t", message: "events must be in time order: \(formatTime(time)) comes after \(formatTime(previous)) (sort the profile by t)")
        }
        return nil
    }

    public static func checkSignature(_ signature: SignatureMode, endpoint: Endpoint) -> EventProblem? {
        if endpoint == .agentAuth && signature == .none {
            return EventProblem(field: "signature", message: "agent_auth events always present a token: use valid, invalid or missing (none is for webhooks without a secret)")
        }
        return nil
    }

    public static func checkProxyHeader(_ header: ProxyHeader) -> EventProblem? {
        let name = header.name.utf8
        guard !name.isEmpty, name.count <= 256, name.allSatisfy(HTTPGrammar.isTokenByte) else {
            return EventProblem(field: "proxy_header.name", message: "expected a header name (letters, digits and !#$%&'*+-.^_`|~), got \(quoted(header.name))")
        }
        let value = header.value.utf8
        guard value.count <= maximumHeaderValueLength, value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            return EventProblem(field: "proxy_header.value", message: "expected a header value of at most \(maximumHeaderValueLength) bytes without control characters")
        }
        return nil
    }

    /// All checks of one event; `previous` is the time of the event before it.
    public static func check(_ event: ProfileEvent, previous: Double?) -> EventProblem? {
        checkTime(event.time, previous: previous)
            ?? checkClient(event.client)
            ?? checkBodyBytes(event.bodyBytes)
            ?? checkSignature(event.signature, endpoint: event.endpoint)
            ?? event.proxyHeader.flatMap(checkProxyHeader)
    }


    /// A time offset as profile files write it: seconds with exactly six decimals.
    public static func formatTime(_ seconds: Double) -> String {
        var out: [UInt8] = []
        appendTime(seconds, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `seconds` with six decimals (from whole microseconds, so the text is exact and the
    /// same on every machine).
    public static func appendTime(_ seconds: Double, to out: inout [UInt8]) {
        var micros = microseconds(seconds)
        if micros < 0 { out.append(UInt8(ascii: "-")); micros = 0 &- micros }
        appendInteger(micros / 1_000_000, to: &out)
        out.append(UInt8(ascii: "."))
        var fraction = micros % 1_000_000
        var digits = [UInt8](repeating: 48, count: 6)
        var i = 5
        while i >= 0 { digits[i] = UInt8(48 + fraction % 10); fraction /= 10; i -= 1 }
        out.append(contentsOf: digits)
    }

    /// Appends a decimal integer without going through String.
    public static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        if magnitude == 0 { out.append(48); return }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            while magnitude > 0 {
                buffer[count] = UInt8(48 + magnitude % 10)
                magnitude /= 10
                count += 1
            }
            while count > 0 {
                count -= 1
                out.append(buffer[count])
            }
        }
    }

    static func quoted(_ text: String) -> String {
        var shown = String(text.unicodeScalars.prefix(80).map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
        if text.unicodeScalars.count > 80 { shown += "…" }
        return "\"" + shown + "\""
    }
}

/// A profile in memory, as a structure of arrays: 21 bytes per event (time, client id, kind,
/// body size, proxy header id) plus one entry per distinct client and proxy header. Ten million
/// events take about 210 MB.
public struct Profile: Sendable {
    /// Seconds since the start, non-decreasing, whole microseconds.
    public private(set) var times: [Double] = []
    /// Index into `clients`.
    public private(set) var clientIDs: [Int32] = []
    /// Endpoint in bit 0, signature mode in bits 1–2.
    public private(set) var kinds: [UInt8] = []
    public private(set) var bodyBytes: [Int32] = []
    /// Index into `proxyHeaders`, -1 for none; empty while no event has a proxy header.
    public private(set) var proxyIDs: [Int32] = []
    /// Distinct client addresses, in order of first appearance.
    public private(set) var clients: [String] = []
    public private(set) var proxyHeaders: [ProxyHeader] = []
    private var clientIndex = ByteKeyTable()
    private var proxyIndex: [ProxyHeader: Int32] = [:]

    public init() {}

    /// Builds a profile from events, checking each; a problem is reported as an `InputError`
    /// whose line is the event's position (1-based) in `events`.
    public init(events: [ProfileEvent]) throws(InputError) {
        reserveCapacity(events.count)
        for (i, event) in events.enumerated() {
            if let problem = ProfileRules.check(event, previous: times.last) {
                throw InputError(file: "events", line: i + 1, column: nil, path: problem.field, message: problem.message)
            }
            append(event)
        }
    }

    public var count: Int { times.count }
    public var isEmpty: Bool { times.isEmpty }

    /// Time of the last event (0 for an empty profile).
    public var duration: Double { times.last ?? 0 }

    public mutating func reserveCapacity(_ n: Int) {
        times.reserveCapacity(n)
        clientIDs.reserveCapacity(n)
        kinds.reserveCapacity(n)
        bodyBytes.reserveCapacity(n)
    }

    @inlinable
    public static func kind(_ endpoint: Endpoint, _ signature: SignatureMode) -> UInt8 {
        endpoint.rawValue | signature.rawValue << 1
    }

    /// The endpoint a kind (`kind(_:_:)`) names.
    @inlinable
    public static func endpoint(kind: UInt8) -> Endpoint { kind & 1 == 0 ? .webhook : .agentAuth }

    /// The signature mode a kind names.
    @inlinable
    public static func signature(kind: UInt8) -> SignatureMode { SignatureMode(rawValue: (kind >> 1) & 3) ?? .none }

    @inlinable
    public func endpoint(at i: Int) -> Endpoint { Profile.endpoint(kind: kinds[i]) }

    @inlinable
    public func signature(at i: Int) -> SignatureMode { Profile.signature(kind: kinds[i]) }

    public func proxyHeader(at i: Int) -> ProxyHeader? {
        guard !proxyIDs.isEmpty else { return nil }
        let id = Int(proxyIDs[i])
        return id < 0 ? nil : proxyHeaders[id]
    }

    public subscript(i: Int) -> ProfileEvent {
        ProfileEvent(time: times[i], client: clients[Int(clientIDs[i])], endpoint: endpoint(at: i),
                     bodyBytes: Int(bodyBytes[i]), signature: signature(at: i), proxyHeader: proxyHeader(at: i))
    }

    /// The id of `client` when the profile already has it.
    public func existingClientID(_ client: String) -> Int32? { clientIndex.find(client) }

    /// The id of the client whose address is `bytes`, when the profile already has it.
    func existingClientID(bytes: UnsafeBufferPointer<UInt8>) -> Int32? { clientIndex.find(bytes) }

    /// The id of `header` when the profile already has it.
    public func existingProxyID(_ header: ProxyHeader) -> Int32? { proxyIndex[header] }

    /// The id of `client`, adding it when new.
    public mutating func clientID(_ client: String) -> Int32 {
        if let id = clientIndex.find(client) { return id }
        clients.append(client)
        return clientIndex.insert(client)
    }

    /// The id of `header`, adding it when new.
    public mutating func proxyID(_ header: ProxyHeader) -> Int32 {
        if let id = proxyIndex[header] { return id }
        let id = Int32(truncatingIfNeeded: proxyHeaders.count)
        proxyHeaders.append(header)
        proxyIndex[header] = id
        return id
    }

    /// Appends an event whose fields have been checked (`ProfileRules.check`).
    public mutating func append(_ event: ProfileEvent) {
        let client = clientID(event.client)
        let proxy = event.proxyHeader.map { proxyID($0) } ?? -1
        append(time: event.time, clientID: client, endpoint: event.endpoint, signature: event.signature,
               bodyBytes: event.bodyBytes, proxyID: proxy)
    }

    /// The id of the client whose address is `bytes`, adding it (after `check` accepts the
    /// address) when new.
    mutating func clientID(bytes: UnsafeBufferPointer<UInt8>, check: (String) -> EventProblem?) throws(EventProblem) -> Int32 {
        if let id = clientIndex.find(bytes) { return id }
        let text = String(decoding: bytes, as: UTF8.self)
        if let problem = check(text) { throw problem }
        clients.append(text)
        return clientIndex.insert(bytes)
    }

    /// Appends an event by ids (the generator's path: no string per event).
    @inlinable
    public mutating func append(time: Double, clientID: Int32, endpoint: Endpoint, signature: SignatureMode,
                                bodyBytes: Int, proxyID: Int32 = -1) {
        appendRaw(time: time, clientID: clientID, kind: Profile.kind(endpoint, signature),
                  bodyBytes: Int32(clamping: bodyBytes), proxyID: proxyID)
    }

    @usableFromInline
    mutating func appendRaw(time: Double, clientID: Int32, kind: UInt8, bodyBytes: Int32, proxyID: Int32) {
        if proxyID >= 0 && proxyIDs.isEmpty && !times.isEmpty {
            proxyIDs = [Int32](repeating: -1, count: times.count)
        }
        times.append(time)
        clientIDs.append(clientID)
        kinds.append(kind)
        self.bodyBytes.append(bodyBytes)
        if proxyID >= 0 || !proxyIDs.isEmpty { proxyIDs.append(proxyID) }
    }

    /// Appends events given as columns of equal length (the generator's path: a batch at a
    /// time, so each column grows by one copy instead of one checked append per event). A -1
    /// in `proxyIDs` is no proxy header, as in `appendRaw`.
    mutating func appendColumns(times newTimes: UnsafeBufferPointer<Double>, clientIDs newClients: UnsafeBufferPointer<Int32>,
                                kinds newKinds: UnsafeBufferPointer<UInt8>, bodyBytes newBodies: UnsafeBufferPointer<Int32>,
                                proxyIDs newProxies: UnsafeBufferPointer<Int32>, anyProxy: Bool) {
        if anyProxy && proxyIDs.isEmpty && !times.isEmpty {
            proxyIDs = [Int32](repeating: -1, count: times.count)
        }
        let withProxy = anyProxy || !proxyIDs.isEmpty
        times.append(contentsOf: newTimes)
        clientIDs.append(contentsOf: newClients)
        kinds.append(contentsOf: newKinds)
        bodyBytes.append(contentsOf: newBodies)
        if withProxy { proxyIDs.append(contentsOf: newProxies) }
    }

    /// Drops every event but keeps the clients, proxy headers and their ids (and the arrays'
    /// capacity): a chunk of a stream is refilled this way, so ids stay valid across chunks.
    public mutating func removeAllEvents() {
        times.removeAll(keepingCapacity: true)
        clientIDs.removeAll(keepingCapacity: true)
        kinds.removeAll(keepingCapacity: true)
        bodyBytes.removeAll(keepingCapacity: true)
        proxyIDs.removeAll(keepingCapacity: true)
    }

    /// A copy with the events' times replaced (same length, non-decreasing) — used to predict a
    /// run at the times requests were actually sent.
    public func retimed(_ newTimes: [Double]) -> Profile {
        var copy = self
        copy.times = newTimes
        return copy
    }

    /// A copy with the events reordered by `order` (indices into this profile), e.g. by actual
    /// send time.
    public func reordered(_ order: [Int], times newTimes: [Double]) -> Profile {
        var copy = Profile()
        copy.clients = clients
        copy.clientIndex = clientIndex
        copy.proxyHeaders = proxyHeaders
        copy.proxyIndex = proxyIndex
        copy.reserveCapacity(order.count)
        for (k, i) in order.enumerated() {
            copy.appendRaw(time: newTimes[k], clientID: clientIDs[i], kind: kinds[i], bodyBytes: bodyBytes[i],
                           proxyID: proxyIDs.isEmpty ? -1 : proxyIDs[i])
        }
        return copy
    }

    /// A copy with client `i` renamed to `names[i]` (a one-to-one mapping), e.g. onto
    /// loopback source addresses for a replay.
    public func renamingClients(to names: [String]) -> Profile {
        var copy = self
        copy.clients = names
        // Ids stay those of the original clients (every name is entered, in order, so a name
        // given twice is found under its first id).
        copy.clientIndex = ByteKeyTable()
        for c in names { _ = copy.clientIndex.insert(c) }
        return copy
    }
}

import Foundation
import Reference
import TargetFiles
import Wire

// Rule: how a profile event becomes an HTTP request against a target.
//
// - A webhook event is `POST <base>/api/v1/boards/{board}/webhooks/{webhook}` with a JSON body
//   of exactly `body_bytes` bytes. Signature `none` targets the open webhook (no secret); valid,
//   missing and invalid target the signed webhook: valid carries `sha256=<hex HMAC-SHA256 of the
//   body with the webhook's secret>` in its signature header, invalid the HMAC under a wrong key,
//   missing no signature header.
// - An agent-auth event is `GET <base>/api/v1/agent/healthz` (or the target's agent endpoint)
//   with `X-Agent-Token`: the agent's token (valid), a token no agent has (invalid), or no
//   header (missing).
// - The event's proxy header, if any, is sent as given. Every request carries
//   `X-Request-Id: mcsec-event-<event index>` so it can be found in the server's logs.
// Bodies depend only on the event's index and size, so the same event is the same bytes every
// time (and its signature too).

/// What a replay needs to know about the server: where it is, which board and webhooks to post
/// to (with the signed webhook's secret), an agent token, and the configuration it declares.
/// Built from a target file (`Fixtures/targets/`, the format `mcsec check` reads) or, by
/// default, from the reference's seeded world.
public struct ReplayTarget: Sendable, Equatable {
    /// `http://host:port` (a path prefix is allowed).
    public var baseURL: String
    public var boardID: String?
    /// A webhook without a secret (events with signature `none`).
    public var openWebhookID: String?
    /// A webhook with a secret and the default signature headers (valid, missing, invalid).
    public var signedWebhookID: String?
    public var signedSecret: String?
    public var signatureHeader = "X-Hub-Signature-256"
    /// A valid agent token (agent-auth events).
    public var agentToken: String?
    public var agentPath = "/api/v1/agent/healthz"
    /// The deployment the target file declares: workers, backend, payload limit, trusted proxies.
    public var declaredWorkers = 1
    public var declaredBackend: Deployment.Backend = .memory
    public var declaredMaxPayloadBytes = Configuration.defaultMaxPayloadBytes
    public var declaredTrustedProxies = TrustedProxies.none

    public init(baseURL: String) {
        self.baseURL = baseURL
    }

    /// The target a target file describes; `baseURL` overrides the file's.
    public init(targetFile t: TargetFile, baseURL: String?) throws(TargetError) {
        guard let url = baseURL ?? t.baseURL else {
            throw TargetError("no target URL: give --target URL or put \"baseURL\" in the target file")
        }
        self.init(baseURL: url)
        boardID = t.boards["own"]
        openWebhookID = t.webhooks["open"]?.id
        if let signed = t.webhooks["signed"] {
            signedWebhookID = signed.id
            signedSecret = signed.secret
            if let header = signed.header { signatureHeader = header }
        }
        agentToken = t.agentTokens["board"] ?? t.agentTokens["main"]
        if let endpoint = t.agentEndpoint { agentPath = endpoint }
        declaredWorkers = t.workers
        let declared = DeclaredConfiguration(environment: t.config)
        if let problem = declared.problem { throw TargetError(problem) }
        declaredMaxPayloadBytes = declared.payloadLimit
        switch declared.backend {
        case "memory": declaredBackend = .memory
        case "redis": declaredBackend = .redis
        default: throw TargetError("RATE_LIMIT_BACKEND must be memory or redis, found \"\(declared.backend)\"")
        }
        do {
            declaredTrustedProxies = try TrustedProxies.parse(declared.trustedProxies)
        } catch {
            throw TargetError("TRUSTED_PROXIES: '\(error.entry)' is not an IP address or CIDR block")
        }
    }

    /// The reference's seeded world as a target at `baseURL` (what `mcsec serve` serves).
    public static func reference(baseURL: String) throws -> ReplayTarget {
        try ReplayTarget(targetFile: try World.bundled().targetFile, baseURL: baseURL)
    }

    /// Loads `targetFile` (or the reference world when nil) with `baseURL` overriding its URL.
    public static func load(targetFile: String?, baseURL: String?) throws -> ReplayTarget {
        guard let targetFile else { return try reference(baseURL: baseURL ?? "http://127.0.0.1:8000") }
        return try ReplayTarget(targetFile: try TargetFile.load(from: URL(fileURLWithPath: targetFile)), baseURL: baseURL)
    }

    /// Checks that the target provides what `profile`'s events need.
    public func check(for profile: Profile) throws(TargetError) {
        try check(kinds: profile.kinds)
    }

    /// As `check(for:)`, for events of these kinds (`Profile.kind`).
    public func check<Kinds: Sequence<UInt8>>(kinds: Kinds) throws(TargetError) {
        var needs = Set<String>()
        for kind in kinds {
            if kind & 1 == 1 { needs.insert("agent") } else if (kind >> 1) & 3 == SignatureMode.none.rawValue { needs.insert("open") } else { needs.insert("signed") }
            if needs.count == 3 { break }
        }
        if !needs.isEmpty && boardID == nil && (needs.contains("open") || needs.contains("signed")) {
            throw TargetError("the target file lacks boards.own (where webhook events are posted)")
        }
        if needs.contains("open") && openWebhookID == nil {
            throw TargetError("the target file lacks webhooks.open (events with signature none go to a webhook without a secret)")
        }
        if needs.contains("signed") && (signedWebhookID == nil || signedSecret == nil) {
            throw TargetError("the target file lacks webhooks.signed with its secret (events with signature valid, missing or invalid go there)")
        }
        if needs.contains("agent") && agentToken == nil {
            throw TargetError("the target file lacks an agent token (agents.board or agents.main) for agent_auth events")
        }
    }

    /// Splits `baseURL` into scheme, host, port and path prefix.
    public func endpoint() throws(TargetError) -> (scheme: String, host: String, port: Int, prefix: String) {
        guard let components = URLComponents(string: baseURL), let scheme = components.scheme?.lowercased(),
              let host = components.host, !host.isEmpty else {
            throw TargetError("'\(baseURL)' is not a URL like http://127.0.0.1:8000")
        }
        guard scheme == "http" || scheme == "https" else { throw TargetError("'\(baseURL)' is not an http:// URL") }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        guard (1...65535).contains(port) else { throw TargetError("port \(port) in '\(baseURL)' is out of range") }
        var prefix = components.percentEncodedPath
        while prefix.hasSuffix("/") { prefix.removeLast() }
        return (scheme, host, port, prefix)
    }
}

/// A problem with a target or target file.
public struct TargetError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Builds the request of each event.
public struct EventRequestBuilder: Sendable {
    public let target: ReplayTarget
    /// The base URL's path prefix (empty for a server at the root).
    public let prefix: String
    let hostHeader: String?
    /// `path(endpoint:signature:)` of the open webhook, the signed webhook and the agent
    /// endpoint, made once rather than for every event.
    let openWebhookPath: String
    let signedWebhookPath: String
    let agentPath: String
    /// HMAC keyed with the signed webhook's secret and with `wrongKey`, keyed once.
    let signedMAC: HMACSHA256
    let wrongMAC: HMACSHA256
    /// A key no webhook has: signs the "invalid" events.
    static let wrongKey = Array("mcsec-not-the-webhook-secret".utf8)
    /// A token no agent has.
    public static let invalidToken = "mcsec-invalid-agent-token-000000"

    public init(target: ReplayTarget) throws(TargetError) {
        self.target = target
        let e = try target.endpoint()
        prefix = e.prefix
        let defaultPort = e.scheme == "https" ? 443 : 80
        hostHeader = e.port == defaultPort ? e.host : "\(e.host):\(e.port)"
        openWebhookPath = Self.path(target, prefix, endpoint: .webhook, signature: .none, index: nil)
        signedWebhookPath = Self.path(target, prefix, endpoint: .webhook, signature: .valid, index: nil)
        agentPath = Self.path(target, prefix, endpoint: .agentAuth, signature: .valid, index: nil)
        signedMAC = HMACSHA256(key: Array((target.signedSecret ?? "").utf8))
        wrongMAC = HMACSHA256(key: EventRequestBuilder.wrongKey)
    }

    /// The path (and query) of an event's request.
    public func path(endpoint: Endpoint, signature: SignatureMode, index: Int? = nil) -> String {
        Self.path(target, prefix, endpoint: endpoint, signature: signature, index: index)
    }

    static func path(_ target: ReplayTarget, _ prefix: String, endpoint: Endpoint, signature: SignatureMode, index: Int?) -> String {
        var path: String
        switch endpoint {
        case .webhook:
            let hook = (signature == .none ? target.openWebhookID : target.signedWebhookID) ?? ""
            path = "\(prefix)/api/v1/boards/\(target.boardID ?? "")/webhooks/\(hook)"
        case .agentAuth:
            path = prefix + target.agentPath
        }
        if let index { path += (path.contains("?") ? "&" : "?") + "mcsec_event=\(index)" }
        return path
    }

    /// A body of exactly `size` bytes: `{"mcsec_event":N}` padded with spaces (still JSON), or
    /// `x` bytes when the size is too small for that.
    public static func body(size: Int, index: Int) -> [UInt8] {
        guard size > 0 else { return [] }
        let number = String(index)
        let jsonCount = 16 + number.utf8.count
        if jsonCount > size { return [UInt8](repeating: UInt8(ascii: "x"), count: size) }
        // Spaces first (one fill), then the object over the start: appending the padding
        // element by element costs a generic call per byte in a debug build.
        var json = [UInt8](repeating: 32, count: size)
        var k = 0
        for byte in #"{"mcsec_event":"#.utf8 { json[k] = byte; k += 1 }
        for byte in number.utf8 { json[k] = byte; k += 1 }
        json[k] = UInt8(ascii: "}")
        return json
    }

    /// The headers and body of an event (without Host and framing headers).
    public func headersAndBody(endpoint: Endpoint, signature: SignatureMode, bodyBytes: Int, proxy: ProxyHeader?,
                               index: Int) -> (HTTPFields, [UInt8]) {
        var headers = HTTPFields()
        // Room for the most a request carries (request id, type, signature, proxy, host, and the
        // connection header a replay adds), so the list is allocated once.
        headers.reserveCapacity(6)
        headers.append("X-Request-Id", "mcsec-event-" + String(index))
        let body = EventRequestBuilder.body(size: bodyBytes, index: index)
        switch endpoint {
        case .webhook:
            headers.append("Content-Type", "application/json")
            switch signature {
            case .valid, .invalid:
                // The secret's MAC for a valid signature, the wrong key's for an invalid one.
                var mac = signature == .valid ? signedMAC : wrongMAC
                mac.update(body)
                headers.append(target.signatureHeader, "sha256=" + Hex.encode(mac.finalize()))
            case .missing, .none:
                break
            }
        case .agentAuth:
            switch signature {
            case .valid: headers.append("X-Agent-Token", target.agentToken ?? "")
            case .invalid: headers.append("X-Agent-Token", EventRequestBuilder.invalidToken)
            case .missing, .none: break
            }
        }
        if let proxy { headers.append(proxy.name, proxy.value) }
        return (headers, body)
    }

    /// The bytes a replay sends for event `i`: `request(profile, i)` with `Connection:
    /// keep-alive` set, as `HTTPRequest.encoded()` writes it, but written straight into one
    /// buffer (no header list, no intermediate Strings): a replay makes one per event.
    public func keepAliveRequestBytes(_ profile: Profile, _ i: Int) -> [UInt8] {
        keepAliveRequestBytes(kind: profile.kinds[i], bodyBytes: Int(profile.bodyBytes[i]), proxy: profile.proxyHeader(at: i), index: i)
    }

    /// As `keepAliveRequestBytes(_:_:)`, for the event `request(kind:bodyBytes:proxy:index:)` makes.
    public func keepAliveRequestBytes(kind: UInt8, bodyBytes: Int, proxy: ProxyHeader?, index i: Int) -> [UInt8] {
        let endpoint = Profile.endpoint(kind: kind), signature = Profile.signature(kind: kind)
        if let proxy, HTTPFields.equalNames(proxy.name, "Connection") || HTTPFields.equalNames(proxy.name, "Content-Length") {
            // A proxy header of a name the encoding itself decides on: the general path.
            var request = request(kind: kind, bodyBytes: bodyBytes, proxy: proxy, index: i)
            request.headers.set("Connection", "keep-alive")
            return request.encoded() ?? []
        }
        let body = EventRequestBuilder.body(size: bodyBytes, index: i)
        var out: [UInt8] = []
        out.reserveCapacity(body.count + 384)
        func line(_ name: String, _ value: String) {
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: value.utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        let path = endpoint == .agentAuth ? agentPath : signature == .none ? openWebhookPath : signedWebhookPath
        out.append(contentsOf: (endpoint == .webhook ? "POST " : "GET ").utf8)
        out.append(contentsOf: path.utf8)
        out.append(contentsOf: " HTTP/1.1\r\nX-Request-Id: mcsec-event-".utf8)
        out.append(contentsOf: String(i).utf8)
        out.append(contentsOf: "\r\n".utf8)
        switch endpoint {
        case .webhook:
            out.append(contentsOf: "Content-Type: application/json\r\n".utf8)
            if signature == .valid || signature == .invalid {
                var mac = signature == .valid ? signedMAC : wrongMAC
                mac.update(body)
                line(target.signatureHeader, "sha256=" + Hex.encode(mac.finalize()))
            }
        case .agentAuth:
            switch signature {
            case .valid: line("X-Agent-Token", target.agentToken ?? "")
            case .invalid: line("X-Agent-Token", EventRequestBuilder.invalidToken)
            case .missing, .none: break
            }
        }
        if let proxy { line(proxy.name, proxy.value) }
        if let hostHeader { line("Host", hostHeader) }
        out.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        if endpoint == .webhook || !body.isEmpty {
            out.append(contentsOf: "Content-Length: ".utf8)
            out.append(contentsOf: String(body.count).utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: "\r\n".utf8)
        out.append(contentsOf: body)
        return out
    }

    /// The full request of event `i` of `profile`.
    public func request(_ profile: Profile, _ i: Int) -> HTTPRequest {
        request(kind: profile.kinds[i], bodyBytes: Int(profile.bodyBytes[i]), proxy: profile.proxyHeader(at: i), index: i)
    }

    /// The full request of event number `index`, of `kind` (`Profile.kind`: endpoint and
    /// signature), with a body of `bodyBytes` and the proxy header, if any.
    public func request(kind: UInt8, bodyBytes: Int, proxy: ProxyHeader?, index: Int) -> HTTPRequest {
        let endpoint = Profile.endpoint(kind: kind), signature = Profile.signature(kind: kind)
        var (headers, body) = headersAndBody(endpoint: endpoint, signature: signature, bodyBytes: bodyBytes, proxy: proxy, index: index)
        if let hostHeader { headers.append("Host", hostHeader) }
        let path = endpoint == .agentAuth ? agentPath : signature == .none ? openWebhookPath : signedWebhookPath
        return HTTPRequest(method: endpoint == .webhook ? "POST" : "GET", target: path, headers: headers, body: .bytes(body))
    }
}

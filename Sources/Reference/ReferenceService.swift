import Foundation
import Spec
import Synchronization
import Wire

/// The reference service: every documented rule composed into one request → response function
/// over a seeded world. It is the oracle: what it answers is what a conforming server answers.
///
/// Routes (the real service's paths):
/// - `GET /healthz`, `GET /readyz` → 200 `{"ok":true}`
/// - `POST /api/v1/boards/{board_id}/webhooks/{webhook_id}`: webhook ingest (see `WebhookIngest`)
/// - `GET /api/v1/boards/{board_id}/webhooks/{webhook_id}/payloads`: what ingest stored (user
///   auth, member of the board's organization)
/// - `GET /api/v1/boards/{board_id}/memory`: the board memory entries (a user as above, or an
///   agent that may see the board: agent authentication is optional here)
/// - `GET /api/v1/agent/healthz`, `GET /api/v1/agent/boards`: agent auth (see `AgentAuthentication`, `Tenancy`)
/// - `GET /api/v1/gateways`, `GET /api/v1/gateways/{id}`: user auth, token exposure per `GatewayTokenExposure`
/// - `POST /api/v1/gateways/sessions/{session_id}/message?board_id=…`: user auth, organization admin
/// - `GET /__mcsec/fault` (only with `testRoutes`): a 500 through the normal error path
///
/// Every response, errors and 5xx included, carries `X-Request-Id` and the security headers;
/// errors are `{"detail": …, "request_id": …}`. Safe to call from many threads at once.
public final class ReferenceService: HTTPHandler, Sendable {
    public let configuration: Configuration
    /// The world as served, with agent and user tokens removed (only their hashes are kept).
    public let world: World
    public let time: any TimeSource
    public let log: ServiceLog
    public let mutations: ReferenceMutations
    public let store: any RateLimitStore
    let webhookLimiter: RateLimiter
    let agentLimiter: RateLimiter
    /// The security headers as sent: the configuration's, unless a mutation changes them.
    let securityHeaders: SecurityHeaders
    /// `securityHeaders.fields`.
    let securityFields: [HTTPField]

    let agentsByTokenHash: [String: World.Agent]
    let usersByTokenHash: [String: World.User]
    let boardsByID: [String: World.Board]
    let gatewaysByID: [String: World.Gateway]

    let records = Mutex(Records())
    let requestIDs: RequestIDGenerator
    let healthHeaders: HTTPFields
    static let healthBody: [UInt8] = Array(#"{"ok":true}"#.utf8)

    /// - Parameters:
    ///   - store: where limiter state lives; nil creates a new in-process `MemoryRateLimitStore`.
    ///   - mutations: deliberate faults (empty for the real reference).
    public init(configuration: Configuration, world: World, time: any TimeSource = SystemTimeSource(),
                store: (any RateLimitStore)? = nil, log: ServiceLog = ServiceLog(), mutations: ReferenceMutations = []) {
        self.configuration = configuration
        self.time = time
        self.log = log
        self.mutations = mutations
        let store = store ?? MemoryRateLimitStore(recordsRefusedAttempts: !mutations.contains(.blockedAttemptsNotRecorded))
        self.store = store
        let extra = mutations.contains(.limitOffByOne) ? 1 : 0
        var webhookPolicy = RateLimitPolicy.webhookIngest
        webhookPolicy.maxRequests += extra
        var agentPolicy = RateLimitPolicy.agentAuth
        agentPolicy.maxRequests += extra
        let failClosed = mutations.contains(.limiterFailsClosed)
        webhookLimiter = RateLimiter(policy: webhookPolicy, store: store, log: log, failClosed: failClosed)
        agentLimiter = RateLimiter(policy: agentPolicy, store: store, log: log, failClosed: failClosed)
        securityHeaders = ReferenceService.securityHeaders(configuration.securityHeaders, mutations: mutations)
        securityFields = securityHeaders.fields

        // Tokens are hashed here and the raw values dropped: nothing the service keeps, logs or
        // returns can reveal an agent's or a user's token.
        var agents: [String: World.Agent] = [:]
        var servedWorld = world
        for (i, agent) in world.agents.enumerated() {
            var kept = agent
            if let hash = agent.token.map(TokenRedaction.hash) ?? agent.tokenHash?.lowercased() { kept.tokenHash = hash }
            kept.token = nil
            if let hash = kept.tokenHash { agents[hash] = kept }
            servedWorld.agents[i] = kept
        }
        var users: [String: World.User] = [:]
        for (i, user) in world.users.enumerated() {
            var kept = user
            if let hash = user.token.map(TokenRedaction.hash) ?? user.tokenHash?.lowercased() { kept.tokenHash = hash }
            kept.token = nil
            if let hash = kept.tokenHash { users[hash] = kept }
            servedWorld.users[i] = kept
        }
        self.world = servedWorld
        agentsByTokenHash = agents
        usersByTokenHash = users
        boardsByID = Dictionary(world.boards.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        records.withLock { records in
            for webhook in world.webhooks where records.webhooks[webhook.id] == nil {
                records.webhooks[webhook.id] = webhook
                records.webhookOrder.append(webhook.id)
            }
        }
        gatewaysByID = Dictionary(world.gateways.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })

        requestIDs = RequestIDGenerator()
        var health = HTTPFields()
        health.append("Content-Type", "application/json")
        for field in securityHeaders.fields { health.append(field.name, field.value) }
        healthHeaders = health
    }

    // MARK: handling

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        let requestID = mutations.contains(.requestIDNotEchoed) ? requestIDs.generate() : requestIDs.id(for: request.headers["X-Request-Id"])
        // The health checks are what load balancers and the HTTP benchmark hit: answered from
        // precomputed bytes.
        if request.method == "GET" && (request.target == "/healthz" || request.target == "/readyz") {
            var headers = healthHeaders
            headers.append("X-Request-Id", requestID)
            return HTTPResponse(status: 200, headers: headers, body: ReferenceService.healthBody)
        }
        var response: HTTPResponse
        do {
            response = try route(request, requestID: requestID)
        } catch {
            log.write("request.error request_id=\(ServiceLog.field(requestID)) error=\(ServiceLog.field(String(describing: error)))")
            response = ReferenceService.error(500, "Internal Server Error", requestID: requestID)
        }
        return finish(response, requestID: requestID)
    }

    /// Errors the HTTP server answers on the service's behalf (a malformed request, a body that
    /// stalls, a head too large) are responses too: they get the error shape, a request id and
    /// the security headers like every other.
    public func handleProtocolError(status: Int, detail: String) -> HTTPResponse {
        let requestID = requestIDs.generate()
        return finish(ReferenceService.error(status, detail, requestID: requestID), requestID: requestID)
    }

    /// Adds what every response carries: the request id and (unless already present) the
    /// security headers.
    func finish(_ response: HTTPResponse, requestID: String) -> HTTPResponse {
        var response = mutatedErrors(response)
        response.headers.set("X-Request-Id", requestID)
        if !(mutations.contains(.noHeadersOn5xx) && response.status >= 500) {
            // The fields listed once at start-up.
            SecurityHeaders.apply(securityFields, to: &response)
        }
        return response
    }

    /// What a handler needs besides the request.
    struct RequestContext {
        var request: HTTPRequest
        var requestID: String
        var now: Double
    }

    /// The client address of a request under this service's proxy configuration.
    func clientAddress(_ request: HTTPRequest) -> String {
        var trustAny = mutations.contains(.trustProxyHeadersFromAnyone)
        if mutations.contains(.trustProxyHeadersFromLoopback), let peer = request.peer {
            trustAny = trustAny || peer == "127.0.0.1" || peer == "::1"
        }
        if mutations.contains(.trustedProxiesIgnored) && !trustAny { return ClientAddress.canonicalPeer(request.peer) }
        var headers = request.headers
        if mutations.contains(.rightmostForwardedFor) {
            let entries = headers.values("X-Forwarded-For").flatMap { $0.split(separator: ",") }
            if let last = entries.last { headers.set("X-Forwarded-For", String(last)) }
        }
        return ClientAddress.resolve(peer: request.peer, headers: headers, trusted: configuration.trustedProxies,
                                     trustAnyPeer: trustAny)
    }

    /// The security headers a mutated service sends (the configuration's when unmutated).
    static func securityHeaders(_ configured: SecurityHeaders, mutations: ReferenceMutations) -> SecurityHeaders {
        var h = configured
        let defaults = SecurityHeaders.defaults
        if mutations.contains(.blankHeaderNotDisabling) {
            h.contentTypeOptions = h.contentTypeOptions ?? defaults.contentTypeOptions
            h.frameOptions = h.frameOptions ?? defaults.frameOptions
            h.referrerPolicy = h.referrerPolicy ?? defaults.referrerPolicy
        }
        if mutations.contains(.nosniffNotSent), h.contentTypeOptions == defaults.contentTypeOptions { h.contentTypeOptions = nil }
        if mutations.contains(.frameOptionsSameOrigin), h.frameOptions == defaults.frameOptions { h.frameOptions = "SAMEORIGIN" }
        if mutations.contains(.referrerPolicyDowngrade), h.referrerPolicy == defaults.referrerPolicy {
            h.referrerPolicy = "no-referrer-when-downgrade"
        }
        if mutations.contains(.permissionsPolicyByDefault), h.permissionsPolicy == nil { h.permissionsPolicy = "geolocation=()" }
        return h
    }

    // MARK: responses

    /// Room for a response's own fields plus what `finish` adds (request id, four security
    /// headers), so the list is allocated once.
    static let responseFieldCapacity = 8

    static func json(_ status: Int, _ value: JSONValue) -> HTTPResponse {
        var headers = HTTPFields()
        headers.reserveCapacity(responseFieldCapacity)
        headers.append("Content-Type", "application/json")
        return HTTPResponse(status: status, headers: headers, body: value.encoded)
    }

    /// `{"detail": "…", "request_id": "…"}` (the bytes `JSONValue` encodes that object to,
    /// written directly: every refusal under load is one).
    static func error(_ status: Int, _ detail: String, requestID: String) -> HTTPResponse {
        var body: [UInt8] = []
        body.reserveCapacity(detail.utf8.count + requestID.utf8.count + 32)
        body.append(contentsOf: #"{"detail":"#.utf8)
        JSONText.append(detail, to: &body)
        body.append(contentsOf: #","request_id":"#.utf8)
        JSONText.append(requestID, to: &body)
        body.append(UInt8(ascii: "}"))
        var headers = HTTPFields()
        headers.reserveCapacity(responseFieldCapacity)
        headers.append("Content-Type", "application/json")
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    /// An error as this service answers it (`.errorWithoutRequestID` drops the request id).
    func mutatedErrors(_ response: HTTPResponse) -> HTTPResponse {
        guard mutations.contains(.errorWithoutRequestID), response.status >= 400,
              let body = try? JSONValue.parse(response.body), case .object(let members) = body.kind else { return response }
        var r = response
        r.body = JSONValue(.object(members.filter { $0.key != "request_id" })).encoded
        return r
    }

    /// A validation error in FastAPI's shape: `detail` is a list of problems.
    static func validationError(_ problems: [ValidationProblem], requestID: String) -> HTTPResponse {
        json(422, .object([("detail", .array(problems.map(\.json))), ("request_id", .string(requestID))]))
    }

    /// One entry of a 422 `detail` list.
    struct ValidationProblem {
        var type: String
        var location: [String]
        var message: String
        var input: JSONValue

        var json: JSONValue {
            .object([("type", .string(type)), ("loc", .array(location.map(JSONValue.string))),
                     ("msg", .string(message)), ("input", input)])
        }

        /// A path or query value that is not a UUID. The echoed input is bounded.
        static func uuid(_ location: [String], _ value: String) -> ValidationProblem {
            ValidationProblem(type: "uuid_parsing", location: location,
                              message: "Input should be a valid UUID",
                              input: .string(String(value.unicodeScalars.prefix(256).map(Character.init))))
        }
    }

    /// Checks UUID path parameters; all problems are reported together, as FastAPI does.
    func uuids(_ parameters: [(name: String, value: String, location: String)]) -> Result<[String], ValidationFailure> {
        var values: [String] = []
        var problems: [ValidationProblem] = []
        for p in parameters {
            let canonical = UUIDText.canonical(p.value)
            if mutations.contains(.nonUUIDIDNotFound), canonical == nil {
                values.append(p.value)  // looked up as text: found nowhere
            } else if let canonical, !(mutations.contains(.upperCaseUUIDRefused) && canonical != p.value) {
                values.append(canonical)
            } else {
                problems.append(.uuid([p.location, p.name], p.value))
            }
        }
        return problems.isEmpty ? .success(values) : .failure(ValidationFailure(problems: problems))
    }

    // MARK: user authentication (not rate limited)

    /// The `detail` of every 401 (user and agent authentication alike).
    public static let unauthorizedDetail = "Unauthorized"

    /// The user presenting `Authorization: Bearer <token>`, or the 401 to answer.
    func authenticateUser(_ context: RequestContext) -> Result<World.User, Answer> {
        guard let token = AgentAuthentication.bearerToken(context.request.headers),
              token.utf8.count <= AgentAuthentication.maximumTokenLength,
              let user = usersByTokenHash[TokenRedaction.hash(token)] else {
            if mutations.contains(.userAuthFailuresLimited), context.request.headers["Authorization"] != nil,
               !agentLimiter.allow(client: clientAddress(context.request), now: context.now) {
                return .failure(Answer(ReferenceService.error(429, rateLimitDetail, requestID: context.requestID)))
            }
            return .failure(Answer(ReferenceService.error(401, ReferenceService.unauthorizedDetail, requestID: context.requestID)))
        }
        return .success(user)
    }

    /// The `detail` of a 429.
    var rateLimitDetail: String { mutations.contains(.rateLimitDetailChanged) ? "Rate limit exceeded" : "Too Many Requests" }

    // MARK: gateways

    func gatewayJSON(_ gateway: World.Gateway) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("id", .string(gateway.id)), ("organization_id", .string(gateway.organizationID)),
            ("name", .string(gateway.name)), ("url", gateway.url.map(JSONValue.string) ?? .null),
        ]
        members += GatewayTokenExposure.members(token: gateway.token, phase: configuration.gatewayTokenExposure)
        switch configuration.gatewayTokenExposure {
        case .raw where mutations.contains(.gatewayTokenDropped): members.removeAll { $0.0 == "token" }
        case .redacted where mutations.contains(.tokenAndHasToken): members.append(("token", gateway.token.map(JSONValue.string) ?? .null))
        default: break
        }
        return .object(members)
    }

    func listGateways(_ context: RequestContext) -> HTTPResponse {
        let user: World.User
        switch authenticateUser(context) {
        case .success(let u): user = u
        case .failure(let answer): return answer.response
        }
        guard let membership = Tenancy.activeMembership(of: user) else {
            return ReferenceService.error(403, "No active organization.", requestID: context.requestID)
        }
        let items = world.gateways.filter { $0.organizationID == membership.organizationID }.map(gatewayJSON)
        return ReferenceService.json(200, .object([("items", .array(items)), ("total", .int(items.count))]))
    }

    func readGateway(_ context: RequestContext, idText: String) -> HTTPResponse {
        let user: World.User
        switch authenticateUser(context) {
        case .success(let u): user = u
        case .failure(let answer): return answer.response
        }
        let id: String
        switch uuids([("gateway_id", idText, "path")]) {
        case .success(let values): id = values[0]
        case .failure(let failure): return ReferenceService.validationError(failure.problems, requestID: context.requestID)
        }
        // A gateway of another organization is "not found": its existence is not revealed.
        guard let gateway = gatewaysByID[id],
              mutations.contains(.gatewayReadAnyOrganization) || Tenancy.canRead(organizationID: gateway.organizationID, user: user) else {
            return ReferenceService.error(404, "Gateway not found", requestID: context.requestID)
        }
        return ReferenceService.json(200, gatewayJSON(gateway))
    }

    func sendSessionMessage(_ context: RequestContext, session: String) throws -> HTTPResponse {
        let user: World.User
        switch authenticateUser(context) {
        case .success(let u): user = u
        case .failure(let answer): return answer.response
        }
        let admin: World.Membership
        switch Tenancy.requireAdmin(user) {
        case .success(let m): admin = m
        case .failure(let denial):
            guard mutations.contains(.sessionMessageAnyMember), let membership = Tenancy.activeMembership(of: user) else {
                return ReferenceService.error(denial.status, denial.detail, requestID: context.requestID)
            }
            admin = membership
        }
        guard let boardText = context.request.query("board_id") else {
            return ReferenceService.validationError([ValidationProblem(type: "missing", location: ["query", "board_id"],
                                                                       message: "Field required", input: .null)],
                                                    requestID: context.requestID)
        }
        let boardID: String
        switch uuids([("board_id", boardText, "query")]) {
        case .success(let values): boardID = values[0]
        case .failure(let failure): return ReferenceService.validationError(failure.problems, requestID: context.requestID)
        }
        guard let board = boardsByID[boardID] else {
            return ReferenceService.error(404, "Board not found", requestID: context.requestID)
        }
        if !mutations.contains(.sessionMessageAnyOrganization), let denial = Tenancy.sessionMessage(by: admin, about: board) {
            return ReferenceService.error(denial.status, denial.detail, requestID: context.requestID)
        }
        // The message body is optional; `{"content": "…"}` is recorded as the message.
        let limit = configuration.webhookMaxPayloadBytes
        let body: [UInt8]
        switch try PayloadLimit.read(context.request.body, limit: limit) {
        case .complete(let bytes): body = bytes
        case .tooLarge: return ReferenceService.error(413, PayloadLimit.detail(limit: limit), requestID: context.requestID)
        }
        let content = (try? JSONValue.parse(body))?["content"]?.stringValue ?? String(decoding: body, as: UTF8.self)
        let message = SessionMessage(sessionID: session, boardID: board.id, userID: user.id, content: content, sentAt: context.now)
        records.withLock { $0.sessionMessages.append(message) }
        return ReferenceService.json(200, .object([("ok", .bool(true))]))
    }

    /// Gateway session messages accepted so far, oldest first.
    public func sessionMessages() -> [SessionMessage] {
        records.withLock { $0.sessionMessages }
    }
}

/// A gateway session message the service accepted.
public struct SessionMessage: Sendable, Equatable {
    public var sessionID: String
    public var boardID: String
    public var userID: String
    public var content: String
    public var sentAt: Double
}

/// What the service holds that requests change: webhooks, and what it has accepted (webhook
/// payloads, board memory entries, tasks, session messages).
/// Nothing accepted is dropped.
struct Records: ~Copyable {
    /// Webhooks by id (management can create, change and delete them), and their order.
    var webhooks: [String: World.Webhook] = [:]
    var webhookOrder: [String] = []
    var tasks: [String: [BoardTask]] = [:]
    var payloads: [String: [StoredPayload]] = [:]
    var memory: [String: [BoardMemoryEntry]] = [:]
    var sessionMessages: [SessionMessage] = []
}

/// A response decided early (a refusal), carried out of a helper through `Result`.
struct Answer: Error {
    var response: HTTPResponse
    init(_ response: HTTPResponse) { self.response = response }
}

/// Parameters that failed validation (a 422).
struct ValidationFailure: Error {
    var problems: [ReferenceService.ValidationProblem]
}

/// The error behind `GET /__mcsec/fault`.
enum ServiceFault: Error, CustomStringConvertible {
    case deliberate
    var description: String { "deliberate fault (test route)" }
}

/// Request ids: a sane client-supplied `X-Request-Id` is echoed (so a caller can correlate);
/// anything else gets a fresh id, UUID-shaped, made from a random per-service prefix and a
/// counter (cheap: no system call per request).
final class RequestIDGenerator: Sendable {
    /// Longest client id echoed.
    static let maximumLength = 128
    private let prefix: UInt64
    private let salt: UInt64
    private let counter = Atomic<UInt64>(0)

    init() {
        var generator = SystemRandomNumberGenerator()
        prefix = generator.next()
        salt = generator.next()
    }

    /// Echoes `supplied` when it is 1…128 characters of `A-Z a-z 0-9 - _ . :`; otherwise
    /// generates one.
    func id(for supplied: String?) -> String {
        if let supplied, RequestIDGenerator.isSane(supplied) { return supplied }
        return generate()
    }

    static func isSane(_ text: String) -> Bool {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= maximumLength else { return false }
        return utf8.allSatisfy { b in
            (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") || b == UInt8(ascii: ":")
        }
    }

    func generate() -> String {
        let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let low = salt &+ n
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var i = 0
            func put(_ value: UInt64, nibbles: Int) {
                var shift = (nibbles - 1) * 4
                while shift >= 0 {
                    let nibble = UInt8(truncatingIfNeeded: (value >> UInt64(shift)) & 0xF)
                    buffer[i] = nibble < 10 ? 48 + nibble : 87 + nibble
                    i += 1
                    shift -= 4
                }
            }
            put(prefix >> 32, nibbles: 8); buffer[i] = 45; i += 1
            put(prefix >> 16, nibbles: 4); buffer[i] = 45; i += 1
            put(prefix, nibbles: 4); buffer[i] = 45; i += 1
            put(low >> 48, nibbles: 4); buffer[i] = 45; i += 1
            put(low, nibbles: 12)
            return 36
        }
    }
}

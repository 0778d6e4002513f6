import Wire

/// Rule: agent authentication.
///
/// The token comes from `X-Agent-Token`, else from `Authorization: Bearer <token>` (scheme in
/// any case). The `agent_auth` limiter (20 per 60 s per client address) is consulted before the
/// token is looked at, so valid and invalid tokens both count, and requests without a token on
/// these token-required routes count too. No token or an unknown token → 401. A failure is
/// logged with at most the first 6 characters of the presented token, never the whole token.
/// Tokens are kept only as hex SHA-256 hashes.
///
/// On routes that serve a user or an agent (agent authentication optional: board memory reads),
/// the user's bearer token is tried first and is never rate limited; only a request that is not
/// a user's and presents a token (`X-Agent-Token`, or a bearer token that is no user's) is an
/// agent authentication attempt and counts. A request with no token at all is 401 without
/// touching the limiter, so anonymous probes cannot lock agents behind the same address out.
public enum AgentAuthentication {
    /// Tokens longer than this are unknown without being hashed (no real token is this long,
    /// and it bounds the work an absurd header can cause).
    public static let maximumTokenLength = 4096

    public static let unauthorizedDetail = "Unauthorized"

    /// The token of `Authorization: Bearer <token>`, or nil.
    public static func bearerToken(_ headers: HTTPFields) -> String? {
        guard let value = headers["Authorization"] else { return nil }
        let text = value.trimmingASCIIWhitespace()
        guard text.utf8.count > 7 else { return nil }
        let scheme = text.prefix(7)
        guard scheme.lowercased() == "bearer " else { return nil }
        let token = text.dropFirst(7).trimmingASCIIWhitespace()
        return token.isEmpty ? nil : String(token)
    }

    /// The agent token a request presents: `X-Agent-Token` when non-empty, else the bearer token.
    public static func presentedToken(_ headers: HTTPFields) -> String? {
        if let value = headers["X-Agent-Token"] {
            let token = value.trimmingASCIIWhitespace()
            if !token.isEmpty { return String(token) }
        }
        return bearerToken(headers)
    }

    /// The failure log line: `agent_auth.failed token_prefix=<≤6 chars> client=<address>`.
    /// - Parameter wholeToken: log the whole token (only the deliberately broken variant does).
    public static func failureLine(token: String?, client: String, wholeToken: Bool = false) -> String {
        let shown = token.map { wholeToken ? $0 : TokenRedaction.logPrefix($0) } ?? ""
        return "agent_auth.failed token_prefix=\(ServiceLog.field(shown, maxLength: wholeToken ? Int.max : TokenRedaction.prefixLength)) client=\(ServiceLog.field(client, maxLength: 64))"
    }
}

extension ReferenceService {
    /// Runs agent authentication: the limiter, then the token. Returns the agent or the
    /// response to answer (429 or 401).
    func authenticateAgent(_ context: RequestContext) -> Result<World.Agent, Answer> {
        let client = clientAddress(context.request)
        let headers = context.request.headers
        let token = mutations.contains(.bearerBeforeXAgentToken)
            ? AgentAuthentication.bearerToken(headers) ?? AgentAuthentication.presentedToken(headers)
            : AgentAuthentication.presentedToken(headers)
        let known = token.flatMap { t in t.utf8.count <= AgentAuthentication.maximumTokenLength ? agentsByTokenHash[TokenRedaction.hash(t)] : nil }
        let consultLimiter = !(mutations.contains(.invalidTokensNotCounted) && known == nil)
        guard !consultLimiter || agentLimiter.allow(client: client, now: context.now) else {
            return .failure(Answer(ReferenceService.error(429, rateLimitDetail, requestID: context.requestID)))
        }
        if let agent = known {
            if mutations.contains(.validTokenLogged), let token { log.write("agent_auth.ok agent_id=\(agent.id) token=\(token)") }
            return .success(agent)
        }
        log.write(AgentAuthentication.failureLine(token: mutations.contains(.noTokenPrefixLogged) ? nil : token, client: client,
                                                  wholeToken: mutations.contains(.logWholeToken)))
        let status = mutations.contains(.unknownToken403) && token != nil ? 403 : 401
        return .failure(Answer(ReferenceService.error(status, AgentAuthentication.unauthorizedDetail, requestID: context.requestID)))
    }

    /// Who a route that serves users and agents alike is answering.
    enum Actor {
        case user(World.User)
        case agent(World.Agent)
    }

    /// Authentication where agent authentication is optional: a user first (not rate limited),
    /// else an agent, but only when a token is presented (limiter, then token, as on agent
    /// routes). Returns the actor or the response to answer (401 or 429).
    func authenticateUserOrAgent(_ context: RequestContext) -> Result<Actor, Answer> {
        if case .success(let user) = authenticateUser(context) {
            if mutations.contains(.userReadsCounted), !agentLimiter.allow(client: clientAddress(context.request), now: context.now) {
                return .failure(Answer(ReferenceService.error(429, rateLimitDetail, requestID: context.requestID)))
            }
            return .success(.user(user))
        }
        guard AgentAuthentication.presentedToken(context.request.headers) != nil else {
            return .failure(Answer(ReferenceService.error(401, AgentAuthentication.unauthorizedDetail, requestID: context.requestID)))
        }
        switch authenticateAgent(context) {
        case .success(let agent): return .success(.agent(agent))
        case .failure(let answer): return .failure(answer)
        }
    }

    /// `GET /api/v1/agent/healthz`: who the token belongs to.
    func agentHealth(_ context: RequestContext) -> HTTPResponse {
        switch authenticateAgent(context) {
        case .failure(let answer): return answer.response
        case .success(let agent):
            if mutations.contains(.agentHealthzMinimal) { return ReferenceService.json(200, .object([("ok", .bool(true))])) }
            return ReferenceService.json(200, .object([
                ("ok", .bool(true)), ("agent_id", .string(agent.id)),
                ("board_id", agent.boardID.map(JSONValue.string) ?? .null),
                ("gateway_id", .string(agent.gatewayID)), ("status", .string(agent.status)),
                ("is_board_lead", .bool(agent.isBoardLead)),
            ]))
        }
    }

    /// `GET /api/v1/agent/boards`: the boards the agent may see (`Tenancy`).
    func agentBoards(_ context: RequestContext) -> HTTPResponse {
        switch authenticateAgent(context) {
        case .failure(let answer): return answer.response
        case .success(let agent):
            switch Tenancy.boardsVisible(to: agent, in: world) {
            case .failure where mutations.contains(.orphanAgentSeesEveryBoard):
                return ReferenceService.json(200, .object([("items", .array(world.boards.map(ReferenceService.boardJSON))),
                                                           ("total", .int(world.boards.count))]))
            case .failure(let denial):
                return ReferenceService.error(denial.status, denial.detail, requestID: context.requestID)
            case .success(let boards):
                let items: [JSONValue] = boards.map(ReferenceService.boardJSON)
                return ReferenceService.json(200, .object([("items", .array(items)), ("total", .int(items.count))]))
            }
        }
    }

    static func boardJSON(_ board: World.Board) -> JSONValue {
        .object([("id", .string(board.id)), ("organization_id", .string(board.organizationID)),
                 ("gateway_id", board.gatewayID.map(JSONValue.string) ?? .null), ("name", .string(board.name))])
    }
}

import Foundation
import Wire

// Board routes besides ingest, payloads and memory reads:
// - user-authenticated board reads and webhook management under `/api/v1/boards` (401
//   `Unauthorized` without a user token, before anything else; a board of another organization
//   is "not found"; changes need an organization admin);
// - board-scoped agent routes under `/api/v1/agent/boards/{board_id}`: agent authentication
//   (limiter, then token), then the board, then tenancy (`Tenancy.agentMayRead`), on every one
//   of them, reads and writes alike.

/// A task an agent created on a board.
public struct BoardTask: Sendable, Equatable {
    public var id: String
    public var boardID: String
    public var title: String
    public var status: String
    public var createdByAgentID: String
    public var createdAt: Double

    var json: JSONValue {
        .object([("id", .string(id)), ("board_id", .string(boardID)), ("title", .string(title)),
                 ("status", .string(status)), ("created_by_agent_id", .string(createdByAgentID)),
                 ("created_at", .number(String(createdAt)))])
    }
}

extension ReferenceService {
    /// The webhook with this (canonical) id as it stands now.
    func webhook(_ id: String) -> World.Webhook? {
        records.withLock { $0.webhooks[id] }
    }

    /// A webhook as management reads it back: never its secret.
    static func webhookJSON(_ webhook: World.Webhook) -> JSONValue {
        .object([("id", .string(webhook.id)), ("board_id", .string(webhook.boardID)),
                 ("description", webhook.description.map(JSONValue.string) ?? .null), ("enabled", .bool(webhook.enabled)),
                 ("has_secret", .bool(!(webhook.secret ?? "").isEmpty)),
                 ("signature_header", webhook.signatureHeader.map(JSONValue.string) ?? .null)])
    }

    static func list(_ items: [JSONValue]) -> HTTPResponse {
        json(200, .object([("items", .array(items)), ("total", .int(items.count))]))
    }

    /// User authentication, then the board (UUID, exists, the user's organization).
    func userBoard(_ context: RequestContext, boardText: String) -> Result<(World.User, World.Board), Answer> {
        if mutations.contains(.userRoutes404Before401), case .success(let ids) = uuids([("board_id", boardText, "path")]),
           boardsByID[ids[0]] == nil {
            return .failure(Answer(ReferenceService.error(404, "Board not found", requestID: context.requestID)))
        }
        let user: World.User
        switch authenticateUser(context) {
        case .success(let u): user = u
        case .failure(let answer): return .failure(answer)
        }
        switch uuids([("board_id", boardText, "path")]) {
        case .success(let values):
            return readableBoard(context, user: user, boardID: values[0]).map { (user, $0) }
        case .failure(let failure):
            return .failure(Answer(ReferenceService.validationError(failure.problems, requestID: context.requestID)))
        }
    }

    /// The request body as a JSON object, or the 422 to answer.
    func jsonObjectBody(_ context: RequestContext) throws -> Result<JSONValue, Answer> {
        let limit = configuration.webhookMaxPayloadBytes
        let body: [UInt8]
        switch try PayloadLimit.read(context.request.body, limit: limit) {
        case .complete(let bytes): body = bytes
        case .tooLarge: return .failure(Answer(ReferenceService.error(413, PayloadLimit.detail(limit: limit), requestID: context.requestID)))
        }
        guard let value = try? JSONValue.parse(body), case .object = value.kind else {
            let problem = ValidationProblem(type: "model_attributes_type", location: ["body"],
                                            message: "Input should be a valid dictionary or object to extract fields from",
                                            input: .string(String(decoding: body.prefix(256), as: UTF8.self)))
            return .failure(Answer(ReferenceService.validationError([problem], requestID: context.requestID)))
        }
        return .success(value)
    }

    static func stringField(_ body: JSONValue, _ name: String, required: Bool) -> Result<String?, ValidationFailure> {
        guard let value = body[name], !value.isNull else {
            guard required else { return .success(nil) }
            return .failure(ValidationFailure(problems: [ValidationProblem(type: "missing", location: ["body", name],
                                                                           message: "Field required", input: .null)]))
        }
        if let s = value.stringValue { return .success(s) }
        return .failure(ValidationFailure(problems: [ValidationProblem(type: "string_type", location: ["body", name],
                                                                       message: "Input should be a valid string", input: value)]))
    }

    // MARK: user routes

    /// `GET /api/v1/boards`: the boards of the user's organization.
    func listBoards(_ context: RequestContext) -> HTTPResponse {
        let user: World.User
        switch authenticateUser(context) {
        case .success(let u): user = u
        case .failure(let answer): return answer.response
        }
        let boards = world.boards.filter { Tenancy.canRead(organizationID: $0.organizationID, user: user) }
        return ReferenceService.list(boards.map(ReferenceService.boardJSON))
    }

    /// `GET /api/v1/boards/{board_id}`
    func readBoard(_ context: RequestContext, boardText: String) -> HTTPResponse {
        switch userBoard(context, boardText: boardText) {
        case .success(let (_, board)): return ReferenceService.json(200, ReferenceService.boardJSON(board))
        case .failure(let answer): return answer.response
        }
    }

    /// `GET /api/v1/boards/{board_id}/webhooks`
    func listWebhooks(_ context: RequestContext, boardText: String) -> HTTPResponse {
        switch userBoard(context, boardText: boardText) {
        case .failure(let answer): return answer.response
        case .success(let (_, board)):
            let items = records.withLock { r in r.webhookOrder.compactMap { r.webhooks[$0] }.filter { $0.boardID == board.id } }
            return ReferenceService.list(items.map(ReferenceService.webhookJSON))
        }
    }

    /// `POST /api/v1/boards/{board_id}/webhooks`: an organization admin creates a webhook
    /// (`description`, `enabled`, `secret`, `signature_header`, all optional).
    func createWebhook(_ context: RequestContext, boardText: String) throws -> HTTPResponse {
        let user: World.User, board: World.Board
        switch userBoard(context, boardText: boardText) {
        case .success(let (u, b)): user = u; board = b
        case .failure(let answer): return answer.response
        }
        if case .failure(let denial) = Tenancy.requireAdmin(user) {
            return ReferenceService.error(denial.status, denial.detail, requestID: context.requestID)
        }
        let body: JSONValue
        switch try jsonObjectBody(context) {
        case .success(let b): body = b
        case .failure(let answer): return answer.response
        }
        var webhook = World.Webhook(id: UUID().uuidString.lowercased(), boardID: board.id, description: nil, enabled: true)
        switch applyWebhookFields(body, to: &webhook) {
        case .failure(let failure): return ReferenceService.validationError(failure.problems, requestID: context.requestID)
        case .success: break
        }
        let created = webhook
        records.withLock { r in
            r.webhooks[created.id] = created
            r.webhookOrder.append(created.id)
        }
        return ReferenceService.json(200, ReferenceService.webhookJSON(created))
    }

    /// The fields a create or an update may set; unknown fields are ignored, as the service does.
    func applyWebhookFields(_ body: JSONValue, to webhook: inout World.Webhook) -> Result<Void, ValidationFailure> {
        var problems: [ValidationProblem] = []
        for name in ["description", "secret", "signature_header"] {
            switch ReferenceService.stringField(body, name, required: false) {
            case .failure(let f): problems += f.problems
            case .success(let value):
                guard let value else { continue }
                switch name {
                case "description": webhook.description = value
                case "secret": webhook.secret = value
                default:
                    guard value.isEmpty || HTTPGrammar.isToken(value) else {
                        problems.append(ValidationProblem(type: "value_error", location: ["body", name],
                                                          message: "Value error, not a header name", input: .string(value)))
                        continue
                    }
                    webhook.signatureHeader = value.isEmpty ? nil : value
                }
            }
        }
        if let enabled = body["enabled"], !enabled.isNull {
            if let b = enabled.boolValue {
                webhook.enabled = b
            } else {
                problems.append(ValidationProblem(type: "bool_type", location: ["body", "enabled"],
                                                  message: "Input should be a valid boolean", input: enabled))
            }
        }
        return problems.isEmpty ? .success(()) : .failure(ValidationFailure(problems: problems))
    }

    /// `GET`, `PATCH`, `DELETE /api/v1/boards/{board_id}/webhooks/{webhook_id}`: management.
    /// A user token comes first (401 before the ids are looked at); reads need membership,
    /// changes an organization admin.
    func manageWebhook(_ context: RequestContext, boardText: String, webhookText: String) throws -> HTTPResponse {
        if mutations.contains(.webhookGetUnauthenticated), context.request.method == "GET" {
            guard case .success(let ids) = uuids([("board_id", boardText, "path"), ("webhook_id", webhookText, "path")]),
                  let found = webhook(ids[1]), found.boardID == ids[0] else {
                return ReferenceService.error(404, "Webhook not found", requestID: context.requestID)
            }
            return ReferenceService.json(200, ReferenceService.webhookJSON(found))
        }
        let user: World.User
        var found: World.Webhook
        switch userWebhook(context, boardText: boardText, webhookText: webhookText) {
        case .success(let (u, _, w)): user = u; found = w
        case .failure(let answer): return answer.response
        }
        if context.request.method == "GET" { return ReferenceService.json(200, ReferenceService.webhookJSON(found)) }
        if case .failure(let denial) = Tenancy.requireAdmin(user) {
            return ReferenceService.error(denial.status, denial.detail, requestID: context.requestID)
        }
        if context.request.method == "DELETE" {
            records.withLock { r in
                r.webhooks[found.id] = nil
                r.webhookOrder.removeAll { $0 == found.id }
            }
            return ReferenceService.json(200, .object([("ok", .bool(true))]))
        }
        let body: JSONValue
        switch try jsonObjectBody(context) {
        case .success(let b): body = b
        case .failure(let answer): return answer.response
        }
        if case .failure(let failure) = applyWebhookFields(body, to: &found) {
            return ReferenceService.validationError(failure.problems, requestID: context.requestID)
        }
        let updated = found
        records.withLock { r in if r.webhooks[updated.id] != nil { r.webhooks[updated.id] = updated } }
        return ReferenceService.json(200, ReferenceService.webhookJSON(updated))
    }

    /// User authentication, then the board and the webhook on it (UUIDs, the user's
    /// organization, the webhook on that board), as every user route under a webhook checks.
    func userWebhook(_ context: RequestContext, boardText: String, webhookText: String) -> Result<(World.User, World.Board, World.Webhook), Answer> {
        let user: World.User
        switch authenticateUser(context) {
        case .success(let u): user = u
        case .failure(let answer): return .failure(answer)
        }
        let ids: [String]
        switch uuids([("board_id", boardText, "path"), ("webhook_id", webhookText, "path")]) {
        case .success(let values): ids = values
        case .failure(let failure): return .failure(Answer(ReferenceService.validationError(failure.problems, requestID: context.requestID)))
        }
        let board: World.Board
        switch readableBoard(context, user: user, boardID: ids[0]) {
        case .success(let b): board = b
        case .failure(let answer): return .failure(answer)
        }
        guard let found = webhook(ids[1]), found.boardID == board.id else {
            return .failure(Answer(ReferenceService.error(404, "Webhook not found", requestID: context.requestID)))
        }
        return .success((user, board, found))
    }

    /// The request body's `name`, a required string, or the answer (413, 422).
    func requiredString(_ context: RequestContext, _ name: String) throws -> Result<String, Answer> {
        switch try jsonObjectBody(context) {
        case .failure(let answer): return .failure(answer)
        case .success(let body):
            switch ReferenceService.stringField(body, name, required: true) {
            case .success(let value): return .success(value ?? "")
            case .failure(let failure): return .failure(Answer(ReferenceService.validationError(failure.problems, requestID: context.requestID)))
            }
        }
    }

    // MARK: board-scoped agent routes

    /// Whether `agent` may use `board` (nil) or the refusal.
    func agentDenial(_ board: World.Board, agent: World.Agent) -> Tenancy.Denial? {
        if mutations.contains(.mainAgentUnscopedReads), agent.boardID == nil, gatewaysByID[agent.gatewayID] != nil {
            return nil
        }
        if mutations.contains(.boardAgentUnscopedReads), agent.boardID != nil { return nil }
        return Tenancy.agentMayRead(board, agent: agent, in: world)
    }

    /// `/api/v1/agent/boards/{board_id}[/tasks|/tags|/memory|/approvals|/webhooks/{id}/payloads/{id}]`
    func agentBoardRoute(_ context: RequestContext, boardText: String, part: AgentBoardPart) throws -> HTTPResponse {
        let rid = context.requestID
        let agent: World.Agent
        switch authenticateAgent(context) {
        case .success(let a): agent = a
        case .failure(let answer): return answer.response
        }
        var parameters = [("board_id", boardText, "path")]
        if case .payload(let webhook, let payload) = part {
            parameters += [("webhook_id", webhook, "path"), ("payload_id", payload, "path")]
        }
        let ids: [String]
        switch uuids(parameters) {
        case .success(let values): ids = values
        case .failure(let failure): return ReferenceService.validationError(failure.problems, requestID: rid)
        }
        guard let board = boardsByID[ids[0]] else { return ReferenceService.error(404, "Board not found", requestID: rid) }
        if let denial = agentDenial(board, agent: agent) {
            return ReferenceService.error(denial.status, denial.detail, requestID: rid)
        }
        let writing = context.request.method == "POST"
        switch part {
        case .board:
            return ReferenceService.json(200, ReferenceService.boardJSON(board))
        case .tags, .approvals:
            // The seeded world has neither; the routes exist so that tenancy can be checked there.
            return ReferenceService.list([])
        case .tasks where !writing:
            return ReferenceService.list(records.withLock { $0.tasks[board.id] ?? [] }.map(\.json))
        case .tasks:
            let title: String
            switch try requiredString(context, "title") {
            case .success(let value): title = value
            case .failure(let answer): return answer.response
            }
            let task = BoardTask(id: UUID().uuidString.lowercased(), boardID: board.id, title: title, status: "inbox",
                                 createdByAgentID: agent.id, createdAt: context.now)
            records.withLock { $0.tasks[board.id, default: []].append(task) }
            return ReferenceService.json(200, task.json)
        case .memory where !writing:
            return ReferenceService.list(memoryEntries(boardID: board.id).map(\.json))
        case .memory:
            let content: String
            switch try requiredString(context, "content") {
            case .success(let value): content = value
            case .failure(let answer): return answer.response
            }
            let entry = BoardMemoryEntry(id: UUID().uuidString.lowercased(), boardID: board.id, source: "agent:\(agent.id)",
                                         payloadID: "", content: content, createdAt: context.now)
            records.withLock { $0.memory[board.id, default: []].append(entry) }
            return ReferenceService.json(200, entry.json)
        case .payload:
            guard let webhook = webhook(ids[1]), webhook.boardID == board.id else {
                return ReferenceService.error(404, "Webhook not found", requestID: rid)
            }
            guard let payload = storedPayloads(boardID: board.id, webhookID: webhook.id).first(where: { $0.id == ids[2] }) else {
                return ReferenceService.error(404, "Payload not found", requestID: rid)
            }
            return ReferenceService.json(200, payload.json)
        }
    }
}

import Foundation
import Wire

// Rule: webhook ingest, `POST /api/v1/boards/{board_id}/webhooks/{webhook_id}`, checks in this
// order, the first failure answering:
//   (path parameters that are not UUIDs → 422, before anything, as FastAPI validates the path)
//   1. unknown board → 404
//   2. rate limit (webhook_ingest, per client address) → 429
//   3. unknown webhook on that board → 404
//   4. webhook disabled → 410 "Webhook is disabled."
//   5. declared Content-Length over the limit → 413
//   6. streamed body over the limit → 413 (reading stops there)
//   7. signature (only with a secret) → 403 missing / 403 invalid
//   8. accepted → 202 {"ok": true, "board_id", "webhook_id", "payload_id"}
// The payload is stored with the headers content-type, user-agent and x-* (minus signature
// headers and authorization), the body as JSON when it parses ({} when empty) else as text, and
// a board memory entry wraps it in the external-data boundary.

/// A webhook payload the service accepted.
public struct StoredPayload: Sendable, Equatable {
    public enum Body: Sendable, Equatable {
        case json(JSONValue)
        /// Not JSON; invalid UTF-8 is replaced by U+FFFD here and kept exactly in `rawBody`.
        case text(String)
    }

    public var id: String
    public var boardID: String
    public var webhookID: String
    public var receivedAt: Double
    /// Kept headers, names in lower case, in arrival order (a repeated header joined by ", ").
    public var headers: [HTTPField]
    public var body: Body
    /// The body bytes exactly as received: nothing accepted is lost.
    public var rawBody: [UInt8]

    /// How the payload reads back over HTTP.
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("id", .string(id)), ("board_id", .string(boardID)), ("webhook_id", .string(webhookID)),
            ("received_at", .number(String(receivedAt))),
            ("headers", .object(headers.map { ($0.name, .string($0.value)) })),
        ]
        switch body {
        case .json(let value): members.append(("payload", value))
        case .text(let text): members.append(("payload", .string(text)))
        }
        members.append(("body_bytes", .int(rawBody.count)))
        if String(validating: rawBody, as: UTF8.self) == nil {
            members.append(("body_base64", .string(Data(rawBody).base64EncodedString())))
        }
        return .object(members)
    }
}

/// A board memory entry: what an agent on the board is shown about an event.
public struct BoardMemoryEntry: Sendable, Equatable {
    public var id: String
    public var boardID: String
    /// `webhook:<webhook id>`.
    public var source: String
    public var payloadID: String
    /// Instruction text with the external content wrapped by `ExternalDataBoundary`.
    public var content: String
    public var createdAt: Double

    public var json: JSONValue {
        .object([("id", .string(id)), ("board_id", .string(boardID)), ("source", .string(source)),
                 ("payload_id", .string(payloadID)), ("content", .string(content)),
                 ("created_at", .number(String(createdAt)))])
    }
}

enum WebhookIngest {
    /// Under `.sizeCheckedOnlyByContentLength` the streamed check is skipped; this much is
    /// still the most that is buffered, so the broken variant stays safe to run.
    static let unlimitedReadCap = 64 << 20

    /// The request headers kept with a payload (`everything`: the broken variant that keeps
    /// credentials and signatures too).
    static func keptHeaders(_ headers: HTTPFields, signatureHeaders: [String], everything: Bool = false) -> [HTTPField] {
        var kept: [HTTPField] = []
        var index: [String: Int] = [:]  // a repeated header is joined in place (no quadratic scan)
        for field in headers {
            let name = field.name.lowercased()
            if !everything {
                guard name == "content-type" || name == "user-agent" || name.hasPrefix("x-") else { continue }
                if name == "authorization" || signatureHeaders.contains(where: { HTTPFields.equalNames($0, name) }) { continue }
            }
            if let at = index[name] {
                kept[at].value += ", " + field.value
            } else {
                index[name] = kept.count
                kept.append(HTTPField(name: name, value: field.value))
            }
        }
        return kept
    }

    /// The body as stored: JSON when it parses (`{}` when empty), else text.
    static func storedBody(_ bytes: [UInt8], emptyAsText: Bool = false) -> StoredPayload.Body {
        if bytes.isEmpty { return emptyAsText ? .text("") : .json(.object([])) }
        if let value = try? JSONValue.parse(bytes) { return .json(value) }
        return .text(String(decoding: bytes, as: UTF8.self))
    }

    /// The memory entry's text: a trusted header naming the event, then the payload inside the
    /// external-data boundary. Single-line fields are sanitised so a board name cannot add lines.
    /// - Parameter unwrapped: the payload as it is, without the boundary (the broken variant).
    static func memoryContent(board: World.Board, webhookID: String, payloadID: String, body: [UInt8], unwrapped: Bool = false) -> String {
        let payloadText = body.isEmpty ? "{}" : String(decoding: body, as: UTF8.self)
        return """
        Webhook payload received.
        Board: \(ExternalDataBoundary.sanitizeSingleLine(board.name))
        Webhook ID: \(webhookID)
        Payload ID: \(payloadID)
        \(unwrapped ? payloadText : ExternalDataBoundary.wrap(payloadText))
        """
    }
}

extension ReferenceService {
    func ingestWebhook(_ context: RequestContext, boardText: String, webhookText: String) throws -> HTTPResponse {
        let request = context.request
        let rid = context.requestID
        let boardID: String, webhookID: String
        switch uuids([("board_id", boardText, "path"), ("webhook_id", webhookText, "path")]) {
        case .success(let values): boardID = values[0]; webhookID = values[1]
        case .failure(let failure): return ReferenceService.validationError(failure.problems, requestID: rid)
        }

        let limiter = mutations.contains(.ingestUsesAgentLimiter) ? agentLimiter : webhookLimiter
        if mutations.contains(.limitBeforeBoard), !limiter.allow(client: clientAddress(request), now: context.now) {
            return ReferenceService.error(429, rateLimitDetail, requestID: rid)
        }
        // 1. board
        guard let board = boardsByID[boardID] else { return ReferenceService.error(404, "Board not found", requestID: rid) }
        // 2. rate limit
        guard mutations.contains(.limitBeforeBoard) || limiter.allow(client: clientAddress(request), now: context.now) else {
            return ReferenceService.error(429, rateLimitDetail, requestID: rid)
        }
        // 3. webhook on that board
        guard let webhook = webhook(webhookID), webhook.boardID == board.id || mutations.contains(.otherBoardsWebhookAccepted) else {
            return ReferenceService.error(404, "Webhook not found", requestID: rid)
        }
        // 4. enabled
        guard webhook.enabled || mutations.contains(.disabledWebhookAccepted) else {
            return ReferenceService.error(410, "Webhook is disabled.", requestID: rid)
        }
        // 5. declared size
        let limit = mutations.contains(.payloadLimitNotConfigurable) ? Configuration.defaultMaxPayloadBytes : configuration.webhookMaxPayloadBytes
        // `.exactlyTheLimitRefused` compares with >= (a limit one smaller, as > reads it).
        let checked = mutations.contains(.exactlyTheLimitRefused) ? limit - 1 : limit
        let tooLarge = ReferenceService.error(mutations.contains(.oversizeAnswered400) ? 400 : 413,
                                              mutations.contains(.sizeDetailWithoutByteCount) ? "Payload too large." : PayloadLimit.detail(limit: limit),
                                              requestID: rid)
        if PayloadLimit.declaredLengthExceeds(request.headers, limit: checked) { return tooLarge }
        // 6. streamed size
        let readLimit = mutations.contains(.sizeCheckedOnlyByContentLength) ? max(limit, WebhookIngest.unlimitedReadCap) : checked
        let body: [UInt8]
        do {
            switch try PayloadLimit.read(request.body, limit: readLimit) {
            case .complete(let bytes): body = bytes
            case .tooLarge: return tooLarge
            }
        } catch {
            return ReferenceService.error(400, "Could not read the request body: \(error)", requestID: rid)
        }
        // 7. signature
        if !mutations.contains(.skipSignatureCheck) {
            switch WebhookSignature.verify(secret: mutations.contains(.unsignedWebhookChecked) ? webhook.secret ?? "" : webhook.secret,
                                           customHeader: webhook.signatureHeader, headers: request.headers, body: body,
                                           fallback: mutations.contains(.signatureHeaderFallback), mutations: mutations) {
            case .missing: return ReferenceService.error(403, WebhookSignature.missingDetail, requestID: rid)
            case .invalid: return ReferenceService.error(403, WebhookSignature.invalidDetail, requestID: rid)
            case .notRequired, .valid: break
            }
        }
        // 8. store
        let payloadID = UUID().uuidString.lowercased()
        let payload = StoredPayload(
            id: payloadID, boardID: board.id, webhookID: webhook.id, receivedAt: context.now,
            headers: WebhookIngest.keptHeaders(request.headers, signatureHeaders: WebhookSignature.signatureHeaders(custom: webhook.signatureHeader),
                                               everything: mutations.contains(.storesEveryHeader)),
            body: WebhookIngest.storedBody(body, emptyAsText: mutations.contains(.emptyBodyStoredAsText)), rawBody: body)
        let entry = BoardMemoryEntry(
            id: UUID().uuidString.lowercased(), boardID: board.id, source: "webhook:\(webhook.id)", payloadID: payloadID,
            content: WebhookIngest.memoryContent(board: board, webhookID: webhook.id, payloadID: payloadID, body: body,
                                                 unwrapped: mutations.contains(.payloadNotWrapped)),
            createdAt: context.now)
        records.withLock { records in
            records.payloads[board.id + "/" + webhook.id, default: []].append(payload)
            records.memory[board.id, default: []].append(entry)
        }
        return ReferenceService.json(mutations.contains(.ingestAnswers200) ? 200 : 202, .object([
            ("ok", .bool(true)), ("board_id", .string(board.id)), ("webhook_id", .string(webhook.id)),
            ("payload_id", .string(payloadID)),
        ]))
    }

    /// Every payload accepted for the webhook, oldest first (ids in any UUID spelling).
    public func storedPayloads(boardID: String, webhookID: String) -> [StoredPayload] {
        let board = UUIDText.canonical(boardID) ?? boardID
        let webhook = UUIDText.canonical(webhookID) ?? webhookID
        return records.withLock { $0.payloads[board + "/" + webhook] ?? [] }
    }

    /// Every memory entry of the board, oldest first.
    public func memoryEntries(boardID: String) -> [BoardMemoryEntry] {
        let board = UUIDText.canonical(boardID) ?? boardID
        return records.withLock { $0.memory[board] ?? [] }
    }

    /// The board a user may read, or the response to answer. A board of another organization
    /// is "not found", so its existence is not revealed.
    func readableBoard(_ context: RequestContext, user: World.User, boardID: String) -> Result<World.Board, Answer> {
        guard let board = boardsByID[boardID], Tenancy.canRead(organizationID: board.organizationID, user: user) else {
            return .failure(Answer(ReferenceService.error(404, "Board not found", requestID: context.requestID)))
        }
        return .success(board)
    }

    /// `GET /api/v1/boards/{board_id}/webhooks/{webhook_id}/payloads`
    func readPayloads(_ context: RequestContext, boardText: String, webhookText: String) -> HTTPResponse {
        let board: World.Board, webhook: World.Webhook
        switch userWebhook(context, boardText: boardText, webhookText: webhookText) {
        case .success(let (_, b, w)): board = b; webhook = w
        case .failure(let answer): return answer.response
        }
        let items = storedPayloads(boardID: board.id, webhookID: webhook.id).map(\.json)
        return ReferenceService.json(200, .object([("items", .array(items)), ("total", .int(items.count))]))
    }

    /// `GET /api/v1/boards/{board_id}/memory`: a user of the board's organization, or an agent
    /// that may see the board (agent authentication is optional here, as in the real service).
    func readMemory(_ context: RequestContext, boardText: String) -> HTTPResponse {
        let actor: Actor
        switch authenticateUserOrAgent(context) {
        case .success(let a): actor = a
        case .failure(let answer): return answer.response
        }
        let boardID: String
        switch uuids([("board_id", boardText, "path")]) {
        case .success(let values): boardID = values[0]
        case .failure(let failure): return ReferenceService.validationError(failure.problems, requestID: context.requestID)
        }
        let board: World.Board
        switch actor {
        case .user(let user):
            switch readableBoard(context, user: user, boardID: boardID) {
            case .success(let b): board = b
            case .failure(let answer): return answer.response
            }
        case .agent(let agent):
            guard let b = boardsByID[boardID] else {
                return ReferenceService.error(404, "Board not found", requestID: context.requestID)
            }
            if let denial = agentDenial(b, agent: agent) {
                return ReferenceService.error(denial.status, denial.detail, requestID: context.requestID)
            }
            board = b
        }
        let items = memoryEntries(boardID: board.id).map(\.json)
        return ReferenceService.json(200, .object([("items", .array(items)), ("total", .int(items.count))]))
    }
}

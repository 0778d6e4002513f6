import Wire

// Behaviour every route shares, as the real service's web framework has it:
// - the path is percent-decoded before it is matched (`%2F` becomes a segment separator);
// - a path with a trailing slash that matches a route without it is redirected (307) there,
//   query kept;
// - a known path with another method is 405 with `Allow`;
// - UUID path parameters accept the canonical, upper-case, 32-digit and braced forms
//   (`UUIDText.canonical`); other text is 422 with a list `detail`;
// - user-authenticated routes answer 401 `Unauthorized` before anything else is looked at.

extension ReferenceService {
    /// The routes, matched on decoded path segments.
    enum Route {
        case health
        case fault
        // user authentication
        case boards
        case board(board: String)
        case webhooks(board: String)
        case webhook(board: String, webhook: String)  // POST is ingest (no user auth)
        case webhookPayloads(board: String, webhook: String)
        case boardMemory(board: String)  // a user, or an agent (optional agent auth)
        case gateways
        case gateway(id: String)
        case sessionMessage(session: String)
        // agent authentication
        case agentHealth
        case agentBoards
        case agentBoard(board: String, part: AgentBoardPart)
    }

    /// What a board-scoped agent route reads or writes.
    enum AgentBoardPart: Equatable {
        case board, tasks, tags, memory, approvals
        case payload(webhook: String, payload: String)
    }

    /// The route and the methods it serves, or nil when no route has this path.
    func match(_ segments: [Substring]) -> (route: Route, methods: [String])? {
        let p = segments
        switch p.count {
        case 1 where p[0] == "healthz" || p[0] == "readyz":
            return (.health, ["GET"])
        case 2 where p[0] == "__mcsec" && p[1] == "fault" && configuration.testRoutes:
            return (.fault, ["GET"])
        default: break
        }
        guard p.count >= 3, p[0] == "api", p[1] == "v1" else { return nil }
        let r = Array(p.dropFirst(2))
        switch (r.count, r[0]) {
        case (1, "boards"): return (.boards, ["GET"])
        case (2, "boards"): return (.board(board: String(r[1])), ["GET"])
        case (3, "boards") where r[2] == "webhooks": return (.webhooks(board: String(r[1])), ["GET", "POST"])
        case (3, "boards") where r[2] == "memory": return (.boardMemory(board: String(r[1])), ["GET"])
        case (4, "boards") where r[2] == "webhooks":
            return (.webhook(board: String(r[1]), webhook: String(r[3])), ["POST", "GET", "PATCH", "DELETE"])
        case (5, "boards") where r[2] == "webhooks" && r[4] == "payloads":
            return (.webhookPayloads(board: String(r[1]), webhook: String(r[3])), ["GET"])
        case (1, "gateways"): return (.gateways, ["GET"])
        case (2, "gateways"): return (.gateway(id: String(r[1])), ["GET"])
        case (4, "gateways") where r[1] == "sessions" && r[3] == "message":
            return (.sessionMessage(session: String(r[2])), ["POST"])
        case (2, "agent") where r[1] == "healthz": return (.agentHealth, ["GET"])
        case (2, "agent") where r[1] == "boards": return (.agentBoards, ["GET"])
        case (3, "agent") where r[1] == "boards": return (.agentBoard(board: String(r[2]), part: .board), ["GET"])
        case (4, "agent") where r[1] == "boards":
            let board = String(r[2])
            switch r[3] {
            case "tasks": return (.agentBoard(board: board, part: .tasks), ["GET", "POST"])
            case "tags": return (.agentBoard(board: board, part: .tags), ["GET"])
            case "memory": return (.agentBoard(board: board, part: .memory), ["GET", "POST"])
            case "approvals": return (.agentBoard(board: board, part: .approvals), ["GET"])
            default: return nil
            }
        case (7, "agent") where r[1] == "boards" && r[3] == "webhooks" && r[5] == "payloads":
            return (.agentBoard(board: String(r[2]), part: .payload(webhook: String(r[4]), payload: String(r[6]))), ["GET"])
        default:
            return nil
        }
    }

    /// The path as the framework matches it: percent-decoded (`+` stays `+`), split on `/`,
    /// without the leading empty segment. Nil for a path that does not start with `/`.
    static func segments(of path: Substring) -> [Substring]? {
        let slash = UInt8(ascii: "/")
        let utf8 = path.utf8
        // Nothing to decode and all ASCII (every path the HTTP server hands over that has no
        // escape): split as bytes, which gives the same pieces as splitting Characters, since
        // no ASCII character but CR LF joins its neighbour into one Character.
        if !utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 >= 0x80 }) {
            guard utf8.first == slash else { return nil }
            var parts: [Substring] = []
            parts.reserveCapacity(8)
            var start = utf8.index(after: utf8.startIndex)
            var i = start
            while i != utf8.endIndex {
                if utf8[i] == slash {
                    parts.append(path[start..<i])
                    start = utf8.index(after: i)
                }
                i = utf8.index(after: i)
            }
            parts.append(path[start...])
            return parts
        }
        let decoded = path.contains("%") ? Substring(PercentDecoding.decode(path, plusAsSpace: false)) : path
        let s = decoded.split(separator: "/", omittingEmptySubsequences: false)
        guard s.count >= 2, s[0].isEmpty else { return nil }
        return Array(s.dropFirst())
    }

    func route(_ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        guard let segments = ReferenceService.segments(of: request.path) else {
            return ReferenceService.error(404, "Not Found", requestID: requestID)
        }
        guard let (route, methods) = match(segments) else {
            // A trailing slash on a path that exists without it is redirected there.
            if !mutations.contains(.trailingSlash404), segments.count >= 2, segments.last?.isEmpty == true,
               match(Array(segments.dropLast())) != nil {
                var location = String(request.path.dropLast())
                if let query = request.queryString { location += "?" + query }
                var headers = HTTPFields()
                headers.append("Location", location)
                return HTTPResponse(status: 307, headers: headers)
            }
            return ReferenceService.error(404, "Not Found", requestID: requestID)
        }
        guard methods.contains(request.method) else {
            var response = ReferenceService.error(405, "Method Not Allowed", requestID: requestID)
            response.headers.append("Allow", methods.joined(separator: ", "))
            return response
        }
        let context = RequestContext(request: request, requestID: requestID, now: time.now())
        switch route {
        case .health:
            return ReferenceService.json(200, .object([("ok", .bool(true))]))
        case .fault:
            throw ServiceFault.deliberate
        case .boards:
            return listBoards(context)
        case .board(let board):
            return readBoard(context, boardText: board)
        case .webhooks(let board):
            return request.method == "POST" ? try createWebhook(context, boardText: board) : listWebhooks(context, boardText: board)
        case .webhook(let board, let webhook):
            if request.method == "POST" { return try ingestWebhook(context, boardText: board, webhookText: webhook) }
            return try manageWebhook(context, boardText: board, webhookText: webhook)
        case .webhookPayloads(let board, let webhook):
            return readPayloads(context, boardText: board, webhookText: webhook)
        case .boardMemory(let board):
            return readMemory(context, boardText: board)
        case .agentHealth:
            return agentHealth(context)
        case .agentBoards:
            return agentBoards(context)
        case .agentBoard(let board, let part):
            return try agentBoardRoute(context, boardText: board, part: part)
        case .gateways:
            return listGateways(context)
        case .gateway(let id):
            return readGateway(context, idText: id)
        case .sessionMessage(let session):
            return try sendSessionMessage(context, session: session)
        }
    }
}

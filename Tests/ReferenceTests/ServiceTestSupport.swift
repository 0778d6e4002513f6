import Foundation
import Reference
import Wire

/// The bundled world and well-known entities of it, plus request helpers, for service tests.
enum Seed {
    static let world: World = {
        do { return try World.bundled() } catch { return World() }
    }()

    static var acme: World.Organization { world.organization(named: "Acme")! }
    static var globex: World.Organization { world.organization(named: "Globex")! }
    static var acmeOps: World.Board { world.board(named: "acme-ops")! }
    static var acmeSales: World.Board { world.board(named: "acme-sales")! }
    static var globexMain: World.Board { world.board(named: "globex-main")! }
    static var openHook: World.Webhook { world.webhook(described: "open:")! }
    static var signedHook: World.Webhook { world.webhook(described: "signed")! }
    static var disabledHook: World.Webhook { world.webhook(described: "disabled")! }
    static var customHook: World.Webhook { world.webhook(described: "custom header")! }
    static var globexHook: World.Webhook { world.webhooks.first { $0.boardID == globexMain.id }! }
    static var boardAgent: World.Agent { world.agent(named: "acme-ops-board-agent")! }
    static var mainAgent: World.Agent { world.agent(named: "acme-main-agent")! }
    static var orphanAgent: World.Agent { world.agent(named: "orphan-main-agent")! }
    static var globexAgent: World.Agent { world.agent(named: "globex-main-agent")! }
    static var owner: World.User { world.user(named: "acme-owner")! }
    static var admin: World.User { world.user(named: "acme-admin")! }
    static var member: World.User { world.user(named: "acme-member")! }
    static var globexAdmin: World.User { world.user(named: "globex-admin")! }

    static func ingestPath(_ board: String, _ webhook: String) -> String { "/api/v1/boards/\(board)/webhooks/\(webhook)" }
    static func ingestPath(_ webhook: World.Webhook) -> String { ingestPath(webhook.boardID, webhook.id) }
}

/// A service over the bundled world with a manual clock.
struct Harnessed {
    let clock: ManualTimeSource
    let service: ReferenceService

    init(configuration: Configuration = .defaults, mutations: ReferenceMutations = [], store: (any RateLimitStore)? = nil) {
        clock = ManualTimeSource()
        service = ReferenceService(configuration: configuration, world: Seed.world, time: clock, store: store, mutations: mutations)
    }

    func send(_ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = [], peer: String? = "203.0.113.7") -> HTTPResponse {
        service.handle(HTTPRequest(method: method, target: target, headers: HTTPFields(headers), body: .bytes(body), peer: peer))
    }

    func send(_ method: String, _ target: String, headers: [(String, String)] = [], chunks: [[UInt8]], peer: String? = "203.0.113.7") -> HTTPResponse {
        service.handle(HTTPRequest(method: method, target: target, headers: HTTPFields(headers), body: .stream(ChunkListStream(chunks)), peer: peer))
    }

    /// Posts to a webhook, signing the body with the webhook's secret in `header` when given.
    func post(_ webhook: World.Webhook, body: [UInt8] = Array(#"{"event":"ping"}"#.utf8), signHeader: String? = nil,
              headers: [(String, String)] = [], peer: String? = "203.0.113.7") -> HTTPResponse {
        var all = headers
        if let signHeader, let secret = webhook.secret {
            all.append((signHeader, WebhookSignature.headerValue(secret: secret, body: body)))
        }
        return send("POST", Seed.ingestPath(webhook), headers: all, body: body, peer: peer)
    }
}

extension HTTPResponse {
    /// The parsed JSON body (nil when the body is not JSON).
    var json: JSONValue? { try? JSONValue.parse(body) }
    var detail: String? { json?["detail"]?.stringValue }
}

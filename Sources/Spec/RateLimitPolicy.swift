/// A rate-limit policy: at most `maxRequests` per `window` seconds, per client, in a namespace.
public struct RateLimitPolicy: Sendable, Hashable, Codable {
    public var namespace: String
    public var maxRequests: Int
    public var window: Double

    public init(namespace: String, maxRequests: Int, window: Double) {
        self.namespace = namespace
        self.maxRequests = maxRequests
        self.window = window
    }

    /// Agent authentication (`X-Agent-Token`): 20 requests per 60 seconds per IP.
    public static let agentAuth = RateLimitPolicy(namespace: "agent_auth", maxRequests: 20, window: 60)
    /// Webhook ingest: 60 requests per 60 seconds per IP.
    public static let webhookIngest = RateLimitPolicy(namespace: "webhook_ingest", maxRequests: 60, window: 60)

    /// Both documented policies.
    public static let documented: [RateLimitPolicy] = [.webhookIngest, .agentAuth]

    /// The documented policy of a namespace (`webhook_ingest`, `agent_auth`).
    public static func documented(namespace: String) -> RateLimitPolicy? {
        documented.first { $0.namespace == namespace }
    }
}

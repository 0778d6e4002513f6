import Wire

/// Rule: gateway read responses (`GET /api/v1/gateways`, `GET /api/v1/gateways/{id}`) expose the
/// gateway token in one of two phases. Today they include the raw `token`; a future release
/// replaces it with `has_token: bool`. A response that does neither, or both, is wrong in
/// either phase.
public enum GatewayTokenExposure {
    /// Which of the two documented behaviours a server has.
    public enum Phase: String, Sendable, Equatable, Codable, CaseIterable {
        /// Gateway reads include the raw `token` (today's behaviour).
        case raw
        /// Gateway reads include `has_token` instead (the announced future behaviour).
        case redacted
    }

    /// The token-related members of a gateway read in `phase`.
    public static func members(token: String?, phase: Phase) -> [(String, JSONValue)] {
        switch phase {
        case .raw: return [("token", token.map(JSONValue.string) ?? .null)]
        case .redacted: return [("has_token", .bool(!(token ?? "").isEmpty))]
        }
    }

    /// What a gateway object in a response shows about its token.
    public enum Observation: Sendable, Equatable, CustomStringConvertible {
        /// `token` present and `has_token` absent: the raw phase.
        case phase(Phase)
        /// Neither member: the response hides whether there is a token at all.
        case neither
        /// Both members: the token is redacted in name only.
        case both

        public var description: String {
            switch self {
            case .phase(.raw): return "raw token returned (today's documented behaviour)"
            case .phase(.redacted): return "token redacted to has_token (the announced future behaviour)"
            case .neither: return "neither token nor has_token in the gateway read"
            case .both: return "both token and has_token in the gateway read"
            }
        }
    }

    /// Classifies one gateway object of a read response.
    public static func observe(_ gateway: JSONValue) -> Observation {
        let hasToken = gateway["token"] != nil
        let hasFlag = gateway["has_token"] != nil
        switch (hasToken, hasFlag) {
        case (true, false): return .phase(.raw)
        case (false, true): return .phase(.redacted)
        case (true, true): return .both
        case (false, false): return .neither
        }
    }
}

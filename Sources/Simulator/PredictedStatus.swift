// Rule: the status a conforming server answers, from the limiter's decision and what the event
// presents, for the checks that an event determines on its own (the board and webhooks exist
// and are enabled; the open webhook has no secret, the signed one has one).
//
// Webhook ingest checks, in order: rate limit → 429 (so a refused request is 429 even when it is
// unsigned or too large); body larger than the payload limit → 413; signature missing or invalid
// on the signed webhook → 403; else 202. Exactly the limit is accepted.
// Agent authentication: the limiter comes before the token, so valid and invalid tokens both
// count: refused → 429; a valid token → 200; an invalid or missing token → 401.

/// What the limiter did with a request.
public enum LimiterDecision: UInt8, Sendable, CustomStringConvertible {
    case allowed = 0
    case refused = 1
    /// Allowed without being recorded: the shared store was unreachable.
    case failOpen = 2

    public var name: String {
        switch self {
        case .allowed: return "allowed"
        case .refused: return "refused"
        case .failOpen: return "fail_open"
        }
    }
    public var description: String { name }
}

public enum PredictedStatus {
    /// The status of an event with `decision`.
    @inlinable
    public static func status(endpoint: Endpoint, signature: SignatureMode, bodyBytes: Int, decision: LimiterDecision,
                              maxPayloadBytes: Int) -> Int {
        if decision == .refused { return 429 }
        switch endpoint {
        case .webhook:
            if bodyBytes > maxPayloadBytes { return 413 }
            if signature == .missing || signature == .invalid { return 403 }
            return 202
        case .agentAuth:
            return signature == .valid ? 200 : 401
        }
    }
}

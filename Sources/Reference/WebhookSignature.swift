import Wire

/// Rule: webhook HMAC verification.
///
/// Only a webhook with a secret is checked. The header checked is the first of these that is
/// present with a non-empty value (whitespace alone is empty): the webhook's own signature header (when it has one),
/// `X-Hub-Signature-256`, `X-Webhook-Signature`. A later header never rescues an earlier one:
/// a wrong `X-Hub-Signature-256` next to a right `X-Webhook-Signature` is invalid. The value
/// is trimmed, may start with `sha256=` in any case or be bare hex, is lower-cased, and is
/// compared in constant time with hex(HMAC-SHA256(secret as UTF-8, raw body bytes)).
public enum WebhookSignature {
    /// The default headers, in the order they are consulted.
    public static let defaultHeaders = ["X-Hub-Signature-256", "X-Webhook-Signature"]

    public static let missingDetail = "Missing webhook signature header."
    public static let invalidDetail = "Invalid webhook signature."

    /// What the check concluded.
    public enum Verdict: Sendable, Equatable {
        /// The webhook has no secret: nothing to check.
        case notRequired
        case valid(header: String)
        /// No candidate header is present with a non-empty value.
        case missing
        case invalid(header: String)

        public var isAccepted: Bool {
            switch self {
            case .notRequired, .valid: return true
            case .missing, .invalid: return false
            }
        }
    }

    /// The headers consulted for a webhook, in order.
    public static func candidateHeaders(custom: String?) -> [String] {
        guard let custom, !custom.isEmpty else { return defaultHeaders }
        return [custom] + defaultHeaders.filter { !HTTPFields.equalNames($0, custom) }
    }

    /// The header (name and value) that will be checked: the first candidate present with a
    /// non-empty value. When a header is repeated, its first line counts.
    ///
    /// A value of only spaces and tabs counts as empty: an HTTP parser strips that whitespace,
    /// so on the wire such a header arrives empty, and the in-process service must decide as
    /// it does over HTTP.
    public static func selectedHeader(custom: String?, headers: HTTPFields) -> (name: String, value: String)? {
        for name in candidateHeaders(custom: custom) {
            if let value = headers[name], !value.trimmingASCIIWhitespace().isEmpty { return (name, value) }
        }
        return nil
    }

    /// Lower-case hex of HMAC-SHA256(secret, body).
    public static func expectedHex(secret: String, body: [UInt8]) -> String {
        Hex.encode(HMACSHA256.authenticationCode(for: body, key: Array(secret.utf8)))
    }

    /// The header value a sender puts on `body`: `sha256=<hex>`.
    public static func headerValue(secret: String, body: [UInt8]) -> String {
        "sha256=" + expectedHex(secret: secret, body: body)
    }

    /// A presented value as it is compared: trimmed, without a `sha256=` prefix (any case),
    /// lower-cased.
    public static func normalize(_ value: String) -> String {
        var text = value.trimmingASCIIWhitespace()
        if text.utf8.count >= 7, String(text.prefix(7)).lowercased() == "sha256=" { text = text.dropFirst(7) }
        return text.lowercased()
    }

    public static func verify(secret: String?, customHeader: String?, headers: HTTPFields, body: [UInt8]) -> Verdict {
        guard let secret, !secret.isEmpty else { return .notRequired }
        guard let selected = selectedHeader(custom: customHeader, headers: headers) else { return .missing }
        let presented = Array(normalize(selected.value).utf8)
        let expected = Array(expectedHex(secret: secret, body: body).utf8)
        return ConstantTime.equals(presented, expected) ? .valid(header: selected.name) : .invalid(header: selected.name)
    }
}

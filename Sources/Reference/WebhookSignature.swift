import Spec
import Wire

/// Rule: webhook HMAC verification.
///
/// Only a webhook with a secret is checked. A webhook with its own signature header reads only
/// that header (the defaults are then ignored, even when right). Otherwise the header checked
/// is `X-Hub-Signature-256` when present with a non-empty value (whitespace alone is empty),
/// else `X-Webhook-Signature`: a wrong `X-Hub-Signature-256` next to a right
/// `X-Webhook-Signature` is invalid. The value loses a leading `sha256=` (any case) first,
/// is then trimmed and lower-cased (so `sha256= <hex>` and bare hex are valid), and is compared
/// in constant time with hex(HMAC-SHA256(secret as UTF-8, raw body bytes)).
public enum WebhookSignature {
    /// The default headers, in the order they are consulted.
    public static let defaultHeaders = SignatureHeaders.documented

    public static let missingDetail = "Missing webhook signature header."
    public static let invalidDetail = "Invalid webhook signature."

    /// What the check concluded.
    public enum Outcome: Sendable, Equatable {
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

    /// The headers consulted for a webhook, in order: its own header alone when it has one.
    /// - Parameter fallback: also consult the default headers after the webhook's own (only the
    ///   deliberately broken variant does).
    public static func candidateHeaders(custom: String?, fallback: Bool = false) -> [String] {
        guard let custom, !custom.isEmpty else { return defaultHeaders }
        guard fallback else { return [custom] }
        return [custom] + defaultHeaders.filter { !HTTPFields.equalNames($0, custom) }
    }

    /// Every header that can carry a signature for the webhook: none of them is stored with a
    /// payload, whichever was read.
    public static func signatureHeaders(custom: String?) -> [String] {
        guard let custom, !custom.isEmpty else { return defaultHeaders }
        return [custom] + defaultHeaders.filter { !HTTPFields.equalNames($0, custom) }
    }

    /// The header (name and value) that will be checked: the first candidate present with a
    /// non-empty value. When a header is repeated, its first line counts.
    ///
    /// A value of only spaces and tabs counts as empty: an HTTP parser strips that whitespace,
    /// so on the wire such a header arrives empty, and the in-process service must decide as
    /// it does over HTTP.
    public static func selectedHeader(custom: String?, headers: HTTPFields, fallback: Bool = false) -> (name: String, value: String)? {
        for name in candidateHeaders(custom: custom, fallback: fallback) {
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

    /// A presented value as it is compared: a leading `sha256=` (any case) removed first, then
    /// trimmed and lower-cased. The order matters: `sha256= <hex>` is valid.
    public static func normalize(_ value: String) -> String {
        var text = Substring(value)
        if text.utf8.count >= 7, text.utf8.prefix(7).map({ $0 | 0x20 }).elementsEqual("sha256=".utf8.map { $0 | 0x20 }) {
            text = text.dropFirst(7)
        }
        return text.trimmingASCIIWhitespace().lowercased()
    }

    /// - Parameters:
    ///   - fallback: read the default headers after the webhook's own (the broken variant).
    ///   - mutations: the signature faults of a deliberately broken reference (none for the real one).
    public static func verify(secret: String?, customHeader: String?, headers: HTTPFields, body: [UInt8],
                              fallback: Bool = false, mutations: ReferenceMutations = []) -> Outcome {
        guard let secret, !secret.isEmpty || mutations.contains(.unsignedWebhookChecked) else { return .notRequired }
        var candidates = headers
        if mutations.contains(.hubHeaderIgnored) { candidates.remove("X-Hub-Signature-256") }
        if mutations.contains(.webhookSignatureHeaderIgnored) { candidates.remove("X-Webhook-Signature") }
        guard let selected = selectedHeader(custom: customHeader, headers: candidates, fallback: fallback) else { return .missing }
        let expectedText = mutations.contains(.plainSHA256NotHMAC)
            ? Hex.encode(SHA256.hash(Array(secret.utf8) + body)) : expectedHex(secret: secret, body: body)
        let expected = Array(expectedText.utf8)
        func matches(_ value: String) -> Bool {
            let normalized = mutations.contains(.signatureHexCaseSensitive)
                ? String(value.hasPrefix("sha256=") ? value.dropFirst(7) : value[...]).trimmingASCIIWhitespace()[...]
                : normalize(value)[...]
            return ConstantTime.equals(Array(normalized.utf8), expected)
        }
        if matches(selected.value) { return .valid(header: selected.name) }
        if mutations.contains(.anySignatureHeaderAccepted), customHeader == nil,
           let other = defaultHeaders.first(where: { !HTTPFields.equalNames($0, selected.name) }),
           let value = candidates[other], matches(value) {
            return .valid(header: other)
        }
        return .invalid(header: selected.name)
    }
}

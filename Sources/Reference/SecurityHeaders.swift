import Spec
import Wire

/// Rule: every response carries the configured security headers (errors, 404s, 429s and 5xx
/// included), unless the response already has that header (names compared
/// case-insensitively). A header configured blank is not sent.
public struct SecurityHeaders: Sendable, Equatable {
    /// `X-Content-Type-Options`; nil = not sent.
    public var contentTypeOptions: String?
    /// `X-Frame-Options`; nil = not sent.
    public var frameOptions: String?
    /// `Referrer-Policy`; nil = not sent.
    public var referrerPolicy: String?
    /// `Permissions-Policy`; nil = not sent (the default).
    public var permissionsPolicy: String?

    public init(contentTypeOptions: String? = "nosniff", frameOptions: String? = "DENY",
                referrerPolicy: String? = "strict-origin-when-cross-origin", permissionsPolicy: String? = nil) {
        self.contentTypeOptions = contentTypeOptions
        self.frameOptions = frameOptions
        self.referrerPolicy = referrerPolicy
        self.permissionsPolicy = permissionsPolicy
    }

    /// The documented defaults: nosniff, DENY, strict-origin-when-cross-origin, no Permissions-Policy.
    public static let defaults = SecurityHeaders()

    /// Each header with the environment variable that configures it and its default.
    public static let variables: [(name: String, variable: String, defaultValue: String?)] =
        DocumentedHeader.table.map { ($0.name, $0.variable, $0.defaultValue) }

    /// The headers that are sent, in a fixed order.
    public var fields: [HTTPField] {
        var out: [HTTPField] = []
        if let v = contentTypeOptions { out.append(HTTPField(name: "X-Content-Type-Options", value: v)) }
        if let v = frameOptions { out.append(HTTPField(name: "X-Frame-Options", value: v)) }
        if let v = referrerPolicy { out.append(HTTPField(name: "Referrer-Policy", value: v)) }
        if let v = permissionsPolicy { out.append(HTTPField(name: "Permissions-Policy", value: v)) }
        return out
    }

    /// Adds each configured header the response does not already carry.
    public func apply(to response: inout HTTPResponse) {
        SecurityHeaders.apply(fields, to: &response)
    }

    /// As `apply(to:)`, with the fields already listed (a server lists them once).
    public static func apply(_ fields: [HTTPField], to response: inout HTTPResponse) {
        for field in fields where !response.headers.contains(field.name) {
            response.headers.append(field.name, field.value)
        }
    }

    /// What a configured value becomes: trimmed, and nil (header off) when blank.
    static func configuredValue(_ raw: String) -> String? {
        let trimmed = raw.trimmingASCIIWhitespace()
        return trimmed.isEmpty ? nil : String(trimmed)
    }
}

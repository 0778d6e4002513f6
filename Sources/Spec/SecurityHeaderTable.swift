/// The page's security-header table: each header, the variable that configures it, and its
/// default. Set to a value → that value (trimmed); set blank → the header is not sent;
/// unset → the default.
public struct DocumentedHeader: Sendable, Equatable {
    public var name: String
    public var variable: String
    /// nil: not sent by default.
    public var defaultValue: String?
    /// The header's grammar compares values case-insensitively (RFC 7034 for
    /// X-Frame-Options; the Fetch standard's "nosniff" match), so a server sending `deny`
    /// conforms. Referrer-Policy tokens and Permissions-Policy are compared exactly.
    public var caseInsensitive: Bool
    /// The catalog rule of the header's table row.
    public var rule: String

    /// The table, in the page's order.
    public static let table: [DocumentedHeader] = [
        DocumentedHeader(name: "X-Content-Type-Options", variable: "SECURITY_HEADER_X_CONTENT_TYPE_OPTIONS",
                         defaultValue: "nosniff", caseInsensitive: true, rule: "HDR-2"),
        DocumentedHeader(name: "X-Frame-Options", variable: "SECURITY_HEADER_X_FRAME_OPTIONS",
                         defaultValue: "DENY", caseInsensitive: true, rule: "HDR-3"),
        DocumentedHeader(name: "Referrer-Policy", variable: "SECURITY_HEADER_REFERRER_POLICY",
                         defaultValue: "strict-origin-when-cross-origin", caseInsensitive: false, rule: "HDR-4"),
        DocumentedHeader(name: "Permissions-Policy", variable: "SECURITY_HEADER_PERMISSIONS_POLICY",
                         defaultValue: nil, caseInsensitive: false, rule: "HDR-5"),
    ]
}

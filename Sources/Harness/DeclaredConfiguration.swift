/// What a deployment's environment promises, read the way the security page documents it.
///
/// The harness reads the environment itself instead of asking the reference's
/// `Configuration`: the suites are the judge of the reference too, so they must not take its
/// word for what the headers or limits should be.
public struct DeclaredConfiguration: Sendable, Equatable {
    /// A security header the page documents, with its variable and default.
    public struct HeaderDefault: Sendable, Equatable {
        public var name: String
        public var variable: String
        /// nil: disabled by default.
        public var defaultValue: String?
        /// The header's grammar compares values case-insensitively (RFC 7034 for
        /// X-Frame-Options; the Fetch standard's "nosniff" match), so a server sending `deny`
        /// conforms. Referrer-Policy tokens and Permissions-Policy are compared exactly.
        public var caseInsensitive: Bool
        /// The catalog rule of the header's table row.
        public var rule: String
    }

    public static let headerDefaults: [HeaderDefault] = [
        HeaderDefault(name: "X-Content-Type-Options", variable: "SECURITY_HEADER_X_CONTENT_TYPE_OPTIONS",
                      defaultValue: "nosniff", caseInsensitive: true, rule: "HDR-2"),
        HeaderDefault(name: "X-Frame-Options", variable: "SECURITY_HEADER_X_FRAME_OPTIONS",
                      defaultValue: "DENY", caseInsensitive: true, rule: "HDR-3"),
        HeaderDefault(name: "Referrer-Policy", variable: "SECURITY_HEADER_REFERRER_POLICY",
                      defaultValue: "strict-origin-when-cross-origin", caseInsensitive: false, rule: "HDR-4"),
        HeaderDefault(name: "Permissions-Policy", variable: "SECURITY_HEADER_PERMISSIONS_POLICY",
                      defaultValue: nil, caseInsensitive: false, rule: "HDR-5"),
    ]

    public static let defaultPayloadLimit = 1_048_576

    /// A header the responses must carry (value) or must not carry (nil).
    public struct ExpectedHeader: Sendable, Equatable {
        public var name: String
        public var value: String?
        public var caseInsensitive: Bool
        public var rule: String
    }

    public var environment: [String: String]
    public var headers: [ExpectedHeader]
    public var payloadLimit: Int
    /// `memory` or `redis`.
    public var backend: String
    public var trustedProxies: String
    /// `raw` or `redacted`.
    public var gatewayTokenExposure: String
    /// Why the environment is not one a conforming server accepts (nil when fine).
    public var problem: String?

    public init(environment: [String: String]) {
        self.environment = environment
        var problem: String? = nil
        headers = DeclaredConfiguration.headerDefaults.map { d in
            // Set → trimmed value; blank → header off; unset → the documented default.
            let value: String?
            if let raw = environment[d.variable] {
                let trimmed = raw.trimmingCharacters(in: .whitespaces)
                value = trimmed.isEmpty ? nil : trimmed
            } else {
                value = d.defaultValue
            }
            return ExpectedHeader(name: d.name, value: value, caseInsensitive: d.caseInsensitive, rule: d.rule)
        }
        var limit = DeclaredConfiguration.defaultPayloadLimit
        if let raw = environment["WEBHOOK_MAX_PAYLOAD_BYTES"]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty {
            if let n = Int(raw), n >= 0 { limit = n } else {
                problem = "WEBHOOK_MAX_PAYLOAD_BYTES must be a whole number of bytes (0 or more), found \"\(raw)\""
            }
        }
        payloadLimit = limit
        let backendText = (environment["RATE_LIMIT_BACKEND"] ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        if backendText.isEmpty || backendText == "memory" {
            backend = "memory"
        } else if backendText == "redis" {
            backend = "redis"
        } else {
            backend = backendText
            problem = problem ?? "RATE_LIMIT_BACKEND must be \"memory\" or \"redis\", found \"\(backendText)\""
        }
        trustedProxies = (environment["TRUSTED_PROXIES"] ?? "").trimmingCharacters(in: .whitespaces)
        let exposure = (environment["GATEWAY_TOKEN_EXPOSURE"] ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        gatewayTokenExposure = exposure.isEmpty ? "raw" : exposure
        self.problem = problem
    }

    /// The declared environment with a fixture's overrides applied.
    public func with(overrides: [String: String]) -> DeclaredConfiguration {
        guard !overrides.isEmpty else { return self }
        return DeclaredConfiguration(environment: environment.merging(overrides) { _, new in new })
    }

    /// True when a fixture's overrides describe what this configuration already is, so the
    /// fixture can run against a deployment whose configuration the harness cannot change.
    public func alreadySatisfies(_ overrides: [String: String]) -> Bool {
        guard !overrides.isEmpty else { return true }
        // Variables the harness understands compare by meaning (an unset header variable
        // equals its documented default); any other variable must be declared with that text.
        let unmodelledMatch = overrides.allSatisfy { key, value in
            DeclaredConfiguration.modelledVariables.contains(key)
                || (environment[key] ?? "").trimmingCharacters(in: .whitespaces) == value.trimmingCharacters(in: .whitespaces)
        }
        return unmodelledMatch && with(overrides: overrides) == self
    }

    static let modelledVariables: Set<String> = Set(headerDefaults.map(\.variable)).union([
        "WEBHOOK_MAX_PAYLOAD_BYTES", "RATE_LIMIT_BACKEND", "TRUSTED_PROXIES", "GATEWAY_TOKEN_EXPOSURE", "MCSEC_TEST_ROUTES",
    ])

    public static func == (a: DeclaredConfiguration, b: DeclaredConfiguration) -> Bool {
        a.headers == b.headers && a.payloadLimit == b.payloadLimit && a.backend == b.backend
            && a.trustedProxies == b.trustedProxies && a.gatewayTokenExposure == b.gatewayTokenExposure
            && a.testRoutes == b.testRoutes
    }

    /// `MCSEC_TEST_ROUTES=1`: the reference's fault route is enabled.
    public var testRoutes: Bool {
        (environment["MCSEC_TEST_ROUTES"] ?? "").trimmingCharacters(in: .whitespaces) == "1"
    }
}

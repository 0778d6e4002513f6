import Spec
import Wire

/// What a deployment's environment promises, read the way the security page documents it.
///
/// The harness reads the environment itself instead of asking the reference's
/// `Configuration`: the suites are the judge of the reference too, so they must not take its
/// word for what the headers or limits should be.
public struct DeclaredConfiguration: Sendable, Equatable {
    /// The page's header table.
    public static var headerDefaults: [DocumentedHeader] { DocumentedHeader.table }

    public static let defaultPayloadLimit = PayloadLimitDefaults.bytes

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
                let trimmed = String(raw.trimmingASCIIWhitespace())
                value = trimmed.isEmpty ? nil : trimmed
            } else {
                value = d.defaultValue
            }
            return ExpectedHeader(name: d.name, value: value, caseInsensitive: d.caseInsensitive, rule: d.rule)
        }
        var limit = DeclaredConfiguration.defaultPayloadLimit
        if let raw = environment[PayloadLimitDefaults.variable].map({ String($0.trimmingASCIIWhitespace()) }), !raw.isEmpty {
            if let n = Int(raw), n >= 0 { limit = n } else {
                problem = "WEBHOOK_MAX_PAYLOAD_BYTES must be a whole number of bytes (0 or more), found \"\(raw)\""
            }
        }
        payloadLimit = limit
        let backendText = String((environment["RATE_LIMIT_BACKEND"] ?? "").trimmingASCIIWhitespace()).lowercased()
        if backendText.isEmpty || backendText == "memory" {
            backend = "memory"
        } else if backendText == "redis" {
            backend = "redis"
        } else {
            backend = backendText
            problem = problem ?? "RATE_LIMIT_BACKEND must be \"memory\" or \"redis\", found \"\(backendText)\""
        }
        trustedProxies = String((environment["TRUSTED_PROXIES"] ?? "").trimmingASCIIWhitespace())
        let exposure = String((environment["GATEWAY_TOKEN_EXPOSURE"] ?? "").trimmingASCIIWhitespace()).lowercased()
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
                || String((environment[key] ?? "").trimmingASCIIWhitespace()) == String(value.trimmingASCIIWhitespace())
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
        String((environment["MCSEC_TEST_ROUTES"] ?? "").trimmingASCIIWhitespace()) == "1"
    }
}

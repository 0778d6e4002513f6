import Spec

/// Rule: the service is configured once, at start-up, from its environment; a bad value stops
/// it with a message that names the variable, the value and what is accepted.
///
/// Decisions where the spec and the real service leave room (each is tested):
/// - `SECURITY_HEADER_*`: trimmed; blank turns the header off; absent means the default. A
///   value with a control character (CR, LF, NUL, …) is an error: it would forge headers.
/// - `WEBHOOK_MAX_PAYLOAD_BYTES`: ASCII digits only, surrounding whitespace trimmed; blank,
///   signed, fractional, non-numeric or larger than `Int.max` is an error.
/// - `RATE_LIMIT_BACKEND`: `memory` or `redis`, case-insensitive and trimmed; absent or blank
///   means `memory`.
/// - Redis URL: `RATE_LIMIT_REDIS_URL` when non-blank, else `RQ_REDIS_URL` when non-blank,
///   else — only when `RQ_REDIS_URL` is absent altogether — `redis://localhost:6379/0`. When
///   both are set but blank the operator said "no URL", so that is an error rather than a
///   silent fall-back to localhost.
/// - `TRUSTED_PROXIES`: comma-separated IPs/CIDRs (IPv4 and IPv6); an entry that does not
///   parse is an error naming it (the real service drops it silently).
/// - `GATEWAY_TOKEN_EXPOSURE`: `raw` (default) or `redacted`, case-insensitive.
/// - `MCSEC_TEST_ROUTES`: `1`/`true`/`yes`/`on` enable, `0`/`false`/`no`/`off`/blank disable.
/// - `MCSEC_REDIS_TIMEOUT_MS`: how long a limiter decision waits for Redis before failing open,
///   1 to 60,000 ms (default 50: a stalled Redis must not hold requests). Not a variable of the
///   real service: tests that count exact limits on a busy machine raise it.
public struct Configuration: Sendable, Equatable {
    public var securityHeaders: SecurityHeaders
    public var webhookMaxPayloadBytes: Int
    public var rateLimitBackend: RateLimitBackend
    public var trustedProxies: TrustedProxies
    public var gatewayTokenExposure: GatewayTokenExposure.Phase
    /// Enables `GET /__mcsec/fault`, which answers 500 through the normal error path so that
    /// suites can check the headers of a 5xx.
    public var testRoutes: Bool
    /// Seconds a Redis call may take before the limiter fails open.
    public var redisTimeout: Double = Configuration.defaultRedisTimeout

    public static let defaultRedisTimeout = 0.05
    public static let defaultMaxPayloadBytes = PayloadLimitDefaults.bytes
    public static let defaultRedisURL = "redis://localhost:6379/0"

    public init(securityHeaders: SecurityHeaders = .defaults, webhookMaxPayloadBytes: Int = Configuration.defaultMaxPayloadBytes,
                rateLimitBackend: RateLimitBackend = .memory, trustedProxies: TrustedProxies = .none,
                gatewayTokenExposure: GatewayTokenExposure.Phase = .raw, testRoutes: Bool = false) {
        self.securityHeaders = securityHeaders
        self.webhookMaxPayloadBytes = webhookMaxPayloadBytes
        self.rateLimitBackend = rateLimitBackend
        self.trustedProxies = trustedProxies
        self.gatewayTokenExposure = gatewayTokenExposure
        self.testRoutes = testRoutes
    }

    /// The configuration of an empty environment.
    public static let defaults = Configuration()

    /// Every variable `parse` reads, for `--help` texts and error hints.
    public static let variables = DocumentedVariables.all + ["MCSEC_TEST_ROUTES", "MCSEC_REDIS_TIMEOUT_MS"]

    public static func parse(environment env: [String: String]) throws(ConfigurationError) -> Configuration {
        var config = Configuration()

        var headers = SecurityHeaders(contentTypeOptions: nil, frameOptions: nil, referrerPolicy: nil, permissionsPolicy: nil)
        for (index, spec) in SecurityHeaders.variables.enumerated() {
            var value = spec.defaultValue
            if let raw = env[spec.variable] {
                if raw.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" || $0.value == 0x7F }) {
                    throw ConfigurationError(variable: spec.variable, value: raw,
                                             accepted: "a header value without control characters (blank turns the \(spec.name) header off)")
                }
                value = SecurityHeaders.configuredValue(raw)
            }
            switch index {
            case 0: headers.contentTypeOptions = value
            case 1: headers.frameOptions = value
            case 2: headers.referrerPolicy = value
            default: headers.permissionsPolicy = value
            }
        }
        config.securityHeaders = headers

        if let raw = env["WEBHOOK_MAX_PAYLOAD_BYTES"] {
            let text = raw.trimmingASCIIWhitespace()
            guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int(text) else {
                throw ConfigurationError(variable: "WEBHOOK_MAX_PAYLOAD_BYTES", value: raw,
                                         accepted: "a whole number of bytes, 0 to \(Int.max) (default \(defaultMaxPayloadBytes))")
            }
            config.webhookMaxPayloadBytes = n
        }

        let backend = (env["RATE_LIMIT_BACKEND"] ?? "").trimmingASCIIWhitespace().lowercased()
        switch backend {
        case "", "memory":
            config.rateLimitBackend = .memory
        case "redis":
            let primary = (env["RATE_LIMIT_REDIS_URL"] ?? "").trimmingASCIIWhitespace()
            if !primary.isEmpty {
                config.rateLimitBackend = .redis(url: String(primary))
            } else if let fallback = env["RQ_REDIS_URL"] {
                let trimmed = fallback.trimmingASCIIWhitespace()
                guard !trimmed.isEmpty else {
                    throw ConfigurationError(variable: "RATE_LIMIT_REDIS_URL", value: env["RATE_LIMIT_REDIS_URL"] ?? "",
                                             accepted: "a redis:// URL when RATE_LIMIT_BACKEND=redis; RQ_REDIS_URL, its fall-back, is blank too (unset RQ_REDIS_URL to use \(defaultRedisURL))")
                }
                config.rateLimitBackend = .redis(url: String(trimmed))
            } else {
                config.rateLimitBackend = .redis(url: defaultRedisURL)
            }
        default:
            throw ConfigurationError(variable: "RATE_LIMIT_BACKEND", value: env["RATE_LIMIT_BACKEND"] ?? "",
                                     accepted: "memory (default) or redis")
        }

        if let raw = env["TRUSTED_PROXIES"] {
            do {
                config.trustedProxies = try TrustedProxies.parse(raw)
            } catch {
                throw ConfigurationError(variable: "TRUSTED_PROXIES", value: raw,
                                         accepted: "comma-separated IP addresses or CIDR blocks such as 10.0.0.0/8, 192.168.1.5, 2001:db8::/32; '\(error.entry)' is neither")
            }
        }

        switch (env["GATEWAY_TOKEN_EXPOSURE"] ?? "").trimmingASCIIWhitespace().lowercased() {
        case "", "raw": config.gatewayTokenExposure = .raw
        case "redacted": config.gatewayTokenExposure = .redacted
        default:
            throw ConfigurationError(variable: "GATEWAY_TOKEN_EXPOSURE", value: env["GATEWAY_TOKEN_EXPOSURE"] ?? "",
                                     accepted: "raw (gateway reads return the token; default) or redacted (they return has_token)")
        }

        switch (env["MCSEC_TEST_ROUTES"] ?? "").trimmingASCIIWhitespace().lowercased() {
        case "", "0", "false", "no", "off": config.testRoutes = false
        case "1", "true", "yes", "on": config.testRoutes = true
        default:
            throw ConfigurationError(variable: "MCSEC_TEST_ROUTES", value: env["MCSEC_TEST_ROUTES"] ?? "",
                                     accepted: "1 to enable the test routes, 0 or blank to disable them")
        }

        if let raw = env["MCSEC_REDIS_TIMEOUT_MS"], !raw.trimmingASCIIWhitespace().isEmpty {
            let text = raw.trimmingASCIIWhitespace()
            guard text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let ms = Int(text), (1...60_000).contains(ms) else {
                throw ConfigurationError(variable: "MCSEC_REDIS_TIMEOUT_MS", value: raw,
                                         accepted: "a whole number of milliseconds from 1 to 60000 (default 50)")
            }
            config.redisTimeout = Double(ms) / 1000
        }
        return config
    }
}

/// Where limiter state lives.
public enum RateLimitBackend: Sendable, Equatable {
    /// In this process (the default; per worker).
    case memory
    /// A Redis server shared by all workers.
    case redis(url: String)
}

/// A configuration value the service cannot start with.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var variable: String
    public var value: String
    /// What the variable accepts, phrased as advice.
    public var accepted: String

    public init(variable: String, value: String, accepted: String) {
        self.variable = variable
        self.value = value
        self.accepted = accepted
    }

    public var description: String {
        // The value is quoted with escapes so that an invisible character is visible, and
        // bounded so that a pasted megabyte does not flood the terminal.
        var shown = String(value.unicodeScalars.prefix(200).map { $0.escaped(asASCII: false) }.joined())
        if value.unicodeScalars.count > 200 { shown += "…" }
        return "invalid \(variable)=\"\(shown)\": expected \(accepted)"
    }
}

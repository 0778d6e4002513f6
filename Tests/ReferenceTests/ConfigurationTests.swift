import Testing
import Reference

@Suite struct ConfigurationTests {
    @Test func emptyEnvironmentGivesTheDocumentedDefaults() throws {
        let c = try Configuration.parse(environment: [:])
        #expect(c == Configuration.defaults)
        #expect(c.securityHeaders.contentTypeOptions == "nosniff")
        #expect(c.securityHeaders.frameOptions == "DENY")
        #expect(c.securityHeaders.referrerPolicy == "strict-origin-when-cross-origin")
        #expect(c.securityHeaders.permissionsPolicy == nil)
        #expect(c.webhookMaxPayloadBytes == 1_048_576)
        #expect(c.rateLimitBackend == .memory)
        #expect(c.trustedProxies.networks.isEmpty)
        #expect(c.gatewayTokenExposure == .raw)
        #expect(!c.testRoutes)
    }

    @Test func headerValuesAreTrimmedAndBlankTurnsAHeaderOff() throws {
        let c = try Configuration.parse(environment: [
            "SECURITY_HEADER_X_CONTENT_TYPE_OPTIONS": "   ",
            "SECURITY_HEADER_X_FRAME_OPTIONS": "  SAMEORIGIN \t",
            "SECURITY_HEADER_REFERRER_POLICY": "",
            "SECURITY_HEADER_PERMISSIONS_POLICY": " camera=(), microphone=() ",
        ])
        #expect(c.securityHeaders.contentTypeOptions == nil)
        #expect(c.securityHeaders.frameOptions == "SAMEORIGIN")
        #expect(c.securityHeaders.referrerPolicy == nil)
        #expect(c.securityHeaders.permissionsPolicy == "camera=(), microphone=()")
        #expect(c.securityHeaders.fields.map(\.name) == ["X-Frame-Options", "Permissions-Policy"])
    }

    @Test(arguments: ["nosniff\r\nSet-Cookie: a=b", "DENY\n", "a\u{0}b"])
    func headerValueWithControlCharactersIsAnError(value: String) {
        #expect(throws: ConfigurationError.self) {
            try Configuration.parse(environment: ["SECURITY_HEADER_X_FRAME_OPTIONS": value])
        }
    }

    @Test(arguments: [("0", 0), ("1", 1), (" 2048 ", 2048), ("9223372036854775807", Int.max)])
    func payloadLimitAcceptsNonNegativeWholeNumbers(text: String, expected: Int) throws {
        let c = try Configuration.parse(environment: ["WEBHOOK_MAX_PAYLOAD_BYTES": text])
        #expect(c.webhookMaxPayloadBytes == expected)
    }

    @Test(arguments: ["-1", "abc", "1.5", "", " ", "+5", "1e6", "0x10", "9223372036854775808", "1_000"])
    func payloadLimitRejectsAnythingElseNamingVariableValueAndForm(text: String) {
        do {
            _ = try Configuration.parse(environment: ["WEBHOOK_MAX_PAYLOAD_BYTES": text])
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.variable == "WEBHOOK_MAX_PAYLOAD_BYTES")
            #expect(error.value == text)
            #expect(error.description.contains("WEBHOOK_MAX_PAYLOAD_BYTES"))
            #expect(error.description.contains("whole number"))
        }
    }

    @Test func backendIsCaseInsensitiveAndBlankMeansMemory() throws {
        #expect(try Configuration.parse(environment: ["RATE_LIMIT_BACKEND": " Memory "]).rateLimitBackend == .memory)
        #expect(try Configuration.parse(environment: ["RATE_LIMIT_BACKEND": ""]).rateLimitBackend == .memory)
        #expect(try Configuration.parse(environment: ["RATE_LIMIT_BACKEND": "REDIS", "RATE_LIMIT_REDIS_URL": "redis://r:6379/1"]).rateLimitBackend
                == .redis(url: "redis://r:6379/1"))
    }

    @Test func unknownBackendIsAnError() {
        do {
            _ = try Configuration.parse(environment: ["RATE_LIMIT_BACKEND": "memcached"])
            Issue.record("accepted memcached")
        } catch {
            #expect(error.variable == "RATE_LIMIT_BACKEND")
            #expect(error.description.contains("memcached"))
            #expect(error.description.contains("memory"))
            #expect(error.description.contains("redis"))
        }
    }

    @Test func redisURLFallsBackToRQRedisURLWhenBlank() throws {
        let c = try Configuration.parse(environment: ["RATE_LIMIT_BACKEND": "redis", "RATE_LIMIT_REDIS_URL": "  ", "RQ_REDIS_URL": " redis://queue:6380/2 "])
        #expect(c.rateLimitBackend == .redis(url: "redis://queue:6380/2"))
        let absent = try Configuration.parse(environment: ["RATE_LIMIT_BACKEND": "redis", "RQ_REDIS_URL": "redis://queue:6380/2"])
        #expect(absent.rateLimitBackend == .redis(url: "redis://queue:6380/2"))
    }

    @Test func redisURLPrefersTheRateLimitVariable() throws {
        let c = try Configuration.parse(environment: ["RATE_LIMIT_BACKEND": "redis", "RATE_LIMIT_REDIS_URL": "redis://a:1/0", "RQ_REDIS_URL": "redis://b:2/0"])
        #expect(c.rateLimitBackend == .redis(url: "redis://a:1/0"))
    }

    @Test func redisURLDefaultsToLocalhostOnlyWhenRQRedisURLIsUnset() throws {
        let c = try Configuration.parse(environment: ["RATE_LIMIT_BACKEND": "redis"])
        #expect(c.rateLimitBackend == .redis(url: "redis://localhost:6379/0"))
    }

    @Test func bothRedisURLsBlankIsAnError() {
        for env in [["RATE_LIMIT_BACKEND": "redis", "RATE_LIMIT_REDIS_URL": "", "RQ_REDIS_URL": " "],
                    ["RATE_LIMIT_BACKEND": "redis", "RQ_REDIS_URL": ""]] {
            do {
                _ = try Configuration.parse(environment: env)
                Issue.record("accepted \(env)")
            } catch {
                #expect(error.variable == "RATE_LIMIT_REDIS_URL")
                #expect(error.description.contains("RQ_REDIS_URL"))
            }
        }
    }

    @Test func redisURLsAreIgnoredWithTheMemoryBackend() throws {
        let c = try Configuration.parse(environment: ["RATE_LIMIT_REDIS_URL": "", "RQ_REDIS_URL": ""])
        #expect(c.rateLimitBackend == .memory)
    }

    @Test func trustedProxiesParseIPv4AndIPv6AddressesAndBlocks() throws {
        let c = try Configuration.parse(environment: ["TRUSTED_PROXIES": " 10.0.0.0/8, 192.168.1.5 ,2001:db8::/32,::1,, "])
        #expect(c.trustedProxies.networks.count == 4)
        #expect(c.trustedProxies.contains("10.200.3.4"))
        #expect(c.trustedProxies.contains("192.168.1.5"))
        #expect(!c.trustedProxies.contains("192.168.1.6"))
        #expect(c.trustedProxies.contains("2001:db8:ffff::1"))
        #expect(c.trustedProxies.contains("::1"))
        #expect(!c.trustedProxies.contains("2001:db9::1"))
    }

    @Test(arguments: ["10.0.0.0/33", "10.0.0.256", "proxy.internal", "2001:db8::/129", "10.0.0.0/", "1.2.3.4/-1", "fe80:::1"])
    func aBadTrustedProxyEntryIsAnErrorNamingIt(entry: String) {
        do {
            _ = try Configuration.parse(environment: ["TRUSTED_PROXIES": "10.1.1.1, \(entry)"])
            Issue.record("accepted \(entry)")
        } catch {
            #expect(error.variable == "TRUSTED_PROXIES")
            #expect(error.description.contains("'\(entry)'"))
            #expect(error.description.contains("CIDR"))
        }
    }

    @Test func gatewayTokenExposurePhases() throws {
        #expect(try Configuration.parse(environment: ["GATEWAY_TOKEN_EXPOSURE": "Redacted"]).gatewayTokenExposure == .redacted)
        #expect(try Configuration.parse(environment: ["GATEWAY_TOKEN_EXPOSURE": "raw"]).gatewayTokenExposure == .raw)
        #expect(throws: ConfigurationError.self) { try Configuration.parse(environment: ["GATEWAY_TOKEN_EXPOSURE": "hidden"]) }
    }

    @Test func testRoutesSwitch() throws {
        #expect(try Configuration.parse(environment: ["MCSEC_TEST_ROUTES": "1"]).testRoutes)
        #expect(try Configuration.parse(environment: ["MCSEC_TEST_ROUTES": "true"]).testRoutes)
        #expect(try !Configuration.parse(environment: ["MCSEC_TEST_ROUTES": "0"]).testRoutes)
        #expect(throws: ConfigurationError.self) { try Configuration.parse(environment: ["MCSEC_TEST_ROUTES": "maybe"]) }
    }

    @Test func errorDescriptionShowsInvisibleCharactersAndBoundsLength() {
        let e = ConfigurationError(variable: "X", value: "a\u{0}" + String(repeating: "b", count: 5000), accepted: "something")
        #expect(e.description.contains("\\0"))
        #expect(e.description.count < 400)
    }
}

@Suite struct RedisTimeoutConfigurationTests {
    @Test func theDefaultIsFiftyMilliseconds() throws {
        #expect(try Configuration.parse(environment: [:]).redisTimeout == 0.05)
        #expect(try Configuration.parse(environment: ["MCSEC_REDIS_TIMEOUT_MS": " "]).redisTimeout == 0.05)
    }

    @Test func aWholeNumberOfMillisecondsSetsIt() throws {
        #expect(try Configuration.parse(environment: ["MCSEC_REDIS_TIMEOUT_MS": " 2000 "]).redisTimeout == 2)
        #expect(try Configuration.parse(environment: ["MCSEC_REDIS_TIMEOUT_MS": "1"]).redisTimeout == 0.001)
    }

    @Test(arguments: ["0", "60001", "-5", "1.5", "fast", "+10"])
    func anythingElseIsAnErrorNamingTheVariable(value: String) {
        #expect {
            try Configuration.parse(environment: ["MCSEC_REDIS_TIMEOUT_MS": value])
        } throws: { error in
            "\(error)".contains("MCSEC_REDIS_TIMEOUT_MS") && "\(error)".contains("milliseconds")
        }
    }
}

/// How the rate-limit backend and its Redis URL are chosen (REDIS-1, -2, -4, -8): the
/// reference's own parser, so a unit test rather than a conformance fixture (no server can
/// show its parser; the start-up fixtures show the consequences).
@Suite struct BackendSelectionTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var environment: [String: String]
        /// The backend chosen, or nil for a configuration error.
        var backend: RateLimitBackend?
        var errorContains: [String] = []
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "no variable: memory", environment: [:], backend: .memory),
        Case(name: "memory", environment: ["RATE_LIMIT_BACKEND": "memory"], backend: .memory),
        Case(name: "redis at RATE_LIMIT_REDIS_URL, not RQ_REDIS_URL",
             environment: ["RATE_LIMIT_BACKEND": "redis", "RATE_LIMIT_REDIS_URL": "redis://limits.internal:6380/3", "RQ_REDIS_URL": "redis://queue.internal:6379/0"],
             backend: .redis(url: "redis://limits.internal:6380/3")),
        Case(name: "an unknown backend", environment: ["RATE_LIMIT_BACKEND": "memcached"], backend: nil,
             errorContains: ["RATE_LIMIT_BACKEND", "memcached"]),
        Case(name: "falls back to RQ_REDIS_URL", environment: ["RATE_LIMIT_BACKEND": "redis", "RQ_REDIS_URL": "redis://queue.internal:6379/2"],
             backend: .redis(url: "redis://queue.internal:6379/2")),
        Case(name: "a blank RATE_LIMIT_REDIS_URL falls back",
             environment: ["RATE_LIMIT_BACKEND": "redis", "RATE_LIMIT_REDIS_URL": "  ", "RQ_REDIS_URL": "redis://queue.internal:6379/2"],
             backend: .redis(url: "redis://queue.internal:6379/2")),
        Case(name: "neither URL: RQ_REDIS_URL's default", environment: ["RATE_LIMIT_BACKEND": "redis"],
             backend: .redis(url: "redis://localhost:6379/0")),
        Case(name: "both URLs blank", environment: ["RATE_LIMIT_BACKEND": "redis", "RATE_LIMIT_REDIS_URL": "", "RQ_REDIS_URL": ""],
             backend: nil, errorContains: ["RATE_LIMIT_REDIS_URL"]),
    ]

    @Test(arguments: cases)
    func backendSelection(_ c: Case) {
        do {
            let configuration = try Configuration.parse(environment: c.environment)
            #expect(c.backend == configuration.rateLimitBackend, "\(c.name)")
        } catch {
            #expect(c.backend == nil, "\(c.name): \(error)")
            for words in c.errorContains { #expect("\(error)".contains(words), "\(c.name): \(error)") }
        }
    }
}

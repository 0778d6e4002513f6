import Testing
import Reference
import Wire

@Suite struct WebhookSignatureTests {
    let secret = "s3cret"
    let body = Array(#"{"action":"opened"}"#.utf8)
    var hex: String { Hex.encode(HMACSHA256.authenticationCode(for: body, key: Array(secret.utf8))) }

    func verify(_ headers: [(String, String)], custom: String? = nil, secret: String? = "s3cret") -> WebhookSignature.Outcome {
        WebhookSignature.verify(secret: secret, customHeader: custom, headers: HTTPFields(headers), body: body)
    }

    @Test func expectedValueIsHexHMACOfTheRawBody() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        #expect(WebhookSignature.expectedHex(secret: "Jefe", body: Array("what do ya want for nothing?".utf8))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(WebhookSignature.headerValue(secret: secret, body: body) == "sha256=" + hex)
    }

    @Test func noSecretMeansNoCheck() {
        #expect(verify([], secret: nil) == .notRequired)
        #expect(verify([], secret: "") == .notRequired)
        #expect(verify([("X-Hub-Signature-256", "sha256=00")], secret: nil) == .notRequired)
    }

    @Test(arguments: ["X-Hub-Signature-256", "X-Webhook-Signature", "x-hub-signature-256", "X-WEBHOOK-SIGNATURE"])
    func eitherDefaultHeaderIsAccepted(name: String) {
        #expect(verify([(name, "sha256=" + hex)]).isAccepted)
    }

    @Test func prefixCaseWhitespaceAndBareHexAreAccepted() {
        for value in ["sha256=" + hex, "SHA256=" + hex, "Sha256=" + hex.uppercased(), hex, hex.uppercased(),
                      "sha256= \(hex)", "SHA256=\t\(hex) ", "sha256=\(hex)\t", " \(hex) "] {
            #expect(verify([("X-Hub-Signature-256", value)]) == .valid(header: "X-Hub-Signature-256"), "\(value)")
        }
    }

    /// The prefix is removed before the value is trimmed: whitespace before `sha256=` keeps the
    /// prefix in the compared text. (Over HTTP that whitespace never arrives: a parser strips it.)
    @Test func thePrefixIsRemovedBeforeTrimming() {
        #expect(WebhookSignature.normalize("sha256= " + hex.uppercased()) == hex)
        #expect(WebhookSignature.normalize(" sha256=" + hex) == "sha256=" + hex)
        #expect(verify([("X-Hub-Signature-256", "  sha256=\(hex)")]) == .invalid(header: "X-Hub-Signature-256"))
    }

    @Test func wrongOrMalformedValuesAreInvalid() {
        let wrong = String(hex.dropLast()) + (hex.hasSuffix("0") ? "1" : "0")
        for value in ["sha256=" + wrong, "sha1=" + hex, "sha256=" + hex + "00", String(hex.dropLast(2)), "sha256=", "sha256 =" + hex,
                      "sha256=sha256=" + hex, "\u{0}" + hex, String(repeating: "a", count: 1_000_000)] {
            #expect(verify([("X-Hub-Signature-256", value)]) == .invalid(header: "X-Hub-Signature-256"), "\(value.prefix(80))")
        }
    }

    @Test func missingWhenNoCandidateHeaderHasAValue() {
        #expect(verify([]) == .missing)
        #expect(verify([("X-Hub-Signature-256", ""), ("X-Webhook-Signature", "")]) == .missing)
        #expect(verify([("X-Signature", "sha256=" + hex)]) == .missing)
    }

    @Test func aWrongHubSignatureIsNotRescuedByARightWebhookSignature() {
        #expect(verify([("X-Hub-Signature-256", "sha256=00"), ("X-Webhook-Signature", "sha256=" + hex)]) == .invalid(header: "X-Hub-Signature-256"))
        #expect(verify([("X-Webhook-Signature", "sha256=" + hex), ("X-Hub-Signature-256", "sha256=00")]) == .invalid(header: "X-Hub-Signature-256"))
    }

    @Test func anEmptyEarlierHeaderPassesToTheNextOne() {
        #expect(verify([("X-Hub-Signature-256", ""), ("X-Webhook-Signature", "sha256=" + hex)]) == .valid(header: "X-Webhook-Signature"))
        // Whitespace alone is what an HTTP parser turns into an empty value.
        #expect(verify([("X-Hub-Signature-256", " \t "), ("X-Webhook-Signature", "sha256=" + hex)]) == .valid(header: "X-Webhook-Signature"))
        #expect(verify([("X-Hub-Signature-256", "  ")]) == .missing)
        // A webhook with its own header reads only that one: blank there is missing.
        #expect(verify([("X-Custom-Signature", " "), ("X-Hub-Signature-256", "sha256=" + hex)], custom: "X-Custom-Signature") == .missing)
    }

    @Test func theFirstLineOfARepeatedHeaderCounts() {
        #expect(verify([("X-Hub-Signature-256", "sha256=00"), ("X-Hub-Signature-256", "sha256=" + hex)]) == .invalid(header: "X-Hub-Signature-256"))
    }

    @Test func theWebhooksOwnHeaderComesFirst() {
        #expect(verify([("X-Custom-Signature", "sha256=" + hex)], custom: "X-Custom-Signature") == .valid(header: "X-Custom-Signature"))
        #expect(verify([("X-Custom-Signature", "sha256=00"), ("X-Hub-Signature-256", "sha256=" + hex)], custom: "X-Custom-Signature")
                == .invalid(header: "X-Custom-Signature"))
        // Only the own header is read: right default headers neither stand in for it nor rescue it.
        #expect(verify([("X-Hub-Signature-256", "sha256=" + hex)], custom: "X-Custom-Signature") == .missing)
        #expect(verify([("X-Webhook-Signature", "sha256=" + hex)], custom: "X-Custom-Signature") == .missing)
        #expect(verify([("x-custom-signature", "sha256=" + hex)], custom: "X-Custom-Signature") == .valid(header: "X-Custom-Signature"))
        #expect(WebhookSignature.candidateHeaders(custom: "X-Custom-Signature") == ["X-Custom-Signature"])
        #expect(WebhookSignature.candidateHeaders(custom: nil) == ["X-Hub-Signature-256", "X-Webhook-Signature"])
        // Every header that can carry a signature is kept out of stored payloads.
        #expect(WebhookSignature.signatureHeaders(custom: "x-webhook-signature") == ["x-webhook-signature", "X-Hub-Signature-256"])
    }

    /// The broken variant that falls back to the default headers (what the real service does not).
    @Test func theFallbackVariantReadsTheDefaultsToo() {
        let headers = HTTPFields([("X-Hub-Signature-256", "sha256=" + hex)])
        #expect(WebhookSignature.verify(secret: secret, customHeader: "X-Custom-Signature", headers: headers, body: body, fallback: true)
                == .valid(header: "X-Hub-Signature-256"))
    }

    @Test func theSecretIsUTF8() {
        let secret = "clé-✓"
        let expected = Hex.encode(HMACSHA256.authenticationCode(for: body, key: Array(secret.utf8)))
        #expect(WebhookSignature.verify(secret: secret, customHeader: nil, headers: HTTPFields([("X-Webhook-Signature", expected)]), body: body).isAccepted)
    }
}

@Suite struct PayloadLimitTests {
    @Test(arguments: [("10", 10), (" 10 ", 10), ("0", 0), ("abc", 0), ("-5", 0), ("+5", 0), ("1.5", 0), ("", 0), ("1e3", 0),
                      ("99999999999999999999999999", Int.max), ("0x10", 0)])
    func declaredLength(text: String, expected: Int) {
        #expect(PayloadLimit.declaredLength(HTTPFields([("Content-Length", text)])) == expected)
    }

    @Test func absentContentLengthIsZero() {
        #expect(PayloadLimit.declaredLength(HTTPFields()) == 0)
    }

    @Test func readsUpToTheLimitAndStopsJustPastIt() throws {
        #expect(try PayloadLimit.read(.bytes([UInt8](repeating: 1, count: 10)), limit: 10) == .complete([UInt8](repeating: 1, count: 10)))
        #expect(try PayloadLimit.read(.bytes([UInt8](repeating: 1, count: 11)), limit: 10) == .tooLarge(bytesRead: 11))
        let stream = CountingStream(chunks: 1000, size: 4)
        #expect(try PayloadLimit.read(.stream(stream), limit: 10) == .tooLarge(bytesRead: 12))
        #expect(stream.delivered == 3, "reading stops at the first chunk that passes the limit")
        #expect(try PayloadLimit.read(.stream(ChunkListStream([[1, 2], [], [3]])), limit: 3) == .complete([1, 2, 3]))
        #expect(try PayloadLimit.read(.stream(ChunkListStream([])), limit: 0) == .complete([]))
        #expect(PayloadLimit.detail(limit: 1_048_576) == "Payload exceeds maximum size of 1048576 bytes.")
    }
}

/// A stream that counts how many chunks were taken from it.
final class CountingStream: HTTPBodyStream, @unchecked Sendable {
    let lock = Lock()
    let chunks: Int
    let size: Int
    var delivered = 0
    init(chunks: Int, size: Int) { self.chunks = chunks; self.size = size }
    func nextChunk() throws -> [UInt8]? {
        lock.withLock {
            guard delivered < chunks else { return nil }
            delivered += 1
            return [UInt8](repeating: 0x61, count: size)
        }
    }
}

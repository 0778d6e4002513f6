/// Deliberately broken variants of the reference service. Each flag makes the service wrong in
/// exactly one documented way, so that a suite can prove it notices: a suite that passes a
/// mutated service has a hole.
public struct ReferenceMutations: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Security headers are left off responses with a 5xx status.
    public static let noHeadersOn5xx = ReferenceMutations(rawValue: 1 << 0)
    /// Every limiter allows `max + 1` requests per window.
    public static let limitOffByOne = ReferenceMutations(rawValue: 1 << 1)
    /// Refused attempts are not recorded, so a client retrying at the limit gets in as soon as
    /// its oldest allowed request leaves the window. (Applies to the in-process store the
    /// service creates; a store passed in is used as it is.)
    public static let blockedAttemptsNotRecorded = ReferenceMutations(rawValue: 1 << 2)
    /// Webhook signatures are not checked at all.
    public static let skipSignatureCheck = ReferenceMutations(rawValue: 1 << 3)
    /// Webhook payload size is checked only against `Content-Length`, not the streamed total.
    public static let sizeCheckedOnlyByContentLength = ReferenceMutations(rawValue: 1 << 4)
    /// `Forwarded` / `X-Forwarded-For` are believed whoever the peer is.
    public static let trustProxyHeadersFromAnyone = ReferenceMutations(rawValue: 1 << 5)
    /// Failed agent authentication logs the whole presented token.
    public static let logWholeToken = ReferenceMutations(rawValue: 1 << 6)
    /// A webhook payload is stored with every request header, `Authorization`, cookies and
    /// signatures included.
    public static let storesEveryHeader = ReferenceMutations(rawValue: 1 << 7)
    /// A webhook with its own signature header also accepts a signature in the default
    /// headers (the real service reads only its own).
    public static let signatureHeaderFallback = ReferenceMutations(rawValue: 1 << 8)
    /// Main agents are scoped only when listing boards: by id they may read any board.
    public static let mainAgentUnscopedReads = ReferenceMutations(rawValue: 1 << 9)
    /// Proxy headers are believed from a loopback peer, whatever `TRUSTED_PROXIES` says (as some
    /// server stacks do by default, below the application).
    public static let trustProxyHeadersFromLoopback = ReferenceMutations(rawValue: 1 << 10)
    /// X-Content-Type-Options is not sent unless configured (HDR-2).
    public static let nosniffNotSent = ReferenceMutations(rawValue: 1 << 11)
    /// X-Frame-Options defaults to SAMEORIGIN instead of DENY (HDR-3).
    public static let frameOptionsSameOrigin = ReferenceMutations(rawValue: 1 << 12)
    /// Referrer-Policy defaults to no-referrer-when-downgrade, the old browser default (HDR-4).
    public static let referrerPolicyDowngrade = ReferenceMutations(rawValue: 1 << 13)
    /// Permissions-Policy is sent by default (the page says it is disabled unless configured) (HDR-5).
    public static let permissionsPolicyByDefault = ReferenceMutations(rawValue: 1 << 14)
    /// A blank SECURITY_HEADER_* variable is treated as unset, so the default is sent (HDR-6, HDR-8).
    public static let blankHeaderNotDisabling = ReferenceMutations(rawValue: 1 << 15)
    /// Webhook ingest consults the agent_auth limiter instead of its own: one counter, 20 per window (RL-6).
    public static let ingestUsesAgentLimiter = ReferenceMutations(rawValue: 1 << 16)
    /// A refusal by the limiter says "Rate limit exceeded" instead of "Too Many Requests" (RL-7).
    public static let rateLimitDetailChanged = ReferenceMutations(rawValue: 1 << 17)
    /// A failed user (bearer) authentication is counted by the agent_auth limiter and refused with 429 over it (RL-8).
    public static let userAuthFailuresLimited = ReferenceMutations(rawValue: 1 << 18)
    /// Agent authentication consults the limiter only for a known token, so guessing tokens is unlimited (RL-9, RL-2).
    public static let invalidTokensNotCounted = ReferenceMutations(rawValue: 1 << 19)
    /// TRUSTED_PROXIES is ignored: the peer is the client even behind a trusted proxy (RL-10).
    public static let trustedProxiesIgnored = ReferenceMutations(rawValue: 1 << 20)
    /// Behind a trusted proxy the rightmost X-Forwarded-For entry is taken, not the leftmost (RL-11).
    public static let rightmostForwardedFor = ReferenceMutations(rawValue: 1 << 21)
    /// On board memory (agent authentication optional) every request is counted by agent_auth, a user's read too (RL-13).
    public static let userReadsCounted = ReferenceMutations(rawValue: 1 << 22)
    /// A limiter whose store fails refuses the request (429) instead of allowing it (REDIS-6, REDIS-10).
    public static let limiterFailsClosed = ReferenceMutations(rawValue: 1 << 23)
    /// A webhook without a secret is checked against an empty key, so unsigned payloads are refused (SIG-1, SIG-7).
    public static let unsignedWebhookChecked = ReferenceMutations(rawValue: 1 << 24)
    /// X-Hub-Signature-256 is not read; only X-Webhook-Signature is (SIG-3).
    public static let hubHeaderIgnored = ReferenceMutations(rawValue: 1 << 25)
    /// X-Webhook-Signature is not read; only X-Hub-Signature-256 is (SIG-4).
    public static let webhookSignatureHeaderIgnored = ReferenceMutations(rawValue: 1 << 26)
    /// The signature is SHA-256(secret + body), not HMAC-SHA256(secret, body) (SIG-5).
    public static let plainSHA256NotHMAC = ReferenceMutations(rawValue: 1 << 27)
    /// A wrong X-Hub-Signature-256 is rescued by a right X-Webhook-Signature: any valid default header is accepted (SIG-9).
    public static let anySignatureHeaderAccepted = ReferenceMutations(rawValue: 1 << 28)
    /// The presented value is not lower-cased: an upper-case prefix or hex digest is invalid (SIG-11).
    public static let signatureHexCaseSensitive = ReferenceMutations(rawValue: 1 << 29)
    /// WEBHOOK_MAX_PAYLOAD_BYTES is ignored: the limit is always 1,048,576 (SIZE-1).
    public static let payloadLimitNotConfigurable = ReferenceMutations(rawValue: 1 << 30)
    /// A payload over the limit is answered 400 instead of 413 (SIZE-3).
    public static let oversizeAnswered400 = ReferenceMutations(rawValue: 1 << 31)
    /// The 413 detail does not name the limit ("Payload too large.") (SIZE-4).
    public static let sizeDetailWithoutByteCount = ReferenceMutations(rawValue: 1 << 32)
    /// A payload of exactly the limit is refused (>= instead of >) (SIZE-6).
    public static let exactlyTheLimitRefused = ReferenceMutations(rawValue: 1 << 33)
    /// In the raw phase gateway reads carry neither token nor has_token (GWTOK-1, GWTOK-4).
    public static let gatewayTokenDropped = ReferenceMutations(rawValue: 1 << 34)
    /// In the redacted phase gateway reads carry has_token and the raw token too (GWTOK-2, GWTOK-5).
    public static let tokenAndHasToken = ReferenceMutations(rawValue: 1 << 35)
    /// A user may read any organization's gateway by id, token included (GWTOK-3).
    public static let gatewayReadAnyOrganization = ReferenceMutations(rawValue: 1 << 36)
    /// The board memory entry carries the payload without the external-data delimiters (PI-1, PI-2, PI-4).
    public static let payloadNotWrapped = ReferenceMutations(rawValue: 1 << 37)
    /// A failed agent authentication is logged without the token prefix that aids debugging (LOG-1).
    public static let noTokenPrefixLogged = ReferenceMutations(rawValue: 1 << 38)
    /// A successful agent authentication logs the token (LOG-4, LOG-2).
    public static let validTokenLogged = ReferenceMutations(rawValue: 1 << 39)
    /// A board agent may read any board by id, not only its own (TEN-2, TEN-4).
    public static let boardAgentUnscopedReads = ReferenceMutations(rawValue: 1 << 40)
    /// A main agent whose gateway is missing lists every board instead of getting 403 (TEN-1, TEN-3).
    public static let orphanAgentSeesEveryBoard = ReferenceMutations(rawValue: 1 << 41)
    /// Any organization member, not only an admin, may send gateway session messages (GWMSG-1, GWMSG-2).
    public static let sessionMessageAnyMember = ReferenceMutations(rawValue: 1 << 42)
    /// An admin may send a session message about another organization's board (GWMSG-1, GWMSG-2).
    public static let sessionMessageAnyOrganization = ReferenceMutations(rawValue: 1 << 43)
    /// Error bodies carry only detail, no request_id (ERR-1).
    public static let errorWithoutRequestID = ReferenceMutations(rawValue: 1 << 44)
    /// A client-supplied X-Request-Id is not echoed: a new id is always generated (ERR-2).
    public static let requestIDNotEchoed = ReferenceMutations(rawValue: 1 << 45)
    /// Only lower-case hyphenated UUIDs are accepted in paths: other accepted forms are 422 (ERR-3).
    public static let upperCaseUUIDRefused = ReferenceMutations(rawValue: 1 << 46)
    /// A board id that is not a UUID is looked up as text and answered 404 instead of 422 (ERR-4, WH-2).
    public static let nonUUIDIDNotFound = ReferenceMutations(rawValue: 1 << 47)
    /// A path with a trailing slash is 404 instead of a 307 to the path without it (ERR-5).
    public static let trailingSlash404 = ReferenceMutations(rawValue: 1 << 48)
    /// User routes look the board up before the user token: an unknown board is 404 without authentication (ERR-6).
    public static let userRoutes404Before401 = ReferenceMutations(rawValue: 1 << 49)
    /// GET /api/v1/agent/healthz answers only {"ok": true} (AUTH-1).
    public static let agentHealthzMinimal = ReferenceMutations(rawValue: 1 << 50)
    /// When both are sent, the bearer token is used instead of X-Agent-Token (AUTH-2).
    public static let bearerBeforeXAgentToken = ReferenceMutations(rawValue: 1 << 51)
    /// An unknown agent token is answered 403 instead of 401 (AUTH-3).
    public static let unknownToken403 = ReferenceMutations(rawValue: 1 << 52)
    /// Webhook ingest consults the limiter before looking the board up: an unknown board is 429 when the client is over the limit (WH-1, WH-2).
    public static let limitBeforeBoard = ReferenceMutations(rawValue: 1 << 53)
    /// A webhook is found by id alone: another board's webhook accepts payloads posted under this board (WH-3).
    public static let otherBoardsWebhookAccepted = ReferenceMutations(rawValue: 1 << 54)
    /// A disabled webhook accepts payloads (WH-4).
    public static let disabledWebhookAccepted = ReferenceMutations(rawValue: 1 << 55)
    /// An accepted payload is answered 200 instead of 202 (WH-5).
    public static let ingestAnswers200 = ReferenceMutations(rawValue: 1 << 56)
    /// An empty body is stored as the text "" instead of {} (WH-6).
    public static let emptyBodyStoredAsText = ReferenceMutations(rawValue: 1 << 57)
    /// GET on a webhook's URL answers without a user token (WH-8).
    public static let webhookGetUnauthenticated = ReferenceMutations(rawValue: 1 << 58)
    /// The Redis limiter waits for Redis as long as it takes (30 s) instead of failing open
    /// after a short timeout: a stalled Redis holds every request (REDIS-6). Visible only on
    /// the redis backend with a stalled Redis (`mcsec serve`, `--inject-faults`).
    public static let redisWaitsOnStall = ReferenceMutations(rawValue: 1 << 59)

    /// How long the Redis limiter waits for Redis before failing open.
    public static func redisTimeout(configured: Double, mutations: ReferenceMutations) -> Double {
        mutations.contains(.redisWaitsOnStall) ? 30 : configured
    }

    /// Every mutation with its name (as the command line and reports spell it) and a one-line
    /// summary of the fault.
    public static let named: [(name: String, mutation: ReferenceMutations, summary: String)] = [
        ("no-headers-on-5xx", .noHeadersOn5xx, "security headers left off 5xx responses"),
        ("limit-off-by-one", .limitOffByOne, "every limiter allows max + 1 requests per window"),
        ("blocked-attempts-not-recorded", .blockedAttemptsNotRecorded, "refused attempts are not recorded in the sliding window"),
        ("skip-signature-check", .skipSignatureCheck, "webhook signatures are not checked at all"),
        ("size-checked-only-by-content-length", .sizeCheckedOnlyByContentLength, "payload size checked against Content-Length only, not the streamed body"),
        ("trust-proxy-headers-from-anyone", .trustProxyHeadersFromAnyone, "Forwarded / X-Forwarded-For believed whoever the peer is"),
        ("log-whole-token", .logWholeToken, "failed agent authentication logs the whole token"),
        ("stores-every-header", .storesEveryHeader, "a payload is stored with every request header, credentials included"),
        ("signature-header-fallback", .signatureHeaderFallback, "a webhook with its own signature header also accepts the default headers"),
        ("main-agent-unscoped-reads", .mainAgentUnscopedReads, "main agents scoped only when listing boards, not on reads by id"),
        ("trust-proxy-headers-from-loopback", .trustProxyHeadersFromLoopback, "proxy headers believed from a loopback peer whatever TRUSTED_PROXIES says"),
        ("nosniff-not-sent", .nosniffNotSent, "X-Content-Type-Options: nosniff not sent by default"),
        ("frame-options-sameorigin", .frameOptionsSameOrigin, "X-Frame-Options defaults to SAMEORIGIN"),
        ("referrer-policy-downgrade", .referrerPolicyDowngrade, "Referrer-Policy defaults to no-referrer-when-downgrade"),
        ("permissions-policy-by-default", .permissionsPolicyByDefault, "Permissions-Policy sent by default"),
        ("blank-header-not-disabling", .blankHeaderNotDisabling, "blank SECURITY_HEADER_* falls back to the default instead of disabling"),
        ("ingest-uses-agent-limiter", .ingestUsesAgentLimiter, "webhook ingest counted by the agent_auth limiter (namespaces share one limiter)"),
        ("rate-limit-detail-changed", .rateLimitDetailChanged, "429 detail is not \"Too Many Requests\""),
        ("user-auth-failures-limited", .userAuthFailuresLimited, "failed user bearer authentication rate limited"),
        ("invalid-tokens-not-counted", .invalidTokensNotCounted, "invalid agent tokens not counted by the limiter"),
        ("trusted-proxies-ignored", .trustedProxiesIgnored, "TRUSTED_PROXIES ignored: the proxy's address is the client"),
        ("rightmost-forwarded-for", .rightmostForwardedFor, "the rightmost X-Forwarded-For entry taken as the client"),
        ("user-reads-counted", .userReadsCounted, "user reads of board memory counted by the agent_auth limiter"),
        ("limiter-fails-closed", .limiterFailsClosed, "limiter fails closed when Redis errors"),
        ("unsigned-webhook-checked", .unsignedWebhookChecked, "webhooks without a secret require a signature"),
        ("hub-header-ignored", .hubHeaderIgnored, "X-Hub-Signature-256 ignored"),
        ("webhook-signature-header-ignored", .webhookSignatureHeaderIgnored, "X-Webhook-Signature ignored"),
        ("plain-sha256-not-hmac", .plainSHA256NotHMAC, "signature computed as SHA-256(secret + body) instead of HMAC"),
        ("any-signature-header-accepted", .anySignatureHeaderAccepted, "a wrong X-Hub-Signature-256 rescued by a right X-Webhook-Signature"),
        ("signature-hex-case-sensitive", .signatureHexCaseSensitive, "signature compared case-sensitively (SHA256= and upper-case hex refused)"),
        ("payload-limit-not-configurable", .payloadLimitNotConfigurable, "WEBHOOK_MAX_PAYLOAD_BYTES ignored"),
        ("oversize-answered-400", .oversizeAnswered400, "payload over the limit answered 400, not 413"),
        ("size-detail-without-byte-count", .sizeDetailWithoutByteCount, "413 detail without the byte count"),
        ("exactly-the-limit-refused", .exactlyTheLimitRefused, "a payload of exactly the limit refused"),
        ("gateway-token-dropped", .gatewayTokenDropped, "raw phase: gateway reads without token (and without has_token)"),
        ("token-and-has-token", .tokenAndHasToken, "redacted phase: gateway token and has_token both present"),
        ("gateway-read-any-organization", .gatewayReadAnyOrganization, "a gateway of another organization readable by id, token included"),
        ("payload-not-wrapped", .payloadNotWrapped, "webhook payload put in board memory without the external-data delimiters"),
        ("no-token-prefix-logged", .noTokenPrefixLogged, "failed agent authentication logged without the token prefix"),
        ("valid-token-logged", .validTokenLogged, "a valid agent token written to the log on success"),
        ("board-agent-unscoped-reads", .boardAgentUnscopedReads, "board agents may read any board by id"),
        ("orphan-agent-sees-every-board", .orphanAgentSeesEveryBoard, "orphan main agent sees every board"),
        ("session-message-any-member", .sessionMessageAnyMember, "non-admin members may send gateway session messages"),
        ("session-message-any-organization", .sessionMessageAnyOrganization, "admin may message about another organization's board"),
        ("error-without-request-id", .errorWithoutRequestID, "error body without request_id"),
        ("request-id-not-echoed", .requestIDNotEchoed, "client X-Request-Id not echoed"),
        ("upper-case-uuid-refused", .upperCaseUUIDRefused, "upper-case and other UUID forms answered 422"),
        ("non-uuid-id-not-found", .nonUUIDIDNotFound, "board id that is not a UUID answered 404, not 422"),
        ("trailing-slash-404", .trailingSlash404, "trailing slash 404 instead of 307"),
        ("user-routes-404-before-401", .userRoutes404Before401, "user routes answer 404 before 401"),
        ("agent-healthz-minimal", .agentHealthzMinimal, "agent healthz without agent_id and board_id"),
        ("bearer-before-x-agent-token", .bearerBeforeXAgentToken, "X-Agent-Token ignored when Bearer present"),
        ("unknown-token-403", .unknownToken403, "unknown agent token answered 403"),
        ("limit-before-board", .limitBeforeBoard, "unknown board answered after the limiter"),
        ("other-boards-webhook-accepted", .otherBoardsWebhookAccepted, "another board's webhook accepted under this board"),
        ("disabled-webhook-accepted", .disabledWebhookAccepted, "disabled webhook accepted"),
        ("ingest-answers-200", .ingestAnswers200, "accepted payload answered 200, not 202"),
        ("empty-body-stored-as-text", .emptyBodyStoredAsText, "empty body stored as text"),
        ("webhook-get-unauthenticated", .webhookGetUnauthenticated, "webhook GET without a user token allowed"),
        ("redis-waits-on-stall", .redisWaitsOnStall, "the Redis limiter waits for a stalled Redis instead of failing open within a short bound"),
    ]

    /// The mutation called `name`, or nil.
    public init?(name: String) {
        guard let found = ReferenceMutations.named.first(where: { $0.name == name }) else { return nil }
        self = found.mutation
    }

    public var description: String {
        let names = ReferenceMutations.named.filter { contains($0.mutation) }.map(\.name)
        return names.isEmpty ? "none" : names.joined(separator: ",")
    }
}

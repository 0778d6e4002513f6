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

import Reference
import Spec
import TargetFiles
import Wire

/// What a generator needs to know about the target.
public struct GenerationContext: Sendable {
    public var target: TargetFile
    /// The `Host` header every request carries.
    public var host: String
    /// The payload limit the target declares.
    public var limit: Int

    public init(target: TargetFile, host: String) {
        self.target = target
        self.host = host
        limit = DeclaredConfiguration(environment: target.config).payloadLimit
    }

    var board: String? { target.boards["own"] }
    var otherBoard: String? { target.boards["other"] }
    func webhook(_ key: String) -> TargetFile.Webhook? { target.webhooks[key] }
    func ingestPath(board: String, webhook: String) -> String { "/api/v1/boards/\(board)/webhooks/\(webhook)" }
}

/// The seeded source of every choice a generator makes.
public struct FuzzRandom {
    var generator: SplitMix64
    public init(seed: UInt64) { generator = SplitMix64(seed: seed) }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &generator) < p }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }
    mutating func hex(_ count: Int) -> String { String((0..<count).map { _ in pick(Array("0123456789abcdef")) }) }
    mutating func uuid() -> String { "\(hex(8))-\(hex(4))-4\(hex(3))-a\(hex(3))-\(hex(12))" }
    mutating func word() -> String { String((0..<int(1...10)).map { _ in pick(Array("abcdefghijklmnopqrstuvwxyz")) }) }
    /// A small JSON object body.
    mutating func jsonBody() -> [UInt8] {
        Array(#"{"event":"\#(word())","n":\#(int(0...100000)),"ok":\#(chance(0.5))}"#.utf8)
    }
}

/// A class of generated requests: its name, the rules it exercises, and its generator (nil
/// from `make` when the target file lacks what the class needs).
public struct RequestClass: Sendable {
    public var name: String
    public var rules: [String]
    /// Why the class exists, for `--list-classes`.
    public var summary: String
    /// Sends a body of about the payload limit.
    public var heavy: Bool { name.hasPrefix("size.") && name != "size.chunked.small" }
    let make: @Sendable (inout FuzzRandom, GenerationContext) -> FuzzRequest?

    /// A request of this class, with `Host` first and the framing header added unless the
    /// class set its own.
    func generate(_ random: inout FuzzRandom, _ context: GenerationContext) -> FuzzRequest? {
        guard var r = make(&random, context) else { return nil }
        r.className = name
        r.headers.insert(HTTPField(name: "Host", value: context.host), at: 0)
        let hasFraming = r.headers.contains { HTTPFields.equalNames($0.name, "Content-Length") || HTTPFields.equalNames($0.name, "Transfer-Encoding") }
        if !hasFraming { r.frame() }
        return r
    }
}

// MARK: the catalog

extension RequestClass {
    static func sign(_ body: [UInt8], _ secret: String) -> String {
        Hex.encode(HMACSHA256.authenticationCode(for: body, key: Array(secret.utf8)))
    }

    /// A POST to the signed webhook with `headers(signature hex, random)`.
    static func signed(_ name: String, _ rules: [String], _ summary: String,
                       _ headers: @escaping @Sendable (String, inout FuzzRandom) -> [(String, String)]) -> RequestClass {
        RequestClass(name: name, rules: rules, summary: summary) { random, c in
            guard let board = c.board, let w = c.webhook("signed"), let secret = w.secret else { return nil }
            let body = random.jsonBody()
            var r = FuzzRequest(className: name, method: "POST", target: c.ingestPath(board: board, webhook: w.id), body: body, namespace: .webhook)
            r.headers = [HTTPField(name: "Content-Type", value: "application/json")]
            r.headers += headers(sign(body, secret), &random).map { HTTPField(name: $0.0, value: $0.1) }
            r.secrets = [secret]
            return r
        }
    }

    /// A POST of `body` to webhook `key` (signed properly when it has a secret).
    static func ingest(_ name: String, _ rules: [String], _ summary: String, webhook key: String = "open",
                       _ body: @escaping @Sendable (inout FuzzRandom, GenerationContext) -> [UInt8]) -> RequestClass {
        RequestClass(name: name, rules: rules, summary: summary) { random, c in
            guard let board = c.board, let w = c.webhook(key) else { return nil }
            let bytes = body(&random, c)
            var r = FuzzRequest(className: name, method: "POST", target: c.ingestPath(board: board, webhook: w.id), body: bytes, namespace: .webhook)
            if let secret = w.secret {
                r.headers.append(HTTPField(name: SignatureHeaders.hub, value: SignatureHeaders.prefix + sign(bytes, secret)))
                r.secrets = [secret]
            }
            return r
        }
    }

    /// A GET of `path` with agent-token headers.
    static func agent(_ name: String, _ rules: [String], _ summary: String,
                      _ build: @escaping @Sendable (inout FuzzRandom, GenerationContext) -> (path: String, headers: [(String, String)], secrets: [String])?) -> RequestClass {
        RequestClass(name: name, rules: rules, summary: summary) { random, c in
            guard let (path, headers, secrets) = build(&random, c) else { return nil }
            var r = FuzzRequest(className: name, method: "GET", target: path, namespace: .agent)
            r.headers = headers.map { HTTPField(name: $0.0, value: $0.1) }
            r.secrets = secrets
            return r
        }
    }

    /// A user-authenticated request (never rate limited).
    static func user(_ name: String, _ rules: [String], _ summary: String,
                     _ build: @escaping @Sendable (inout FuzzRandom, GenerationContext) -> (method: String, path: String, headers: [(String, String)], body: [UInt8])?) -> RequestClass {
        RequestClass(name: name, rules: rules, summary: summary) { random, c in
            guard let (method, path, headers, body) = build(&random, c) else { return nil }
            var r = FuzzRequest(className: name, method: method, target: path, body: body)
            r.headers = headers.map { HTTPField(name: $0.0, value: $0.1) }
            r.secrets = Array(c.target.userTokens.values)
            return r
        }
    }

    /// `Authorization: Bearer` for a user picked at random (or none, or a wrong token).
    static func someUser(_ random: inout FuzzRandom, _ c: GenerationContext) -> [(String, String)] {
        let users = c.target.userTokens.sorted { $0.key < $1.key }.map(\.value)
        switch random.int(0...9) {
        case 0: return []
        case 1: return [("Authorization", "Bearer " + random.hex(32))]
        default: return users.isEmpty ? [] : [("Authorization", "Bearer " + random.pick(users))]
        }
    }

    static func agentToken(_ random: inout FuzzRandom, _ c: GenerationContext) -> String? {
        let tokens = c.target.agentTokens.sorted { $0.key < $1.key }.map(\.value)
        return tokens.isEmpty ? nil : random.pick(tokens)
    }

    /// An id in one of the accepted UUID spellings.
    static func spelled(_ id: String, _ random: inout FuzzRandom) -> String {
        switch random.int(0...3) {
        case 0: return id.uppercased()
        case 1: return id.replacingOccurrences(of: "-", with: "")
        case 2: return "{" + id + "}"
        default: return id
        }
    }

    /// Every class, in a fixed order (the generator's draws index into it).
    public static let catalog: [RequestClass] = signatureClasses + ingestClasses + bodyClasses + agentClasses + userClasses + pathClasses + proxyClasses + requestIDClasses

    public static func named(_ name: String) -> RequestClass? { catalog.first { $0.name == name } }

    static let hub = SignatureHeaders.hub, alt = SignatureHeaders.webhook, prefix = SignatureHeaders.prefix

    static let signatureClasses: [RequestClass] = [
        signed("sig.valid.hub", ["SIG-2", "SIG-3", "SIG-5", "WH-5"], "a correct X-Hub-Signature-256") { s, _ in [(hub, prefix + s)] },
        signed("sig.valid.webhook", ["SIG-2", "SIG-4", "SIG-5", "WH-5"], "a correct X-Webhook-Signature") { s, _ in [(alt, prefix + s)] },
        signed("sig.missing", ["SIG-6", "SIG-10"], "no signature header at all") { _, _ in [] },
        signed("sig.prefix.none", ["SIG-11"], "bare hex without sha256=") { s, r in [(r.pick([hub, alt]), s)] },
        signed("sig.prefix.upper", ["SIG-11"], "SHA256= in upper or mixed case") { s, r in [(r.pick([hub, alt]), r.pick(["SHA256=", "Sha256="]) + s)] },
        signed("sig.prefix.inner-space", ["SIG-11"], "a space after sha256=") { s, r in [(r.pick([hub, alt]), prefix + String(repeating: " ", count: r.int(1...3)) + s)] },
        signed("sig.prefix.other-algorithm", ["SIG-6", "SIG-12"], "sha1= or sha512= in front of the right hex") { s, r in [(hub, r.pick(["sha1=", "sha512=", "hmac="]) + s)] },
        signed("sig.prefix.doubled", ["SIG-11", "SIG-12"], "sha256= twice") { s, _ in [(hub, prefix + prefix + s)] },
        signed("sig.whitespace.outer", ["SIG-11"], "spaces or tabs around the value") { s, r in [(r.pick([hub, alt]), r.pick([" ", "\t", "  "]) + prefix + s + r.pick([" ", "\t", ""]))] },
        signed("sig.hex.upper", ["SIG-11"], "the digest in upper-case hex") { s, r in [(r.pick([hub, alt]), prefix + s.uppercased())] },
        signed("sig.hex.short", ["SIG-6", "SIG-12"], "the digest cut short") { s, r in [(hub, prefix + String(s.prefix(r.int(0...63))))] },
        signed("sig.hex.long", ["SIG-6", "SIG-12"], "the digest with extra digits") { s, r in [(hub, prefix + s + r.hex(r.int(1...4)))] },
        signed("sig.hex.alphabet", ["SIG-6", "SIG-12"], "a non-hex character in the digest") { s, r in
            var chars = Array(s); chars[r.int(0...63)] = r.pick(Array("gzG-+ ")); return [(hub, prefix + String(chars))]
        },
        signed("sig.hex.flipped", ["SIG-6", "SIG-12"], "one hex digit wrong") { s, r in
            var chars = Array(s); let i = r.int(0...63); chars[i] = chars[i] == "0" ? "1" : "0"; return [(r.pick([hub, alt]), prefix + String(chars))]
        },
        signed("sig.encoding.base64", ["SIG-5", "SIG-12"], "the digest base64-encoded instead of hex") { s, _ in
            [(hub, prefix + Base64.encode(Hex.decode(s) ?? []))]
        },
        signed("sig.header.case", ["SIG-3", "SIG-4"], "the header name in another case") { s, r in [(r.pick([hub.lowercased(), hub.uppercased(), alt.lowercased()]), prefix + s)] },
        signed("sig.header.duplicate", ["SIG-9", "SIG-12"], "the signature header sent twice (right and wrong)") { s, r in
            let wrong = prefix + r.hex(64)
            return r.chance(0.5) ? [(hub, prefix + s), (hub, wrong)] : [(hub, wrong), (hub, prefix + s)]
        },
        signed("sig.order.hub-wrong-webhook-right", ["SIG-9", "SIG-12"], "a wrong X-Hub-Signature-256 next to a right X-Webhook-Signature") { s, r in
            [(alt, prefix + s), (hub, prefix + r.hex(64))]
        },
        signed("sig.order.hub-empty-webhook-right", ["SIG-9"], "an empty X-Hub-Signature-256 next to a right X-Webhook-Signature") { s, r in
            [(hub, r.pick(["", " "])), (alt, prefix + s)]
        },
        RequestClass(name: "sig.body.tampered", rules: ["SIG-5", "SIG-12"], summary: "signed for another body") { random, c in
            guard let board = c.board, let w = c.webhook("signed"), let secret = w.secret else { return nil }
            let body = random.jsonBody()
            var r = FuzzRequest(className: "", method: "POST", target: c.ingestPath(board: board, webhook: w.id), body: body + [32], namespace: .webhook)
            r.headers = [HTTPField(name: hub, value: prefix + sign(body, secret))]
            r.secrets = [secret]
            return r
        },
        RequestClass(name: "sig.secret.wrong", rules: ["SIG-5", "SIG-12"], summary: "signed with another secret") { random, c in
            guard let board = c.board, let w = c.webhook("signed") else { return nil }
            let body = random.jsonBody()
            var r = FuzzRequest(className: "", method: "POST", target: c.ingestPath(board: board, webhook: w.id), body: body, namespace: .webhook)
            r.headers = [HTTPField(name: random.pick([hub, alt]), value: prefix + sign(body, random.word()))]
            return r
        },
        RequestClass(name: "sig.custom.own-header", rules: ["SIG-8"], summary: "a webhook with its own header, signed there") { random, c in
            guard let board = c.board, let w = c.webhook("custom"), let secret = w.secret, let header = w.header else { return nil }
            let body = random.jsonBody()
            var r = FuzzRequest(className: "", method: "POST", target: c.ingestPath(board: board, webhook: w.id), body: body, namespace: .webhook)
            r.headers = [HTTPField(name: random.pick([header, header.lowercased()]), value: random.pick(["", prefix]) + sign(body, secret))]
            r.secrets = [secret]
            return r
        },
        RequestClass(name: "sig.custom.default-header", rules: ["SIG-8", "SIG-10"], summary: "a webhook with its own header, signed in a default one") { random, c in
            guard let board = c.board, let w = c.webhook("custom"), let secret = w.secret else { return nil }
            let body = random.jsonBody()
            var r = FuzzRequest(className: "", method: "POST", target: c.ingestPath(board: board, webhook: w.id), body: body, namespace: .webhook)
            r.headers = [HTTPField(name: random.pick([hub, alt]), value: prefix + sign(body, secret))]
            r.secrets = [secret]
            return r
        },
        RequestClass(name: "sig.unsigned-webhook.garbage", rules: ["SIG-7"], summary: "a webhook without a secret, with a wrong signature") { random, c in
            guard let board = c.board, let w = c.webhook("open") else { return nil }
            var r = FuzzRequest(className: "", method: "POST", target: c.ingestPath(board: board, webhook: w.id), body: random.jsonBody(), namespace: .webhook)
            r.headers = [HTTPField(name: random.pick([hub, alt]), value: prefix + random.hex(64))]
            return r
        },
    ]

    static let ingestClasses: [RequestClass] = [
        RequestClass(name: "ingest.board.unknown", rules: ["WH-1", "WH-2"], summary: "a board id that names no board") { random, c in
            guard let w = c.webhook("open") ?? c.webhook("signed") else { return nil }
            return FuzzRequest(className: "", method: "POST", target: c.ingestPath(board: random.uuid(), webhook: w.id), body: random.jsonBody())
        },
        RequestClass(name: "path.board.not-uuid", rules: ["WH-2", "ERR-4"], summary: "a board id that is not a UUID") { random, c in
            guard let w = c.webhook("open") else { return nil }
            let bad = random.pick(["1", "board", random.hex(31), random.hex(33), "' OR 1=1", "%00", random.uuid() + "x", "{" + random.uuid()])
            return FuzzRequest(className: "", method: "POST", target: c.ingestPath(board: bad, webhook: w.id), body: random.jsonBody())
        },
        RequestClass(name: "path.webhook.not-uuid", rules: ["ERR-4"], summary: "a webhook id that is not a UUID") { random, c in
            guard let board = c.board else { return nil }
            return FuzzRequest(className: "", method: "POST", target: c.ingestPath(board: board, webhook: random.pick(["1", random.word(), random.hex(36)])), body: random.jsonBody())
        },
        RequestClass(name: "ingest.webhook.unknown", rules: ["WH-1", "WH-3"], summary: "a webhook id that names no webhook") { random, c in
            guard let board = c.board else { return nil }
            return FuzzRequest(className: "", method: "POST", target: c.ingestPath(board: board, webhook: random.uuid()), body: random.jsonBody(), namespace: .webhook)
        },
        RequestClass(name: "ingest.webhook.other-board", rules: ["WH-1", "WH-3"], summary: "another board's webhook under this board") { random, c in
            guard let board = c.board, let w = c.webhook("other") else { return nil }
            return FuzzRequest(className: "", method: "POST", target: c.ingestPath(board: board, webhook: w.id), body: random.jsonBody(), namespace: .webhook)
        },
        RequestClass(name: "ingest.webhook.disabled", rules: ["WH-1", "WH-4"], summary: "a disabled webhook (with a body over the limit too)") { random, c in
            guard let board = c.board, let w = c.webhook("disabled") else { return nil }
            var r = FuzzRequest(className: "", method: "POST", target: c.ingestPath(board: board, webhook: w.id), body: random.jsonBody(), namespace: .webhook)
            if random.chance(0.3) { r.headers = [HTTPField(name: hub, value: prefix + random.hex(64))] }
            return r
        },
        RequestClass(name: "ingest.uuid.forms", rules: ["ERR-3", "WH-5"], summary: "board and webhook ids upper-case, without dashes, braced") { random, c in
            guard let board = c.board, let w = c.webhook("open") else { return nil }
            return FuzzRequest(className: "", method: "POST", target: c.ingestPath(board: spelled(board, &random), webhook: spelled(w.id, &random)), body: random.jsonBody(), namespace: .webhook)
        },
        ingest("size.declared.over", ["SIZE-1", "SIZE-2", "SIZE-3", "SIZE-4"], "a body one or a few bytes over the limit") { random, c in
            Array(repeating: UInt8(ascii: "a"), count: c.limit + random.int(1...3))
        },
        // Accepted and stored: sent to the other board when there is one, so the own board's
        // memory reads (which list every stored payload) stay small.
        RequestClass(name: "size.declared.at-limit", rules: ["SIZE-6"], summary: "a body of exactly the limit, or one under") { random, c in
            guard let (board, w) = c.otherBoard.flatMap({ b in c.webhook("other").map { (b, $0) } }) ?? c.board.flatMap({ b in c.webhook("open").map { (b, $0) } }) else { return nil }
            return FuzzRequest(className: "", method: "POST", target: c.ingestPath(board: board, webhook: w.id),
                               body: Array(repeating: UInt8(ascii: "b"), count: c.limit - random.int(0...1)), namespace: .webhook)
        },
        RequestClass(name: "size.chunked.over", rules: ["SIZE-2", "SIZE-5"], summary: "a chunked body over the limit") { random, c in
            guard let board = c.board, let w = c.webhook("open") else { return nil }
            return FuzzRequest(className: "", method: "POST", target: c.ingestPath(board: board, webhook: w.id),
                               body: Array(repeating: UInt8(ascii: "c"), count: c.limit + random.int(1...2)), chunkSize: random.pick([16_384, 65_536, 100_000]), namespace: .webhook)
        },
        RequestClass(name: "size.chunked.small", rules: ["SIZE-2", "WH-5"], summary: "a small chunked body, signed") { random, c in
            guard let board = c.board, let w = c.webhook("signed"), let secret = w.secret else { return nil }
            let body = random.jsonBody()
            var r = FuzzRequest(className: "", method: "POST", target: c.ingestPath(board: board, webhook: w.id), body: body, chunkSize: random.int(1...8), namespace: .webhook)
            r.headers = [HTTPField(name: hub, value: prefix + sign(body, secret))]
            r.secrets = [secret]
            return r
        },
        ingest("cl.plus-sign", ["SIZE-2"], "Content-Length with a plus sign") { random, _ in random.jsonBody() }.declaring { "+\($0)" },
        ingest("cl.leading-zeros", ["SIZE-2"], "Content-Length with leading zeros") { random, _ in random.jsonBody() }.declaring { "00\($0)" },
        ingest("cl.duplicate", ["SIZE-2"], "Content-Length twice (same value)") { random, _ in random.jsonBody() }.declaring { "\($0)" }.duplicatingLength(),
        ingest("cl.with-chunked", ["SIZE-2"], "Content-Length and Transfer-Encoding: chunked together") { random, _ in random.jsonBody() }.withChunkedAndLength(),
    ]

    static let bodyClasses: [RequestClass] = [
        ingest("body.json.nan", ["WH-6"], "NaN, Infinity and -Infinity in JSON", webhook: "signed") { random, _ in Array(#"{"a":\#(random.pick(["NaN", "Infinity", "-Infinity"]))}"#.utf8) },
        ingest("body.json.deep-nesting", ["WH-6"], "arrays or objects nested thousands deep", webhook: "signed") { random, _ in
            let depth = random.pick([600, 1_000, 5_000])
            return random.chance(0.5) ? Array(repeating: UInt8(ascii: "["), count: depth) + Array(repeating: UInt8(ascii: "]"), count: depth)
                : Array(String(repeating: #"{"a":"#, count: depth).utf8) + [UInt8(ascii: "1")] + Array(repeating: UInt8(ascii: "}"), count: depth)
        },
        ingest("body.json.huge-number", ["WH-6"], "numbers beyond any machine type", webhook: "signed") { random, _ in Array(#"{"n":1\#(String(repeating: "0", count: random.int(20...400)))e\#(random.int(300...99999))}"#.utf8) },
        ingest("body.invalid-utf8", ["WH-6"], "bytes that are not UTF-8", webhook: "signed") { random, _ in [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, random.pick([0xFF, 0xC3, 0xED, 0x80]), 0xA0, 0x22, 0x7D] },
        ingest("body.bom", ["WH-6"], "a UTF-8 byte order mark before JSON", webhook: "signed") { random, _ in [0xEF, 0xBB, 0xBF] + random.jsonBody() },
        ingest("body.empty", ["WH-6"], "an empty body", webhook: "signed") { _, _ in [] },
        ingest("body.non-json", ["WH-6"], "text, form data, binary", webhook: "signed") { random, _ in
            random.pick([Array("hello \(random.word())".utf8), Array("a=1&b=\(random.word())".utf8), [0, 1, 2, 255], Array("{\"unterminated\": ".utf8)])
        },
        ingest("body.json.duplicate-keys", ["WH-6"], "a JSON object with a key twice", webhook: "signed") { random, _ in Array(#"{"a":1,"a":"\#(random.word())"}"#.utf8) },
    ]

    static let agentClasses: [RequestClass] = [
        agent("auth.agent.header", ["AUTH-1", "AUTH-2", "RL-2"], "X-Agent-Token with a known token") { random, c in
            guard let t = agentToken(&random, c) else { return nil }
            return ("/api/v1/agent/healthz", [("X-Agent-Token", t)], [t])
        },
        agent("auth.bearer.lowercase", ["AUTH-2"], "Authorization: bearer <token>") { random, c in
            guard let t = agentToken(&random, c) else { return nil }
            return ("/api/v1/agent/healthz", [("Authorization", "bearer " + t)], [t])
        },
        agent("auth.bearer.mixed-case", ["AUTH-2"], "BEARER or BeArEr") { random, c in
            guard let t = agentToken(&random, c) else { return nil }
            return ("/api/v1/agent/healthz", [("Authorization", random.pick(["BEARER ", "BeArEr "]) + t)], [t])
        },
        agent("auth.agent.unknown-token", ["AUTH-3", "RL-9"], "a token nobody has") { random, _ in
            ("/api/v1/agent/healthz", [(random.pick(["X-Agent-Token", "Authorization"]), random.pick(["", "Bearer "]) + random.hex(40))], [])
        },
        agent("auth.agent.none", ["AUTH-3", "RL-9"], "no token") { _, _ in ("/api/v1/agent/healthz", [], []) },
        agent("auth.agent.both", ["AUTH-2"], "X-Agent-Token and a bearer token, one of them wrong") { random, c in
            guard let t = agentToken(&random, c) else { return nil }
            return random.chance(0.5) ? ("/api/v1/agent/healthz", [("X-Agent-Token", random.hex(40)), ("Authorization", "Bearer " + t)], [t])
                : ("/api/v1/agent/healthz", [("X-Agent-Token", t), ("Authorization", "Bearer " + random.hex(40))], [t])
        },
        agent("auth.agent.whitespace", ["AUTH-2"], "the token with spaces around it, or an empty X-Agent-Token") { random, c in
            guard let t = agentToken(&random, c) else { return nil }
            return random.chance(0.5) ? ("/api/v1/agent/healthz", [("X-Agent-Token", " " + t + " ")], [t])
                : ("/api/v1/agent/healthz", [("X-Agent-Token", ""), ("Authorization", "Bearer " + t)], [t])
        },
        agent("auth.scheme.other", ["AUTH-2", "AUTH-3"], "Basic, Token or no scheme") { random, c in
            guard let t = agentToken(&random, c) else { return nil }
            return ("/api/v1/agent/healthz", [("Authorization", random.pick(["Basic ", "Token ", "", "Bearer\t"]) + t)], [t])
        },
        agent("tenancy.agent.board", ["TEN-3", "TEN-4", "TEN-5"], "agents reading their own and other organizations' boards") { random, c in
            guard let t = agentToken(&random, c), let own = c.board else { return nil }
            let board = random.pick([own, c.otherBoard ?? own, random.uuid()])
            let part = random.pick(["", "/tasks", "/tags", "/memory", "/approvals"])
            return (random.chance(0.2) ? "/api/v1/agent/boards" : "/api/v1/agent/boards/\(board)\(part)", [("X-Agent-Token", t)], [t])
        },
    ]

    static let userClasses: [RequestClass] = [
        user("user.gateways.list", ["ERR-6", "GWTOK-4"], "the gateway list as each user") { random, c in ("GET", "/api/v1/gateways", someUser(&random, c), []) },
        user("user.gateway.read", ["ERR-6", "GWTOK-4", "ERR-4"], "one gateway (own, other's, unknown, not a UUID)") { random, c in
            let id = random.pick([c.target.gateways["own"], c.target.gateways["other"], random.uuid(), "gw-1"].compactMap { $0 })
            return ("GET", "/api/v1/gateways/\(id)", someUser(&random, c), [])
        },
        user("user.session-message", ["GWMSG-1", "GWMSG-2", "ERR-6"], "a gateway session message as each user, to each board") { random, c in
            guard let session = c.target.gatewaySessions["own"] ?? c.target.gatewaySessions["other"] else { return nil }
            let board = random.pick([c.board, c.otherBoard, random.uuid(), "x"].compactMap { $0 })
            let query = random.int(0...5) == 0 ? "" : "?board_id=\(board)"
            let path = "/api/v1/gateways/sessions/\(PercentEncoding.path(session))/message\(query)"
            return ("POST", path, someUser(&random, c) + [("Content-Type", "application/json")], Array(#"{"content":"\#(random.word())"}"#.utf8))
        },
        user("user.board.read", ["ERR-6"], "boards and board memory (own, other's, unknown) as each user") { random, c in
            guard let board = c.board else { return nil }
            let unknown = random.chance(0.5) ? random.uuid() : random.word()
            let path = random.pick(["/api/v1/boards", "/api/v1/boards/\(board)", "/api/v1/boards/\(c.otherBoard ?? board)/memory", "/api/v1/boards/\(board)/memory",
                                    "/api/v1/boards/\(unknown)", "/api/v1/boards/\(unknown)/memory"])
            return ("GET", path, someUser(&random, c), [])
        },
        user("user.webhook.management", ["ERR-6", "WH-8"], "webhook management without a valid user token") { random, c in
            guard let board = c.board, let w = c.webhook("signed") else { return nil }
            let method = random.pick(["GET", "PATCH", "DELETE"])
            let headers: [(String, String)] = random.chance(0.5) ? [] : [("Authorization", "Bearer " + random.hex(32))]
            return (method, c.ingestPath(board: board, webhook: w.id), headers, method == "PATCH" ? Array(#"{"enabled":false}"#.utf8) : [])
        },
        user("auth.user.bearer-variants", ["ERR-6", "RL-8"], "user tokens in odd spellings") { random, c in
            guard let t = c.target.userTokens["admin"] else { return nil }
            return ("GET", "/api/v1/gateways", [("Authorization", random.pick(["bearer ", "BEARER ", "Bearer  ", "Basic "]) + t)], [])
        },
    ]

    static let pathClasses: [RequestClass] = [
        RequestClass(name: "method.wrong", rules: ["ERR-1"], summary: "a known path with another method") { random, c in
            guard let board = c.board, let w = c.webhook("open") else { return nil }
            let (method, path) = random.pick([("PUT", c.ingestPath(board: board, webhook: w.id)), ("GET", "/api/v1/gateways/sessions/x/message"),
                                              ("DELETE", "/api/v1/agent/healthz"), ("POST", "/healthz"), ("OPTIONS", "/api/v1/gateways")])
            return FuzzRequest(className: "", method: method, target: path)
        },
        RequestClass(name: "path.trailing-slash", rules: ["ERR-5"], summary: "a route with a slash added") { random, c in
            guard let board = c.board else { return nil }
            let path = random.pick(["/api/v1/gateways/", "/api/v1/agent/healthz/", "/api/v1/boards/\(board)/", "/healthz/"])
            return FuzzRequest(className: "", method: "GET", target: path + random.pick(["", "?a=1"]))
        },
        RequestClass(name: "path.percent-encoded", rules: ["ERR-3"], summary: "a route with percent-encoded letters or slashes") { random, c in
            guard let board = c.board, let w = c.webhook("open") else { return nil }
            let path = random.pick(["/api/v1/%61gent/healthz", "/api/v1/boards/\(board)/webhooks%2F\(w.id)", "/api%2Fv1/gateways", "/api/v1/gateway%73"])
            var r = FuzzRequest(className: "", method: path.contains("webhooks") ? "POST" : "GET", target: path, body: path.contains("webhooks") ? random.jsonBody() : [])
            if path.contains("agent") { r.namespace = .agent }
            if path.contains("webhooks") { r.namespace = .webhook }
            return r
        },
        RequestClass(name: "path.dot-segment", rules: ["ERR-1"], summary: "dot segments and doubled slashes") { random, _ in
            FuzzRequest(className: "", method: "GET", target: random.pick(["/api/v1/agent/../gateways", "/api/v1/./gateways", "//api/v1/gateways", "/api/v1/boards/../../healthz"]))
        },
        RequestClass(name: "path.unknown", rules: ["ERR-1", "HDR-7"], summary: "paths no route has") { random, _ in
            FuzzRequest(className: "", method: random.pick(["GET", "POST"]), target: "/" + random.pick(["", "api", "api/v1", "api/v2/boards", "admin", random.word()]))
        },
        RequestClass(name: "health", rules: ["HDR-1", "ERR-2"], summary: "the health checks") { random, _ in
            FuzzRequest(className: "", method: "GET", target: random.pick(["/healthz", "/readyz"]))
        },
    ]

    static let proxyClasses: [RequestClass] = [
        agent("proxy.xff.spoofed", ["RL-10", "RL-11", "RL-12"], "X-Forwarded-For on an agent route") { random, c in
            guard let t = agentToken(&random, c) else { return nil }
            return ("/api/v1/agent/healthz", [("X-Forwarded-For", "203.0.113.\(random.int(1...254))" + random.pick(["", ", 10.0.0.1"])), ("X-Agent-Token", t)], [t])
        },
        agent("proxy.forwarded.spoofed", ["RL-10", "RL-11", "RL-12"], "Forwarded: for= on an agent route") { random, c in
            guard let t = agentToken(&random, c) else { return nil }
            return ("/api/v1/agent/healthz", [("Forwarded", random.pick(["for=198.51.100.\(random.int(1...254))", "for=\"[2001:db8::\(random.int(1...99))]:80\"", "For=unknown"])), ("X-Agent-Token", t)], [t])
        },
        RequestClass(name: "proxy.xff.malformed", rules: ["RL-10", "RL-11"], summary: "X-Forwarded-For that is not an address, on ingest") { random, c in
            guard let board = c.board, let w = c.webhook("open") else { return nil }
            var r = FuzzRequest(className: "", method: "POST", target: c.ingestPath(board: board, webhook: w.id), body: random.jsonBody(), namespace: .webhook)
            r.headers = [HTTPField(name: "X-Forwarded-For", value: random.pick(["", "garbage", "999.1.1.1", ",,,", "[::1]"]))]
            return r
        },
    ]

    static let requestIDClasses: [RequestClass] = [
        RequestClass(name: "reqid.echo", rules: ["ERR-2"], summary: "a plain X-Request-Id to echo") { random, c in
            var r = FuzzRequest(className: "", method: "GET", target: random.pick(["/healthz", "/api/v1/gateways", "/nowhere"]))
            r.headers = [HTTPField(name: random.pick(["X-Request-Id", "x-request-id"]), value: random.word() + "-" + random.hex(8))]
            return r
        },
        RequestClass(name: "reqid.odd", rules: ["ERR-2"], summary: "an X-Request-Id too long, empty or with odd characters") { random, _ in
            var r = FuzzRequest(className: "", method: "GET", target: random.pick(["/healthz", "/api/v1/gateways"]))
            r.headers = [HTTPField(name: "X-Request-Id", value: random.pick([String(repeating: "a", count: 129), "", "a b", "<script>", "é"]))]
            return r
        },
        RequestClass(name: "reqid.duplicate", rules: ["ERR-2"], summary: "X-Request-Id twice") { random, _ in
            var r = FuzzRequest(className: "", method: "GET", target: "/api/v1/gateways")
            r.headers = [HTTPField(name: "X-Request-Id", value: random.word()), HTTPField(name: "X-Request-Id", value: random.word())]
            return r
        },
    ]
}

extension RequestClass {
    /// The same class with its `Content-Length` spelled by `spell(real length)`.
    func declaring(_ spell: @escaping @Sendable (Int) -> String) -> RequestClass {
        let base = make
        return RequestClass(name: name, rules: rules, summary: summary) { random, c in
            guard var r = base(&random, c) else { return nil }
            r.headers.append(HTTPField(name: "Content-Length", value: spell(r.body.count)))
            return r
        }
    }

    func duplicatingLength() -> RequestClass {
        let base = make
        return RequestClass(name: name, rules: rules, summary: summary) { random, c in
            guard var r = base(&random, c), let cl = r.header("Content-Length") else { return nil }
            r.headers.append(HTTPField(name: "Content-Length", value: cl))
            return r
        }
    }

    func withChunkedAndLength() -> RequestClass {
        let base = make
        return RequestClass(name: name, rules: rules, summary: summary) { random, c in
            guard var r = base(&random, c) else { return nil }
            r.chunkSize = 8
            var chunkedLength = 0
            var start = 0
            while start < r.body.count { let n = min(8, r.body.count - start); chunkedLength += String(n, radix: 16).utf8.count + 4 + n; start += n }
            r.headers.append(HTTPField(name: "Content-Length", value: String(chunkedLength + 5)))
            r.headers.append(HTTPField(name: "Transfer-Encoding", value: "chunked"))
            return r
        }
    }
}

/// Base64 (RFC 4648, with padding), for the signature-encoding class.
enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var out = ""
        var i = 0
        while i < bytes.count {
            let b0 = Int(bytes[i]), b1 = i + 1 < bytes.count ? Int(bytes[i + 1]) : 0, b2 = i + 2 < bytes.count ? Int(bytes[i + 2]) : 0
            out.append(alphabet[b0 >> 2])
            out.append(alphabet[((b0 & 3) << 4) | (b1 >> 4)])
            out.append(i + 1 < bytes.count ? alphabet[((b1 & 15) << 2) | (b2 >> 6)] : "=")
            out.append(i + 2 < bytes.count ? alphabet[b2 & 63] : "=")
            i += 3
        }
        return out
    }
}

/// Percent-encoding of a path segment (everything but unreserved characters).
enum PercentEncoding {
    static func path(_ text: String) -> String {
        var out = ""
        for b in text.utf8 {
            let c = Character(Unicode.Scalar(b))
            if b < 128 && (c.isLetter || c.isNumber || "-._~:".contains(c)) { out.append(c) } else {
                out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
            }
        }
        return out
    }
}

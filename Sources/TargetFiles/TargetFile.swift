import Foundation
import Wire

/// What the suites need to know about a deployment: ids, secrets and tokens to put in requests,
/// and the configuration it declares. Written by the user for a live server (template and
/// documentation in `Fixtures/targets/`); derived from the world for the reference.
///
/// Every entry is optional: a fixture that needs a missing entry is skipped, naming it.
public struct TargetFile: Sendable {
    public struct Webhook: Sendable, Equatable {
        public var id: String
        public var secret: String?
        /// The webhook's own signature header, when it has one.
        public var header: String?
        public init(id: String, secret: String? = nil, header: String? = nil) {
            self.id = id
            self.secret = secret
            self.header = header
        }
    }

    public var baseURL: String?
    /// `own` (where the webhooks live, the board-scoped agent's board) and `other` (another organisation's).
    public var boards: [String: String] = [:]
    /// `open` (no secret), `signed` (secret), `disabled`, `custom` (secret and own header), `other` (on boards.other).
    public var webhooks: [String: Webhook] = [:]
    /// `board` (has a board_id), `main` (gateway-level), `orphan` (main agent whose gateway is gone): tokens.
    public var agentTokens: [String: String] = [:]
    /// An endpoint that needs nothing but agent authentication.
    public var agentEndpoint: String?
    /// `admin` (owner/admin of the own organisation), `member` (non-admin member), `outsider` (admin elsewhere).
    public var userTokens: [String: String] = [:]
    /// `own` / `other`: gateway ids.
    public var gateways: [String: String] = [:]
    /// `own` / `other`: a session id on that gateway.
    public var gatewaySessions: [String: String] = [:]
    /// Where board memory is read back (with `{board}`), with a user token.
    public var memoryEndpoint: String?
    /// Where a webhook's stored payloads are read back (with `{board}` and `{webhook}`), with a
    /// user token.
    public var payloadsEndpoint: String?
    /// The environment the deployment runs with (`SECURITY_HEADER_*`, `WEBHOOK_MAX_PAYLOAD_BYTES`,
    /// `RATE_LIMIT_BACKEND`, `TRUSTED_PROXIES`, `GATEWAY_TOKEN_EXPOSURE`): what the suites expect.
    public var config: [String: String] = [:]
    /// Worker processes behind the URL (limits are per worker with the memory backend).
    public var workers: Int = 1
    /// Local addresses the client may send from (raw sockets only). Empty: the system's choice.
    public var sourceAddresses: [String] = []
    /// Paths of the deployment's Dockerfiles by name (`backend`, `frontend`).
    public var dockerfiles: [String: String] = [:]
    /// The deployment's rate-limit Redis (`redis.url`): what `--inject-faults` stalls and
    /// disconnects.
    public var redisURL: String?
    /// Where the deployment's log can be read (`logs.file` or `logs.command`).
    public var logs: LogSource?
    /// A PEM bundle of the certificate authorities to trust for an https:// target (`tls.caFile`).
    public var tlsCAFile: String?

    /// Where a live server's log lines come from.
    public enum LogSource: Sendable, Equatable {
        /// A file the server appends to (read from its size at the start of the run).
        case file(String)
        /// A command that prints the log; `{start}` is replaced by the run's start time
        /// (RFC 3339, UTC), as `docker logs --since {start} NAME` takes it.
        case command(String)
    }

    public init() {}

    // MARK: symbols

    /// Every symbol a fixture may use, with what provides it (documented in Fixtures/README.md).
    public static let symbolTable: [(symbol: String, meaning: String)] = [
        ("board", "boards.own"),
        ("board.other", "boards.other"),
        ("board.unknown", "a random UUID that names no board (generated per run)"),
        ("board.memory", "memoryEndpoint with {board} filled in"),
        ("webhook.signed.payloads", "payloadsEndpoint with {board} and {webhook} (the signed webhook) filled in"),
        ("webhook.open", "webhooks.open.id"),
        ("webhook.signed", "webhooks.signed.id"),
        ("webhook.signed.secret", "webhooks.signed.secret"),
        ("webhook.disabled", "webhooks.disabled.id"),
        ("webhook.custom", "webhooks.custom.id"),
        ("webhook.custom.secret", "webhooks.custom.secret"),
        ("webhook.custom.header", "webhooks.custom.header"),
        ("webhook.other", "webhooks.other.id (a webhook of boards.other)"),
        ("agent.token", "agents.board.token"),
        ("agent.main.token", "agents.main.token"),
        ("agent.orphan.token", "agents.orphan.token"),
        ("agent.endpoint", "agents.endpoint"),
        ("user.admin.token", "users.admin.token"),
        ("user.member.token", "users.member.token"),
        ("user.outsider.token", "users.outsider.token"),
        ("gateway", "gateways.own.id"),
        ("gateway.session", "gateways.own.session"),
        ("gateway.other", "gateways.other.id"),
        ("gateway.other.session", "gateways.other.session"),
    ]

    /// Symbols the runner provides rather than the target.
    public static let runSymbols: [(symbol: String, meaning: String)] = [
        ("i", "the iteration number of a repeated request (1, 2, …)"),
        ("source", "the fixture's first source address"),
        ("source.N", "the fixture's N-th source address (N from 2 to 9)"),
        ("limit", "the payload limit the target's configuration declares"),
        ("uuid", "a random UUID, the same throughout one fixture run"),
        ("ipv6", "a random IPv6 address of 2001:db8::/32, the same throughout one fixture run"),
        ("captured.NAME", "a value an earlier step of the fixture captured from a response (\"capture\")"),
    ]


    /// nil when `name` is a symbol a fixture may use; else why not.
    public static func checkSymbol(_ name: String) -> String? {
        if let bar = name.firstIndex(of: "|") {
            for filter in name[name.index(after: bar)...].split(separator: "|", omittingEmptySubsequences: false)
            where SymbolFilter(rawValue: String(filter)) == nil {
                return "unknown filter |\(filter) in {\(name)}; filters: " + SymbolFilter.allCases.map { "|" + $0.rawValue }.joined(separator: " ")
            }
            return checkSymbol(String(name[..<bar]))
        }
        if symbolTable.contains(where: { $0.symbol == name }) { return nil }
        if ["i", "source", "limit", "uuid", "ipv6"].contains(name) { return nil }
        if name.hasPrefix("captured."), name.count > 9 { return nil }
        if name.hasPrefix("source."), let n = Int(name.dropFirst(7)), (2...9).contains(n) { return nil }
        let all = symbolTable.map(\.symbol) + ["i", "source", "source.2", "limit", "uuid", "ipv6"]
        let suggestion = JSONCursor.closest(name, in: Set(all)).map { " (did you mean {\($0)}?)" } ?? ""
        return "unknown symbol {\(name)}\(suggestion); see Fixtures/README.md for the list"
    }

    /// The value of a target symbol, or nil when the target file does not provide it.
    public func value(of symbol: String, unknownBoard: String) -> String? {
        switch symbol {
        case "board": return boards["own"]
        case "board.other": return boards["other"]
        case "board.unknown": return unknownBoard
        case "board.memory":
            guard let endpoint = memoryEndpoint, let board = boards["own"] else { return nil }
            return endpoint.replacingOccurrences(of: "{board}", with: board)
        case "webhook.signed.payloads":
            guard let endpoint = payloadsEndpoint, let board = boards["own"], let webhook = webhooks["signed"]?.id else { return nil }
            return endpoint.replacingOccurrences(of: "{board}", with: board).replacingOccurrences(of: "{webhook}", with: webhook)
        case "webhook.open": return webhooks["open"]?.id
        case "webhook.signed": return webhooks["signed"]?.id
        case "webhook.signed.secret": return webhooks["signed"]?.secret
        case "webhook.disabled": return webhooks["disabled"]?.id
        case "webhook.custom": return webhooks["custom"]?.id
        case "webhook.custom.secret": return webhooks["custom"]?.secret
        case "webhook.custom.header": return webhooks["custom"]?.header
        case "webhook.other": return webhooks["other"]?.id
        case "agent.token": return agentTokens["board"]
        case "agent.main.token": return agentTokens["main"]
        case "agent.orphan.token": return agentTokens["orphan"]
        case "agent.endpoint": return agentEndpoint
        case "user.admin.token": return userTokens["admin"]
        case "user.member.token": return userTokens["member"]
        case "user.outsider.token": return userTokens["outsider"]
        case "gateway": return gateways["own"]
        case "gateway.session": return gatewaySessions["own"]
        case "gateway.other": return gateways["other"]
        case "gateway.other.session": return gatewaySessions["other"]
        default: return nil
        }
    }

    /// Where in the target file a symbol comes from, for skip reasons.
    public static func origin(of symbol: String) -> String {
        symbolTable.first { $0.symbol == symbol }?.meaning ?? symbol
    }

    /// Board ids the target knows (requests to other boards are answered before the limiter).
    public var knownBoards: Set<String> { Set(boards.values) }

    // MARK: writing

    /// The target file as JSON (the format `decode` reads).
    public var json: JSONValue {
        var members: [(String, JSONValue)] = []
        if let baseURL { members.append(("baseURL", .string(baseURL))) }
        func strings(_ d: [String: String]) -> JSONValue { .object(d.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }) }
        if !boards.isEmpty { members.append(("boards", strings(boards))) }
        if !webhooks.isEmpty {
            members.append(("webhooks", .object(webhooks.sorted { $0.key < $1.key }.map { key, w in
                var m: [(String, JSONValue)] = [("id", .string(w.id))]
                if let s = w.secret { m.append(("secret", .string(s))) }
                if let h = w.header { m.append(("header", .string(h))) }
                return (key, .object(m))
            })))
        }
        var agents: [(String, JSONValue)] = []
        if let agentEndpoint { agents.append(("endpoint", .string(agentEndpoint))) }
        for (k, v) in agentTokens.sorted(by: { $0.key < $1.key }) { agents.append((k, .object([("token", .string(v))]))) }
        if !agents.isEmpty { members.append(("agents", .object(agents))) }
        if !userTokens.isEmpty {
            members.append(("users", .object(userTokens.sorted { $0.key < $1.key }.map { ($0.key, .object([("token", .string($0.value))])) })))
        }
        if !gateways.isEmpty {
            members.append(("gateways", .object(gateways.sorted { $0.key < $1.key }.map { key, id in
                var m: [(String, JSONValue)] = [("id", .string(id))]
                if let s = gatewaySessions[key] { m.append(("session", .string(s))) }
                return (key, .object(m))
            })))
        }
        if let memoryEndpoint { members.append(("memoryEndpoint", .string(memoryEndpoint))) }
        if let payloadsEndpoint { members.append(("payloadsEndpoint", .string(payloadsEndpoint))) }
        if !config.isEmpty { members.append(("config", strings(config))) }
        members.append(("workers", .int(workers)))
        if !sourceAddresses.isEmpty { members.append(("sourceAddresses", .array(sourceAddresses.map { .string($0) }))) }
        if !dockerfiles.isEmpty { members.append(("dockerfiles", strings(dockerfiles))) }
        if let redisURL { members.append(("redis", .object([("url", .string(redisURL))]))) }
        switch logs {
        case .file(let path): members.append(("logs", .object([("file", .string(path))])))
        case .command(let command): members.append(("logs", .object([("command", .string(command))])))
        case nil: break
        }
        if let tlsCAFile { members.append(("tls", .object([("caFile", .string(tlsCAFile))]))) }
        return .object(members)
    }

    // MARK: loading

    public static func load(from url: URL) throws -> TargetFile {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw InputError(file: url.path, message: "cannot read the target file: \(error.localizedDescription)")
        }
        return try decode(Array(data), file: url.path, directory: url.deletingLastPathComponent())
    }

    /// Decodes a target file; relative Dockerfile paths are resolved against `directory`.
    public static func decode(_ bytes: [UInt8], file: String, directory: URL? = nil) throws -> TargetFile {
        let root = try JSONCursor.parse(bytes, file: file)
        try root.allowOnly(["baseURL", "boards", "webhooks", "agents", "users", "gateways", "memoryEndpoint",
                            "payloadsEndpoint", "config", "workers", "sourceAddresses", "dockerfiles", "redis", "logs", "tls"])
        var t = TargetFile()
        if let n = try root.optional("baseURL") {
            let url = try n.nonEmptyString()
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw n.error("expected an http:// or https:// URL, found \"\(url)\"")
            }
            t.baseURL = url
        }
        if let n = try root.optional("boards") {
            try n.allowOnly(["own", "other"])
            for m in try n.members() { t.boards[m.key] = try m.node.nonEmptyString() }
        }
        if let n = try root.optional("webhooks") {
            try n.allowOnly(["open", "signed", "disabled", "custom", "other"])
            for m in try n.members() {
                let w: Webhook
                if m.node.isString {
                    w = Webhook(id: try m.node.nonEmptyString())
                } else {
                    try m.node.allowOnly(["id", "secret", "header"])
                    w = Webhook(id: try m.node.required("id").nonEmptyString(),
                                secret: try m.node.optional("secret")?.nonEmptyString(),
                                header: try m.node.optional("header")?.nonEmptyString())
                }
                if (m.key == "signed" || m.key == "custom"), w.secret == nil {
                    throw m.node.error("webhooks.\(m.key) needs its \"secret\" (the fixtures sign with it)")
                }
                if m.key == "custom", w.header == nil {
                    throw m.node.error("webhooks.custom needs its \"header\" (the webhook's own signature header)")
                }
                t.webhooks[m.key] = w
            }
        }
        if let n = try root.optional("agents") {
            try n.allowOnly(["endpoint", "board", "main", "orphan"])
            for m in try n.members() {
                if m.key == "endpoint" {
                    let path = try m.node.nonEmptyString()
                    guard path.hasPrefix("/") else { throw m.node.error("expected a path starting with /, found \"\(path)\"") }
                    t.agentEndpoint = path
                } else {
                    try m.node.allowOnly(["token"])
                    t.agentTokens[m.key] = try m.node.required("token").nonEmptyString()
                }
            }
        }
        if let n = try root.optional("users") {
            try n.allowOnly(["admin", "member", "outsider"])
            for m in try n.members() {
                try m.node.allowOnly(["token"])
                t.userTokens[m.key] = try m.node.required("token").nonEmptyString()
            }
        }
        if let n = try root.optional("gateways") {
            try n.allowOnly(["own", "other"])
            for m in try n.members() {
                try m.node.allowOnly(["id", "session"])
                t.gateways[m.key] = try m.node.required("id").nonEmptyString()
                if let s = try m.node.optional("session") { t.gatewaySessions[m.key] = try s.nonEmptyString() }
            }
        }
        if let n = try root.optional("memoryEndpoint") {
            let path = try n.nonEmptyString()
            guard path.hasPrefix("/"), path.contains("{board}") else {
                throw n.error("expected a path starting with / that contains {board}, found \"\(path)\"")
            }
            t.memoryEndpoint = path
        }
        if let n = try root.optional("payloadsEndpoint") {
            let path = try n.nonEmptyString()
            guard path.hasPrefix("/"), path.contains("{board}"), path.contains("{webhook}") else {
                throw n.error("expected a path starting with / that contains {board} and {webhook}, found \"\(path)\"")
            }
            t.payloadsEndpoint = path
        }
        if let n = try root.optional("config") {
            for m in try n.members() {
                guard m.key.allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" }) else {
                    throw m.node.error("expected an environment variable name in upper case, found \"\(m.key)\"")
                }
                t.config[m.key] = try m.node.string()
            }
            if let problem = DeclaredConfiguration(environment: t.config).problem {
                throw n.error(problem)
            }
        }
        if let n = try root.optional("workers") { t.workers = try n.int(in: 1...4096) }
        if let n = try root.optional("sourceAddresses") {
            for a in try n.array() {
                let address = try a.nonEmptyString()
                guard IPAddressText.isIPv4(address) || IPAddressText.isIPv6(address) else {
                    throw a.error("expected an IP address (the local address to send from), found \"\(address)\"")
                }
                t.sourceAddresses.append(address)
            }
        }
        /// A path as written, or resolved against the target file's folder when relative.
        func path(_ node: JSONCursor) throws -> String {
            let path = try node.nonEmptyString()
            guard !path.hasPrefix("/"), let directory else { return path }
            return directory.appendingPathComponent(path).standardizedFileURL.path
        }
        if let n = try root.optional("redis") {
            try n.allowOnly(["url"])
            let url = try n.required("url")
            let text = try url.nonEmptyString()
            do { _ = try RedisURL(parsing: text) } catch {
                throw url.error("expected a redis:// URL of the deployment's rate-limit Redis: \(error)")
            }
            t.redisURL = text
        }
        if let n = try root.optional("logs") {
            try n.allowOnly(["file", "command"])
            switch (try n.optional("file"), try n.optional("command")) {
            case (let file?, nil): t.logs = .file(try path(file))
            case (nil, let command?): t.logs = .command(try command.nonEmptyString())
            default: throw n.error("expected exactly one of \"file\" (a log file the server appends to) or \"command\" (one that prints the log, e.g. \"docker logs --since {start} NAME\")")
            }
        }
        if let n = try root.optional("tls") {
            try n.allowOnly(["caFile"])
            t.tlsCAFile = try path(try n.required("caFile"))
        }
        if let n = try root.optional("dockerfiles") {
            for m in try n.members() {
                let path = try m.node.nonEmptyString()
                if path.hasPrefix("/") || directory == nil {
                    t.dockerfiles[m.key] = path
                } else if let directory {
                    t.dockerfiles[m.key] = directory.appendingPathComponent(path).standardizedFileURL.path
                }
            }
        }
        return t
    }
}

/// Syntax checks for IP address text (not resolution).
public enum IPAddressText {
    public static func isIPv4(_ s: String) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in
            !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isASCII) && p.allSatisfy(\.isNumber) && (Int(p) ?? 256) <= 255
        }
    }

    public static func isIPv6(_ s: String) -> Bool {
        guard s.contains(":"), s.count <= 45 else { return false }
        return s.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
    }
}

/// A spelling of a symbol's value: `{board|upper}`, `{board|nodash}`, `{board|braced}` (UUID
/// forms a server must accept like the canonical one), `{agent.endpoint|percent}` (a path
/// with a letter percent-encoded).
public enum SymbolFilter: String, CaseIterable, Sendable {
    case upper, nodash, braced, percent

    public func apply(_ value: String) -> String {
        switch self {
        case .upper: return value.uppercased()
        case .nodash: return value.replacingOccurrences(of: "-", with: "")
        case .braced: return "{" + value + "}"
        case .percent:
            // The last lower-case letter of the path, as %XX: the same path once decoded.
            guard let index = value.lastIndex(where: { $0.isASCII && $0.isLowercase }), let ascii = value[index].asciiValue else { return value }
            return String(value[..<index]) + "%" + String(ascii, radix: 16, uppercase: true) + String(value[value.index(after: index)...])
        }
    }

    /// `board|upper|braced` → (`board`, [.upper, .braced]); unknown filters are dropped (the
    /// decoder has refused them already).
    public static func split(_ symbol: String) -> (base: String, filters: [SymbolFilter]) {
        guard let bar = symbol.firstIndex(of: "|") else { return (symbol, []) }
        let filters = symbol[symbol.index(after: bar)...].split(separator: "|").compactMap { SymbolFilter(rawValue: String($0)) }
        return (String(symbol[..<bar]), filters)
    }
}

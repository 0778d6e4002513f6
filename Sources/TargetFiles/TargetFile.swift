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

    /// Every symbol a fixture may use. The one list behind template checking
    /// (`checkSymbol`), resolution (`SymbolScope`), the skip reason for a missing entry, and
    /// the symbol tables of Fixtures/README.md and Fixtures/targets/README.md (a test compares
    /// them with `symbolsMarkdown` and `entriesMarkdown`).
    public static let symbols: [SymbolDescriptor] = [
        .entry("board", from: "boards.own", entries: ["boards.own"]) { $0.boards["own"] },
        .entry("board.other", from: "boards.other", entries: ["boards.other"]) { $0.boards["other"] },
        .run("board.unknown", .unknownBoard, "a random UUID that names no board (generated per run)"),
        .entry("board.memory", from: "memoryEndpoint with {board} filled in", entries: ["memoryEndpoint", "boards.own"]) { t in
            guard let endpoint = t.memoryEndpoint, let board = t.boards["own"] else { return nil }
            return endpoint.replacingOccurrences(of: "{board}", with: board)
        },
        .entry("webhook.signed.payloads", from: "payloadsEndpoint with {board} and {webhook} (the signed webhook) filled in",
               entries: ["payloadsEndpoint", "boards.own", "webhooks.signed"]) { t in
            guard let endpoint = t.payloadsEndpoint, let board = t.boards["own"], let webhook = t.webhooks["signed"]?.id else { return nil }
            return endpoint.replacingOccurrences(of: "{board}", with: board).replacingOccurrences(of: "{webhook}", with: webhook)
        },
        .entry("webhook.open", from: "webhooks.open.id", entries: ["webhooks.open"]) { $0.webhooks["open"]?.id },
        .entry("webhook.signed", from: "webhooks.signed.id", entries: ["webhooks.signed"]) { $0.webhooks["signed"]?.id },
        .entry("webhook.signed.secret", from: "webhooks.signed.secret", entries: ["webhooks.signed"]) { $0.webhooks["signed"]?.secret },
        .entry("webhook.disabled", from: "webhooks.disabled.id", entries: ["webhooks.disabled"]) { $0.webhooks["disabled"]?.id },
        .entry("webhook.custom", from: "webhooks.custom.id", entries: ["webhooks.custom"]) { $0.webhooks["custom"]?.id },
        .entry("webhook.custom.secret", from: "webhooks.custom.secret", entries: ["webhooks.custom"]) { $0.webhooks["custom"]?.secret },
        .entry("webhook.custom.header", from: "webhooks.custom.header", entries: ["webhooks.custom"]) { $0.webhooks["custom"]?.header },
        .entry("webhook.other", from: "webhooks.other.id (a webhook of boards.other)", entries: ["webhooks.other"]) { $0.webhooks["other"]?.id },
        .entry("agent.token", from: "agents.board.token", entries: ["agents.board.token"]) { $0.agentTokens["board"] },
        .entry("agent.main.token", from: "agents.main.token", entries: ["agents.main.token"]) { $0.agentTokens["main"] },
        .entry("agent.orphan.token", from: "agents.orphan.token", entries: ["agents.orphan.token"]) { $0.agentTokens["orphan"] },
        .entry("agent.endpoint", from: "agents.endpoint", entries: ["agents.endpoint"]) { $0.agentEndpoint },
        .entry("user.admin.token", from: "users.admin.token", entries: ["users.admin.token"]) { $0.userTokens["admin"] },
        .entry("user.member.token", from: "users.member.token", entries: ["users.member.token"]) { $0.userTokens["member"] },
        .entry("user.outsider.token", from: "users.outsider.token", entries: ["users.outsider.token"]) { $0.userTokens["outsider"] },
        .entry("gateway", from: "gateways.own.id", entries: ["gateways.own"]) { $0.gateways["own"] },
        .entry("gateway.session", from: "gateways.own.session", entries: ["gateways.own"]) { $0.gatewaySessions["own"] },
        .entry("gateway.other", from: "gateways.other.id", entries: ["gateways.other"]) { $0.gateways["other"] },
        .entry("gateway.other.session", from: "gateways.other.session", entries: ["gateways.other"]) { $0.gatewaySessions["other"] },
        .run("i", .iteration, "the iteration number of a repeated request (1, 2, …)"),
        .run("source", .source, "the fixture's first source address"),
        .run("source.N", .numberedSource, "the fixture's N-th source address (N from 2 to 9)"),
        .run("limit", .payloadLimit, "the payload limit the target's configuration declares (default 1,048,576)"),
        .run("uuid", .uuid, "a random UUID, the same everywhere in one fixture run (a request id sent can be compared with the echo)"),
        .run("ipv6", .ipv6, "a random IPv6 address in 2001:db8::/32, the same everywhere in one fixture run (a forwarded client no earlier run has spent)"),
        .run("captured.NAME", .captured, "a value an earlier step of the fixture captured from a response (`capture`)"),
    ]

    /// Plain names for a direct look-up (families such as `source.N` are matched apart).
    private static let symbolsByName: [String: SymbolDescriptor] = Dictionary(
        uniqueKeysWithValues: symbols.filter { $0.family == nil }.map { ($0.name, $0) })

    /// The descriptor of `name` (without filters), or nil for an unknown symbol.
    public static func symbol(_ name: String) -> SymbolDescriptor? {
        if let plain = symbolsByName[name] { return plain }
        return symbols.first { $0.family?.matches(name) ?? false }
    }

    /// nil when `name` is a symbol a fixture may use; else why not.
    public static func checkSymbol(_ name: String) -> String? {
        if let bar = name.firstIndex(of: "|") {
            for filter in name[name.index(after: bar)...].split(separator: "|", omittingEmptySubsequences: false)
            where SymbolFilter(rawValue: String(filter)) == nil {
                return "unknown filter |\(filter) in {\(name)}; filters: " + SymbolFilter.allCases.map { "|" + $0.rawValue }.joined(separator: " ")
            }
            return checkSymbol(String(name[..<bar]))
        }
        if symbol(name) != nil { return nil }
        let spellings = symbols.map { $0.family?.example ?? $0.name }
        let suggestion = JSONCursor.closest(name, in: Set(spellings)).map { " (did you mean {\($0)}?)" } ?? ""
        return "unknown symbol {\(name)}\(suggestion); see Fixtures/README.md for the list"
    }

    /// Why a fixture using `name` cannot run against this target file (it lacks the entry),
    /// or nil when the symbol resolves or is the run's to provide.
    public func missing(_ name: String) -> String? {
        let base = SymbolFilter.split(name).base
        // A name outside the table (a signing spec's `<webhook>.secret`) is an entry nobody provides.
        guard let descriptor = TargetFile.symbol(base) else { return "the target file has no \(base) (for {\(base)})" }
        guard case .entry(let read) = descriptor.resolution, read(self) == nil else { return nil }
        return "the target file has no \(descriptor.from) (for {\(base)})"
    }

    /// The value of a target-file symbol, or nil when the target file does not provide it
    /// (or the symbol is the run's to provide).
    public func value(of symbol: String) -> String? {
        guard case .entry(let read)? = TargetFile.symbol(symbol)?.resolution else { return nil }
        return read(self)
    }

    /// The symbol table of Fixtures/README.md, generated from `symbols`.
    public static var symbolsMarkdown: String {
        var lines = ["| Symbol | From |", "|---|---|"]
        for s in symbols {
            var spelled = "`{\(s.family?.example ?? s.name)}`"
            if let family = s.family, let numbers = family.numbers {
                spelled = "`{\(family.prefix)\(numbers.lowerBound)}` … `{\(family.prefix)\(numbers.upperBound)}`"
            }
            lines.append("| \(spelled) | \(s.from) |")
        }
        return lines.joined(separator: "\n")
    }

    /// Which symbols each target-file entry provides (Fixtures/targets/README.md), generated
    /// from `symbols`.
    public static var entriesMarkdown: String {
        var order: [String] = []
        var provided: [String: [String]] = [:]
        for s in symbols {
            for entry in s.entries {
                if provided[entry] == nil { order.append(entry) }
                provided[entry, default: []].append("`{\(s.name)}`")
            }
        }
        var lines = ["| Entry | Symbols |", "|---|---|"]
        for entry in order { lines.append("| `\(entry)` | \(provided[entry, default: []].joined(separator: ", ")) |") }
        return lines.joined(separator: "\n")
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

/// One symbol a fixture may use: its name, what provides it and how it resolves, and what a
/// target file lacks when it cannot (the skip reason).
public struct SymbolDescriptor: Sendable {
    /// Values the run provides rather than the target file.
    public enum RunValue: Sendable {
        case iteration, source, numberedSource, payloadLimit, uuid, ipv6, captured, unknownBoard
    }

    public enum Resolution: Sendable {
        /// Read from the target file (nil: the entry is missing, the fixture skips).
        case entry(@Sendable (TargetFile) -> String?)
        /// Provided by the run.
        case run(RunValue)
    }

    /// A family of names (`source.2` … `source.9`, `captured.NAME`).
    public struct Family: Sendable {
        public var prefix: String
        /// Allowed numbers after the prefix; nil for any non-empty name.
        public var numbers: ClosedRange<Int>?
        /// How the documentation spells a member.
        public var example: String

        public func matches(_ name: String) -> Bool {
            guard name.hasPrefix(prefix), name.count > prefix.count else { return false }
            guard let numbers else { return true }
            return Int(name.dropFirst(prefix.count)).map(numbers.contains) ?? false
        }
    }

    /// As written in a template (`board`), or the family's pattern (`source.N`).
    public var name: String
    /// What provides it, in words: the target-file entry (`webhooks.signed.id`) or what the
    /// run makes up. The documentation's "From" column and the skip reason say this.
    public var from: String
    /// The target-file entries it is made from (none for run symbols).
    public var entries: [String]
    public var resolution: Resolution
    public var family: Family?

    /// Whether the target file provides it (a missing entry skips the fixture).
    public var providedByTargetFile: Bool {
        if case .entry = resolution { return true }
        return false
    }

    static func entry(_ name: String, from: String, entries: [String],
                      _ read: @escaping @Sendable (TargetFile) -> String?) -> SymbolDescriptor {
        SymbolDescriptor(name: name, from: from, entries: entries, resolution: .entry(read), family: nil)
    }

    static func run(_ name: String, _ value: RunValue, _ from: String) -> SymbolDescriptor {
        var family: Family? = nil
        if name == "source.N" { family = Family(prefix: "source.", numbers: 2...9, example: "source.2") }
        if name == "captured.NAME" { family = Family(prefix: "captured.", numbers: nil, example: "captured.NAME") }
        return SymbolDescriptor(name: name, from: from, entries: [], resolution: .run(value), family: family)
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

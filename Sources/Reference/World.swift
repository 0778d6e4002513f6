import Foundation
import Wire

/// The data the reference service serves: organizations, their gateways and boards, webhooks,
/// agents and users. It is data, not code (`Fixtures/world.json`), so that conformance fixtures
/// can refer to the same ids and tokens by name, and a different world can be served without
/// rebuilding.
public struct World: Sendable, Equatable {
    public var description: String?
    public var organizations: [Organization]
    public var gateways: [Gateway]
    public var boards: [Board]
    public var webhooks: [Webhook]
    public var agents: [Agent]
    public var users: [User]

    public init(description: String? = nil, organizations: [Organization] = [], gateways: [Gateway] = [], boards: [Board] = [],
                webhooks: [Webhook] = [], agents: [Agent] = [], users: [User] = []) {
        self.description = description
        self.organizations = organizations
        self.gateways = gateways
        self.boards = boards
        self.webhooks = webhooks
        self.agents = agents
        self.users = users
    }

    public struct Organization: Sendable, Equatable {
        public var id: String
        public var name: String
        public init(id: String, name: String) { self.id = id; self.name = name }
    }

    public struct Gateway: Sendable, Equatable {
        public var id: String
        public var organizationID: String
        public var name: String
        public var url: String?
        /// The gateway token. Gateway reads return it in the `raw` phase, so it is kept as is.
        public var token: String?


        public init(id: String, organizationID: String, name: String, url: String? = nil, token: String? = nil) {
            self.id = id; self.organizationID = organizationID; self.name = name; self.url = url; self.token = token
        }
    }

    public struct Board: Sendable, Equatable {
        public var id: String
        public var organizationID: String
        public var gatewayID: String?
        public var name: String


        public init(id: String, organizationID: String, gatewayID: String? = nil, name: String) {
            self.id = id; self.organizationID = organizationID; self.gatewayID = gatewayID; self.name = name
        }
    }

    public struct Webhook: Sendable, Equatable {
        public var id: String
        public var boardID: String
        public var description: String?
        public var enabled: Bool
        /// HMAC secret; nil or empty means payloads are not signed and not checked.
        public var secret: String?
        /// A signature header of the webhook's own, checked before the default ones.
        public var signatureHeader: String?


        public init(id: String, boardID: String, description: String? = nil, enabled: Bool = true,
                    secret: String? = nil, signatureHeader: String? = nil) {
            self.id = id; self.boardID = boardID; self.description = description; self.enabled = enabled
            self.secret = secret; self.signatureHeader = signatureHeader
        }
    }

    public struct Agent: Sendable, Equatable {
        public var id: String
        public var name: String
        /// Set for a board agent; nil for a gateway's main agent.
        public var boardID: String?
        public var gatewayID: String
        public var status: String
        public var isBoardLead: Bool
        /// The raw token as issued. The service hashes it at load time and keeps only the hash.
        public var token: String?
        /// The token's hex SHA-256, for worlds that do not carry raw tokens.
        public var tokenHash: String?


        public init(id: String, name: String, boardID: String? = nil, gatewayID: String, status: String = "online",
                    isBoardLead: Bool = false, token: String? = nil, tokenHash: String? = nil) {
            self.id = id; self.name = name; self.boardID = boardID; self.gatewayID = gatewayID; self.status = status
            self.isBoardLead = isBoardLead; self.token = token; self.tokenHash = tokenHash
        }
    }

    public struct User: Sendable, Equatable {
        public var id: String
        public var name: String
        /// The user's bearer token (raw; hashed by the service at load time).
        public var token: String?
        public var tokenHash: String?
        public var memberships: [Membership]


        public init(id: String, name: String, token: String? = nil, tokenHash: String? = nil, memberships: [Membership]) {
            self.id = id; self.name = name; self.token = token; self.tokenHash = tokenHash; self.memberships = memberships
        }
    }

    public struct Membership: Sendable, Equatable {
        public var organizationID: String
        /// `owner`, `admin` or `member`.
        public var role: String


        public init(organizationID: String, role: String) { self.organizationID = organizationID; self.role = role }
    }

    // MARK: loading

    /// Reads and validates a world file.
    public static func load(from url: URL) throws -> World {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw WorldError(file: url.path, problem: "cannot be read (\(error.localizedDescription)); check the path, or set MCSEC_FIXTURES to the Fixtures directory")
        }
        return try decode(data, file: url.path)
    }

    /// Decodes and validates world JSON; `file` names the source in errors. A shape problem is an
    /// `InputError` naming the line, column and JSON path; a world that parses but cannot be
    /// served is a `WorldError`.
    public static func decode(_ data: Data, file: String = "world.json") throws -> World {
        let world = try World(JSONCursor.parse(Array(data), file: file))
        try world.validate(file: file)
        return world
    }

    /// `Fixtures/world.json` of this package (see `BundledData`).
    public static func bundled() throws -> World {
        try load(from: BundledData.fixturesDirectory.appendingPathComponent("world.json"))
    }

    /// Checks what the service relies on: unique ids, UUID ids where routes take UUIDs,
    /// references that resolve, known roles. An agent's gateway may be missing on purpose
    /// (that is the "gateway not found" case the tenancy rule covers).
    public func validate(file: String = "world.json") throws {
        func fail(_ problem: String) -> WorldError { WorldError(file: file, problem: problem) }
        var seen = Set<String>()
        func unique(_ kind: String, _ id: String, uuid: Bool) throws {
            if uuid && UUIDText.canonical(id) != id {
                throw fail("\(kind) id '\(id)' is not a lower-case hyphenated UUID (routes take UUIDs)")
            }
            guard seen.insert(kind + ":" + id).inserted else { throw fail("\(kind) id '\(id)' appears twice") }
        }
        let organizationIDs = Set(organizations.map(\.id))
        for o in organizations { try unique("organization", o.id, uuid: true) }
        for g in gateways {
            try unique("gateway", g.id, uuid: true)
            guard organizationIDs.contains(g.organizationID) else { throw fail("gateway '\(g.id)' names unknown organization '\(g.organizationID)'") }
        }
        for b in boards {
            try unique("board", b.id, uuid: true)
            guard organizationIDs.contains(b.organizationID) else { throw fail("board '\(b.id)' names unknown organization '\(b.organizationID)'") }
        }
        let boardIDs = Set(boards.map(\.id))
        for w in webhooks {
            try unique("webhook", w.id, uuid: true)
            guard boardIDs.contains(w.boardID) else { throw fail("webhook '\(w.id)' names unknown board '\(w.boardID)'") }
            if let header = w.signatureHeader, !HTTPGrammar.isToken(header) {
                throw fail("webhook '\(w.id)' has signature_header '\(header)', which is not a header name")
            }
        }
        var tokens = Set<String>()
        for a in agents {
            try unique("agent", a.id, uuid: true)
            if let board = a.boardID, !boardIDs.contains(board) { throw fail("agent '\(a.id)' names unknown board '\(board)'") }
            guard a.token?.isEmpty == false || a.tokenHash?.isEmpty == false else { throw fail("agent '\(a.id)' has neither token nor token_sha256") }
            if let t = a.token, !tokens.insert(t).inserted { throw fail("agent '\(a.id)' reuses a token") }
        }
        for u in users {
            try unique("user", u.id, uuid: false)
            guard u.token?.isEmpty == false || u.tokenHash?.isEmpty == false else { throw fail("user '\(u.id)' has neither token nor token_sha256") }
            if let t = u.token, !tokens.insert(t).inserted { throw fail("user '\(u.id)' reuses a token") }
            for m in u.memberships {
                guard organizationIDs.contains(m.organizationID) else { throw fail("user '\(u.id)' is a member of unknown organization '\(m.organizationID)'") }
                guard Tenancy.roles.contains(m.role) else { throw fail("user '\(u.id)' has role '\(m.role)'; roles are \(Tenancy.roles.sorted().joined(separator: ", "))") }
            }
        }
    }

    // MARK: lookups by name (fixtures and tests refer to entities symbolically)

    public func organization(named name: String) -> Organization? { organizations.first { $0.name == name } }
    public func gateway(named name: String) -> Gateway? { gateways.first { $0.name == name } }
    public func board(named name: String) -> Board? { boards.first { $0.name == name } }
    public func agent(named name: String) -> Agent? { agents.first { $0.name == name } }
    public func user(named name: String) -> User? { users.first { $0.name == name } }
    /// The webhook whose description starts with `prefix` (e.g. "signed", "disabled").
    public func webhook(described prefix: String) -> Webhook? { webhooks.first { $0.description?.hasPrefix(prefix) == true } }
}

/// A world file that cannot be served, and why.
public struct WorldError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var problem: String
    public var description: String { "world file \(file): \(problem)" }
}

/// UUID text as FastAPI path parameters accept it.
public enum UUIDText {
    /// The canonical lower-case hyphenated form of `text`, or nil when it is not a UUID.
    /// Accepts what the real service's validation accepts: the hyphenated form, 32 bare hex
    /// digits, and the hyphenated form wrapped in braces, in either case.
    public static func canonical<S: StringProtocol>(_ text: S) -> String? {
        // Most ids arrive canonical already (every id the service hands out is): kept as they are.
        if isCanonical(text.utf8) { return String(text) }
        var bytes = Array(text.utf8)
        if bytes.count == 38, bytes[0] == UInt8(ascii: "{"), bytes[37] == UInt8(ascii: "}") {
            bytes = Array(bytes[1..<37])
        }
        var hex: [UInt8] = []
        hex.reserveCapacity(32)
        if bytes.count == 36 {
            for (i, b) in bytes.enumerated() {
                if i == 8 || i == 13 || i == 18 || i == 23 {
                    guard b == UInt8(ascii: "-") else { return nil }
                } else {
                    hex.append(b)
                }
            }
        } else if bytes.count == 32 {
            hex = bytes
        } else {
            return nil
        }
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (i, b) in hex.enumerated() {
            guard Hex.nibble(b) != nil else { return nil }
            if i == 8 || i == 12 || i == 16 || i == 20 { out.append(UInt8(ascii: "-")) }
            out.append(b >= 65 && b <= 90 ? b | 0x20 : b)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `utf8` is a UUID in the canonical form: 36 bytes, lower-case hex digits with hyphens at
    /// 8, 13, 18 and 23.
    static func isCanonical<C: Collection<UInt8>>(_ utf8: C) -> Bool {
        guard utf8.count == 36 else { return false }
        for (i, b) in utf8.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard b == UInt8(ascii: "-") else { return false }
            } else {
                guard (b >= 48 && b <= 57) || (b >= 97 && b <= 102) else { return false }
            }
        }
        return true
    }
}

// A world file is read as it always was: members the service does not use are ignored, and
// `null` stands for an absent optional member.
extension World {
    init(_ c: JSONCursor) throws(InputError) {
        func list<T>(_ key: String, _ read: (JSONCursor) throws(InputError) -> T) throws(InputError) -> [T] {
            var out: [T] = []
            for item in try World.required(c, key).array() { out.append(try read(item)) }
            return out
        }
        self.init(description: try c.optional("description")?.string(),
                  organizations: try list("organizations", Organization.init), gateways: try list("gateways", Gateway.init),
                  boards: try list("boards", Board.init), webhooks: try list("webhooks", Webhook.init),
                  agents: try list("agents", Agent.init), users: try list("users", User.init))
    }

    static func required(_ c: JSONCursor, _ key: String) throws(InputError) -> JSONCursor {
        guard let member = try c.optional(key) else { throw c.error("missing \"\(key)\"") }
        return member
    }

    static func string(_ c: JSONCursor, _ key: String) throws(InputError) -> String { try required(c, key).string() }
}

extension World.Organization {
    init(_ c: JSONCursor) throws(InputError) {
        self.init(id: try World.string(c, "id"), name: try World.string(c, "name"))
    }
}

extension World.Gateway {
    init(_ c: JSONCursor) throws(InputError) {
        self.init(id: try World.string(c, "id"), organizationID: try World.string(c, "organization_id"), name: try World.string(c, "name"),
                  url: try c.optional("url")?.string(), token: try c.optional("token")?.string())
    }
}

extension World.Board {
    init(_ c: JSONCursor) throws(InputError) {
        self.init(id: try World.string(c, "id"), organizationID: try World.string(c, "organization_id"),
                  gatewayID: try c.optional("gateway_id")?.string(), name: try World.string(c, "name"))
    }
}

extension World.Webhook {
    init(_ c: JSONCursor) throws(InputError) {
        self.init(id: try World.string(c, "id"), boardID: try World.string(c, "board_id"), description: try c.optional("description")?.string(),
                  enabled: try World.required(c, "enabled").bool(), secret: try c.optional("secret")?.string(),
                  signatureHeader: try c.optional("signature_header")?.string())
    }
}

extension World.Agent {
    init(_ c: JSONCursor) throws(InputError) {
        self.init(id: try World.string(c, "id"), name: try World.string(c, "name"), boardID: try c.optional("board_id")?.string(),
                  gatewayID: try World.string(c, "gateway_id"), status: try World.string(c, "status"),
                  isBoardLead: try World.required(c, "is_board_lead").bool(), token: try c.optional("token")?.string(),
                  tokenHash: try c.optional("token_sha256")?.string())
    }
}

extension World.User {
    init(_ c: JSONCursor) throws(InputError) {
        var memberships: [World.Membership] = []
        for m in try World.required(c, "memberships").array() {
            memberships.append(World.Membership(organizationID: try World.string(m, "organization_id"), role: try World.string(m, "role")))
        }
        self.init(id: try World.string(c, "id"), name: try World.string(c, "name"), token: try c.optional("token")?.string(),
                  tokenHash: try c.optional("token_sha256")?.string(), memberships: memberships)
    }
}

import Foundation
import Wire

/// The data the reference service serves: organizations, their gateways and boards, webhooks,
/// agents and users. It is data, not code (`Fixtures/world.json`), so that conformance fixtures
/// can refer to the same ids and tokens by name, and a different world can be served without
/// rebuilding.
public struct World: Codable, Sendable, Equatable {
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

    public struct Organization: Codable, Sendable, Equatable {
        public var id: String
        public var name: String
        public init(id: String, name: String) { self.id = id; self.name = name }
    }

    public struct Gateway: Codable, Sendable, Equatable {
        public var id: String
        public var organizationID: String
        public var name: String
        public var url: String?
        /// The gateway token. Gateway reads return it in the `raw` phase, so it is kept as is.
        public var token: String?

        enum CodingKeys: String, CodingKey {
            case id, name, url, token
            case organizationID = "organization_id"
        }

        public init(id: String, organizationID: String, name: String, url: String? = nil, token: String? = nil) {
            self.id = id; self.organizationID = organizationID; self.name = name; self.url = url; self.token = token
        }
    }

    public struct Board: Codable, Sendable, Equatable {
        public var id: String
        public var organizationID: String
        public var gatewayID: String?
        public var name: String

        enum CodingKeys: String, CodingKey {
            case id, name
            case organizationID = "organization_id"
            case gatewayID = "gateway_id"
        }

        public init(id: String, organizationID: String, gatewayID: String? = nil, name: String) {
            self.id = id; self.organizationID = organizationID; self.gatewayID = gatewayID; self.name = name
        }
    }

    public struct Webhook: Codable, Sendable, Equatable {
        public var id: String
        public var boardID: String
        public var description: String?
        public var enabled: Bool
        /// HMAC secret; nil or empty means payloads are not signed and not checked.
        public var secret: String?
        /// A signature header of the webhook's own, checked before the default ones.
        public var signatureHeader: String?

        enum CodingKeys: String, CodingKey {
            case id, description, enabled, secret
            case boardID = "board_id"
            case signatureHeader = "signature_header"
        }

        public init(id: String, boardID: String, description: String? = nil, enabled: Bool = true,
                    secret: String? = nil, signatureHeader: String? = nil) {
            self.id = id; self.boardID = boardID; self.description = description; self.enabled = enabled
            self.secret = secret; self.signatureHeader = signatureHeader
        }
    }

    public struct Agent: Codable, Sendable, Equatable {
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

        enum CodingKeys: String, CodingKey {
            case id, name, status, token
            case boardID = "board_id"
            case gatewayID = "gateway_id"
            case isBoardLead = "is_board_lead"
            case tokenHash = "token_sha256"
        }

        public init(id: String, name: String, boardID: String? = nil, gatewayID: String, status: String = "online",
                    isBoardLead: Bool = false, token: String? = nil, tokenHash: String? = nil) {
            self.id = id; self.name = name; self.boardID = boardID; self.gatewayID = gatewayID; self.status = status
            self.isBoardLead = isBoardLead; self.token = token; self.tokenHash = tokenHash
        }
    }

    public struct User: Codable, Sendable, Equatable {
        public var id: String
        public var name: String
        /// The user's bearer token (raw; hashed by the service at load time).
        public var token: String?
        public var tokenHash: String?
        public var memberships: [Membership]

        enum CodingKeys: String, CodingKey {
            case id, name, token, memberships
            case tokenHash = "token_sha256"
        }

        public init(id: String, name: String, token: String? = nil, tokenHash: String? = nil, memberships: [Membership]) {
            self.id = id; self.name = name; self.token = token; self.tokenHash = tokenHash; self.memberships = memberships
        }
    }

    public struct Membership: Codable, Sendable, Equatable {
        public var organizationID: String
        /// `owner`, `admin` or `member`.
        public var role: String

        enum CodingKeys: String, CodingKey {
            case role
            case organizationID = "organization_id"
        }

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

    /// Decodes and validates world JSON; `file` names the source in errors.
    public static func decode(_ data: Data, file: String = "world.json") throws -> World {
        let world: World
        do {
            world = try JSONDecoder().decode(World.self, from: data)
        } catch let error as DecodingError {
            throw WorldError(file: file, problem: WorldError.describe(error))
        } catch {
            throw WorldError(file: file, problem: "is not valid JSON: \(error)")
        }
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

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "the top level" : p
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing \"\(key.stringValue)\" at \(path(context))"
        case .typeMismatch(_, let context): return "wrong type at \(path(context)): \(context.debugDescription)"
        case .valueNotFound(_, let context): return "null where a value is needed at \(path(context))"
        case .dataCorrupted(let context): return "malformed at \(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

/// UUID text as FastAPI path parameters accept it.
public enum UUIDText {
    /// The canonical lower-case hyphenated form of `text`, or nil when it is not a UUID.
    /// Accepts what the real service's validation accepts: the hyphenated form, 32 bare hex
    /// digits, and the hyphenated form wrapped in braces, in either case.
    public static func canonical<S: StringProtocol>(_ text: S) -> String? {
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
}


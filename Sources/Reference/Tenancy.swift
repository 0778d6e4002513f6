/// Rule: cross-tenant isolation and organization-admin checks.
///
/// - An agent with a `board_id` sees only its board. An agent without one (a gateway's main
///   agent) sees the boards whose `organization_id` is its gateway's `organization_id`; when
///   its gateway does not exist, the scope cannot be determined and the answer is 403. An agent
///   may read a board's data (its memory) exactly when it would list that board; any other
///   board is 403.
/// - A user acts in an organization: the first of their memberships (the service has no
///   organization switcher, so the first is the active one). Gateway session messaging
///   requires an admin role (`owner` or `admin`) there, and a board of another organization is
///   refused even to an admin.
public enum Tenancy {
    /// Every role a membership can have.
    public static let roles: Set<String> = ["owner", "admin", "member"]
    /// Roles that count as organization admin.
    public static let adminRoles: Set<String> = ["owner", "admin"]

    public static let gatewayNotFoundDetail = "Agent gateway not found; cannot determine organization scope."
    public static let adminRequiredDetail = "Organization admin access required."
    public static let otherOrganizationDetail = "Board belongs to another organization."
    /// The real service answers a bare 403 here.
    public static let agentBoardForbiddenDetail = "Forbidden"

    /// A refusal: the status and the `detail` to answer with.
    public struct Denial: Error, Sendable, Equatable {
        public var status: Int
        public var detail: String
        public init(status: Int, detail: String) { self.status = status; self.detail = detail }
    }

    /// The boards `agent` may list, in world order.
    public static func boardsVisible(to agent: World.Agent, in world: World) -> Result<[World.Board], Denial> {
        if let boardID = agent.boardID {
            return .success(world.boards.filter { $0.id == boardID })
        }
        guard let gateway = world.gateways.first(where: { $0.id == agent.gatewayID }) else {
            return .failure(Denial(status: 403, detail: gatewayNotFoundDetail))
        }
        return .success(world.boards.filter { $0.organizationID == gateway.organizationID })
    }

    /// Whether `agent` may read data of `board`: nil when it may, else the refusal.
    public static func agentMayRead(_ board: World.Board, agent: World.Agent, in world: World) -> Denial? {
        switch boardsVisible(to: agent, in: world) {
        case .failure(let denial): return denial
        case .success(let boards):
            return boards.contains { $0.id == board.id } ? nil : Denial(status: 403, detail: agentBoardForbiddenDetail)
        }
    }

    /// The membership a user acts with (their first), or nil for a user in no organization.
    public static func activeMembership(of user: World.User) -> World.Membership? {
        user.memberships.first
    }

    /// Whether `user` may read data of a board in `organizationID` (any role).
    public static func canRead(organizationID: String, user: World.User) -> Bool {
        activeMembership(of: user)?.organizationID == organizationID
    }

    /// The organization-admin check that comes before any parameter of the request is looked at.
    public static func requireAdmin(_ user: World.User) -> Result<World.Membership, Denial> {
        guard let membership = activeMembership(of: user), adminRoles.contains(membership.role) else {
            return .failure(Denial(status: 403, detail: adminRequiredDetail))
        }
        return .success(membership)
    }

    /// The organization-boundary check for a gateway session message about `board`.
    public static func sessionMessage(by admin: World.Membership, about board: World.Board) -> Denial? {
        board.organizationID == admin.organizationID ? nil : Denial(status: 403, detail: otherOrganizationDetail)
    }
}

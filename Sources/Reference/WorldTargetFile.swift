import TargetFiles

extension World {
    /// Describes a world the way a target file describes a deployment: the first organization
    /// is "own", the second "other"; webhooks, agents, users and gateways are picked by what
    /// they are (open, signed, disabled, custom header; board, main, orphan agent; admin,
    /// member, outsider).
    public var targetFile: TargetFile {
        let world = self
        var t = TargetFile()
        t.agentEndpoint = "/api/v1/agent/healthz"
        t.memoryEndpoint = "/api/v1/boards/{board}/memory"
        t.payloadsEndpoint = "/api/v1/boards/{board}/webhooks/{webhook}/payloads"
        let orgs = world.organizations.map(\.id)
        guard let ownOrg = orgs.first else { return t }
        let otherOrg = orgs.dropFirst().first
        let ownBoards = world.boards.filter { $0.organizationID == ownOrg }
        // The own board is the one with the most webhooks: that is where the fixtures post.
        let own = ownBoards.max { a, b in
            world.webhooks.filter { $0.boardID == a.id }.count < world.webhooks.filter { $0.boardID == b.id }.count
        }
        if let own { t.boards["own"] = own.id }
        if let otherOrg, let other = world.boards.first(where: { $0.organizationID == otherOrg }) {
            t.boards["other"] = other.id
            if let w = world.webhooks.first(where: { $0.boardID == other.id }) { t.webhooks["other"] = .init(id: w.id) }
        }
        if let own {
            let hooks = world.webhooks.filter { $0.boardID == own.id }
            func secret(_ w: World.Webhook) -> String? { (w.secret ?? "").isEmpty ? nil : w.secret }
            if let w = hooks.first(where: { $0.enabled && secret($0) == nil }) { t.webhooks["open"] = .init(id: w.id) }
            if let w = hooks.first(where: { $0.enabled && secret($0) != nil && $0.signatureHeader == nil }) {
                t.webhooks["signed"] = .init(id: w.id, secret: secret(w))
            }
            if let w = hooks.first(where: { !$0.enabled }) { t.webhooks["disabled"] = .init(id: w.id) }
            if let w = hooks.first(where: { $0.enabled && secret($0) != nil && $0.signatureHeader != nil }) {
                t.webhooks["custom"] = .init(id: w.id, secret: secret(w), header: w.signatureHeader)
            }
            if let a = world.agents.first(where: { $0.boardID == own.id && $0.token != nil }), let token = a.token {
                t.agentTokens["board"] = token
            }
        }
        let gatewayIDs = Set(world.gateways.map(\.id))
        let ownGateways = world.gateways.filter { $0.organizationID == ownOrg }
        if let g = ownGateways.first {
            t.gateways["own"] = g.id
            t.gatewaySessions["own"] = "agent:main:\(g.id)"
        }
        if let otherOrg, let g = world.gateways.first(where: { $0.organizationID == otherOrg }) {
            t.gateways["other"] = g.id
            t.gatewaySessions["other"] = "agent:main:\(g.id)"
        }
        let ownGatewayIDs = Set(ownGateways.map(\.id))
        if let a = world.agents.first(where: { $0.boardID == nil && ownGatewayIDs.contains($0.gatewayID) }),
           let token = a.token {
            t.agentTokens["main"] = token
        }
        if let a = world.agents.first(where: { $0.boardID == nil && !gatewayIDs.contains($0.gatewayID) }), let token = a.token {
            t.agentTokens["orphan"] = token
        }
        func role(_ user: World.User, _ org: String) -> String? { user.memberships.first { $0.organizationID == org }?.role }
        if let u = world.users.first(where: { role($0, ownOrg) == "admin" }) ?? world.users.first(where: { role($0, ownOrg) == "owner" }),
           let token = u.token {
            t.userTokens["admin"] = token
        }
        if let u = world.users.first(where: { role($0, ownOrg) == "member" }), let token = u.token { t.userTokens["member"] = token }
        if let otherOrg, let u = world.users.first(where: { role($0, ownOrg) == nil && ["admin", "owner"].contains(role($0, otherOrg) ?? "") }),
           let token = u.token {
            t.userTokens["outsider"] = token
        }
        return t
    }
}

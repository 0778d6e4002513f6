import Reference
import TargetFiles
import Wire

/// A target file the fuzzer cannot use, and why (exit status 2).
public struct FuzzInputError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension World {
    /// The world a conforming deployment described by `target` has, as far as requests can
    /// tell: the target file's boards, webhooks, agents, users and gateways with their ids,
    /// secrets, headers and tokens, in two organizations ("own" and "other"). What the file
    /// does not say (names, gateway URLs and tokens, other entities) is made up; the fuzzer
    /// compares such values by shape only.
    ///
    /// The inverse of `World.targetFile` for every entry a target file has.
    public static func oracle(for target: TargetFile) throws -> World {
        func uuid(_ text: String, _ what: String) throws -> String {
            guard let canonical = UUIDText.canonical(text) else {
                throw FuzzInputError("target file: \(what) '\(text)' is not a UUID (the routes take UUIDs)")
            }
            return canonical
        }
        // Made-up ids: a fixed pattern no real deployment hands out, numbered.
        func madeUp(_ n: Int) -> String {
            let hex = String(n, radix: 16)
            return "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - hex.count) + hex
        }
        let ownOrg = madeUp(0xF001), otherOrg = madeUp(0xF002)
        var world = World(description: "the oracle of a target file")
        world.organizations = [.init(id: ownOrg, name: "own"), .init(id: otherOrg, name: "other")]

        let ownGateway = try target.gateways["own"].map { try uuid($0, "gateways.own.id") } ?? madeUp(0xF011)
        let otherGateway = try target.gateways["other"].map { try uuid($0, "gateways.other.id") } ?? madeUp(0xF012)
        world.gateways = [
            .init(id: ownGateway, organizationID: ownOrg, name: "own gateway", url: "ws://gateway.invalid", token: "unknown"),
            .init(id: otherGateway, organizationID: otherOrg, name: "other gateway", url: "ws://gateway.invalid", token: "unknown"),
        ]
        let ownBoard = try target.boards["own"].map { try uuid($0, "boards.own") } ?? madeUp(0xF021)
        let otherBoard = try target.boards["other"].map { try uuid($0, "boards.other") } ?? madeUp(0xF022)
        guard ownBoard != otherBoard else { throw FuzzInputError("target file: boards.own and boards.other are the same board") }
        world.boards = [
            .init(id: ownBoard, organizationID: ownOrg, gatewayID: ownGateway, name: "own board"),
            .init(id: otherBoard, organizationID: otherOrg, gatewayID: otherGateway, name: "other board"),
        ]
        for key in ["open", "signed", "disabled", "custom", "other"] {
            guard let w = target.webhooks[key] else { continue }
            let id = try uuid(w.id, "webhooks.\(key).id")
            if let header = w.header, !HTTPGrammar.isToken(header) {
                throw FuzzInputError("target file: webhooks.\(key).header '\(header)' is not a header name")
            }
            world.webhooks.append(.init(id: id, boardID: key == "other" ? otherBoard : ownBoard, description: key,
                                        enabled: key != "disabled", secret: w.secret, signatureHeader: key == "custom" ? w.header : nil))
        }
        if let token = target.agentTokens["board"] {
            world.agents.append(.init(id: madeUp(0xF031), name: "board agent", boardID: ownBoard, gatewayID: ownGateway, token: token))
        }
        if let token = target.agentTokens["main"] {
            world.agents.append(.init(id: madeUp(0xF032), name: "main agent", gatewayID: ownGateway, token: token))
        }
        if let token = target.agentTokens["orphan"] {
            world.agents.append(.init(id: madeUp(0xF033), name: "orphan agent", gatewayID: madeUp(0xF0FF), token: token))
        }
        let roles: [(String, String, String)] = [("admin", ownOrg, "admin"), ("member", ownOrg, "member"), ("outsider", otherOrg, "admin")]
        for (key, org, role) in roles {
            guard let token = target.userTokens[key] else { continue }
            world.users.append(.init(id: "user-\(key)", name: key, token: token, memberships: [.init(organizationID: org, role: role)]))
        }
        do { try world.validate(file: "target file") } catch {
            throw FuzzInputError("target file: \(error)")
        }
        return world
    }
}

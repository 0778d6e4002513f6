import Foundation
import Spec
import TargetFiles
import Wire

/// Resolves `{symbol}`s for one fixture run: run symbols first (`{i}`, `{source}`, `{limit}`,
/// `{uuid}`), then the target file's entries.
public struct SymbolScope: Sendable {
    public var targetFile: TargetFile
    public var unknownBoard: String
    public var sources: [String?]
    public var payloadLimit: Int
    public var iteration: Int = 1
    /// `{captured.NAME}`: values earlier steps captured from responses. Before a value is
    /// captured (when the budget planner resolves paths ahead of the run) the symbol stands
    /// for a placeholder UUID, so the request is still planned on the route it will take.
    public var captured: [String: String] = [:]
    /// `{uuid}`: random, but the same everywhere in one fixture run, so that a value sent
    /// (a request id) can be compared with what comes back.
    public let uuid = UUID().uuidString.lowercased()
    /// `{ipv6}`: a random address of the documentation range 2001:db8::/32, one per fixture run
    /// (a client address that no earlier run can have spent in a limiter that outlives it).
    public let ipv6 = "2001:db8:" + (0..<6).map { _ in String(UInt16.random(in: 1...0xFFFF), radix: 16) }.joined(separator: ":")

    public init(targetFile: TargetFile, unknownBoard: String, sources: [String?], payloadLimit: Int) {
        self.targetFile = targetFile
        self.unknownBoard = unknownBoard
        self.sources = sources
        self.payloadLimit = payloadLimit
    }

    public func value(_ symbol: String) -> String? {
        if symbol.contains("|") {
            let (base, filters) = SymbolFilter.split(symbol)
            return value(base).map { filters.reduce($0) { text, filter in filter.apply(text) } }
        }
        switch TargetFile.symbol(symbol)?.resolution {
        case .entry(let read)?: return read(targetFile)
        case .run(let value)?:
            switch value {
            case .iteration: return String(iteration)
            case .payloadLimit: return String(payloadLimit)
            case .uuid: return uuid
            case .ipv6: return ipv6
            case .unknownBoard: return unknownBoard
            case .source: return sources.first.flatMap { $0 } ?? "127.0.0.1"
            case .numberedSource:
                guard let n = Int(symbol.dropFirst("source.".count)), n >= 1, n <= sources.count else { return nil }
                return sources[n - 1] ?? "127.0.0.1"
            case .captured:
                return captured[String(symbol.dropFirst("captured.".count))] ?? SymbolScope.capturePlaceholder
            }
        case nil: return nil
        }
    }

    public func resolve(_ template: Template) throws -> String { try template.resolve(value) }

    static let capturePlaceholder = "00000000-0000-4000-8000-000000000000"

    public func size(_ expression: SizeExpression) -> Int {
        let base = expression.symbol == "limit" ? payloadLimit : 0
        let (sum, overflow) = base.addingReportingOverflow(expression.offset)
        return overflow ? Int.max : max(sum, 0)
    }
}

/// A fixture's request template made concrete.
public enum RequestBuilder {
    public static let signatureHeaderHub = SignatureHeaders.hub
    public static let signatureHeaderWebhook = SignatureHeaders.webhook

    public static func build(_ template: RequestTemplate, scope: SymbolScope, freshConnection: Bool) throws -> OutgoingRequest {
        var headers = HTTPFields()
        for h in template.headers {
            headers.append(try scope.resolve(h.name), try scope.resolve(h.value))
        }
        let body = try bodyBytes(template.body, scope: scope, headers: &headers)
        if let sign = template.sign {
            let (name, value) = try signature(sign, body: body, scope: scope)
            headers.append(name, value)
        }
        let framing: BodyFraming
        switch template.framing {
        case .contentLength: framing = .contentLength
        case .declaredLength(let e): framing = .declaredLength(scope.size(e))
        case .chunked(let n): framing = .chunked(chunkSize: n)
        case .none: framing = .none
        }
        let index = template.sourceIndex - 1
        let source = index < scope.sources.count ? scope.sources[index] : nil
        return OutgoingRequest(method: template.method, requestTarget: try scope.resolve(template.path), headers: headers,
                               body: body, framing: framing, source: source, freshConnection: freshConnection)
    }

    static func bodyBytes(_ spec: BodySpec, scope: SymbolScope, headers: inout HTTPFields) throws -> [UInt8] {
        switch spec {
        case .none:
            return []
        case .text(let t):
            return Array(try scope.resolve(t).utf8)
        case .json(let j):
            if !headers.contains("Content-Type") { headers.append("Content-Type", "application/json") }
            return Array(try Template.resolve(json: j, scope.value).description.utf8)
        case .bytes(let b):
            return b
        case .size(let e):
            if !headers.contains("Content-Type") { headers.append("Content-Type", "application/json") }
            let size = scope.size(e)
            // A declared payload limit of gigabytes must not make the harness allocate them.
            guard size <= FixtureDecoder.maxGeneratedBody else {
                throw SkipFixture("needs a \(size)-byte body ({\(e)}); generated bodies are limited to \(FixtureDecoder.maxGeneratedBody) bytes")
            }
            return generated(size: size)
        case .repeated(let unit, let count, let prefix, let suffix):
            let u = Array(unit.utf8)
            var middle: [UInt8]
            if u.count == 1 {
                middle = [UInt8](repeating: u[0], count: count)
            } else {
                middle = []
                middle.reserveCapacity(u.count * count)
                for _ in 0..<count { middle += u }
            }
            return Array(prefix.utf8) + middle + Array(suffix.utf8)
        }
    }

    /// Exactly `size` bytes: `{"pad":"xxx…"}` (valid JSON) when there is room, else `x`s.
    public static func generated(size: Int) -> [UInt8] {
        let x = UInt8(ascii: "x")
        var out = [UInt8](repeating: x, count: size)
        guard size >= 10 else { return out }
        // Bulk initialisation, then the JSON frame written over the ends: fast in debug builds too.
        let head = Array("{\"pad\":\"".utf8)
        out.replaceSubrange(0..<head.count, with: head)
        out[size - 2] = UInt8(ascii: "\"")
        out[size - 1] = UInt8(ascii: "}")
        return out
    }

    static func signature(_ sign: SignSpec, body: [UInt8], scope: SymbolScope) throws -> (String, String) {
        guard let secret = scope.value(sign.webhook + ".secret") else { throw MissingSymbol(name: sign.webhook + ".secret") }
        let name: String
        switch sign.header {
        case .hub: name = signatureHeaderHub
        case .webhook: name = signatureHeaderWebhook
        case .own:
            guard let h = scope.value(sign.webhook + ".header") else { throw MissingSymbol(name: sign.webhook + ".header") }
            name = h
        case .named(let n): name = n
        }
        switch sign.mode {
        case .empty:
            return (name, "")
        case .valid, .invalid:
            // An invalid signature is well-formed (right length, hex) but made with another
            // key, so only the comparison can reject it.
            let key = Array(secret.utf8) + (sign.mode == .invalid ? Array("-not-the-secret".utf8) : [])
            var hex = Hex.encode(HMACSHA256.authenticationCode(for: body, key: key))
            if sign.uppercaseHex { hex = hex.uppercased() }
            return (name, sign.padding + sign.prefix + hex + sign.padding)
        }
    }
}

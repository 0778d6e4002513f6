import Wire

// Rule: the client address that every per-IP limit keys on.
//
// It is the direct peer, unless the peer is a trusted proxy (TRUSTED_PROXIES). Only then are
// proxy headers believed: the leftmost `for=` of RFC 7239 `Forwarded`, else the leftmost
// `X-Forwarded-For` entry, else the peer. A client talking to the server directly can put
// anything in those headers, so from an untrusted peer they are ignored.

/// An IPv4 or IPv6 address as bytes (4 or 16).
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public var isIPv4: Bool { bytes.count == 4 }

    /// The address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) stands for, so that
    /// `10.0.0.0/8` also matches a dual-stack socket's `::ffff:10.1.2.3`.
    public var unmapped: IPAddress {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF else { return self }
        return IPAddress(trusted: Array(bytes[12..<16]))
    }

    private init(trusted bytes: [UInt8]) { self.bytes = bytes }

    /// Parses dotted-quad IPv4 (no leading zeros, which some parsers read as octal) or IPv6
    /// (RFC 4291 text forms, `::` compression, an embedded IPv4 tail). An IPv6 zone (`%eth0`)
    /// is ignored. Returns nil for anything else.
    public init?<S: StringProtocol>(_ text: S) {
        var utf8 = Array(text.utf8)
        if let percent = utf8.firstIndex(of: UInt8(ascii: "%")) { utf8.removeSubrange(percent...) }
        guard !utf8.isEmpty, utf8.count <= 45 else { return nil }
        if utf8.contains(UInt8(ascii: ":")) {
            guard let b = IPAddress.parseIPv6(utf8) else { return nil }
            bytes = b
        } else {
            guard let b = IPAddress.parseIPv4(utf8[...]) else { return nil }
            bytes = b
        }
    }

    /// `text` is an IPv4 address exactly as `description` prints it (four decimal numbers up to
    /// 255, no leading zeros, nothing else), so parsing and printing it again gives it back.
    static func isCanonicalIPv4(_ text: String) -> Bool {
        var parts = 0, digits = 0, value = 0, leadingZero = false
        for b in text.utf8 {
            if b == UInt8(ascii: ".") {
                guard digits > 0 else { return false }
                parts += 1
                digits = 0
                value = 0
                continue
            }
            guard b >= 48 && b <= 57 else { return false }
            if digits == 0 { leadingZero = b == 48 } else if leadingZero { return false }
            digits += 1
            value = value * 10 + Int(b - 48)
            guard digits <= 3, value <= 255 else { return false }
        }
        return digits > 0 && parts == 3
    }

    static func parseIPv4(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(4)
        for part in text.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            if part.count > 1 && part.first == UInt8(ascii: "0") { return nil }
            var value = 0
            for d in part { value = value * 10 + Int(d - 48) }
            guard value <= 255 else { return nil }
            out.append(UInt8(value))
        }
        return out.count == 4 ? out : nil
    }

    static func parseIPv6(_ text: [UInt8]) -> [UInt8]? {
        // Split on "::" at most once; each side is a list of 16-bit groups, the right side
        // possibly ending in a dotted IPv4 address.
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var compressed = false
        var i = 0
        func flushGroups(_ part: ArraySlice<UInt8>, into groups: inout [UInt16], allowIPv4: Bool) -> Bool {
            if part.isEmpty { return true }
            let pieces = part.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if allowIPv4 && index == pieces.count - 1 && piece.contains(UInt8(ascii: ".")) {
                    guard let v4 = parseIPv4(piece) else { return false }
                    groups.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                    groups.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                    continue
                }
                guard !piece.isEmpty, piece.count <= 4 else { return false }
                var value: UInt16 = 0
                for c in piece {
                    guard let n = Hex.nibble(c) else { return false }
                    value = value << 4 | UInt16(n)
                }
                groups.append(value)
            }
            return true
        }
        // Locate "::".
        var doubleColon: Int? = nil
        while i + 1 < text.count {
            if text[i] == UInt8(ascii: ":") && text[i + 1] == UInt8(ascii: ":") {
                if doubleColon != nil { return nil }
                doubleColon = i
                i += 2
                continue
            }
            i += 1
        }
        if let dc = doubleColon {
            compressed = true
            guard flushGroups(text[0..<dc], into: &head, allowIPv4: false),
                  flushGroups(text[(dc + 2)...], into: &tail, allowIPv4: true) else { return nil }
            // ":::" and a leading/trailing single colon are malformed.
            if dc + 2 < text.count && text[dc + 2] == UInt8(ascii: ":") { return nil }
        } else {
            guard flushGroups(text[...], into: &head, allowIPv4: true) else { return nil }
        }
        let total = head.count + tail.count
        if compressed {
            guard total <= 7 else { return nil }
        } else {
            guard total == 8 else { return nil }
        }
        let groups = head + [UInt16](repeating: 0, count: 8 - total) + tail
        var out: [UInt8] = []
        out.reserveCapacity(16)
        for g in groups { out.append(UInt8(g >> 8)); out.append(UInt8(g & 0xFF)) }
        return out
    }

    /// Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run compressed).
    public var description: String {
        if bytes.count == 4 { return bytes.map { String($0) }.joined(separator: ".") }
        var groups: [UInt16] = []
        for i in stride(from: 0, to: 16, by: 2) { groups.append(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1])) }
        // RFC 5952 §5: IPv4-mapped addresses keep the dotted tail.
        if groups[0..<5].allSatisfy({ $0 == 0 }) && groups[5] == 0xFFFF {
            return "::ffff:" + bytes[12..<16].map { String($0) }.joined(separator: ".")
        }
        var bestStart = -1, bestLength = 0, runStart = -1
        for i in 0...8 {
            if i < 8 && groups[i] == 0 {
                if runStart < 0 { runStart = i }
            } else if runStart >= 0 {
                if i - runStart > bestLength { bestStart = runStart; bestLength = i - runStart }
                runStart = -1
            }
        }
        if bestLength < 2 { bestStart = -1 }  // a single zero group is not compressed
        var text = ""
        var i = 0
        while i < 8 {
            if i == bestStart {
                text += "::"
                i += bestLength
                continue
            }
            if !text.isEmpty && !text.hasSuffix(":") { text += ":" }
            text += String(groups[i], radix: 16)
            i += 1
        }
        return text
    }
}

/// An address block: a network address and a prefix length.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    /// Parses `a.b.c.d`, `a.b.c.d/n`, an IPv6 address, or `ipv6/n`. A bare address is a
    /// single-host network. Host bits below the prefix are allowed and ignored (`10.1.2.3/8`
    /// means `10.0.0.0/8`), as lenient CIDR parsers do.
    public init?<S: StringProtocol>(_ text: S) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        let bits = address.bytes.count * 8
        var length = bits
        if parts.count == 2 {
            let p = parts[1]
            guard !p.isEmpty, p.count <= 3, p.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int(p), n <= bits else { return nil }
            length = n
        }
        self.address = address
        self.prefixLength = length
    }

    public func contains(_ candidate: IPAddress) -> Bool {
        let a = address.unmapped, c = candidate.unmapped
        // Compare in the family of the network; a mapped network (::ffff:10.0.0.0/104) is
        // compared as IPv4 with the prefix shortened accordingly.
        var prefix = prefixLength
        if a.bytes.count != address.bytes.count { prefix -= 96; if prefix < 0 { prefix = 0 } }
        guard a.bytes.count == c.bytes.count else { return false }
        var remaining = prefix
        for i in 0..<a.bytes.count {
            if remaining <= 0 { return true }
            let mask: UInt8 = remaining >= 8 ? 0xFF : UInt8(truncatingIfNeeded: 0xFF << (8 - remaining))
            if a.bytes[i] & mask != c.bytes[i] & mask { return false }
            remaining -= 8
        }
        return true
    }

    public var description: String { "\(address)/\(prefixLength)" }
}

/// The peers whose proxy headers are believed (`TRUSTED_PROXIES`).
public struct TrustedProxies: Sendable, Hashable, CustomStringConvertible {
    public var networks: [IPNetwork]

    /// Trusts nobody: proxy headers are always ignored (the default).
    public static let none = TrustedProxies(networks: [])

    public init(networks: [IPNetwork]) { self.networks = networks }

    /// An entry of `TRUSTED_PROXIES` that is neither an IP address nor a CIDR block.
    public struct InvalidEntry: Error, Sendable, Equatable {
        public var entry: String
    }

    /// Parses a comma-separated list of IPs and CIDR blocks, IPv4 or IPv6; whitespace around
    /// entries and empty entries are ignored. Throws on the first entry that is not an address
    /// or block: the real service silently drops such entries, which leaves a proxy untrusted
    /// without anyone noticing, so the reference refuses to start instead.
    public static func parse(_ text: String) throws(InvalidEntry) -> TrustedProxies {
        var networks: [IPNetwork] = []
        for raw in text.split(separator: ",", omittingEmptySubsequences: false) {
            let entry = raw.trimmingASCIIWhitespace()
            if entry.isEmpty { continue }
            guard let network = IPNetwork(entry) else { throw InvalidEntry(entry: String(entry)) }
            networks.append(network)
        }
        return TrustedProxies(networks: networks)
    }

    /// The real service's reading: entries that do not parse are dropped.
    public static func parseLeniently(_ text: String) -> TrustedProxies {
        TrustedProxies(networks: text.split(separator: ",").compactMap { IPNetwork($0.trimmingASCIIWhitespace()) })
    }

    public func contains(_ ip: String) -> Bool {
        guard !networks.isEmpty, let address = IPAddress(ip) else { return false }
        return contains(address)
    }

    public func contains(_ address: IPAddress) -> Bool {
        networks.contains { $0.contains(address) }
    }

    public var description: String { networks.map(\.description).joined(separator: ",") }
}

/// Resolves the client address of a request.
public enum ClientAddress {
    /// The key used when a request has no peer address at all (an in-process request that did
    /// not say where it came from).
    public static let unknownPeer = "unknown"

    /// The client address for `peer` and `headers`.
    ///
    /// Malformed proxy values (for example `for=unknown`, `for=_hidden`, garbage in
    /// `X-Forwarded-For`) resolve to the peer, i.e. the proxy itself: a value that names no
    /// address cannot identify a client, and falling back to the proxy keeps such requests in
    /// one bucket instead of letting each garbage string open a fresh one. A `Forwarded`
    /// header with a `for=` decides on its own (it is not second-guessed by
    /// `X-Forwarded-For`). Addresses are returned in canonical text (RFC 5952 for IPv6), so
    /// one address cannot be spelt several ways to get several buckets.
    ///
    /// - Parameter trustAnyPeer: believe proxy headers from every peer (only for the
    ///   deliberately broken variant the suites must catch).
    public static func resolve(peer: String?, headers: HTTPFields, trusted: TrustedProxies, trustAnyPeer: Bool = false) -> String {
        let peerText = canonicalPeer(peer)
        guard trustAnyPeer || trusted.contains(peerText) else { return peerText }
        if let forwarded = leftmostForwardedFor(headers) {
            return forwarded.map(\.description) ?? peerText
        }
        if let xff = leftmostXForwardedFor(headers) {
            return xff.map(\.description) ?? peerText
        }
        return peerText
    }

    static func canonicalPeer(_ peer: String?) -> String {
        guard let peer, !peer.isEmpty else { return unknownPeer }
        // The usual peer, dotted-quad IPv4 as the socket layer writes it, is already canonical:
        // kept as it is rather than parsed and printed again for every request.
        if IPAddress.isCanonicalIPv4(peer) { return peer }
        if let address = IPAddress(peer) { return address.description }
        // Not an IP (a Unix socket path, say): keep it, but as one safe token for log lines.
        return ServiceLog.field(peer, maxLength: 64)
    }

    /// The leftmost `for=` over all `Forwarded` field lines: nil when there is none; `.some(nil)`
    /// when there is one but it names no address.
    static func leftmostForwardedFor(_ headers: HTTPFields) -> IPAddress?? {
        for line in headers.values("Forwarded") {
            for element in splitOutsideQuotes(line[...], separator: UInt8(ascii: ",")) {
                for pair in splitOutsideQuotes(element, separator: UInt8(ascii: ";")) {
                    guard let eq = pair.firstIndex(of: "=") else { continue }
                    let name = pair[..<eq].trimmingASCIIWhitespace()
                    guard name.lowercased() == "for" else { continue }
                    return .some(forwardedNode(pair[pair.index(after: eq)...]))
                }
            }
        }
        return nil
    }

    /// A `for=` value (RFC 7239 §6): a token or quoted string holding `ip`, `ip:port`,
    /// `[ipv6]`, `[ipv6]:port`; `unknown` and `_obfuscated` name no address.
    static func forwardedNode(_ raw: Substring) -> IPAddress? {
        var value = raw.trimmingASCIIWhitespace()
        if value.count >= 2 && value.hasPrefix("\"") && value.hasSuffix("\"") {
            value = value.dropFirst().dropLast()
            // Quoted-pair unescaping: addresses never need it, so a backslash means garbage.
            if value.contains("\\") { return nil }
        }
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]") else { return nil }
            let inside = value[value.index(after: value.startIndex)..<close]
            let rest = value[value.index(after: close)...]
            guard rest.isEmpty || isPort(rest) else { return nil }
            guard let address = IPAddress(inside), !address.isIPv4 else { return nil }
            return address
        }
        // Unbracketed: IPv4 with an optional port. A bare IPv6 is not valid RFC 7239, but
        // several proxies send one; with more than one colon it cannot carry a port, so accept it.
        let colons = value.filter { $0 == ":" }.count
        if colons == 1, let colon = value.firstIndex(of: ":") {
            guard isPort(value[colon...]) else { return nil }
            return IPAddress(value[..<colon]).flatMap { $0.isIPv4 ? $0 : nil }
        }
        return IPAddress(value)
    }

    static func isPort(_ text: Substring) -> Bool {
        // ":1234" or an obfuscated port ":_abc" (RFC 7239 §6.3).
        guard text.first == ":" else { return false }
        let port = text.dropFirst()
        guard !port.isEmpty, port.count <= 64 else { return false }
        if port.first == "_" { return port.utf8.allSatisfy { isObfuscatedByte($0) } }
        guard port.count <= 5, port.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let number = Int(port) else { return false }
        return number <= 65535
    }

    /// RFC 7239 `obfnode`/`obfport` characters: ALPHA, DIGIT, ".", "_", "-".
    static func isObfuscatedByte(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == UInt8(ascii: "_") || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
    }

    /// The leftmost `X-Forwarded-For` entry: nil when the header is absent or empty;
    /// `.some(nil)` when the entry is not an address.
    static func leftmostXForwardedFor(_ headers: HTTPFields) -> IPAddress?? {
        for line in headers.values("X-Forwarded-For") {
            guard let first = line.split(separator: ",", omittingEmptySubsequences: true)
                .first(where: { !$0.trimmingASCIIWhitespace().isEmpty }) else { continue }
            var entry = first.trimmingASCIIWhitespace()
            // Some proxies write "[v6]:port" or "v4:port" here too.
            if entry.hasPrefix("[") || entry.filter({ $0 == ":" }).count == 1 {
                return .some(forwardedNode(entry))
            }
            if entry.hasPrefix("\"") && entry.hasSuffix("\"") && entry.count >= 2 { entry = entry.dropFirst().dropLast() }
            return .some(IPAddress(entry))
        }
        return nil
    }

    /// Splits on `separator` except inside double quotes (a quoted `for="[::1]:80"` may hold
    /// separators in principle; RFC 7239 values are tokens or quoted strings).
    static func splitOutsideQuotes(_ text: Substring, separator: UInt8) -> [Substring] {
        var parts: [Substring] = []
        var start = text.startIndex
        var inQuotes = false
        var escaped = false
        var index = text.startIndex
        while index < text.endIndex {
            let c = text.utf8[index]
            if escaped {
                escaped = false
            } else if inQuotes && c == UInt8(ascii: "\\") {
                escaped = true
            } else if c == UInt8(ascii: "\"") {
                inQuotes.toggle()
            } else if c == separator && !inQuotes {
                parts.append(text[start..<index])
                start = text.utf8.index(after: index)
            }
            index = text.utf8.index(after: index)
        }
        parts.append(text[start..<text.endIndex])
        return parts
    }
}

/// A Redis location as `redis://[user[:password]@]host[:port][/db]`, the form the real service
/// reads from `RATE_LIMIT_REDIS_URL` / `RQ_REDIS_URL`.
///
/// User and password are percent-decoded; an IPv6 host goes in brackets; the port defaults to
/// 6379 and the database to 0. `rediss://` (TLS) is refused with an explanation: mcsec speaks
/// plain RESP only. Every message this type produces shows the URL through `redacted`, so a
/// password in the URL never reaches a log or a terminal.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// The ACL user name, when the URL has one (`AUTH user password`).
    public var username: String?
    /// The password, when the URL has one (`AUTH password` or `AUTH user password`).
    public var password: String?
    public var database: Int

    public static let defaultPort = 6379

    public init(host: String, port: Int = RedisURL.defaultPort, username: String? = nil,
                password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    /// Parses a URL; throws `RedisURLError`, whose message shows the URL redacted.
    public init(parsing text: String) throws {
        func fail(_ reason: String) -> RedisURLError {
            RedisURLError(redactedURL: RedisURL.redact(text), reason: reason)
        }
        guard let separator = text.range(of: "://") else {
            throw fail("expected the form redis://[user[:password]@]host[:port][/db]")
        }
        let scheme = text[..<separator.lowerBound].lowercased()
        if scheme == "rediss" {
            throw fail("TLS is not supported by mcsec; use redis:// (e.g. through a local TLS proxy such as stunnel)")
        }
        guard scheme == "redis" else {
            throw fail("unsupported scheme '\(scheme)'; expected redis://[user[:password]@]host[:port][/db]")
        }
        var rest = text[separator.upperBound...]

        // Credentials end at the LAST '@': a password may contain '@' even when it should not.
        var username: String? = nil
        var password: String? = nil
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let user: Substring, pass: Substring?
            if let colon = userinfo.firstIndex(of: ":") {
                user = userinfo[..<colon]
                pass = userinfo[userinfo.index(after: colon)...]
            } else {
                user = userinfo
                pass = nil
            }
            guard let decodedUser = RedisURL.percentDecode(user) else {
                throw fail("the user name has invalid percent-encoding (use %XX with two hex digits, UTF-8)")
            }
            if !decodedUser.isEmpty { username = decodedUser }
            if let pass {
                guard let decodedPass = RedisURL.percentDecode(pass) else {
                    throw fail("the password has invalid percent-encoding (use %XX with two hex digits, UTF-8)")
                }
                if !decodedPass.isEmpty { password = decodedPass }
            }
        }

        if rest.contains("?") || rest.contains("#") {
            throw fail("query parameters and fragments are not supported; put the database number in the path (/db)")
        }
        let authority: Substring, path: Substring
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[slash...]
        } else {
            authority = rest
            path = ""
        }

        var host: Substring
        var portText: Substring? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw fail("an IPv6 address must be closed with ']'")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("unexpected '\(after)' after the IPv6 address") }
                portText = after.dropFirst()
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw fail("'\(host)' is not an IPv6 address")
            }
        } else {
            let colons = authority.filter { $0 == ":" }.count
            guard colons <= 1 else { throw fail("an IPv6 address must be written in brackets, e.g. redis://[::1]:6379/0") }
            if let colon = authority.firstIndex(of: ":") {
                host = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            } else {
                host = authority
            }
            guard host.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f }) else {
                throw fail("the host name contains spaces or non-ASCII characters")
            }
        }
        // Like the usual Redis clients, an empty host means this machine.
        if host.isEmpty { host = "localhost" }

        var port = RedisURL.defaultPort
        if let portText {
            guard let n = RedisURL.smallNumber(portText), (1...65535).contains(n) else {
                throw fail("port '\(portText)' must be a number from 1 to 65535")
            }
            port = n
        }

        var database = 0
        if path.count > 1 {
            let digits = path.dropFirst()
            guard let n = RedisURL.smallNumber(digits), n <= Int(Int32.max) else {
                throw fail("database '\(digits)' must be a number 0 or more (the path is /db, e.g. /0)")
            }
            database = n
        }

        self.init(host: String(host), port: port, username: username, password: password, database: database)
    }

    /// True when the URL carries a user name or a password.
    public var hasCredentials: Bool { username != nil || password != nil }

    /// The host as written in a URL (IPv6 in brackets).
    public var hostForURL: String { host.contains(":") ? "[\(host)]" : host }

    /// `redis://***@host:port/db` when there are credentials, else `redis://host:port/db`:
    /// the form every message and log line uses.
    public var redacted: String {
        "redis://\(hasCredentials ? "***@" : "")\(hostForURL):\(port)/\(database)"
    }

    public var description: String { redacted }

    /// Best-effort redaction of text that may not even parse: everything between `://` and the
    /// last `@` is replaced, so a message about a malformed URL still hides its password.
    public static func redact(_ text: String) -> String {
        let body: Substring, prefix: Substring
        if let separator = text.range(of: "://") {
            prefix = text[..<separator.upperBound]
            body = text[separator.upperBound...]
        } else {
            prefix = ""
            body = text[...]
        }
        guard let at = body.lastIndex(of: "@") else { return text }
        return String(prefix) + "***" + String(body[at...])
    }

    /// Decimal digits only (no sign, no spaces), at most 10 of them so it cannot overflow.
    private static func smallNumber(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 10, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }

    /// `%XX` decoding to UTF-8 text; nil for a broken escape or bytes that are not UTF-8.
    static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var utf8 = text.utf8.makeIterator()
        while let c = utf8.next() {
            if c == UInt8(ascii: "%") {
                guard let hi = utf8.next().flatMap(Hex.nibble), let lo = utf8.next().flatMap(Hex.nibble) else { return nil }
                bytes.append(hi << 4 | lo)
            } else {
                bytes.append(c)
            }
        }
        let decoded = String(decoding: bytes, as: UTF8.self)
        return Array(decoded.utf8) == bytes ? decoded : nil
    }
}

/// A Redis URL that cannot be used, and why. The URL is shown redacted.
public struct RedisURLError: Error, Equatable, CustomStringConvertible {
    public var redactedURL: String
    public var reason: String
    public var description: String { "invalid Redis URL \(redactedURL): \(reason)" }
}

import Testing
import Wire

@Suite struct RedisURLTests {
    struct Case: Sendable, CustomStringConvertible {
        var text: String
        var host: String
        var port: Int
        var user: String?
        var password: String?
        var db: Int
        var redacted: String
        var description: String { text }
    }

    @Test(arguments: [
        Case(text: "redis://localhost", host: "localhost", port: 6379, user: nil, password: nil, db: 0,
             redacted: "redis://localhost:6379/0"),
        Case(text: "redis://127.0.0.1:6380/2", host: "127.0.0.1", port: 6380, user: nil, password: nil, db: 2,
             redacted: "redis://127.0.0.1:6380/2"),
        Case(text: "redis://:s3cret@cache:6379/0", host: "cache", port: 6379, user: nil, password: "s3cret", db: 0,
             redacted: "redis://***@cache:6379/0"),
        Case(text: "redis://alice:wonder%40land%3A%2F@cache/5", host: "cache", port: 6379, user: "alice", password: "wonder@land:/", db: 5,
             redacted: "redis://***@cache:6379/5"),
        Case(text: "REDIS://bob@h:1/", host: "h", port: 1, user: "bob", password: nil, db: 0,
             redacted: "redis://***@h:1/0"),
        Case(text: "redis://[::1]:7000/3", host: "::1", port: 7000, user: nil, password: nil, db: 3,
             redacted: "redis://[::1]:7000/3"),
        Case(text: "redis://u:p@[2001:DB8::1]", host: "2001:DB8::1", port: 6379, user: "u", password: "p", db: 0,
             redacted: "redis://***@[2001:DB8::1]:6379/0"),
        // An unencoded '@' in the password: credentials end at the last '@'.
        Case(text: "redis://:p@ss@host:65535/15", host: "host", port: 65535, user: nil, password: "p@ss", db: 15,
             redacted: "redis://***@host:65535/15"),
        Case(text: "redis://:p%C3%A9@host", host: "host", port: 6379, user: nil, password: "pé", db: 0,
             redacted: "redis://***@host:6379/0"),
        Case(text: "redis://", host: "localhost", port: 6379, user: nil, password: nil, db: 0,
             redacted: "redis://localhost:6379/0"),
    ])
    func parses(_ c: Case) throws {
        let url = try RedisURL(parsing: c.text)
        #expect(url.host == c.host)
        #expect(url.port == c.port)
        #expect(url.username == c.user)
        #expect(url.password == c.password)
        #expect(url.database == c.db)
        #expect(url.redacted == c.redacted)
        #expect("\(url)" == c.redacted, "printing a URL must never show its password")
    }

    @Test(arguments: [
        ("redis://:hunter2@host:0/0", "port '0'"),
        ("redis://:hunter2@host:65536/0", "port '65536'"),
        ("redis://:hunter2@host:-1/0", "port '-1'"),
        ("redis://:hunter2@host:/0", "port ''"),
        ("redis://:hunter2@host:99999999999999999999/0", "port"),
        ("redis://:hunter2@host:6379/x", "database 'x'"),
        ("redis://:hunter2@host:6379/-1", "database '-1'"),
        ("redis://:hunter2@host:6379/0/1", "database '0/1'"),
        ("redis://:hunter2@host:6379/99999999999", "database"),
        ("redis://:hunter2@::1:6379/0", "IPv6 address must be written in brackets"),
        ("redis://:hunter2@[::1/0", "closed with ']'"),
        ("redis://:hunter2@[::1]x/0", "unexpected 'x'"),
        ("redis://:hunter2@host/0?db=1", "query"),
        ("redis://:hunter%2@host/0", "percent-encoding"),
        ("redis://:hunter%FF@host/0", "percent-encoding"),
        ("http://:hunter2@host/0", "unsupported scheme 'http'"),
        ("host:6379", "expected the form redis://"),
        ("redis://:hunter2@bad host/0", "spaces"),
    ])
    func rejectsWithRedactedURL(text: String, reason: String) {
        do {
            let url = try RedisURL(parsing: text)
            Issue.record("parsed \(url)")
        } catch let error as RedisURLError {
            #expect(error.reason.contains(reason), "\(error)")
            #expect(!error.description.contains("hunter"), "the password leaked: \(error)")
            #expect(error.description.hasPrefix("invalid Redis URL "))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func tlsIsRefusedWithAdvice() {
        do {
            _ = try RedisURL(parsing: "rediss://:topsecret@cache.example:6380/0")
            Issue.record("rediss:// was accepted")
        } catch let error as RedisURLError {
            #expect(error.reason == "TLS is not supported by mcsec; use redis:// (e.g. through a local TLS proxy such as stunnel)")
            #expect(error.redactedURL == "rediss://***@cache.example:6380/0")
            #expect(!error.description.contains("topsecret"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func redactionOfUnparseableText() {
        #expect(RedisURL.redact("redis://u:p@h:1/0") == "redis://***@h:1/0")
        #expect(RedisURL.redact("redis://h:1/0") == "redis://h:1/0")
        #expect(RedisURL.redact("u:p@h") == "***@h")
    }
}

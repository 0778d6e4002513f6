#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing
import TestSupport
import Wire

/// A clock for the client's backoff that moves only when told to.
final class StepClock: @unchecked Sendable {
    private let lock = Lock()
    private var value: Double = 1000
    func now() -> Double { lock.withLock { value } }
    func advance(_ seconds: Double) { lock.withLock { value += seconds } }
    var source: @Sendable () -> Double { { [self] in now() } }
}

/// A TCP server on 127.0.0.1 that answers each request it receives with the next canned reply
/// (nil: say nothing, so the client times out), then optionally hangs up. It stands in for a
/// broken or hostile Redis.
final class FakeRedisServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = Lock()
    private var connections: [Int32] = []
    private var stopped = false

    /// `replies[c][r]` answers request `r` on connection `c`; connections beyond the list get
    /// `+PONG`-style replies from `fallback`.
    init(replies: [[[UInt8]?]], closeAfterReplies: Bool = false, fallback: [UInt8] = Array("+PONG\r\n".utf8)) throws {
        let listener = socket(AF_INET, Platform.streamSocket, 0)
        self.listener = listener
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw RedisServerError("fake server: bind/listen failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in
            var index = 0
            while true {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { return }
                let proceed = lock.withLock { () -> Bool in
                    if stopped { return false }
                    connections.append(connection)
                    return true
                }
                guard proceed else { Platform.close(connection); return }
                let script = index < replies.count ? replies[index] : nil
                index += 1
                Thread.detachNewThread {
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    var request = 0
                    while true {
                        let n = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, 4096, 0) }
                        guard n > 0 else { return }
                        let reply: [UInt8]?
                        if let script {
                            guard request < script.count else {
                                if closeAfterReplies { shutdown(connection, Int32(SHUT_RDWR)) }
                                return
                            }
                            reply = script[request]
                        } else {
                            reply = fallback
                        }
                        request += 1
                        if let reply {
                            _ = reply.withUnsafeBytes { send(connection, $0.baseAddress, reply.count, Platform.sendFlags) }
                        }
                        if let script, closeAfterReplies, request == script.count {
                            shutdown(connection, Int32(SHUT_RDWR))
                            return
                        }
                    }
                }
            }
        }
    }

    var url: RedisURL { RedisURL(host: "127.0.0.1", port: port) }

    func stop() {
        // Idempotent: closing a descriptor twice could close another test's socket.
        guard let open = lock.withLock({ () -> [Int32]? in
            if stopped { return nil }
            stopped = true
            return connections
        }) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        Platform.close(listener)
        for c in open { shutdown(c, Int32(SHUT_RDWR)) }
    }

    deinit { stop() }
}

func expectRedisError(_ kind: RedisError.Kind, _ message: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected a \(kind) error, got success", sourceLocation: sourceLocation)
    } catch let error as RedisError {
        #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
        if let message { #expect(error.reason.contains(message), "\(error)", sourceLocation: sourceLocation) }
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

/// The client against replies no real server sends.
@Suite struct RedisClientMalformedReplyTests {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func garbageClosesTheConnectionAndTheNextCallReconnects() throws {
        let fake = try FakeRedisServer(replies: [[bytes("hello\r\n")]])
        defer { fake.stop() }
        let clock = StepClock()
        let client = try RedisClient(url: fake.url, timeout: 1, clock: clock.source)
        expectRedisError(.protocolViolation, "type byte 0x68") { _ = try client.command(["PING"]) }
        #expect(!client.isConnected)
        // A server that talks nonsense is not retried at once; after the interval the second
        // connection gets well-formed replies: the client recovers on its own.
        expectRedisError(.backoff) { try client.ping() }
        clock.advance(0.1)
        try client.ping()
    }

    @Test(arguments: [
        ("$999999999999\r\n", "exceeds the limit"),
        ("+PONG\r\n+PONG\r\n", "unexpected bytes after the reply"),
        ("*2\r\n:1\r\n%0\r\n", "type byte 0x25"),
        ("$3\r\nabcd\r\n", "not followed by CRLF"),
        (":1x\r\n", "not a number"),
    ])
    func malformedRepliesAreProtocolViolations(reply: String, reason: String) throws {
        let fake = try FakeRedisServer(replies: [[bytes(reply)]])
        defer { fake.stop() }
        let client = try RedisClient(url: fake.url, timeout: 1)
        expectRedisError(.protocolViolation, reason) { _ = try client.command(["GET", "k"]) }
        #expect(!client.isConnected)
    }

    @Test func silenceIsATimeoutAndTheConnectionIsNotReused() throws {
        let fake = try FakeRedisServer(replies: [[nil]])
        defer { fake.stop() }
        let clock = StepClock()
        let client = try RedisClient(url: fake.url, timeout: 0.05, clock: clock.source)
        let started = Date()
        // The client's own timeout ends the wait (the kernel would wait for ever on a silent peer).
        expectRedisError(.timeout, "no reply within 50 ms") { _ = try client.command(["PING"]) }
        // A hang detector, not a speed claim: the timeout fired at all.
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(!client.isConnected)
        // A sick server is not retried at once...
        expectRedisError(.backoff, "not retried yet") { _ = try client.command(["PING"]) }
        // ...but once the interval has passed.
        clock.advance(0.1)
        try client.ping()
    }

    @Test func hangUpMidReplyIsClosed() throws {
        let fake = try FakeRedisServer(replies: [[bytes("$10\r\nabc")]], closeAfterReplies: true)
        defer { fake.stop() }
        let client = try RedisClient(url: fake.url, timeout: 1)
        expectRedisError(.closed, "closed by the server") { _ = try client.command(["GET", "k"]) }
        // A peer that hung up may have restarted: reconnect immediately, no backoff.
        try client.ping()
    }
}

/// The client against a real redis-server.
@Suite(.requires(.redisServer))
struct RedisClientTests {
    @Test func commandsAndBinarySafeValues() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        try client.ping()
        #expect(try client.command(["SET", "greeting", "héllo\r\nworld"]) == .simpleString("OK"))
        #expect(try client.command(["GET", "greeting"]).string == "héllo\r\nworld")
        #expect(try client.command(["GET", "missing"]) == .bulkString(nil))
        #expect(try client.command(["INCRBY", "n", "-5"]) == .integer(-5))
        #expect(try client.command(["RPUSH", "list", "a", "", "c"]) == .integer(3))
        #expect(try client.command(["LRANGE", "list", "0", "-1"]) == .array([.bulkString(Array("a".utf8)), .bulkString([]), .bulkString(Array("c".utf8))]))
        expectRedisError(.server, "WRONGTYPE") { _ = try client.command(["INCR", "list"]) }
        // An error reply leaves the connection usable.
        #expect(client.isConnected)
        expectRedisError(.server, "unknown command") { _ = try client.command(["NOSUCHCOMMAND"]) }
        try client.ping()
    }

    @Test func pipelineSendsManyAndReadsAsMany() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let replies = try client.pipeline(Array(repeating: ["INCR", "counter"], count: 2000))
        #expect(replies == (1...2000).map { RESPValue.integer(Int64($0)) })
        // An error in the middle stays in its place.
        let mixed = try client.pipeline([["SET", "s", "x"], ["INCR", "s"], ["GET", "s"]])
        #expect(mixed.count == 3)
        #expect(mixed[0] == .simpleString("OK"))
        #expect(mixed[1].errorMessage?.contains("not an integer") == true)
        #expect(mixed[2].string == "x")
        // A large reply arrives in many reads.
        let big = String(repeating: "v", count: 300_000)
        _ = try client.command(["SET", "big", big])
        #expect(try client.command(["GET", "big"]).string == big)
    }

    @Test func authWithRequirepass() throws {
        let server = try RedisServer(arguments: ["--requirepass", "p@ss word"])
        defer { server.stop() }
        let client = try server.client(password: "p@ss word")
        try client.ping()
        #expect(throws: RedisError.self) { _ = try server.client(password: "wrong") }
        do {
            _ = try server.client(password: "wrong")
        } catch let error as RedisError {
            #expect(error.kind == .authentication)
            #expect(error.description.contains("redis://***@127.0.0.1:\(server.port)/0"))
            #expect(!error.description.contains("wrong"))
        }
        // No password at all: the first command is refused with advice.
        let anonymous = try server.client()
        expectRedisError(.authentication, "give the password in the URL") { try anonymous.ping() }
    }

    @Test func authWithAnACLUser() throws {
        let server = try RedisServer(arguments: ["--user", "limiter", "on", ">s3cr%t", "~ratelimit:*", "+@all"])
        defer { server.stop() }
        // The URL carries the password percent-encoded.
        let url = try RedisURL(parsing: "redis://limiter:s3cr%25t@127.0.0.1:\(server.port)/0")
        #expect(url.username == "limiter")
        let client = try RedisClient(url: url, timeout: 2)
        #expect(try client.command(["SET", "ratelimit:x", "1"]) == .simpleString("OK"))
        // The ACL really applies to this user (it is not the default user).
        expectRedisError(.server, "NOPERM") { _ = try client.command(["SET", "other", "1"]) }
        expectRedisError(.authentication, "authentication failed") {
            _ = try RedisClient(url: RedisURL(parsing: "redis://limiter:nope@127.0.0.1:\(server.port)/0"), timeout: 2)
        }
    }

    @Test func selectChoosesTheDatabase() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let db3 = try server.client(database: 3)
        _ = try db3.command(["SET", "where", "three"])
        let db0 = try server.client()
        #expect(try db0.command(["GET", "where"]) == .bulkString(nil))
        #expect(try db3.command(["GET", "where"]).string == "three")
        // After a reconnect the database is selected again.
        db3.close()
        #expect(try db3.command(["GET", "where"]).string == "three")
        expectRedisError(.server, "SELECT 99 failed") { _ = try server.client(database: 99) }
    }

    @Test func evalshaLoadsTheScriptAndSurvivesScriptFlush() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        #expect(script.sha == nil)
        #expect(try client.evalsha(script, keys: ["n"], args: ["2"]) == .integer(2))
        let sha = try #require(script.sha)
        #expect(sha.count == 40)
        #expect(try client.command(["SCRIPT", "EXISTS", sha]) == .array([.integer(1)]))
        // The server forgets every script: EVALSHA gets NOSCRIPT and the client falls back to EVAL.
        _ = try client.command(["SCRIPT", "FLUSH"])
        #expect(try client.command(["SCRIPT", "EXISTS", sha]) == .array([.integer(0)]))
        #expect(try client.evalsha(script, keys: ["n"], args: ["3"]) == .integer(5))
        // EVAL cached it again, so the next call is a plain EVALSHA hit.
        #expect(try client.command(["SCRIPT", "EXISTS", sha]) == .array([.integer(1)]))
        // Pipelined: every call in the batch falls back, in order.
        _ = try client.command(["SCRIPT", "FLUSH"])
        let replies = try client.evalshaPipeline(script, calls: (1...5).map { _ in (["n"], ["1"]) })
        #expect(replies == (6...10).map { RESPValue.integer(Int64($0)) })
        // A script error is a server error, not a broken connection.
        let broken = RedisScript("return redis.call('INCR', KEYS[1])")
        _ = try client.command(["SET", "text", "abc"])
        expectRedisError(.server) { _ = try client.evalsha(broken, keys: ["text"], args: []) }
        try client.ping()
    }

    @Test func killedServerThenBackoffThenRecovery() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let clock = StepClock()
        let client = try RedisClient(url: RedisURL(parsing: server.url()), timeout: 0.5, clock: clock.source)
        try client.ping()
        server.kill()
        expectRedisError(.closed) { try client.ping() }
        // Reconnecting at once finds nobody listening...
        expectRedisError(.connect, "connection refused") { try client.ping() }
        // ...and is not tried again until the interval has passed, even once the server is back.
        try server.restart()
        expectRedisError(.backoff) { try client.ping() }
        clock.advance(0.1)
        try client.ping()
    }

    @Test func frozenServerTimesOut() throws {
        let server = try RedisServer()
        defer { server.stop() }
        // Connected (the kernel completes the handshake even for a frozen server), then frozen:
        // the 50 ms timeout is only ever asserted to fire, never to be met.
        let client = try RedisClient(url: RedisURL(parsing: server.url()), timeout: 0.05)
        #expect(client.isConnected)
        server.pause()
        defer { server.resume() }
        expectRedisError(.timeout, "no reply within 50 ms") { try client.ping() }
    }

    @Test func poolSharesOneServerAcrossThreads() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let pool = RedisConnectionPool(url: try RedisURL(parsing: server.url()), timeout: 2, maxConnections: 4)
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            for _ in 0..<100 { _ = try? pool.withConnection { try $0.command(["INCR", "hits"]) } }
        }
        let total = try pool.withConnection { try $0.command(["GET", "hits"]) }
        #expect(total.string == "1600")
        // No more than maxConnections were opened (plus this test's own INFO connection).
        let clients = try server.client().command(["INFO", "clients"]).string ?? ""
        let connected = clients.split(whereSeparator: \.isNewline).first { $0.hasPrefix("connected_clients:") }
        let count = connected.flatMap { Int($0.split(separator: ":")[1]) } ?? -1
        #expect((1...5).contains(count), "connected clients: \(count)")
    }

    @Test func poolReconnectsAfterAServerRestartWithoutFailingRequests() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let pool = RedisConnectionPool(url: try RedisURL(parsing: server.url()), timeout: 2, maxConnections: 4)
        // Open several connections, then restart the server: all of them are now stale.
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<20 { _ = try? pool.withConnection { try $0.command(["PING"]) } }
        }
        try server.restart()
        // One call meets a closed connection; the pool drops the other stale ones, so every
        // later call works on a fresh connection.
        expectRedisError(.closed) { _ = try pool.withConnection { try $0.command(["PING"]) } }
        for _ in 0..<10 {
            #expect(try pool.withConnection { try $0.command(["PING"]) } == .simpleString("PONG"))
        }
        #expect(!pool.isDown)
    }

    @Test func poolFailsFastWhileDownAndResumesByItself() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let clock = StepClock()
        let pool = RedisConnectionPool(url: try RedisURL(parsing: server.url()), timeout: 0.5, maxConnections: 2,
                                       reconnectInterval: 0.1, clock: clock.source)
        _ = try pool.withConnection { try $0.command(["PING"]) }
        server.kill()
        // The open connection finds itself closed: not yet a verdict on the server...
        expectRedisError(.closed) { _ = try pool.withConnection { try $0.command(["PING"]) } }
        #expect(!pool.isDown)
        // ...but a refused reconnect is.
        expectRedisError(.connect) { _ = try pool.withConnection { try $0.command(["PING"]) } }
        #expect(pool.isDown)
        // While down, calls do not reach the network: the body never runs.
        var bodyRan = false
        expectRedisError(.backoff, "retrying every 100 ms") { _ = try pool.withConnection { _ in bodyRan = true } }
        #expect(!bodyRan)
        try server.restart()
        expectRedisError(.backoff) { _ = try pool.withConnection { try $0.command(["PING"]) } }
        clock.advance(0.1)
        // One probe goes through, succeeds, and the pool is up again.
        #expect(try pool.withConnection { try $0.command(["PING"]) } == .simpleString("PONG"))
        #expect(!pool.isDown)
    }
}

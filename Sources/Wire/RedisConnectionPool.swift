import Foundation

/// A small pool of `RedisClient` connections for callers on many threads, with one shared
/// view of whether the server is reachable.
///
/// A single locked connection caps throughput at one call per round trip whatever the number of
/// threads; the pool lets up to `maxConnections` calls be in flight. Connections are opened
/// lazily, so an idle service holds one.
///
/// Failing fast: when a call cannot connect, times out or gets a malformed reply, the whole pool
/// is marked down, its idle connections (probably just as dead) are closed, and for
/// `reconnectInterval` every call
/// throws `.backoff` without touching the network. After that exactly one call probes the
/// server while the others keep failing fast; the first success marks the pool up again. So a
/// dead or frozen server costs at most one timeout per interval, not one per request, and
/// service resumes by itself once the server is back.
public final class RedisConnectionPool: @unchecked Sendable {
    public let url: RedisURL
    public let timeout: Double
    public let maxConnections: Int
    public let reconnectInterval: Double
    private let clock: @Sendable () -> Double

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var idle: [RedisClient] = []
    private var open = 0
    private var down: (since: Double, nextProbe: Double, error: RedisError)? = nil
    private var probing = false

    public init(url: RedisURL, timeout: Double, maxConnections: Int = 8, reconnectInterval: Double = 0.1,
                clock: @escaping @Sendable () -> Double = RedisClient.monotonicSeconds) {
        self.url = url
        self.timeout = timeout
        self.maxConnections = max(1, maxConnections)
        self.reconnectInterval = reconnectInterval
        self.clock = clock
    }

    /// True while the pool considers the server unreachable.
    public var isDown: Bool {
        condition.lock(); defer { condition.unlock() }
        return down != nil
    }

    /// Runs `body` with a connection of its own. Throws `.backoff` at once while the server is
    /// marked down (except for the single probing call).
    public func withConnection<T>(_ body: (RedisClient) throws -> T) throws -> T {
        let (client, isProbe) = try acquire()
        do {
            let result = try body(client)
            release(client, failure: nil, isProbe: isProbe)
            return result
        } catch let error as RedisError {
            release(client, failure: error.isConnectionFailure ? error : nil, isProbe: isProbe)
            throw error
        } catch {
            release(client, failure: nil, isProbe: isProbe)
            throw error
        }
    }

    /// Closes the sockets of every idle connection (each reconnects on its next use).
    public func closeIdle() {
        condition.lock()
        let clients = idle
        condition.unlock()
        for client in clients { client.close() }
    }

    private func acquire() throws -> (RedisClient, Bool) {
        condition.lock()
        defer { condition.unlock() }
        while true {
            var isProbe = false
            if let state = down {
                if probing || clock() < state.nextProbe {
                    throw RedisError(.backoff, "unreachable since \(RedisClient.msText(max(0, clock() - state.since))) ago (\(state.error.reason)); retrying every \(RedisClient.msText(reconnectInterval))", url: url.redacted)
                }
                probing = true
                isProbe = true
            }
            if let client = idle.popLast() { return (client, isProbe) }
            if open < maxConnections {
                open += 1
                do {
                    // Pool-wide backoff replaces the per-connection one.
                    let client = try RedisClient(url: url, timeout: timeout, connectNow: false, reconnectInterval: 0, clock: clock)
                    return (client, isProbe)
                } catch {
                    open -= 1
                    if isProbe { probing = false }
                    throw error
                }
            }
            if isProbe { probing = false }
            condition.wait()
        }
    }

    private func release(_ client: RedisClient, failure: RedisError?, isProbe: Bool) {
        condition.lock()
        var stale: [RedisClient] = []
        if isProbe { probing = false }
        if let failure {
            // The idle connections probably share this one's fate (a restarted server closed
            // them all): reopen them fresh rather than fail one request on each.
            stale = idle
            // A connection the server closed says nothing yet about the server: it may have
            // closed an idle connection, or restarted. The next call reconnects at once; only
            // a failure to connect (or a timeout, a bad reply) marks the server down.
            if failure.kind != .closed {
                let now = clock()
                down = (down?.since ?? now, now + reconnectInterval, failure)
            }
        } else if down != nil && client.isConnected {
            down = nil
        }
        idle.append(client)
        condition.signal()
        condition.unlock()
        for connection in stale { connection.close() }
    }
}

import Foundation
import Synchronization
import Wire

/// Faults put into a deployment's rate-limit Redis, on request only (`--inject-faults`): a
/// stall (`CLIENT PAUSE`, every client of that Redis waits, queues too) and dropped connections
/// (`CLIENT KILL TYPE normal`). Every fault is undone: a stall is also given Redis's own expiry,
/// so even a run that dies mid-fault cannot leave Redis paused longer than the fault lasts,
/// and `undo()` (called at the end of the fault, and by the command line on SIGINT, SIGTERM
/// and SIGHUP) unpauses at once.
public final class FaultInjector: Sendable {
    public let url: String
    private let redisURL: RedisURL
    /// A stall in progress (its end as seconds since 1970), for `undo()`.
    private let pausedUntil = Mutex<Double?>(nil)
    /// What was done, in order: `pause 3000 ms`, `unpause`, `kill normal clients (2)`.
    private let journal = Mutex<[String]>([])

    public init(url: String) throws {
        self.url = url
        redisURL = try RedisURL(parsing: url)
    }

    /// A fresh connection per action: the admin connection must not be one a fault affects.
    private func withClient<T>(_ body: (RedisClient) throws -> T) throws -> T {
        let client = try RedisClient(url: redisURL, timeout: 2)
        defer { client.close() }
        return try body(client)
    }

    /// Checks the Redis answers (before a run touches it).
    public func probe() throws {
        try withClient { try $0.ping() }
    }

    /// Pauses every client for `seconds` (Redis unpauses by itself after that).
    public func pause(seconds: Double) throws {
        let ms = max(1, Int((seconds * 1000).rounded()))
        pausedUntil.withLock { $0 = Date().timeIntervalSince1970 + seconds }
        _ = try withClient { try $0.command(["CLIENT", "PAUSE", String(ms), "ALL"]) }
        journal.withLock { $0.append("pause \(ms) ms") }
    }

    /// Ends a stall now; safe to call any number of times, and from a signal handler's queue.
    public func undo() {
        guard pausedUntil.withLock({ value -> Bool in defer { value = nil }; return value != nil }) else { return }
        do {
            _ = try withClient { try $0.command(["CLIENT", "UNPAUSE"]) }
            journal.withLock { $0.append("unpause") }
        } catch {
            journal.withLock { $0.append("unpause failed: \(error) (Redis unpauses by itself when the stall's time is up)") }
        }
    }

    /// Closes every normal client connection but this one; returns how many were killed.
    @discardableResult
    public func dropClients() throws -> Int {
        let reply = try withClient { try $0.command(["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]) }
        let killed: Int
        if case .integer(let n) = reply { killed = Int(n) } else { killed = 0 }
        journal.withLock { $0.append("kill normal clients (\(killed))") }
        return killed
    }

    public var actions: [String] { journal.withLock { $0 } }
}

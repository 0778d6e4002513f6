import Foundation
import Synchronization
import Wire

/// Faults put into a deployment's rate-limit Redis, on request only (`--inject-faults`): a
/// stall (`CLIENT PAUSE … WRITE`: every write and script of every client of that Redis waits,
/// queues too) and dropped connections
/// (`CLIENT KILL TYPE normal`). Every fault is undone: a stall is also given Redis's own expiry,
/// so even a run that dies mid-fault cannot leave Redis paused longer than the fault lasts,
/// and `undo()` (called at the end of the fault, and by the command line on SIGINT, SIGTERM
/// and SIGHUP) unpauses at once.
public final class FaultInjector: @unchecked Sendable {
    public let url: String
    private let redisURL: RedisURL
    /// Serialises faults and their undoing (the flags below are read and written only under
    /// `lock`, hence the unchecked Sendable): an interruption that arrives while a pause is
    /// being sent waits for it, then unpauses; once undone for good (`shutdown()`), no new
    /// fault starts.
    private let lock = NSLock()
    private var paused = false
    private var stopped = false
    /// What was done, in order: `pause 3000 ms`, `unpause`, `kill normal clients (2)`.
    private let journal = Mutex<[String]>([])

    public init(url: String) throws {
        self.url = url
        redisURL = try RedisURL(parsing: url)
    }

    /// The connection that pauses and unpauses, opened before the first fault: once Redis is
    /// paused a new connection cannot even select its database, but the pausing connection
    /// may still unpause. Kept out of `CLIENT KILL` by `SKIPME`. Used only under `lock`.
    private var admin: RedisClient? = nil

    private func withClient<T>(_ body: (RedisClient) throws -> T) throws -> T {
        if let admin { return try body(admin) }
        let client = try RedisClient(url: redisURL, timeout: 2)
        admin = client
        return try body(client)
    }

    /// Checks the Redis answers (before a run touches it).
    public func probe() throws {
        lock.lock(); defer { lock.unlock() }
        try withClient { try $0.ping() }
    }

    /// Pauses every client for `seconds` (Redis unpauses by itself after that).
    public func pause(seconds: Double) throws {
        let ms = max(1, Int((seconds * 1000).rounded()))
        lock.lock(); defer { lock.unlock() }
        guard !stopped else { throw FaultsStopped() }
        paused = true
        // WRITE, not ALL: every write and every script (the limiter's) waits, which is the
        // stall a limiter meets; reads and CLIENT UNPAUSE still go through, so the stall can be
        // ended at once (under ALL, Redis 7 holds the UNPAUSE too until the time is up).
        _ = try withClient { try $0.command(["CLIENT", "PAUSE", String(ms), "WRITE"]) }
        journal.withLock { $0.append("pause \(ms) ms") }
    }

    /// Ends a stall now; safe to call any number of times.
    public func undo() {
        lock.lock(); defer { lock.unlock() }
        unpauseLocked()
    }

    /// Ends a stall now and refuses every later fault: what an interrupted run calls (from a
    /// signal handler's queue) before it exits.
    public func shutdown() {
        lock.lock(); defer { lock.unlock() }
        stopped = true
        unpauseLocked()
    }

    private func unpauseLocked() {
        guard paused else { return }
        paused = false
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
        lock.lock(); defer { lock.unlock() }
        let reply = try withClient { try $0.command(["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]) }
        let killed: Int
        if case .integer(let n) = reply { killed = Int(n) } else { killed = 0 }
        journal.withLock { $0.append("kill normal clients (\(killed))") }
        return killed
    }

    public var actions: [String] { journal.withLock { $0 } }
}

/// A fault was asked for after the run was interrupted.
public struct FaultsStopped: Error, CustomStringConvertible {
    public var description: String { "the run was interrupted; no more faults are injected" }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Wire

/// A private `redis-server` for one test: 127.0.0.1 only, a free port, no persistence (no RDB,
/// no AOF, its own temporary directory), stopped by PID when the test is done.
public final class RedisServer: @unchecked Sendable {
    /// The `redis-server` executable, when this machine has one.
    public static let binary: URL? = ExternalTool.redisServer.executable

    /// Why Redis tests cannot run here (they declare `.requires(.redisServer)`).
    public static let unavailableReason = ExternalTool.redisServer.missingReason

    public let port: Int
    public let directory: URL
    public let extraArguments: [String]
    private let lock = Lock()
    private var process: ChildProcess?

    /// Starts a server; `arguments` are extra `--option value` pairs (e.g. `--requirepass`).
    /// With `port` nil a free port is chosen (retrying if another process takes it first).
    public init(arguments: [String] = [], port: Int? = nil) throws {
        guard let binary = RedisServer.binary else { throw RedisServerError(RedisServer.unavailableReason) }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mcsec-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        extraArguments = arguments
        var lastError: Error = RedisServerError("redis-server did not start")
        for _ in 0..<(port == nil ? 5 : 1) {
            let candidate = try port ?? FreePort.find()
            do {
                process = try RedisServer.launch(binary: binary, port: candidate, directory: directory, extra: arguments)
                self.port = candidate
                return
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// `redis://127.0.0.1:<port>/0`, or with credentials.
    public func url(user: String? = nil, password: String? = nil, database: Int = 0) -> String {
        var auth = ""
        if let password { auth = "\(user ?? ""):\(password)@" } else if let user { auth = "\(user)@" }
        return "redis://\(auth)127.0.0.1:\(port)/\(database)"
    }

    /// The running server's process id (nil once stopped).
    public var pid: Int32? { lock.withLock { process?.pid } }

    /// A client to this server (authenticated as given).
    public func client(user: String? = nil, password: String? = nil, database: Int = 0, timeout: Double = 2) throws -> RedisClient {
        try RedisClient(url: RedisURL(parsing: url(user: user, password: password, database: database)), timeout: timeout)
    }

    /// Stops the server and waits for it to exit. It holds nothing worth a graceful shutdown
    /// (no persistence), so this is a SIGKILL: immediate whatever state the server is in
    /// (paused included), and immune to signal masks a test runner may pass on to children.
    public func stop() { kill() }

    /// SIGKILL: the server vanishes without a goodbye, as in a crash.
    public func kill() {
        guard let running = lock.withLock({ () -> ChildProcess? in defer { process = nil }; return process }) else { return }
        running.send(signal: SIGKILL)
        running.waitForExit(timeout: 10)
    }

    /// SIGSTOP / SIGCONT: a frozen server keeps its socket but never answers.
    public func pause() { lock.withLock { process }?.send(signal: SIGSTOP) }
    public func resume() { lock.withLock { process }?.send(signal: SIGCONT) }

    /// Starts the server again on the same port with the same options (empty data).
    public func restart() throws {
        stop()
        guard let binary = RedisServer.binary else { throw RedisServerError(RedisServer.unavailableReason) }
        let started = try RedisServer.launch(binary: binary, port: port, directory: directory, extra: extraArguments)
        lock.withLock { process = started }
    }

    private static func launch(binary: URL, port: Int, directory: URL, extra: [String]) throws -> ChildProcess {
        let process = try ChildProcess(executable: binary, arguments: [
            "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", directory.path, "--daemonize", "no", "--logfile", directory.appendingPathComponent("redis.log").path,
        ] + extra)
        // Ready once it answers PING (AUTH-protected servers answer NOAUTH, which is an answer too).
        let deadline = Date().addingTimeInterval(10)
        let probeURL = RedisURL(host: "127.0.0.1", port: port)
        while Date() < deadline {
            guard process.isRunning else {
                let log = (try? String(contentsOf: directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
                throw RedisServerError("redis-server exited at start on port \(port): \(log.suffix(400))")
            }
            if let client = try? RedisClient(url: probeURL, timeout: 0.5) {
                do {
                    // Make sure it is this server answering, not another that won a race for the port.
                    let info = try client.command(["INFO", "server"]).string ?? ""
                    guard info.contains("process_id:\(process.pid)\r\n") else {
                        process.send(signal: SIGKILL)
                        process.waitForExit(timeout: 10)
                        throw RedisServerError("port \(port) is served by another process")
                    }
                    return process
                } catch let error as RedisError where error.kind == .authentication {
                    if process.isRunning { return process }
                } catch let error as RedisServerError {
                    throw error
                } catch {}
            }
            usleep(5_000)
        }
        process.send(signal: SIGKILL)
        process.waitForExit(timeout: 10)
        throw RedisServerError("redis-server on port \(port) did not answer PING within 10 s")
    }
}

public struct RedisServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

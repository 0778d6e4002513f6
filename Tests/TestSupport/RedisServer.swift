@preconcurrency import Glibc
import Foundation
import Wire

/// A private `redis-server` for one test: 127.0.0.1 only, a free port, no persistence (no RDB,
/// no AOF, its own temporary directory), stopped by PID when the test is done.
public final class RedisServer: @unchecked Sendable {
    /// The `redis-server` executable, when this machine has one.
    public static let binaryPath: String? = {
        var dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        dirs += ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/opt/homebrew/bin"]
        return dirs.map { $0 + "/redis-server" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    public static var isAvailable: Bool { binaryPath != nil }

    /// Printed when Redis tests are skipped.
    public static let unavailableReason =
        "no redis-server binary on PATH: install it (apt-get install redis-server) or run scripts/test, which does"

    public let port: Int
    public let directory: URL
    public let extraArguments: [String]
    private let lock = Lock()
    private var process: SpawnedProcess?

    /// Starts a server; `arguments` are extra `--option value` pairs (e.g. `--requirepass`).
    /// With `port` nil a free port is chosen (retrying if another process takes it first).
    public init(arguments: [String] = [], port: Int? = nil) throws {
        guard let binary = RedisServer.binaryPath else { throw RedisServerError(RedisServer.unavailableReason) }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mcsec-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        extraArguments = arguments
        var lastError: Error = RedisServerError("redis-server did not start")
        for _ in 0..<(port == nil ? 5 : 1) {
            let candidate = try port ?? FreePorts.loopback()
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

    /// SIGTERM, then SIGKILL if it has not exited within 5 s; waits for the exit.
    public func stop() {
        guard let running = lock.withLock({ () -> SpawnedProcess? in defer { process = nil }; return process }) else { return }
        running.signal(SIGCONT)  // a paused server cannot act on SIGTERM
        running.terminate(grace: 5)
    }

    /// SIGKILL: the server vanishes without a goodbye, as in a crash.
    public func kill() {
        guard let running = lock.withLock({ () -> SpawnedProcess? in defer { process = nil }; return process }) else { return }
        running.signal(SIGKILL)
        _ = running.wait()
    }

    /// SIGSTOP / SIGCONT: a frozen server keeps its socket but never answers.
    public func pause() { if let pid { Glibc.kill(pid, SIGSTOP) } }
    public func resume() { if let pid { Glibc.kill(pid, SIGCONT) } }

    /// Starts the server again on the same port with the same options (empty data).
    public func restart() throws {
        stop()
        guard let binary = RedisServer.binaryPath else { throw RedisServerError(RedisServer.unavailableReason) }
        let started = try RedisServer.launch(binary: binary, port: port, directory: directory, extra: extraArguments)
        lock.withLock { process = started }
    }

    private static func launch(binary: String, port: Int, directory: URL, extra: [String]) throws -> SpawnedProcess {
        let process = try SpawnedProcess(executable: binary, arguments: [
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
                    try client.ping()
                    return process
                } catch let error as RedisError where error.kind == .authentication {
                    return process
                } catch {}
            }
            usleep(5_000)
        }
        process.signal(SIGKILL)
        _ = process.wait()
        throw RedisServerError("redis-server on port \(port) did not answer PING within 10 s")
    }
}

public struct RedisServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Free loopback TCP ports for servers that must be told their port (redis-server's port 0
/// means "no TCP"). The kernel picks an unused port; it is released and handed out.
public enum FreePorts {
    public static func loopback() throws -> Int {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { throw RedisServerError("socket() failed") }
        defer { close(s) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw RedisServerError("bind to 127.0.0.1:0 failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &length) }
        }
        guard named == 0 else { throw RedisServerError("getsockname failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A child process started with `posix_spawn` with a clean signal mask and default signal
/// dispositions. (Test runners may block or ignore signals; a child inheriting that would
/// ignore the SIGTERM meant to stop it.) Output goes to files, never to pipes that could fill.
public final class SpawnedProcess: @unchecked Sendable {
    public let pid: pid_t
    private let lock = Lock()
    private var exitStatus: Int32? = nil

    public init(executable: String, arguments: [String], environment: [String: String]? = nil,
                stdoutPath: String = "/dev/null", stderrPath: String = "/dev/null") throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var all = sigset_t()
        sigfillset(&all)
        sigdelset(&all, SIGKILL)
        sigdelset(&all, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for entry in env { free(entry) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, &attributes, argv, env)
        guard status == 0 else {
            throw RedisServerError("cannot start \(executable): \(String(cString: strerror(status)))")
        }
        pid = child
    }

    deinit {
        if isRunning { terminate(grace: 2) }
    }

    /// True until the process has exited (and been reaped).
    public var isRunning: Bool {
        lock.withLock {
            if exitStatus != nil { return false }
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || reaped < 0 { exitStatus = reaped < 0 ? -1 : status; return false }
            return true
        }
    }

    public func signal(_ number: Int32) {
        if isRunning { Glibc.kill(pid, number) }
    }

    /// Waits for the exit; returns the exit code (128 + signal number when killed by a signal).
    @discardableResult
    public func wait() -> Int32 {
        lock.withLock {
            if exitStatus == nil {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                exitStatus = status
            }
            let status = exitStatus ?? -1
            if status & 0x7f == 0 { return (status >> 8) & 0xff }
            return 128 + (status & 0x7f)
        }
    }

    /// SIGTERM; SIGKILL if still running after `grace` seconds; then reaps it.
    public func terminate(grace: Double) {
        signal(SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while isRunning && Date() < deadline { usleep(2_000) }
        signal(SIGKILL)
        wait()
    }
}

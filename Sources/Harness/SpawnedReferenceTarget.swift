@preconcurrency import Glibc
import Foundation
import Reference
import Wire

/// `mcsec serve` started on 127.0.0.1 (port 0) by the run itself: for each distinct
/// configuration the fixtures ask for, `workers` processes (requests are spread over them, as
/// a load balancer would), all stopped by PID when the run ends. Every fixture sends from its
/// own 127.0.0.x addresses, so the servers' limiters cannot let one fixture spend another's
/// budget.
public final class SpawnedReferenceTarget: Target, @unchecked Sendable {
    public let name: String
    public let targetFile: TargetFile
    let executable: URL
    let lock = Lock()
    let addresses = AddressAllocator(randomStart: true)
    private var servers: [String: [ServerProcess]] = [:]
    private var sessionCounter = 0
    /// Child environment: only what `mcsec serve` needs to find its files, so a variable set in
    /// the calling shell (a SECURITY_HEADER_*, say) cannot change the reference under test.
    let baseEnvironment: [String: String]

    /// - Parameters:
    ///   - workers: processes per configuration (with the memory backend each limits on its
    ///     own; with the redis backend they share one limiter).
    ///   - environment: the deployment's configuration (declared in the target file; fixture
    ///     overrides are laid over it).
    public init(executable: URL, world: World, workers: Int = 1, environment: [String: String] = [:]) {
        self.executable = executable
        var file = ReferenceTarget.targetFile(for: world)
        file.workers = max(1, workers)
        file.config = environment
        self.targetFile = file
        self.name = workers > 1 ? "\(workers) × mcsec serve on 127.0.0.1 (spawned)" : "mcsec serve on 127.0.0.1 (spawned)"
        var env: [String: String] = [:]
        let inherited = ProcessInfo.processInfo.environment
        for key in ["PATH", "HOME", "TMPDIR", BundledData.environmentVariable] { if let v = inherited[key] { env[key] = v } }
        baseEnvironment = env
    }

    public var capabilities: TargetCapabilities {
        TargetCapabilities(inProcess: false, instantClock: false, rawFraming: true, sourceAddresses: .unlimited(addresses),
                           configOverrides: true, freshStatePerFixture: false, startup: true)
    }

    static func key(_ environment: [String: String]) -> String {
        environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\u{0}")
    }

    func arguments(_ environment: [String: String]) -> [String] {
        ["serve", "--host", "127.0.0.1", "--port", "0"] + environment.sorted { $0.key < $1.key }.flatMap { ["--env", "\($0.key)=\($0.value)"] }
    }

    /// The servers for `environment` (the declared configuration with the fixture's overrides),
    /// started on first use; a server that died is replaced.
    public func servers(for overrides: [String: String]) throws -> [ServerProcess] {
        let environment = targetFile.config.merging(overrides) { _, new in new }
        let key = SpawnedReferenceTarget.key(environment)
        if let running = lock.withLock({ servers[key] }), running.allSatisfy(\.isRunning) { return running }
        lock.withLock { servers[key] }?.forEach { $0.stop() }
        var started: [ServerProcess] = []
        for _ in 0..<targetFile.workers {
            let process = try ServerProcess(executable: executable, arguments: arguments(environment), environment: baseEnvironment)
            switch process.waitUntilListening(timeout: 10) {
            case .listening:
                started.append(process)
            case .exited(let message), .timedOut(let message):
                process.stop()
                started.forEach { $0.stop() }
                throw TargetUnreachable("mcsec serve did not start: \(message)")
            }
        }
        lock.withLock { servers[key] = started }
        return started
    }

    public func session(environment: [String: String], storeUnavailable: Bool) throws -> any TargetSession {
        if storeUnavailable { throw SkipFixture("needs a Redis outage injected into the limiter, which only the in-process reference allows") }
        let sessions = try servers(for: environment).map { s in
            let http = try HTTPTarget(baseURL: "http://127.0.0.1:\(s.port)", targetFile: targetFile, client: .raw,
                                      name: name, sourceAddresses: .unlimited(addresses))
            return HTTPSession(target: http) {
                guard s.hasExited(within: 0.5) else { return nil }
                let said = s.messages
                return "the server (mcsec serve, pid \(s.pid)) exited\(s.exitDescription)" + (said.isEmpty ? "" : ": " + said)
            }
        }
        if sessions.count == 1 { return sessions[0] }
        let first = lock.withLock { () -> Int in
            defer { sessionCounter &+= 1 }
            return sessionCounter
        }
        return SpreadSession(sessions, first: first)
    }

    public func startup(environment: [String: String]) throws -> StartupOutcome {
        let merged = targetFile.config.merging(environment) { _, new in new }
        let process = try ServerProcess(executable: executable, arguments: arguments(merged), environment: baseEnvironment)
        defer { process.stop() }
        switch process.waitUntilListening(timeout: 10) {
        case .listening: return StartupOutcome(started: true, message: process.messages)
        case .exited(let message): return StartupOutcome(started: false, message: message)
        case .timedOut(let message): return StartupOutcome(started: false, message: "no answer within 10 s: \(message)")
        }
    }

    public func close() {
        let all = lock.withLock { () -> [ServerProcess] in
            defer { servers = [:] }
            return servers.values.flatMap { $0 }
        }
        for s in all { s.stop() }
    }

    deinit { close() }
}

/// Several workers behind one address, as a load balancer spreads connections: a fixture's
/// kept-alive connection stays with one worker (fixtures take turns), and a request that asks
/// for a fresh connection goes to the next worker.
final class SpreadSession: TargetSession {
    let sessions: [HTTPSession]
    var next: Int

    init(_ sessions: [HTTPSession], first: Int) {
        self.sessions = sessions
        next = first % sessions.count
    }

    func send(_ request: OutgoingRequest) throws -> HTTPResponse {
        if request.freshConnection { next = (next + 1) % sessions.count }
        return try sessions[next].send(request)
    }

    func advance(by seconds: Double) throws { try sessions.first?.advance(by: seconds) }
    func logLines() -> [String] { [] }
    func clearLog() {}
    func close() { sessions.forEach { $0.close() } }
}

/// A child server process: its `listening on http://HOST:PORT` line awaited, its stderr drained
/// (so a chatty access log cannot block it) with the tail kept for messages, stopped by PID.
public final class ServerProcess: @unchecked Sendable {
    public enum Start { case listening, exited(String), timedOut(String) }

    private let process = Process()
    private let condition = NSCondition()
    private var stdoutText = ""
    private var stderrTail: [UInt8] = []
    private var stdoutClosed = false
    private var stderrClosed = false
    public private(set) var port = 0

    public init(executable: URL, arguments: [String], environment: [String: String]) throws {
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw TargetUnreachable("cannot start \(executable.path): \(error.localizedDescription)")
        }
        drain(out.fileHandleForReading.fileDescriptor, stdout: true)
        drain(err.fileHandleForReading.fileDescriptor, stdout: false)
    }

    deinit { stop() }

    public var isRunning: Bool { process.isRunning }
    public var pid: Int32 { process.processIdentifier }

    /// The last few KB the process wrote to stderr.
    public var errorText: String { condition.withLock { String(decoding: stderrTail, as: UTF8.self) } }

    private func drain(_ fd: Int32, stdout: Bool) {
        let thread = Thread { [weak self] in
            var buffer = [UInt8](repeating: 0, count: 16_384)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard let self else { return }
                self.condition.lock()
                if n <= 0 {
                    if stdout { self.stdoutClosed = true } else { self.stderrClosed = true }
                    self.condition.broadcast()
                    self.condition.unlock()
                    return
                }
                if stdout {
                    self.stdoutText += String(decoding: buffer[0..<n], as: UTF8.self)
                    // Bounded: only the first lines matter.
                    if self.stdoutText.utf8.count > 65_536 { self.stdoutText = String(self.stdoutText.suffix(65_536)) }
                } else {
                    self.stderrTail.append(contentsOf: buffer[0..<n])
                    if self.stderrTail.count > 8192 { self.stderrTail.removeFirst(self.stderrTail.count - 8192) }
                }
                self.condition.broadcast()
                self.condition.unlock()
            }
        }
        thread.start()
    }

    /// Waits for `listening on http://HOST:PORT` (stdout or stderr), the process's exit, or the timeout.
    public func waitUntilListening(timeout: Double) -> Start {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            let all = stdoutText + "\n" + String(decoding: stderrTail, as: UTF8.self)
            if let port = ServerProcess.listeningPort(in: all) {
                self.port = port
                return .listening
            }
            if stdoutClosed && stderrClosed {
                let message = String(decoding: stderrTail, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                return .exited(message.isEmpty ? "it exited without a message" : message)
            }
            if !condition.wait(until: deadline) {
                return .timedOut(String(decoding: stderrTail.suffix(2000), as: UTF8.self))
            }
        }
    }

    static func listeningPort(in text: String) -> Int? {
        for line in text.split(separator: "\n") {
            guard let range = line.range(of: "listening on http://") else { continue }
            let rest = line[range.upperBound...]
            guard let colon = rest.lastIndex(of: ":") else { continue }
            let digits = rest[rest.index(after: colon)...].prefix { $0.isNumber }
            if let port = Int(digits), port > 0 { return port }
        }
        return nil
    }

    /// What the process said on stderr apart from its access log, last lines first trimmed.
    public var messages: String {
        let lines = errorText.split(separator: "\n").filter { !$0.hasPrefix("access ") && !$0.hasPrefix("{\"access\"") }
        return String(lines.suffix(5).joined(separator: " | ").suffix(600))
    }

    /// True when the process has exited or exits within `seconds`.
    public func hasExited(within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning {
            if Date() >= deadline { return false }
            usleep(5_000)
        }
        return true
    }

    /// " with status N" or " on signal N".
    public var exitDescription: String {
        guard !process.isRunning else { return "" }
        switch process.terminationReason {
        case .uncaughtSignal: return " on signal \(process.terminationStatus)"
        default: return " with status \(process.terminationStatus)"
        }
    }

    /// SIGTERM by PID, then SIGKILL if it has not exited within 2 s.
    public func stop() {
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(2)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }
}

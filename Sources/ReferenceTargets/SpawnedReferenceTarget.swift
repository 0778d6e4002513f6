@preconcurrency import Glibc
import Foundation
import Harness
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
        // A spawned reference on the redis backend names its Redis, as a live target file
        // would (what --inject-faults acts on).
        if environment["RATE_LIMIT_BACKEND"]?.lowercased() == "redis" {
            file.redisURL = environment["RATE_LIMIT_REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? environment["RQ_REDIS_URL"]
        }
        self.targetFile = file
        self.name = workers > 1 ? "\(workers) × mcsec serve on 127.0.0.1 (spawned)" : "mcsec serve on 127.0.0.1 (spawned)"
        var env: [String: String] = [:]
        let inherited = ProcessInfo.processInfo.environment
        for key in ["PATH", "HOME", "TMPDIR", BundledData.environmentVariable] { if let v = inherited[key] { env[key] = v } }
        baseEnvironment = env
    }

    public var capabilities: TargetCapabilities {
        // The servers' standard error carries the service log: log checks run here too.
        TargetCapabilities(inProcess: false, instantClock: false, rawFraming: true, sourceAddresses: .unlimited(addresses),
                           configOverrides: true, freshStatePerFixture: false, startup: true, serviceLog: true)
    }

    static func key(_ environment: [String: String]) -> String {
        environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\u{0}")
    }

    func arguments(_ environment: [String: String]) -> [String] {
        ["serve", "--host", "127.0.0.1", "--port", "0", "--exit-with-stdin"] + environment.sorted { $0.key < $1.key }.flatMap { ["--env", "\($0.key)=\($0.value)"] }
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
            let session = HTTPSession(target: http) {
                guard s.hasExited(within: 0.5) else { return nil }
                let said = s.messages
                return "the server (mcsec serve, pid \(s.pid)) exited\(s.exitDescription)" + (said.isEmpty ? "" : ": " + said)
            }
            return SpawnedSession(http: session, server: s)
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

/// One fixture's connections to one spawned server, and that server's log: the service lines
/// it wrote to standard error since `clearLog`.
///
/// The server writes a request's service lines before that request's access line, both through
/// one ordered sink, so once it has written as many access lines as responses this run received
/// from it, everything the last request logged has arrived. Fixtures run one at a time and
/// nothing else talks to the server, so the lines after the mark are this request's.
final class SpawnedSession: TargetSession {
    let http: HTTPSession
    let server: ServerProcess
    private var mark = 0

    init(http: HTTPSession, server: ServerProcess) {
        self.http = http
        self.server = server
    }

    func send(_ request: OutgoingRequest) throws -> HTTPResponse {
        let response = try http.send(request)
        server.noteResponse()
        return response
    }

    func advance(by seconds: Double) throws { try http.advance(by: seconds) }

    func logLines() -> [String] {
        server.waitUntilLogged()
        return server.serviceLines(since: mark)
    }

    func clearLog() {
        // Earlier requests' lines may still be on their way: wait for them, then mark.
        server.waitUntilLogged()
        mark = server.lineCount
    }

    func close() { http.close() }
}

/// Several workers behind one address, as a load balancer spreads connections: a fixture's
/// kept-alive connection stays with one worker (fixtures take turns), and a request that asks
/// for a fresh connection goes to the next worker.
final class SpreadSession: TargetSession {
    let sessions: [SpawnedSession]
    var next: Int

    init(_ sessions: [SpawnedSession], first: Int) {
        self.sessions = sessions
        next = first % sessions.count
    }

    func send(_ request: OutgoingRequest) throws -> HTTPResponse {
        if request.freshConnection { next = (next + 1) % sessions.count }
        return try sessions[next].send(request)
    }

    func advance(by seconds: Double) throws { try sessions.first?.advance(by: seconds) }
    /// Whichever worker answered: every worker's lines since the mark.
    func logLines() -> [String] { sessions.flatMap { $0.logLines() } }
    func clearLog() { sessions.forEach { $0.clearLog() } }
    func close() { sessions.forEach { $0.close() } }
}

/// A child server process: its `listening on http://HOST:PORT` line awaited, its stderr drained
/// (so a chatty access log cannot block it) with the tail kept for messages and its recent
/// lines kept for log checks, stopped by PID.
public final class ServerProcess: @unchecked Sendable {
    public enum Start { case listening, exited(String), timedOut(String) }

    /// Recent stderr lines kept for log checks (between this many and twice as many).
    static let keptLines = 10_000
    /// How long to wait for a response's access line (the server flushes its log every 50 ms).
    static let logWait = 2.0

    private let process = Process()
    private let input = Pipe()
    private let condition = NSCondition()
    private var stdoutText = ""
    private var stderrTail: [UInt8] = []
    private var stdoutClosed = false
    private var stderrClosed = false
    /// Complete stderr lines, the oldest dropped beyond `keptLines`; `droppedLines` counts them so
    /// that line numbers stay absolute.
    private var stderrLines: [String] = []
    private var droppedLines = 0
    private var partialLine: [UInt8] = []
    /// Access lines seen, and responses the run received from this server.
    private var accessLines = 0
    private var responses = 0
    public private(set) var port = 0

    public init(executable: URL, arguments: [String], environment: [String: String]) throws {
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        // Its standard input is a pipe this process holds open: when this process ends, however
        // it ends, the pipe closes and a server started with --exit-with-stdin stops itself.
        process.standardInput = input
        do { try process.run() } catch {
            throw TargetUnreachable("cannot start \(executable.path): \(error.localizedDescription)")
        }
        try? input.fileHandleForReading.close()
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
                    self.splitLines(buffer[0..<n])
                }
                self.condition.broadcast()
                self.condition.unlock()
            }
        }
        thread.start()
    }

    /// Appends complete stderr lines (called with the condition locked).
    private func splitLines(_ bytes: ArraySlice<UInt8>) {
        for byte in bytes {
            guard byte == 10 else {
                // A line longer than this is not one the log checks need whole.
                if partialLine.count < 65_536 { partialLine.append(byte) }
                continue
            }
            let line = String(decoding: partialLine, as: UTF8.self)
            partialLine.removeAll(keepingCapacity: true)
            if ServerProcess.isAccessLine(line) { accessLines += 1 }
            stderrLines.append(line)
            // Trimmed in batches, so that a long run does not shift the array for every line.
            if stderrLines.count >= 2 * ServerProcess.keptLines {
                let excess = stderrLines.count - ServerProcess.keptLines
                stderrLines.removeFirst(excess)
                droppedLines += excess
            }
        }
    }

    /// `mcsec serve` writes one access line per response (text or JSON log format).
    static func isAccessLine(_ line: String) -> Bool {
        line.hasPrefix("access ") || line.hasPrefix("{\"event\":\"access\"")
    }

    /// The run received a response from this server (its access line is then owed).
    func noteResponse() {
        condition.withLock { responses += 1 }
    }

    /// Waits (at most `logWait`) until the server has written an access line for every response
    /// received, so that every line those requests logged has been read.
    func waitUntilLogged() {
        let deadline = Date().addingTimeInterval(ServerProcess.logWait)
        condition.lock()
        defer { condition.unlock() }
        while accessLines < responses && !stderrClosed {
            if !condition.wait(until: deadline) { return }
        }
    }

    /// The number of stderr lines read so far (a mark for `serviceLines(since:)`).
    var lineCount: Int { condition.withLock { droppedLines + stderrLines.count } }

    /// Service log lines (not access lines) read after `mark`.
    func serviceLines(since mark: Int) -> [String] {
        condition.withLock {
            let start = max(mark - droppedLines, 0)
            guard start < stderrLines.count else { return [] }
            return stderrLines[start...].filter { !ServerProcess.isAccessLine($0) }
        }
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
        let lines = errorText.split(separator: "\n").filter { !ServerProcess.isAccessLine(String($0)) }
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

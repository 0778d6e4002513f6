#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Harness
import Reference
import TargetFiles
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

/// A spawned `mcsec serve`: its `listening on http://HOST:PORT` line awaited, its recent
/// stderr lines kept for log checks, and its access lines counted so a fixture knows when
/// everything its requests logged has arrived.
public final class ServerProcess: @unchecked Sendable {
    public enum Start { case listening, exited(String), timedOut(String) }

    /// Recent stderr lines kept for log checks (between this many and twice as many).
    static let keptLines = 10_000
    /// How long to wait for a response's access line (the server flushes its log every 50 ms).
    static let logWait = 2.0

    private let child: ChildProcess
    private let log: ServerLog
    public private(set) var port = 0

    public init(executable: URL, arguments: [String], environment: [String: String]) throws {
        let log = ServerLog()
        self.log = log
        do {
            // Standard input held open: when this process ends, however it ends, the pipe
            // closes and a server started with --exit-with-stdin stops itself.
            child = try ChildProcess(executable: executable, arguments: arguments, environment: environment,
                                     inheritEnvironment: false, holdStandardInput: true) { line in log.append(line) }
        } catch {
            throw TargetUnreachable("\(error)")
        }
    }

    deinit { stop() }

    public var isRunning: Bool { child.isRunning }
    public var pid: Int32 { child.pid }

    /// The last few KB the process wrote to stderr.
    public var errorText: String { child.stderrTail(8192) }

    /// `mcsec serve` writes one access line per response (text or JSON log format).
    static func isAccessLine(_ line: String) -> Bool {
        line.hasPrefix("access ") || line.hasPrefix("{\"event\":\"access\"")
    }

    /// The run received a response from this server (its access line is then owed).
    func noteResponse() { log.noteResponse() }

    /// Waits (at most `logWait`) until the server has written an access line for every response
    /// received, so that every line those requests logged has been read.
    func waitUntilLogged() {
        log.waitUntilLogged(deadline: Date().addingTimeInterval(ServerProcess.logWait)) { [child] in child.outputClosed }
    }

    /// The number of stderr lines read so far (a mark for `serviceLines(since:)`).
    var lineCount: Int { log.lineCount }

    /// Service log lines (not access lines) read after `mark`.
    func serviceLines(since mark: Int) -> [String] { log.serviceLines(since: mark) }

    /// Waits for `listening on http://HOST:PORT`, the process's exit, or the timeout.
    public func waitUntilListening(timeout: Double) -> Start {
        switch child.awaitLine(prefix: "listening on http://", timeout: timeout) {
        case .found(let line):
            guard let port = ServerProcess.listeningPort(in: line) else { return .exited("unexpected first line: \(line)") }
            self.port = port
            return .listening
        case .closed:
            _ = child.waitForExit(timeout: 2)
            let message = String(child.stderrTail(8192).trimmingASCIIWhitespace())
            return .exited(message.isEmpty ? "it exited without a message" : message)
        case .timedOut:
            return .timedOut(child.stderrTail(2000))
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
    public func hasExited(within seconds: Double) -> Bool { child.waitForExit(timeout: seconds) != nil }

    /// " with status N" or " on signal N".
    public var exitDescription: String { child.exitDescription }

    /// SIGTERM by PID, then SIGKILL if it has not exited within 2 s.
    public func stop() { child.terminate(grace: 2) }
}

/// The stderr lines of a spawned server, kept for log checks, and its access lines counted.
final class ServerLog: @unchecked Sendable {
    private let condition = NSCondition()
    /// Complete lines, the oldest dropped beyond `keptLines`; `droppedLines` counts them so
    /// that line numbers stay absolute.
    private var lines: [String] = []
    private var droppedLines = 0
    private var accessLines = 0
    private var responses = 0

    func append(_ line: String) {
        condition.withLock {
            if ServerProcess.isAccessLine(line) { accessLines += 1 }
            lines.append(line)
            // Trimmed in batches, so that a long run does not shift the array for every line.
            if lines.count >= 2 * ServerProcess.keptLines {
                let excess = lines.count - ServerProcess.keptLines
                lines.removeFirst(excess)
                droppedLines += excess
            }
            condition.broadcast()
        }
    }

    func noteResponse() { condition.withLock { responses += 1 } }

    func waitUntilLogged(deadline: Date, closed: () -> Bool) {
        condition.lock()
        defer { condition.unlock() }
        while accessLines < responses && !closed() {
            // Short waits: the end of the output is not signalled on this condition.
            if !condition.wait(until: min(deadline, Date().addingTimeInterval(0.05))) && Date() >= deadline { return }
        }
    }

    var lineCount: Int { condition.withLock { droppedLines + lines.count } }

    func serviceLines(since mark: Int) -> [String] {
        condition.withLock {
            let start = max(mark - droppedLines, 0)
            guard start < lines.count else { return [] }
            return lines[start...].filter { !ServerProcess.isAccessLine($0) }
        }
    }
}

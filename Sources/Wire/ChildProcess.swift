#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A program mcsec starts (`mcsec serve`, `redis-server`, `curl`, `openssl`): its stdout split
/// into lines that can be awaited, its stderr drained (so a chatty log can never block it) with
/// a bounded tail kept and each line offered to a handler, and it is stopped by PID, never by
/// name. It is stopped when the object goes away, so an error path cannot leak it.
public final class ChildProcess: @unchecked Sendable {
    public let executable: URL
    public let arguments: [String]
    private let process = Process()
    private let input: Pipe?
    private let condition = NSCondition()
    private let stderrLine: (@Sendable (String) -> Void)?
    private var lines: [String] = []
    private var partialLine: [UInt8] = []
    private var partialErrorLine: [UInt8] = []
    private var errorBytes: [UInt8] = []
    private var stdoutClosed = false
    private var stderrClosed = false

    /// Kept stdout lines and stderr bytes: enough for every message and line a caller waits
    /// for, bounded so a process that runs for hours cannot grow this one.
    static let maxLines = 100_000
    static let maxErrorBytes = 4 << 20

    /// Starts `executable` with `arguments`.
    /// - Parameters:
    ///   - environment: laid over this process's environment (or the whole environment when
    ///     `inheritEnvironment` is false).
    ///   - holdStandardInput: the child's standard input is a pipe this process holds open,
    ///     so the child can notice (end of file) when this process ends, however it ends;
    ///     otherwise it reads /dev/null.
    ///   - stderrLine: called with each complete stderr line, on a reader thread.
    public init(executable: URL, arguments: [String] = [], environment: [String: String] = [:],
                inheritEnvironment: Bool = true, workingDirectory: URL? = nil, holdStandardInput: Bool = false,
                stderrLine: (@Sendable (String) -> Void)? = nil) throws {
        self.executable = executable
        self.arguments = arguments
        self.stderrLine = stderrLine
        process.executableURL = executable
        process.arguments = arguments
        var env = inheritEnvironment ? ProcessInfo.processInfo.environment : [:]
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        if holdStandardInput {
            let pipe = Pipe()
            input = pipe
            process.standardInput = pipe
        } else {
            input = nil
            process.standardInput = FileHandle.nullDevice
        }
        do {
            try process.run()
        } catch {
            throw ChildProcessError(message: "cannot start \(executable.path): \(error.localizedDescription)")
        }
        try? input?.fileHandleForReading.close()
        startReader(out.fileHandleForReading.fileDescriptor, isStdout: true)
        startReader(err.fileHandleForReading.fileDescriptor, isStdout: false)
    }

    deinit { terminate(grace: 2) }

    /// Looks `name` up in `PATH` and the usual system directories; nil when absent.
    public static func findExecutable(_ name: String) -> URL? {
        var directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        directories += ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/usr/local/sbin"]
        for directory in directories {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Every complete stdout line so far (the oldest dropped beyond `maxLines`).
    public var stdoutLines: [String] { condition.withLock { lines } }

    /// What was written to stderr (the last 4 MiB at most).
    public var stderr: String { condition.withLock { String(decoding: errorBytes, as: UTF8.self) } }

    /// The last `bytes` of stderr.
    public func stderrTail(_ bytes: Int) -> String {
        condition.withLock { String(decoding: errorBytes.suffix(bytes), as: UTF8.self) }
    }

    public enum LineWait: Sendable {
        case found(String)
        /// The process closed its stdout (it usually exited) without such a line.
        case closed
        case timedOut
    }

    /// Waits for a stdout line starting with `prefix`.
    public func awaitLine(prefix: String, timeout: Double) -> LineWait {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let line = lines.first(where: { $0.hasPrefix(prefix) }) { return .found(line) }
            if stdoutClosed { return .closed }
            if !condition.wait(until: deadline) { return .timedOut }
        }
    }

    /// Waits for a stdout line starting with `prefix` and returns it; the error says what the
    /// process wrote to stderr, which usually says why.
    public func waitForLine(prefix: String, timeout: Double) throws -> String {
        switch awaitLine(prefix: prefix, timeout: timeout) {
        case .found(let line): return line
        case .closed:
            throw ChildProcessError(message: "\(executable.lastPathComponent) ended its output without a line starting with '\(prefix)'; stderr: \(stderrTail(2000))")
        case .timedOut:
            throw ChildProcessError(message: "no line starting with '\(prefix)' from \(executable.lastPathComponent) within \(timeout) s; stderr: \(stderrTail(2000))")
        }
    }

    /// Waits for the process to exit; returns its status, or nil on timeout. Once it has
    /// exited, also waits (briefly) until its output has been read to the end.
    @discardableResult
    public func waitForExit(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() >= deadline { return nil }
            usleep(5_000)
        }
        let drained = Date().addingTimeInterval(2)
        condition.lock()
        while !(stdoutClosed && stderrClosed) && condition.wait(until: drained) {}
        condition.unlock()
        return process.terminationStatus
    }

    /// With `holdStandardInput`: closes the child's standard input, which it reads as end of
    /// file (a watchdog child takes that as its cue to stop).
    public func closeStandardInput() { try? input?.fileHandleForWriting.close() }

    /// Sends `signal` to the process (by PID) while it runs.
    public func send(signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace` seconds. Returns the exit
    /// status (nil if it could not be observed).
    @discardableResult
    public func terminate(grace: Double = 5) -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        if let status = waitForExit(timeout: grace) { return status }
        kill(process.processIdentifier, SIGKILL)
        return waitForExit(timeout: 5)
    }

    /// How the process ended: exit (status) or uncaught signal.
    public var terminationReason: Process.TerminationReason { process.terminationReason }

    /// " with status N" or " on signal N" once it has exited; "" while it runs.
    public var exitDescription: String {
        guard !process.isRunning else { return "" }
        switch process.terminationReason {
        case .uncaughtSignal: return " on signal \(process.terminationStatus)"
        default: return " with status \(process.terminationStatus)"
        }
    }

    private func startReader(_ fd: Int32, isStdout: Bool) {
        let thread = Thread { [weak self] in
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                guard let self else { return }
                self.append(buffer[0..<n], isStdout: isStdout)
            }
            self?.finish(isStdout: isStdout)
        }
        thread.start()
    }

    private func append(_ bytes: ArraySlice<UInt8>, isStdout: Bool) {
        var completed: [String] = []
        condition.lock()
        if isStdout {
            for byte in bytes {
                guard byte == 10 else { partialLine.append(byte); continue }
                var line = partialLine
                if line.last == 13 { line.removeLast() }
                lines.append(String(decoding: line, as: UTF8.self))
                partialLine.removeAll(keepingCapacity: true)
            }
            // Trimmed in batches, so a long run does not shift the array for every line.
            if lines.count >= 2 * ChildProcess.maxLines { lines.removeFirst(lines.count - ChildProcess.maxLines) }
        } else {
            errorBytes.append(contentsOf: bytes)
            if errorBytes.count > ChildProcess.maxErrorBytes { errorBytes.removeFirst(errorBytes.count - ChildProcess.maxErrorBytes / 2) }
            if stderrLine != nil {
                for byte in bytes {
                    guard byte == 10 else {
                        // A line longer than this is not one anybody needs whole.
                        if partialErrorLine.count < 65_536 { partialErrorLine.append(byte) }
                        continue
                    }
                    completed.append(String(decoding: partialErrorLine, as: UTF8.self))
                    partialErrorLine.removeAll(keepingCapacity: true)
                }
            }
        }
        condition.broadcast()
        condition.unlock()
        // Outside the lock (a handler may take locks of its own that are held while this
        // object is asked something); one reader per stream keeps the lines in order.
        for line in completed { stderrLine?(line) }
    }

    private func finish(isStdout: Bool) {
        condition.lock()
        defer { condition.unlock() }
        if isStdout {
            if !partialLine.isEmpty { lines.append(String(decoding: partialLine, as: UTF8.self)) }
            partialLine.removeAll()
            stdoutClosed = true
        } else {
            stderrClosed = true
        }
        condition.broadcast()
    }

    /// Whether both output streams have ended (the process exited, or closed them).
    public var outputClosed: Bool { condition.withLock { stdoutClosed && stderrClosed } }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

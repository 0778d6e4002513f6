#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A process started by a test (`redis-server`, `mcsec serve`, `curl`): its stdout is split into
/// lines that can be awaited, its stderr is collected, and it is stopped by PID (never by name).
/// The process is killed when the object goes away, so a failing test cannot leak it.
public final class ChildProcess: @unchecked Sendable {
    public let executable: URL
    public let arguments: [String]
    private let process = Process()
    private let condition = NSCondition()
    private var lines: [String] = []
    private var partialLine: [UInt8] = []
    private var errorBytes: [UInt8] = []
    private var stdoutClosed = false
    private var stderrClosed = false
    private var readers: [Thread] = []

    /// Starts `executable` with `arguments`. The environment is this process's environment with
    /// `environment` laid over it (or only `environment` when `inheritEnvironment` is false).
    public init(executable: URL, arguments: [String] = [], environment: [String: String] = [:],
                inheritEnvironment: Bool = true, workingDirectory: URL? = nil) throws {
        self.executable = executable
        self.arguments = arguments
        process.executableURL = executable
        process.arguments = arguments
        var env = inheritEnvironment ? ProcessInfo.processInfo.environment : [:]
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw ChildProcessError(message: "cannot start \(executable.path): \(error)")
        }
        startReader(out.fileHandleForReading.fileDescriptor, isStdout: true)
        startReader(err.fileHandleForReading.fileDescriptor, isStdout: false)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Looks `name` up in `PATH` (and a few usual directories); nil when absent.
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

    /// Every complete stdout line so far.
    public var stdoutLines: [String] { condition.withLock { lines } }

    /// Everything written to stderr so far.
    public var stderr: String { condition.withLock { String(decoding: errorBytes, as: UTF8.self) } }

    /// Waits for a stdout line starting with `prefix` and returns it. Throws on timeout or when
    /// the process closes stdout first (with its stderr in the message, which usually says why).
    public func waitForLine(prefix: String, timeout: Double) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let line = lines.first(where: { $0.hasPrefix(prefix) }) { return line }
            if stdoutClosed {
                throw ChildProcessError(message: "\(executable.lastPathComponent) ended its output without a line starting with '\(prefix)'; stderr: \(String(decoding: errorBytes.suffix(2000), as: UTF8.self))")
            }
            if !condition.wait(until: deadline) {
                throw ChildProcessError(message: "no line starting with '\(prefix)' from \(executable.lastPathComponent) within \(timeout) s; stderr: \(String(decoding: errorBytes.suffix(2000), as: UTF8.self))")
            }
        }
    }

    /// Waits for the process to exit; returns its status, or nil on timeout. Once it has
    /// exited, also waits (briefly) until its output has been read to the end, so `stdoutLines`
    /// and `stderr` are complete.
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

    /// Sends `signal` to the process (by PID).
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
        readers.append(thread)
    }

    private func append(_ bytes: ArraySlice<UInt8>, isStdout: Bool) {
        condition.lock()
        defer { condition.unlock() }
        if isStdout {
            for byte in bytes {
                if byte == 10 {
                    var line = partialLine
                    if line.last == 13 { line.removeLast() }
                    lines.append(String(decoding: line, as: UTF8.self))
                    partialLine.removeAll()
                } else {
                    partialLine.append(byte)
                }
            }
        } else {
            errorBytes.append(contentsOf: bytes)
            if errorBytes.count > 4 << 20 { errorBytes.removeFirst(errorBytes.count - (2 << 20)) }
        }
        condition.broadcast()
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
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

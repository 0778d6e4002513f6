import Foundation
import Synchronization
import TargetFiles
import Wire

/// A live server's log, as the target file says where it is (`logs`): only what was written
/// since the run started is read, and a window (since `clear()`) gives the lines one request
/// caused.
public final class LiveLog: @unchecked Sendable {
    public let source: TargetFile.LogSource
    /// When the run started, for `{start}` in a command.
    public let started: Date
    private let lock = NSLock()
    /// File: the byte offset where the run began, and where the current window begins.
    private var runOffset: UInt64 = 0
    private var windowOffset: UInt64 = 0
    /// Command: lines it printed before the run, and before the current window.
    private var runLines = 0
    private var windowLines = 0

    /// Opens the log and marks where the run begins; a log that cannot be read is an input
    /// error naming it.
    public init(source: TargetFile.LogSource, started: Date = Date()) throws {
        self.source = source
        self.started = started
        switch source {
        case .file(let path):
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw InputError(file: path, message: "cannot read the log file the target file names (logs.file); check the path and that this user may read it")
            }
            runOffset = LiveLog.size(path)
            windowOffset = runOffset
        case .command:
            let (lines, status, errorText) = runCommand()
            guard status == 0 else {
                throw InputError(file: "logs.command", message: "the log command exited with status \(status): \(errorText.prefix(300))")
            }
            runLines = lines.count
            windowLines = runLines
        }
    }

    static func size(_ path: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    /// `{start}` as RFC 3339 in UTC (what `docker logs --since` and `journalctl --since` take).
    var startText: String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: started)
    }

    /// Runs the log command: its output lines (stdout, then stderr: `docker logs` prints the
    /// container's stderr there), exit status, and stderr for a message.
    func runCommand() -> (lines: [String], status: Int32, stderr: String) {
        guard case .command(let template) = source else { return ([], 0, "") }
        let command = template.replacingOccurrences(of: "{start}", with: startText)
        let child: ChildProcess
        do {
            child = try ChildProcess(executable: URL(fileURLWithPath: "/bin/sh"), arguments: ["-c", command])
        } catch {
            return ([], 127, "\(error)")
        }
        // A log command that never ends (`docker logs -f`) is stopped: the log checks need what
        // was written so far, not a stream.
        let status = child.waitForExit(timeout: 30) ?? child.terminate(grace: 1) ?? 124
        let errText = child.stderr
        let lines = child.stdoutLines.filter { !$0.isEmpty }
            + errText.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        return (lines, status, errText)
    }

    /// Lines of the file from `offset` to its end (waiting briefly for the server to finish
    /// writing: until the size has not changed for 150 ms, at most 2 s).
    func fileLines(from offset: UInt64) -> [String] {
        guard case .file(let path) = source else { return [] }
        var last = LiveLog.size(path)
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline {
            usleep(150_000)
            let now = LiveLog.size(path)
            if now == last { break }
            last = now
        }
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        // A log rotated (truncated) during the run starts again from its beginning.
        let from = last < offset ? 0 : offset
        try? handle.seek(toOffset: from)
        let data = handle.readDataToEndOfFile()
        return String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    /// The command's whole output now (for tests of `{start}`).
    public func runCommandLinesForTesting() -> [String] { runCommand().lines }

    /// The command's output once it has stopped growing (the server may still be writing the
    /// last request's lines): run again after 150 ms until two runs agree, for at most 2 s.
    func settledCommandLines() -> [String] {
        var last = runCommand().lines
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline {
            usleep(150_000)
            let now = runCommand().lines
            if now.count == last.count { return now }
            last = now
        }
        return last
    }

    /// Starts a new window: lines written from now on.
    public func clear() {
        lock.lock(); defer { lock.unlock() }
        switch source {
        case .file(let path): windowOffset = LiveLog.size(path)
        case .command: windowLines = settledCommandLines().count
        }
    }

    /// Lines written since the last `clear()`.
    public func windowLinesSinceClear() -> [String] {
        lock.lock(); defer { lock.unlock() }
        switch source {
        case .file: return fileLines(from: windowOffset)
        case .command: return Array(settledCommandLines().dropFirst(windowLines))
        }
    }

    /// Every line written since the run started.
    public func linesSinceStart() -> [String] {
        lock.lock(); defer { lock.unlock() }
        switch source {
        case .file: return fileLines(from: runOffset)
        case .command: return Array(settledCommandLines().dropFirst(runLines))
        }
    }
}

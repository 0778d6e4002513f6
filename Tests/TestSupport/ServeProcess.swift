#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Wire

/// `mcsec serve` as a separate process, for tests that need the real binary on a real port.
public struct ServeProcess {
    public let process: ChildProcess
    public let port: Int
    public var host: String { "127.0.0.1" }
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Starts `mcsec serve --port 0 <arguments>` and waits for its `listening on` line.
    /// Throws when the binary is missing (build it with `swift build`) or it does not start.
    public static func start(arguments: [String] = [], environment: [String: String] = [:], timeout: Double = 30) throws -> ServeProcess {
        guard let binary = TestPaths.mcsecBinary else {
            throw ChildProcessError(message: "the mcsec binary was not found; run 'swift build' first")
        }
        let process = try ChildProcess(executable: binary, arguments: ["serve", "--port", "0"] + arguments, environment: environment)
        let line = try process.waitForLine(prefix: "listening on http://", timeout: timeout)
        guard let colon = line.lastIndex(of: ":"), let port = Int(line[line.index(after: colon)...]) else {
            process.terminate()
            throw ChildProcessError(message: "unexpected first line from mcsec serve: '\(line)'")
        }
        return ServeProcess(process: process, port: port)
    }

    /// Resident memory of the server process (VmRSS) and its peak (VmHWM), in bytes.
    public func memory() -> (resident: Int, peak: Int)? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.pid)/status", encoding: .utf8) else { return nil }
        func kilobytes(_ key: String) -> Int? {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return nil }
            return line.split(separator: " ").compactMap { Int($0) }.first
        }
        guard let rss = kilobytes("VmRSS"), let hwm = kilobytes("VmHWM") else { return nil }
        return (rss * 1024, hwm * 1024)
    }

    /// Descriptors the server process has open now.
    public func openDescriptors() -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.pid)/fd"))?.count
    }

    /// CPU time (user + system, seconds) the server process has used so far.
    public func cpuSeconds() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name: state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Sets the server process's soft limit on open descriptors (RLIMIT_NOFILE) from outside,
    /// with prlimit(2), which the Glibc module does not export (looked up by name).
    public func setDescriptorLimit(soft: Int) throws {
        typealias PRLimit = @convention(c) (pid_t, Int32, UnsafePointer<rlimit>?, UnsafeMutablePointer<rlimit>?) -> Int32
        guard let libc = dlopen(nil, RTLD_NOW), let symbol = dlsym(libc, "prlimit") else {
            throw ChildProcessError(message: "prlimit is not available in this C library")
        }
        let prlimit = unsafeBitCast(symbol, to: PRLimit.self)
        let resource = Platform.openFilesResource
        var current = rlimit()
        guard prlimit(process.pid, resource, nil, &current) == 0 else {
            throw ChildProcessError(message: "reading the descriptor limit of pid \(process.pid) failed: errno \(errno)")
        }
        var wanted = current
        wanted.rlim_cur = rlim_t(max(0, soft))
        guard prlimit(process.pid, resource, &wanted, nil) == 0 else {
            throw ChildProcessError(message: "setting the descriptor limit of pid \(process.pid) to \(soft) failed: errno \(errno)")
        }
    }
}

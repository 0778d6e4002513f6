#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import TargetFiles
import Wire

/// How an https:// target's certificate is checked.
public struct TLSOptions: Sendable, Equatable {
    /// A PEM bundle of the certificate authorities to trust instead of the system's.
    public var caFile: String?
    /// Do not verify the certificate at all (reported loudly in every report).
    public var insecure = false

    public init(caFile: String? = nil, insecure: Bool = false) {
        self.caFile = caFile
        self.insecure = insecure
    }
}

/// TLS to an https:// target through `openssl s_client`, the platform's own TLS tool: the raw
/// HTTP/1.1 client talks over one end of a socket pair, openssl carries the other end to the
/// server. So every framing the raw client can send (lying Content-Length, chunked of any size)
/// goes over HTTPS too, and the certificate is verified by openssl against the system's
/// authorities or the `--cacert` bundle, host name included.
///
/// openssl is started with posix_spawn and exactly the descriptors it needs (the socket pair's
/// end as standard input and output, a pipe for its messages): every other descriptor of this
/// process is close-on-exec or left alone, and no wrapper can hand it another.
final class TLSTunnel: @unchecked Sendable {
    let pid: pid_t
    /// Read end of openssl's standard error (non-blocking).
    let errors: Int32
    let host: String
    let port: Int
    private let lock = NSLock()
    private var status: Int32? = nil

    /// The `openssl` command, or nil when it is not installed.
    static let openssl: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") + ["/usr/bin", "/usr/local/bin"] {
            let candidate = "\(directory)/openssl"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    static func arguments(host: String, port: Int, tls: TLSOptions, quiet: Bool) -> [String] {
        var args = ["s_client", "-connect", "\(host.contains(":") ? "[\(host)]" : host):\(port)"]
        args += quiet ? ["-quiet"] : ["-brief"]
        if !tls.insecure {
            args.append("-verify_return_error")
            // s_client checks the name only when asked to.
            args += IPAddressText.isIPv4(host) || IPAddressText.isIPv6(host) ? ["-verify_ip", host] : ["-verify_hostname", host, "-servername", host]
        }
        if let ca = tls.caFile { args += ["-CAfile", ca] }
        return args
    }

    /// Why a handshake failed, from openssl's messages, in one line.
    static func cause(_ stderr: String) -> String {
        let lines = stderr.split(separator: "\n").map { String($0.trimmingASCIIWhitespace()) }
        if let verify = lines.first(where: { $0.contains("verify error:") }) {
            return "certificate not trusted (" + (verify.components(separatedBy: "verify error:").last ?? verify) + ")"
        }
        if let refused = lines.first(where: { $0.lowercased().contains("connection refused") }) { return refused }
        if let name = lines.first(where: { $0.contains("gethostbyname") || $0.contains("Name or service not known") || $0.contains("nodename nor servname") }) {
            return "the host name does not resolve (\(name))"
        }
        if let ssl = lines.first(where: { $0.contains("SSL routines") || $0.contains("alert") || $0.contains("wrong version number") }) {
            return "TLS handshake failed (\(ssl))"
        }
        return lines.last ?? "openssl s_client failed"
    }

    /// Starts openssl with `stdin`/`stdout` as its standard input and output and `stderr` as
    /// its standard error.
    static func spawn(_ arguments: [String], stdin: Int32, stdout: Int32, stderr: Int32) throws -> pid_t {
        guard let openssl else { throw HTTPClientError("https:// targets need the openssl command (Debian package openssl)") }
        var actions = Platform.spawnFileActions()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([openssl] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, openssl, &actions, nil, argv, Platform.environment)
        guard result == 0 else { throw HTTPClientError("cannot run openssl: \(String(cString: strerror(result)))") }
        return pid
    }

    static func pipePair() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw HTTPClientError("pipe: \(String(cString: strerror(errno)))") }
        // Close-on-exec, so no other child started meanwhile keeps the pipe open.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    /// Everything readable from `fd` now (non-blocking).
    static func drain(_ fd: Int32) -> String {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += buffer[0..<n]
            if out.count > 64 << 10 { break }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Connects and verifies once, before a run: nil when the server is reachable and trusted,
    /// else why not.
    static func probe(host: String, port: Int, tls: TLSOptions, timeout: Double) -> String? {
        do {
            let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
            defer { Platform.close(null) }
            let (readEnd, writeEnd) = try pipePair()
            defer { Platform.close(readEnd) }
            let pid = try spawn(arguments(host: host, port: port, tls: tls, quiet: false), stdin: null, stdout: writeEnd, stderr: writeEnd)
            Platform.close(writeEnd)
            var text = ""
            var status: Int32 = 0
            let deadline = Date().addingTimeInterval(timeout)
            while true {
                text += drain(readEnd)
                let done = waitpid(pid, &status, WNOHANG)
                if done == pid { break }
                if Date() >= deadline {
                    kill(pid, SIGKILL)
                    waitpid(pid, &status, 0)
                    return "no TLS handshake with \(host):\(port) within \(Int(timeout)) s"
                }
                usleep(10_000)
            }
            text += drain(readEnd)
            let exited = (status & 0x7f) == 0 && ((status >> 8) & 0xff) == 0
            return exited ? nil : cause(text)
        } catch {
            return "\(error)"
        }
    }

    /// A new TLS connection to `host:port`, as a raw HTTP connection.
    static func connect(host: String, port: Int, tls: TLSOptions, timeout: Double) throws -> (RawHTTPConnection, TLSTunnel) {
        var pair: [Int32] = [-1, -1]
        guard Platform.closeOnExecSocketPair(&pair) == 0 else {
            throw HTTPClientError("socketpair: \(String(cString: strerror(errno)))")
        }
        let errors: (read: Int32, write: Int32)
        do { errors = try pipePair() } catch {
            Platform.close(pair[0]); Platform.close(pair[1])
            throw error
        }
        let pid: pid_t
        do {
            pid = try spawn(arguments(host: host, port: port, tls: tls, quiet: true), stdin: pair[1], stdout: pair[1], stderr: errors.write)
        } catch {
            Platform.close(pair[0]); Platform.close(pair[1]); Platform.close(errors.read); Platform.close(errors.write)
            throw error
        }
        Platform.close(pair[1])
        Platform.close(errors.write)
        let tunnel = TLSTunnel(pid: pid, errors: errors.read, host: host, port: port)
        return (RawHTTPConnection(connected: pair[0], host: host, port: port, timeout: timeout), tunnel)
    }

    init(pid: pid_t, errors: Int32, host: String, port: Int) {
        self.pid = pid
        self.errors = errors
        self.host = host
        self.port = port
    }

    deinit {
        close()
        Platform.close(errors)
    }

    /// openssl's exit status once it has exited (reaped here), nil while it runs.
    private func exitStatus() -> Int32? {
        lock.lock(); defer { lock.unlock() }
        if let status { return status }
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == pid else { return nil }
        status = raw
        return raw
    }

    /// Why the tunnel ended, once openssl has exited with an error (nil while it runs).
    var failure: String? {
        // It may be about to exit: give it a moment to say why.
        for _ in 0..<50 where exitStatus() == nil { usleep(10_000) }
        guard let status = exitStatus(), status != 0 else { return nil }
        return TLSTunnel.cause(TLSTunnel.drain(errors))
    }

    func close() {
        guard exitStatus() == nil else { return }
        kill(pid, SIGTERM)
        for _ in 0..<100 where exitStatus() == nil { usleep(5_000) }
        if exitStatus() == nil {
            kill(pid, SIGKILL)
            lock.lock()
            var raw: Int32 = 0
            if status == nil, waitpid(pid, &raw, 0) == pid { status = raw }
            lock.unlock()
        }
    }
}

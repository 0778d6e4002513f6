#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
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
/// server. So every framing the raw client can send (lying Content-Length, no framing header,
/// chunked of any size) goes over HTTPS too, and the certificate is verified by openssl
/// against the system's authorities or the `--cacert` bundle, host name included.
final class TLSTunnel: @unchecked Sendable {
    let process: Process
    let errors: Pipe
    let host: String
    let port: Int

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
        let lines = stderr.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
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

    /// Connects and verifies once, before a run: nil when the server is reachable and trusted,
    /// else why not.
    static func probe(host: String, port: Int, tls: TLSOptions, timeout: Double) -> String? {
        guard let openssl else { return "https:// targets need the openssl command (Debian package openssl)" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: openssl)
        process.arguments = arguments(host: host, port: port, tls: tls, quiet: false)
        process.standardInput = FileHandle.nullDevice
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        do { try process.run() } catch { return "cannot run openssl: \(error)" }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            return "no TLS handshake with \(host):\(port) within \(Int(timeout)) s"
        }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return process.terminationStatus == 0 ? nil : cause(text)
    }

    /// A new TLS connection to `host:port`, as a raw HTTP connection.
    static func connect(host: String, port: Int, tls: TLSOptions, timeout: Double) throws -> (RawHTTPConnection, TLSTunnel) {
        guard let openssl else { throw HTTPClientError("https:// targets need the openssl command (Debian package openssl)") }
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw HTTPClientError("socketpair: \(String(cString: strerror(errno)))")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: openssl)
        process.arguments = arguments(host: host, port: port, tls: tls, quiet: true)
        let theirs = FileHandle(fileDescriptor: pair[1], closeOnDealloc: false)
        process.standardInput = theirs
        process.standardOutput = theirs
        let errors = Pipe()
        process.standardError = errors
        do { try process.run() } catch {
            Glibc.close(pair[0]); Glibc.close(pair[1])
            throw HTTPClientError("cannot run openssl: \(error)")
        }
        Glibc.close(pair[1])
        let tunnel = TLSTunnel(process: process, errors: errors, host: host, port: port)
        return (RawHTTPConnection(connected: pair[0], host: host, port: port, timeout: timeout), tunnel)
    }

    init(process: Process, errors: Pipe, host: String, port: Int) {
        self.process = process
        self.errors = errors
        self.host = host
        self.port = port
    }

    /// Why the tunnel ended, once openssl has exited (nil while it runs).
    var failure: String? {
        guard !process.isRunning else { return nil }
        let text = String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self)
        return process.terminationStatus == 0 ? nil : TLSTunnel.cause(text)
    }

    func close() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

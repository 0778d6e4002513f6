#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Why a Redis call failed. `reason` never contains credentials; `description` names the
/// server by its redacted URL.
public struct RedisError: Error, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Name resolution or TCP connect failed.
        case connect
        /// No reply (or no progress writing) within the timeout.
        case timeout
        /// The server closed the connection or the socket failed.
        case closed
        /// The server sent something that is not valid RESP2 (or exceeds the decoder limits).
        case protocolViolation
        /// AUTH was refused or the server wants a password the URL does not give.
        case authentication
        /// The server answered with an error reply (`-ERR …`, `-WRONGTYPE …`, …).
        case server
        /// Not attempted: an earlier failure is too recent to try the server again yet.
        case backoff
    }

    public var kind: Kind
    public var reason: String
    public var redactedURL: String

    public init(_ kind: Kind, _ reason: String, url: String) {
        self.kind = kind
        self.reason = reason
        self.redactedURL = url
    }

    /// True for failures of the connection itself (as opposed to an error reply from a
    /// healthy server): the connection is closed and the next call reconnects.
    public var isConnectionFailure: Bool { kind != .server }

    public var description: String { "Redis at \(redactedURL): \(reason)" }
}

/// A Lua script run with `EVALSHA`. The SHA-1 is learned from `SCRIPT LOAD` the first time and
/// shared by every connection using this value; a server that lost its script cache (restart,
/// `SCRIPT FLUSH`) answers `NOSCRIPT`, and the client falls back to `EVAL` with the source.
public final class RedisScript: @unchecked Sendable {
    public let source: String
    private let lock = Lock()
    private var cachedSHA: String?

    public init(_ source: String) { self.source = source }

    /// The script's SHA-1 as the server reported it, once known.
    public var sha: String? {
        get { lock.withLock { cachedSHA } }
        set { lock.withLock { cachedSHA = newValue } }
    }
}

/// One connection to a Redis server speaking RESP2 over TCP.
///
/// - Connects with a non-blocking `connect` and `poll`, so a black-holed address fails after
///   `timeout` instead of the kernel's minutes; reads and writes use `SO_RCVTIMEO`/`SO_SNDTIMEO`
///   with the same timeout and an overall deadline per call.
/// - Sends `AUTH` (user and password, or password only) and `SELECT` from the URL on every
///   (re)connect.
/// - Any connection-level failure closes the socket; the next call reconnects. After a failed
///   connect or a timeout, reconnecting waits `reconnectInterval` (calls in between fail at once
///   with `.backoff`), so a dead server costs callers nothing but an error.
/// - Thread-safe: calls are serialised by a lock. Under concurrency use `RedisConnectionPool`.
public final class RedisClient: @unchecked Sendable {
    public let url: RedisURL
    public let timeout: Double
    public let reconnectInterval: Double
    private let decoder: RESPDecoder
    private let clock: @Sendable () -> Double

    // Everything below is guarded by `lock`.
    private let lock = Lock()
    private var fd: Int32 = -1
    private var readBuffer: [UInt8] = []
    private var writeBuffer: [UInt8] = []
    private var scratch = [UInt8](repeating: 0, count: 64 << 10)
    private var lastFailure: (at: Double, error: RedisError)? = nil

    /// Monotonic seconds (immune to wall-clock jumps), the default clock for timeouts and backoff.
    public static let monotonicSeconds: @Sendable () -> Double = {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// - Parameters:
    ///   - timeout: seconds allowed for connecting, and for each call's write and reply.
    ///   - connectNow: connect (and authenticate) before returning; otherwise on the first call.
    ///   - reconnectInterval: least time between a failed attempt and the next one.
    ///   - clock: monotonic seconds; injectable so tests can drive the backoff.
    public init(url: RedisURL, timeout: Double, connectNow: Bool = true, reconnectInterval: Double = 0.1,
                limits: RESPLimits = .standard, clock: @escaping @Sendable () -> Double = RedisClient.monotonicSeconds) throws {
        self.url = url
        self.timeout = timeout.isFinite && timeout > 0 ? min(timeout, 3600) : 1
        self.reconnectInterval = reconnectInterval.isFinite ? max(reconnectInterval, 0) : 0
        self.decoder = RESPDecoder(limits: limits)
        self.clock = clock
        readBuffer.reserveCapacity(4096)
        writeBuffer.reserveCapacity(4096)
        if connectNow {
            try lock.withLock { try ensureConnected() }
        }
    }

    deinit {
        if fd >= 0 { Platform.close(fd) }
    }

    /// True while a socket is open (it may still turn out dead on the next call).
    public var isConnected: Bool { lock.withLock { fd >= 0 } }

    /// Closes the connection; the next call reconnects (without waiting for the backoff).
    public func close() {
        lock.withLock {
            disconnect()
            lastFailure = nil
        }
    }

    /// Sends one command and returns its reply; an error reply throws `.server`.
    public func command(_ args: [String]) throws -> RESPValue {
        let reply = try lock.withLock { try roundTrip(replies: 1) { RESPEncoder.appendCommand(args, to: &$0) }[0] }
        if case .error(let message) = reply { throw serverError(message) }
        return reply
    }

    /// Sends `PING` and expects `PONG`.
    public func ping() throws {
        let reply = try command(["PING"])
        guard reply == .simpleString("PONG") else {
            throw RedisError(.protocolViolation, "PING answered \(reply) instead of PONG", url: url.redacted)
        }
    }

    /// Sends every command in one write and reads as many replies. Error replies come back in
    /// place (as `.error`) so one failing command does not hide the others' results.
    public func pipeline(_ commands: [[String]]) throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        return try lock.withLock {
            try roundTrip(replies: commands.count) { out in
                for command in commands { RESPEncoder.appendCommand(command, to: &out) }
            }
        }
    }

    /// Runs a script by SHA-1, loading it first when its SHA-1 is not yet known and falling
    /// back to `EVAL` when the server answers `NOSCRIPT`. An error reply throws `.server`.
    public func evalsha(_ script: RedisScript, keys: [String], args: [String]) throws -> RESPValue {
        let reply = try evalshaPipeline(script, calls: [(keys, args)])[0]
        if case .error(let message) = reply { throw serverError(message) }
        return reply
    }

    /// Runs a script once per call in a single pipeline (one write, one read of all replies).
    /// Error replies come back in place; calls refused with `NOSCRIPT` (not executed) are
    /// re-sent once with `EVAL`, which also reloads the script.
    public func evalshaPipeline(_ script: RedisScript, calls: [(keys: [String], args: [String])]) throws -> [RESPValue] {
        guard !calls.isEmpty else { return [] }
        return try lock.withLock {
            let sha: String
            if let known = script.sha {
                sha = known
            } else {
                let loaded = try roundTrip(replies: 1) { RESPEncoder.appendCommand(["SCRIPT", "LOAD", script.source], to: &$0) }[0]
                if case .error(let message) = loaded { throw serverError(message) }
                guard let text = loaded.string, text.count == 40 else {
                    throw RedisError(.protocolViolation, "SCRIPT LOAD answered \(loaded) instead of a SHA-1", url: url.redacted)
                }
                script.sha = text
                sha = text
            }
            var replies = try roundTrip(replies: calls.count) { out in
                for call in calls { Self.appendEval("EVALSHA", sha, call.keys, call.args, to: &out) }
            }
            let missing = replies.indices.filter { replies[$0].errorMessage?.hasPrefix("NOSCRIPT") == true }
            if !missing.isEmpty {
                let retried = try roundTrip(replies: missing.count) { out in
                    for i in missing { Self.appendEval("EVAL", script.source, calls[i].keys, calls[i].args, to: &out) }
                }
                for (i, reply) in zip(missing, retried) { replies[i] = reply }
            }
            return replies
        }
    }

    private static func appendEval(_ verb: String, _ scriptOrSHA: String, _ keys: [String], _ args: [String], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "*"))
        RESPEncoder.appendDecimal(3 &+ keys.count &+ args.count, to: &out)
        out.append(13); out.append(10)
        RESPEncoder.appendBulk(verb, to: &out)
        RESPEncoder.appendBulk(scriptOrSHA, to: &out)
        RESPEncoder.appendBulk(String(keys.count), to: &out)
        for key in keys { RESPEncoder.appendBulk(key, to: &out) }
        for arg in args { RESPEncoder.appendBulk(arg, to: &out) }
    }

    private func serverError(_ message: String) -> RedisError {
        if message.hasPrefix("NOAUTH") || message.hasPrefix("WRONGPASS") {
            return RedisError(.authentication, Self.authAdvice(message), url: url.redacted)
        }
        return RedisError(.server, "error reply: \(message)", url: url.redacted)
    }

    private static func authAdvice(_ message: String) -> String {
        if message.hasPrefix("NOAUTH") {
            return "authentication required (\(message)); give the password in the URL: redis://[user]:password@host:port/db"
        }
        return "authentication failed (\(message)); check the user and password in the URL"
    }

    // MARK: - Connection (all below run with `lock` held)

    /// One exchange: encode, write, read `replies` replies. Any connection-level failure closes
    /// the socket and is rethrown as a `RedisError`.
    private func roundTrip(replies: Int, encode: (inout [UInt8]) -> Void) throws -> [RESPValue] {
        try ensureConnected()
        writeBuffer.removeAll(keepingCapacity: true)
        encode(&writeBuffer)
        do {
            let deadline = clock() + timeout
            try writeAll(deadline: deadline)
            return try readReplies(replies, deadline: deadline)
        } catch let error as RedisError {
            fail(error)
            throw error
        }
    }

    private func fail(_ error: RedisError) {
        disconnect()
        // A peer that closed on us may just have restarted: reconnect at once next time. A
        // timeout or a bad reply means a sick server: wait before trying it again.
        if error.kind != .closed { lastFailure = (clock(), error) }
    }

    private func disconnect() {
        if fd >= 0 { Platform.close(fd) }
        fd = -1
        readBuffer.removeAll(keepingCapacity: true)
    }

    private func ensureConnected() throws {
        if fd >= 0 { return }
        if let last = lastFailure, clock() - last.at < reconnectInterval {
            throw RedisError(.backoff, "\(last.error.reason) (not retried yet: at most one attempt per \(Int(reconnectInterval * 1000)) ms)", url: url.redacted)
        }
        do {
            fd = try openSocket()
            try handshake()
            lastFailure = nil
        } catch let error as RedisError {
            disconnect()
            lastFailure = (clock(), error)
            throw error
        }
    }

    /// AUTH and SELECT, pipelined in one round trip.
    private func handshake() throws {
        var commands: [[String]] = []
        if let password = url.password {
            commands.append(url.username.map { ["AUTH", $0, password] } ?? ["AUTH", password])
        }
        if url.database != 0 { commands.append(["SELECT", String(url.database)]) }
        guard !commands.isEmpty else { return }
        writeBuffer.removeAll(keepingCapacity: true)
        for command in commands { RESPEncoder.appendCommand(command, to: &writeBuffer) }
        let deadline = clock() + timeout
        try writeAll(deadline: deadline)
        let replies = try readReplies(commands.count, deadline: deadline)
        for (command, reply) in zip(commands, replies) {
            guard case .error(let message) = reply else { continue }
            if command[0] == "AUTH" {
                throw RedisError(.authentication, Self.authAdvice(message), url: url.redacted)
            }
            if message.hasPrefix("NOAUTH") {
                throw RedisError(.authentication, Self.authAdvice(message), url: url.redacted)
            }
            throw RedisError(.server, "SELECT \(url.database) failed: \(message)", url: url.redacted)
        }
    }

    private func openSocket() throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Platform.streamSocket
        var list: UnsafeMutablePointer<addrinfo>? = nil
        let status = getaddrinfo(url.host, String(url.port), &hints, &list)
        guard status == 0, let first = list else {
            let why = status == 0 ? "no address" : String(cString: gai_strerror(status))
            throw RedisError(.connect, "cannot resolve host '\(url.host)': \(why)", url: url.redacted)
        }
        defer { freeaddrinfo(list) }
        let deadline = clock() + timeout
        var lastError = RedisError(.connect, "no usable address for '\(url.host)'", url: url.redacted)
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let ai = entry {
            entry = ai.pointee.ai_next
            do {
                return try connect(to: ai.pointee, deadline: deadline)
            } catch let error as RedisError {
                lastError = error
                if error.kind == .timeout { break }
            }
        }
        throw lastError
    }

    private func connect(to ai: addrinfo, deadline: Double) throws -> Int32 {
        let s = Platform.newStreamSocket(family: ai.ai_family, nonBlocking: false)
        guard s >= 0 else { throw RedisError(.connect, "socket() failed: \(Self.errnoText())", url: url.redacted) }
        var ok = false
        defer { if !ok { Platform.close(s) } }
        let flags = fcntl(s, F_GETFL, 0)
        _ = fcntl(s, F_SETFL, flags | O_NONBLOCK)
        if Platform.connect(s, ai.ai_addr, ai.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else { throw connectError(errno) }
            var pfd = pollfd(fd: s, events: Int16(POLLOUT), revents: 0)
            let remaining = deadline - clock()
            let ready = remaining > 0 ? poll(&pfd, 1, Self.milliseconds(remaining)) : 0
            guard ready > 0 else {
                throw RedisError(.timeout, "connect to \(url.hostForURL):\(url.port) timed out after \(Self.msText(timeout))", url: url.redacted)
            }
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(s, SOL_SOCKET, SO_ERROR, &soError, &length)
            guard soError == 0 else { throw connectError(soError) }
        }
        _ = fcntl(s, F_SETFL, flags & ~O_NONBLOCK)
        var one: Int32 = 1
        setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var tv = timeval(tv_sec: Int(timeout), tv_usec: suseconds_t((timeout - Double(Int(timeout))) * 1e6))
        if tv.tv_sec == 0 && tv.tv_usec < 1000 { tv.tv_usec = 1000 }
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        ok = true
        return s
    }

    private func connectError(_ code: Int32) -> RedisError {
        let target = "\(url.hostForURL):\(url.port)"
        if code == ECONNREFUSED {
            return RedisError(.connect, "connection refused (is redis-server listening on \(target)?)", url: url.redacted)
        }
        return RedisError(.connect, "connect to \(target) failed: \(String(cString: strerror(code)))", url: url.redacted)
    }

    private func writeAll(deadline: Double) throws {
        let total = writeBuffer.count
        var sent = 0
        try writeBuffer.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            while sent < total {
                let n = send(fd, base + sent, total - sent, Platform.sendFlags)
                if n > 0 {
                    sent += n
                    continue
                }
                let code = errno
                if n < 0 && code == EINTR { continue }
                if n < 0 && (code == EAGAIN || code == EWOULDBLOCK) || clock() > deadline {
                    throw RedisError(.timeout, "could not send within \(Self.msText(timeout))", url: url.redacted)
                }
                throw RedisError(.closed, "send failed: \(String(cString: strerror(code)))", url: url.redacted)
            }
        }
    }

    /// Reads exactly `count` replies. Bytes left over afterwards mean the stream is out of step
    /// with our requests, which no later reply could fix: that is a protocol violation.
    private func readReplies(_ count: Int, deadline: Double) throws -> [RESPValue] {
        var replies: [RESPValue] = []
        replies.reserveCapacity(count)
        var start = 0
        while replies.count < count {
            let outcome: RESPDecoder.Outcome
            do {
                outcome = try decoder.decode(readBuffer, from: start)
            } catch let error as RESPProtocolError {
                throw RedisError(.protocolViolation, error.description, url: url.redacted)
            }
            switch outcome {
            case .value(let value, let next):
                replies.append(value)
                start = next
            case .incomplete:
                if start > 0 && start >= readBuffer.count / 2 {
                    readBuffer.removeFirst(start)
                    start = 0
                }
                // SO_RCVTIMEO bounds each wait; the deadline bounds a reply that trickles in.
                if !readBuffer.isEmpty && clock() > deadline {
                    throw RedisError(.timeout, "no complete reply within \(Self.msText(timeout))", url: url.redacted)
                }
                try receive(deadline: deadline)
            }
        }
        guard start == readBuffer.count else {
            throw RedisError(.protocolViolation, "malformed reply from Redis: \(readBuffer.count - start) unexpected bytes after the reply", url: url.redacted)
        }
        readBuffer.removeAll(keepingCapacity: true)
        return replies
    }

    private func receive(deadline: Double) throws {
        let capacity = scratch.count
        let n = scratch.withUnsafeMutableBytes { buffer in
            recv(fd, buffer.baseAddress, capacity, 0)
        }
        if n > 0 {
            readBuffer.append(contentsOf: scratch[0..<n])
            return
        }
        let code = errno
        if n == 0 {
            throw RedisError(.closed, "connection closed by the server", url: url.redacted)
        }
        if code == EINTR && clock() <= deadline { return }
        if code == EAGAIN || code == EWOULDBLOCK || code == EINTR {
            throw RedisError(.timeout, "no reply within \(Self.msText(timeout))", url: url.redacted)
        }
        throw RedisError(.closed, "receive failed: \(String(cString: strerror(code)))", url: url.redacted)
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }

    private static func milliseconds(_ seconds: Double) -> Int32 {
        Int32(min(max((seconds * 1000).rounded(.up), 1), 3_600_000))
    }

    static func msText(_ seconds: Double) -> String {
        seconds < 10 ? "\(Int((seconds * 1000).rounded())) ms" : "\(Int(seconds.rounded())) s"
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed socket call: names the call and the operating system's reason.
public struct SocketError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let code: Int32
    /// The reason in words when it is not an errno (a name-resolution failure); the
    /// description then carries no errno, which would be stale.
    public let reason: String?

    public init(_ operation: String, code: Int32 = errno) {
        self.operation = operation
        self.code = code
        self.reason = nil
    }

    public init(_ operation: String, reason: String) {
        self.operation = operation
        self.code = EINVAL
        self.reason = reason
    }

    public var description: String {
        if let reason { return "\(operation): \(reason)" }
        return "\(operation) failed: \(String(cString: strerror(code))) (errno \(code))"
    }
}

/// Thin wrappers over the BSD socket calls the server and the raw client share.
///
/// Every descriptor is non-blocking; blocking behaviour with a deadline is built from `poll`,
/// so no call can hang past its timeout. Every send passes `Platform.sendFlags` (`MSG_NOSIGNAL`;
/// Darwin: the socket's `SO_NOSIGPIPE`), so a peer that went away is an `EPIPE` error return
/// and never a process-killing `SIGPIPE`.
enum Socket {
    /// Nanoseconds on the monotonic clock (immune to wall-clock changes).
    @inline(__always)
    static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Converts seconds to nanoseconds, clamping nonsense (negative, NaN, huge) to sane bounds.
    static func nanos(_ seconds: Double) -> UInt64 {
        guard seconds.isFinite, seconds > 0 else { return 0 }
        return UInt64(min(seconds, 86_400 * 365) * 1_000_000_000)
    }

    /// Resolves `host` (an IPv4/IPv6 literal or a name such as `localhost`) to socket addresses.
    static func resolve(host: String, port: Int, passive: Bool) throws -> [sockaddr_storage] {
        guard (0...65_535).contains(port) else {
            throw SocketError("port \(port) (must be 0-65535)", code: EINVAL)
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Platform.streamSocket
        hints.ai_flags = passive ? AI_PASSIVE : 0
        var list: UnsafeMutablePointer<addrinfo>? = nil
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0 else {
            // A DNS failure in its own words (the errno is not set by getaddrinfo).
            throw SocketError("cannot resolve the host name '\(host)'", reason: String(cString: gai_strerror(status)).lowercased())
        }
        defer { freeaddrinfo(list) }
        var out: [sockaddr_storage] = []
        var node = list
        while let info = node {
            if let addr = info.pointee.ai_addr {
                var storage = sockaddr_storage()
                withUnsafeMutableBytes(of: &storage) { dst in
                    dst.copyMemory(from: UnsafeRawBufferPointer(start: addr, count: Int(info.pointee.ai_addrlen)))
                }
                out.append(storage)
            }
            node = info.pointee.ai_next
        }
        if out.isEmpty { throw SocketError("cannot resolve the host name '\(host)'", reason: "it has no address") }
        return out
    }

    static func length(of storage: sockaddr_storage) -> socklen_t {
        storage.ss_family == sa_family_t(AF_INET6)
            ? socklen_t(MemoryLayout<sockaddr_in6>.size) : socklen_t(MemoryLayout<sockaddr_in>.size)
    }

    static func newSocket(family: sa_family_t) throws -> Int32 {
        let fd = Platform.newStreamSocket(family: Int32(family), nonBlocking: true)
        guard fd >= 0 else { throw SocketError("socket") }
        return fd
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var v = value
        _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Binds and listens on `host:port`; returns the descriptor and the port actually bound
    /// (useful when `port` is 0).
    static func listen(host: String, port: Int, backlog: Int32) throws -> (fd: Int32, port: Int) {
        let addresses = try resolve(host: host, port: port, passive: true)
        var lastError = SocketError("bind \(host):\(port)", code: EADDRNOTAVAIL)
        for var address in addresses {
            let fd = try newSocket(family: address.ss_family)
            setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            let addressLength = length(of: address)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, addressLength) }
            }
            guard bound == 0 else {
                lastError = SocketError("bind \(host):\(port)")
                close(fd)
                continue
            }
            guard Platform.listen(fd, backlog) == 0 else {
                lastError = SocketError("listen \(host):\(port)")
                close(fd)
                continue
            }
            return (fd, localPort(fd) ?? port)
        }
        throw lastError
    }

    static func localPort(_ fd: Int32) -> Int? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard ok == 0 else { return nil }
        return endpoint(storage)?.port
    }

    /// The textual IP and port of a socket address. IPv4-mapped IPv6 addresses are reported
    /// as plain IPv4, since that is the client's real address.
    static func endpoint(_ storage: sockaddr_storage) -> (ip: String, port: Int)? {
        var storage = storage
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var addr = sin.pointee.sin_addr
                    guard inet_ntop(AF_INET, &addr, &text, socklen_t(text.count)) != nil else { return nil }
                    return (cString(text), Int(UInt16(bigEndian: sin.pointee.sin_port)))
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var addr = sin6.pointee.sin6_addr
                    guard inet_ntop(AF_INET6, &addr, &text, socklen_t(text.count)) != nil else { return nil }
                    var ip = cString(text)
                    if ip.hasPrefix("::ffff:"), ip.contains(".") { ip.removeFirst(7) }
                    return (ip, Int(UInt16(bigEndian: sin6.pointee.sin6_port)))
                }
            }
        default:
            return nil
        }
    }

    static func cString(_ text: [CChar]) -> String {
        String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Connects to `host:port` within `timeout` seconds, first binding `source` (an IP literal
    /// such as `127.0.0.2`) when given, so a client can choose which loopback address it
    /// appears to come from.
    static func connect(host: String, port: Int, source: String?, timeout: Double) throws -> Int32 {
        let addresses = try resolve(host: host, port: port, passive: false)
        var lastError = SocketError("connect \(host):\(port)", code: ECONNREFUSED)
        let deadline = monotonicNanos() &+ nanos(timeout)
        for var address in addresses {
            let fd = try newSocket(family: address.ss_family)
            if let source {
                do {
                    let local = try resolve(host: source, port: 0, passive: false)
                    guard var from = local.first(where: { $0.ss_family == address.ss_family }) else {
                        close(fd)
                        lastError = SocketError("binding source address \(source) (address family differs from \(host))", code: EAFNOSUPPORT)
                        continue
                    }
                    let fromLength = length(of: from)
                    let ok = withUnsafePointer(to: &from) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, fromLength) }
                    }
                    guard ok == 0 else {
                        lastError = SocketError("binding source address \(source)")
                        close(fd)
                        continue
                    }
                } catch {
                    close(fd)
                    throw error
                }
            }
            let addressLength = length(of: address)
            let status = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Platform.connect(fd, $0, addressLength) }
            }
            if status != 0 {
                guard errno == EINPROGRESS else {
                    lastError = SocketError("connect \(host):\(port)")
                    close(fd)
                    continue
                }
                guard wait(fd, events: Int16(POLLOUT), deadline: deadline) else {
                    lastError = SocketError("connect \(host):\(port) (no answer within \(timeout) s)", code: ETIMEDOUT)
                    close(fd)
                    continue
                }
                var soError: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
                guard soError == 0 else {
                    lastError = SocketError("connect \(host):\(port)", code: soError)
                    close(fd)
                    continue
                }
            }
            setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            return fd
        }
        throw lastError
    }

    /// Waits until `fd` is ready for `events` or the deadline passes. Returns false on timeout;
    /// returns true on readiness or on an error/hang-up condition (the next call reports it).
    static func wait(_ fd: Int32, events: Int16, deadline: UInt64) -> Bool {
        while true {
            let now = monotonicNanos()
            guard now < deadline else { return false }
            let remainingMs = Int32(min((deadline - now) / 1_000_000 + 1, 60_000))
            var pfd = pollfd(fd: fd, events: events, revents: 0)
            let n = poll(&pfd, 1, remainingMs)
            if n > 0 { return true }
            if n < 0 && errno != EINTR { return true }
        }
    }

    /// Writes all of `bytes`, waiting (up to the deadline) whenever the socket buffer is full.
    static func sendAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, deadline: UInt64) throws {
        guard var base = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let n = send(fd, base, remaining, Platform.sendFlags)
            if n > 0 {
                base += n
                remaining -= n
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                guard wait(fd, events: Int16(POLLOUT), deadline: deadline) else {
                    throw SocketError("send (peer did not read for too long)", code: ETIMEDOUT)
                }
                continue
            }
            throw SocketError("send")
        }
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8], deadline: UInt64) throws {
        try bytes.withUnsafeBytes { try sendAll(fd, $0, deadline: deadline) }
    }

    /// Reads what is available (waiting up to the deadline for something). Returns 0 at end of
    /// stream.
    static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, deadline: UInt64) throws -> Int {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                guard wait(fd, events: Int16(POLLIN), deadline: deadline) else {
                    throw SocketError("recv (nothing arrived in time)", code: ETIMEDOUT)
                }
                continue
            }
            throw SocketError("recv")
        }
    }

    /// True when bytes (or an end of stream) are waiting to be read right now.
    static func isReadable(_ fd: Int32) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&pfd, 1, 0) > 0
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How an event loop learns which sockets are ready: epoll on Linux (the default there), or
/// `poll(2)`, which every POSIX system has (the default elsewhere, and selectable on Linux so the
/// portable path is tested where the tests run). See docs/event-loop.md.
public enum EventBackend: String, Sendable, CaseIterable, CustomStringConvertible {
    case epoll
    case poll

    /// The environment variable that chooses the backend of servers whose options leave it unset.
    public static let environmentVariable = "MCSEC_EVENT_BACKEND"

    /// The backends this system has, best first.
    public static var available: [EventBackend] {
        #if os(Linux)
        return [.epoll, .poll]
        #else
        return [.poll]
        #endif
    }

    /// The best backend this system has.
    public static var platformDefault: EventBackend { available[0] }

    /// The backend `environment` names in `MCSEC_EVENT_BACKEND`, or the platform's default when
    /// it is unset or empty. Throws for a name that is not a backend of this system.
    public init(environment: [String: String]) throws(EventBackendError) {
        guard let value = environment[Self.environmentVariable], !value.isEmpty else {
            self = Self.platformDefault
            return
        }
        guard let backend = EventBackend(rawValue: value.lowercased()), Self.available.contains(backend) else {
            throw EventBackendError(value: value)
        }
        self = backend
    }

    /// `init(environment:)` over this process's environment.
    public static func fromProcessEnvironment() throws(EventBackendError) -> EventBackend {
        var environment: [String: String] = [:]
        if let value = getenv(environmentVariable) {
            environment[environmentVariable] = String(cString: value)
        }
        return try EventBackend(environment: environment)
    }

    public var description: String { rawValue }

    /// A new readiness source of this kind and the wakeup its loop watches.
    func makeReadiness() throws -> any Readiness {
        switch self {
        case .epoll:
            #if os(Linux)
            return try EpollReadiness()
            #else
            throw SocketError("epoll (not available on this system)", code: ENOSYS)
            #endif
        case .poll:
            return try PollReadiness()
        }
    }
}

/// `MCSEC_EVENT_BACKEND` names no backend of this system.
public struct EventBackendError: Error, CustomStringConvertible, Sendable {
    public let value: String

    public var description: String {
        let names = EventBackend.available.map(\.rawValue).joined(separator: " or ")
        return "\(EventBackend.environmentVariable)=\(value) is not an event backend of this system; use \(names) (unset: \(EventBackend.platformDefault))"
    }
}

/// What a loop waits for on a descriptor.
enum Interest {
    /// Bytes (or an end of stream) to read.
    case read
    /// Room in the socket buffer (a response is waiting to be sent); reads wait meanwhile.
    case write
}

/// One ready descriptor reported by `Readiness.wait`.
struct ReadyEvent {
    let fd: Int32
    /// Readable, or hung up, or in error (the next read says which).
    let readable: Bool
    let writable: Bool
}

/// The readiness source of one event loop: the descriptors it watches, a wait for the next ready
/// ones, and a wakeup another thread can trigger. Used by a single thread, except `wake()`.
/// Both implementations are level-triggered.
protocol Readiness: AnyObject {
    /// Starts watching `fd`. False when the system refuses.
    func add(_ fd: Int32, _ interest: Interest) -> Bool
    /// Changes what `fd` is watched for.
    func modify(_ fd: Int32, _ interest: Interest)
    /// Stops watching `fd` (which stays open).
    func remove(_ fd: Int32)
    /// Called just before a watched `fd` is closed.
    func closing(_ fd: Int32)
    /// Waits up to `timeoutMs` milliseconds. Returns how many events `event(at:)` can read
    /// (wakeups are absorbed and not reported), or -1 with `errno` set.
    func wait(timeoutMs: Int32) -> Int
    /// `wait` with a timeout in nanoseconds, kept as closely as the system allows (epoll_pwait2,
    /// ppoll; whole milliseconds rounded up where neither exists).
    func wait(timeoutNanos: Int64) -> Int
    /// The i-th event of the last `wait`.
    func event(at index: Int) -> ReadyEvent
    /// Makes the current or next `wait` return. Safe from any thread.
    func wake()
    /// Frees the descriptors (after the loop's thread has ended).
    func release()
}

/// Nanoseconds as whole milliseconds, rounded up (a wait never ends before its deadline).
func roundedUpMilliseconds(_ nanos: Int64) -> Int32 {
    Int32(min((max(nanos, 0) + 999_999) / 1_000_000, Int64(Int32.max)))
}

/// The descriptor another thread writes to wake a loop: an eventfd on Linux (one descriptor, a
/// counter that never fills), a non-blocking pipe for the portable backend.
final class Wakeup: @unchecked Sendable {
    /// The end the loop watches.
    let readFD: Int32
    private let writeFD: Int32
    private let isCounter: Bool

    private init(readFD: Int32, writeFD: Int32, isCounter: Bool) {
        self.readFD = readFD
        self.writeFD = writeFD
        self.isCounter = isCounter
    }

    #if os(Linux)
    static func eventFD() throws -> Wakeup {
        typealias EventFD = @convention(c) (UInt32, Int32) -> Int32
        // eventfd is not in the toolchain's Glibc module; the flags are the Linux ABI values
        // (EFD_NONBLOCK, EFD_CLOEXEC).
        guard let libc = dlopen(nil, RTLD_NOW), let symbol = dlsym(libc, "eventfd") else {
            throw SocketError("eventfd (not available in this C library)", code: ENOSYS)
        }
        let fd = unsafeBitCast(symbol, to: EventFD.self)(0, 0o4_000 | 0o2_000_000)
        guard fd >= 0 else { throw SocketError("eventfd") }
        return Wakeup(readFD: fd, writeFD: fd, isCounter: true)
    }
    #endif

    static func pipe() throws -> Wakeup {
        var fds: [Int32] = [-1, -1]
        #if canImport(Glibc)
        guard Glibc.pipe(&fds) == 0 else { throw SocketError("pipe") }
        #else
        guard Darwin.pipe(&fds) == 0 else { throw SocketError("pipe") }
        #endif
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        return Wakeup(readFD: fds[0], writeFD: fds[1], isCounter: false)
    }

    func signal() {
        if isCounter {
            var one: UInt64 = 1
            _ = Platform.write(writeFD, &one, 8)
        } else {
            // A full pipe already wakes the loop, so EAGAIN is fine.
            var byte: UInt8 = 1
            _ = Platform.write(writeFD, &byte, 1)
        }
    }

    /// Empties the wakeup so the next wait blocks again.
    func drain() {
        if isCounter {
            var value: UInt64 = 0
            _ = read(readFD, &value, 8)
        } else {
            var bytes: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
            while withUnsafeMutableBytes(of: &bytes, { read(readFD, $0.baseAddress, $0.count) }) == 64 {}
        }
    }

    func release() {
        Platform.close(readFD)
        if writeFD != readFD { Platform.close(writeFD) }
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The system calls and constants whose Swift spelling differs between Linux (Glibc) and Darwin,
/// so the rest of the package is written once. The event-loop backends (`EpollReadiness`,
/// `PollReadiness`) are the other platform-specific files.
public enum Platform {
    /// `SOCK_STREAM` as `socket(2)` takes it (Glibc imports it as an enum, Darwin as an `Int32`).
    public static var streamSocket: Int32 {
        #if canImport(Glibc)
        return Int32(SOCK_STREAM.rawValue)
        #else
        return SOCK_STREAM
        #endif
    }

    /// Flags for every `send(2)`: `MSG_NOSIGNAL`, so a peer that went away is an `EPIPE` and not
    /// a `SIGPIPE`. Darwin has no such flag; there the sockets this package makes carry
    /// `SO_NOSIGPIPE` instead (`suppressSIGPIPE`).
    public static var sendFlags: Int32 {
        #if canImport(Glibc)
        return Int32(MSG_NOSIGNAL)
        #else
        return 0
        #endif
    }

    /// Sets `SO_NOSIGPIPE` where sends have no `MSG_NOSIGNAL` (Darwin); nothing on Linux.
    public static func suppressSIGPIPE(_ fd: Int32) {
        #if canImport(Darwin)
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
    }

    /// `RLIMIT_NOFILE` as `getrlimit`/`setrlimit` take it.
    public static var openFilesResource: Int32 {
        #if canImport(Glibc)
        return Int32(RLIMIT_NOFILE.rawValue)
        #else
        return RLIMIT_NOFILE
        #endif
    }

    /// The soft limit on open descriptors of this process (nil when unlimited or unknown).
    public static var openFilesLimit: Int? {
        var limit = rlimit()
        // RLIM_INFINITY is all ones on both systems (its C macro does not import here).
        guard getrlimit(openFilesResource, &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return Int(clamping: limit.rlim_cur)
    }

    /// `close(2)`, for types that have a `close()` method of their own.
    @discardableResult
    public static func close(_ fd: Int32) -> Int32 {
        #if canImport(Glibc)
        return Glibc.close(fd)
        #else
        return Darwin.close(fd)
        #endif
    }

    /// `write(2)`, for types that have a `write` method of their own.
    public static func write(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.write(fd, bytes, count)
        #else
        return Darwin.write(fd, bytes, count)
        #endif
    }

    /// Online processors (the default number of event loops).
    public static var processorCount: Int {
        max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }

    /// A connected pair of Unix stream sockets, both close-on-exec (`socketpair(2)`'s return
    /// convention: 0, or -1 with `errno` set).
    public static func closeOnExecSocketPair(_ pair: inout [Int32]) -> Int32 {
        #if canImport(Glibc)
        return socketpair(AF_UNIX, streamSocket | Int32(SOCK_CLOEXEC.rawValue), 0, &pair)
        #else
        guard socketpair(AF_UNIX, streamSocket, 0, &pair) == 0 else { return -1 }
        for fd in pair {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            suppressSIGPIPE(fd)
        }
        return 0
        #endif
    }

    #if canImport(Glibc)
    /// A fresh `posix_spawn_file_actions_t` for `posix_spawn_file_actions_init` (a struct in
    /// Glibc, an optional pointer in Darwin).
    public typealias SpawnFileActions = posix_spawn_file_actions_t
    public static func spawnFileActions() -> SpawnFileActions { posix_spawn_file_actions_t() }
    #else
    public typealias SpawnFileActions = posix_spawn_file_actions_t?
    public static func spawnFileActions() -> SpawnFileActions { nil }
    #endif

    /// The process's environment for `posix_spawn` (Darwin does not export `environ`).
    public static var environment: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        #if canImport(Glibc)
        return environ
        #else
        return _NSGetEnviron().pointee
        #endif
    }

    // MARK: Sockets and threads for Wire

    /// A TCP socket, close-on-exec, non-blocking when asked, never raising `SIGPIPE`.
    static func newStreamSocket(family: Int32, nonBlocking: Bool) -> Int32 {
        #if canImport(Glibc)
        var type = streamSocket | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        return socket(family, type, 0)
        #else
        let fd = socket(family, streamSocket, 0)
        guard fd >= 0 else { return fd }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        if nonBlocking { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        suppressSIGPIPE(fd)
        return fd
        #endif
    }

    /// `accept(2)` giving a non-blocking, close-on-exec socket (atomically where `accept4` exists).
    static func acceptNonBlocking(_ listener: Int32, _ address: UnsafeMutablePointer<sockaddr>,
                                  _ length: UnsafeMutablePointer<socklen_t>) -> Int32 {
        #if canImport(Glibc)
        if let accept4 = Accept4.function {
            return accept4(listener, address, length, Accept4.nonBlocking | Accept4.closeOnExec)
        }
        #endif
        let fd = accept(listener, address, length)
        guard fd >= 0 else { return fd }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        suppressSIGPIPE(fd)
        return fd
    }

    static func listen(_ fd: Int32, _ backlog: Int32) -> Int32 {
        #if canImport(Glibc)
        return Glibc.listen(fd, backlog)
        #else
        return Darwin.listen(fd, backlog)
        #endif
    }

    static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
        #if canImport(Glibc)
        return Glibc.connect(fd, address, length)
        #else
        return Darwin.connect(fd, address, length)
        #endif
    }

    /// Starts a POSIX thread that runs `OSThread.enter(argument)`; returns `pthread_create`'s
    /// status and the thread (Glibc's `pthread_t` is an integer, Darwin's a non-null pointer).
    static func createThread(_ attributes: inout pthread_attr_t,
                             argument: UnsafeMutableRawPointer) -> (status: Int32, thread: pthread_t?) {
        #if canImport(Glibc)
        var handle = pthread_t()
        #else
        var handle: pthread_t? = nil
        #endif
        let status = pthread_create(&handle, &attributes, { argument in
            OSThread.enter(argument)
            return nil
        }, argument)
        return (status, status == 0 ? handle : nil)
    }
}

#if canImport(Glibc)
/// `accept4`, which the toolchain's Glibc module does not export (it is a GNU extension); looked
/// up once in the C library. The flags are the Linux ABI values.
private enum Accept4 {
    typealias Function = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32
    static let closeOnExec: Int32 = 0o2_000_000
    static let nonBlocking: Int32 = 0o4_000
    static let function: Function? = {
        guard let libc = dlopen(nil, RTLD_NOW), let pointer = dlsym(libc, "accept4") else { return nil }
        return unsafeBitCast(pointer, to: Function.self)
    }()
}
#endif

@preconcurrency import Glibc

/// epoll, eventfd and accept4, which the toolchain's Glibc module does not export (their
/// headers are not in its umbrella). They are looked up once in the C library by name; the
/// constants are the Linux ABI values (identical on x86_64 and aarch64).
///
/// `epoll_event` is declared `packed` on x86_64 (12 bytes: events at 0, data at 4) and naturally
/// aligned elsewhere (16 bytes, data at 8), so events are handled as raw bytes with that layout.
enum LinuxEvents {
    static let epollIn: UInt32 = 0x001
    static let epollOut: UInt32 = 0x004
    static let epollErr: UInt32 = 0x008
    static let epollHup: UInt32 = 0x010
    static let ctlAdd: Int32 = 1
    static let ctlDel: Int32 = 2
    static let ctlMod: Int32 = 3
    static let closeOnExec: Int32 = 0o2_000_000
    static let nonBlocking: Int32 = 0o4_000

    #if arch(x86_64)
    static let eventSize = 12
    static let dataOffset = 4
    #else
    static let eventSize = 16
    static let dataOffset = 8
    #endif

    private typealias Create1 = @convention(c) (Int32) -> Int32
    private typealias Control = @convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) -> Int32
    private typealias Wait = @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, Int32) -> Int32
    private typealias EventFD = @convention(c) (UInt32, Int32) -> Int32
    private typealias Accept4 = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32

    private struct Functions: @unchecked Sendable {
        let create1: Create1
        let control: Control
        let wait: Wait
        let eventfd: EventFD
        let accept4: Accept4
    }

    private static let functions: Functions? = {
        guard let libc = dlopen(nil, RTLD_NOW) else { return nil }
        func symbol<T>(_ name: String, as type: T.Type) -> T? {
            guard let pointer = dlsym(libc, name) else { return nil }
            return unsafeBitCast(pointer, to: type)
        }
        guard let create1 = symbol("epoll_create1", as: Create1.self),
              let control = symbol("epoll_ctl", as: Control.self),
              let wait = symbol("epoll_wait", as: Wait.self),
              let eventfd = symbol("eventfd", as: EventFD.self),
              let accept4 = symbol("accept4", as: Accept4.self) else { return nil }
        return Functions(create1: create1, control: control, wait: wait, eventfd: eventfd, accept4: accept4)
    }()

    /// Throws when the C library lacks epoll (not Linux).
    static func check() throws {
        guard functions != nil else { throw SocketError("epoll (not available on this system)", code: ENOSYS) }
    }

    static func createEpoll() -> Int32 { functions?.create1(closeOnExec) ?? -1 }

    static func createEventFD() -> Int32 { functions?.eventfd(0, nonBlocking | closeOnExec) ?? -1 }

    /// Adds, modifies or removes `fd`; the event data is the descriptor itself.
    @discardableResult
    static func control(_ epfd: Int32, _ op: Int32, _ fd: Int32, _ events: UInt32) -> Bool {
        guard let functions else { return false }
        var raw = (UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &raw) { event in
            event.storeBytes(of: events, toByteOffset: 0, as: UInt32.self)
            event.storeBytes(of: UInt64(UInt32(bitPattern: fd)), toByteOffset: dataOffset, as: UInt64.self)
            return functions.control(epfd, op, fd, event.baseAddress) == 0
        }
    }

    /// Waits for events into `buffer` (room for `buffer.count / eventSize` events).
    static func wait(_ epfd: Int32, _ buffer: UnsafeMutableRawBufferPointer, timeoutMs: Int32) -> Int32 {
        guard let functions else { return -1 }
        return functions.wait(epfd, buffer.baseAddress, Int32(buffer.count / eventSize), timeoutMs)
    }

    /// The i-th event in a buffer filled by `wait`: its flags and descriptor.
    @inline(__always)
    static func event(_ buffer: UnsafeMutableRawBufferPointer, _ i: Int) -> (events: UInt32, fd: Int32) {
        let base = i * eventSize
        let events = buffer.loadUnaligned(fromByteOffset: base, as: UInt32.self)
        let data = buffer.loadUnaligned(fromByteOffset: base + dataOffset, as: UInt64.self)
        return (events, Int32(truncatingIfNeeded: data))
    }

    /// accept4 with non-blocking and close-on-exec set atomically.
    static func accept(_ listener: Int32, _ address: UnsafeMutablePointer<sockaddr>, _ length: UnsafeMutablePointer<socklen_t>) -> Int32 {
        guard let functions else { return -1 }
        return functions.accept4(listener, address, length, nonBlocking | closeOnExec)
    }
}

#if os(Linux)
@preconcurrency import Glibc

/// Readiness from epoll, Linux's default: one `epoll_wait` returns only the ready descriptors,
/// however many connections the loop holds. Its wakeup is an eventfd.
///
/// epoll is not in the toolchain's Glibc module (its header is not in the umbrella), so the three
/// calls are looked up once in the C library by name; the constants are the Linux ABI values
/// (identical on x86_64 and aarch64). `epoll_event` is `packed` on x86_64 (12 bytes: events at
/// 0, data at 4) and naturally aligned elsewhere (16 bytes, data at 8), so events are handled
/// as raw bytes with that layout.
final class EpollReadiness: Readiness, @unchecked Sendable {
    private static let epollIn: UInt32 = 0x001
    private static let epollOut: UInt32 = 0x004
    private static let epollErr: UInt32 = 0x008
    private static let epollHup: UInt32 = 0x010
    private static let ctlAdd: Int32 = 1
    private static let ctlDel: Int32 = 2
    private static let ctlMod: Int32 = 3
    private static let closeOnExec: Int32 = 0o2_000_000

    #if arch(x86_64)
    private static let eventSize = 12
    private static let dataOffset = 4
    #else
    private static let eventSize = 16
    private static let dataOffset = 8
    #endif
    private static let maxEvents = 256

    private typealias Create1 = @convention(c) (Int32) -> Int32
    private typealias Control = @convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) -> Int32
    private typealias Wait = @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, Int32) -> Int32
    private typealias WaitPrecise = @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, UnsafePointer<timespec>?, UnsafeRawPointer?) -> Int32

    private struct Functions: @unchecked Sendable {
        let create1: Create1
        let control: Control
        let wait: Wait
        /// epoll_pwait2 (Linux 5.11, glibc 2.35): a timeout in nanoseconds; nil where absent.
        let waitPrecise: WaitPrecise?
    }

    private static let functions: Functions? = {
        guard let libc = dlopen(nil, RTLD_NOW) else { return nil }
        func symbol<T>(_ name: String, as type: T.Type) -> T? {
            guard let pointer = dlsym(libc, name) else { return nil }
            return unsafeBitCast(pointer, to: type)
        }
        guard let create1 = symbol("epoll_create1", as: Create1.self),
              let control = symbol("epoll_ctl", as: Control.self),
              let wait = symbol("epoll_wait", as: Wait.self) else { return nil }
        return Functions(create1: create1, control: control, wait: wait, waitPrecise: symbol("epoll_pwait2", as: WaitPrecise.self))
    }()

    private let functions: Functions
    private let epfd: Int32
    private let wakeup: Wakeup
    private let buffer: UnsafeMutableRawBufferPointer

    init() throws {
        guard let functions = Self.functions else { throw SocketError("epoll (not available in this C library)", code: ENOSYS) }
        self.functions = functions
        epfd = functions.create1(Self.closeOnExec)
        guard epfd >= 0 else { throw SocketError("epoll_create1") }
        do {
            wakeup = try Wakeup.eventFD()
        } catch {
            Platform.close(epfd)
            throw error
        }
        buffer = .allocate(byteCount: Self.eventSize * Self.maxEvents, alignment: 16)
        guard control(Self.ctlAdd, wakeup.readFD, Self.epollIn) else {
            let failure = SocketError("epoll_ctl (wakeup)")
            release()
            throw failure
        }
    }

    /// Adds, modifies or removes `fd`; the event data is the descriptor itself.
    private func control(_ op: Int32, _ fd: Int32, _ events: UInt32) -> Bool {
        var raw = (UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &raw) { event in
            event.storeBytes(of: events, toByteOffset: 0, as: UInt32.self)
            event.storeBytes(of: UInt64(UInt32(bitPattern: fd)), toByteOffset: Self.dataOffset, as: UInt64.self)
            return functions.control(epfd, op, fd, event.baseAddress) == 0
        }
    }

    @inline(__always)
    private static func events(_ interest: Interest) -> UInt32 {
        interest == .read ? epollIn : epollOut
    }

    func add(_ fd: Int32, _ interest: Interest) -> Bool {
        control(Self.ctlAdd, fd, Self.events(interest))
    }

    func modify(_ fd: Int32, _ interest: Interest) {
        _ = control(Self.ctlMod, fd, Self.events(interest))
    }

    func remove(_ fd: Int32) {
        _ = control(Self.ctlDel, fd, 0)
    }

    /// Nothing to do: closing a descriptor removes it from every epoll set (none is duplicated).
    func closing(_ fd: Int32) {}

    /// Set once the kernel refuses epoll_pwait2 (ENOSYS): milliseconds from then on.
    private var preciseRefused = false

    func wait(timeoutMs: Int32) -> Int {
        absorbWakeup(Int(functions.wait(epfd, buffer.baseAddress, Int32(Self.maxEvents), timeoutMs)))
    }

    func wait(timeoutNanos: Int64) -> Int {
        if let precise = functions.waitPrecise, !preciseRefused {
            var timeout = timespec(tv_sec: Int(timeoutNanos / 1_000_000_000), tv_nsec: Int(timeoutNanos % 1_000_000_000))
            let n = precise(epfd, buffer.baseAddress, Int32(Self.maxEvents), &timeout, nil)
            if n >= 0 || errno != ENOSYS { return absorbWakeup(Int(n)) }
            preciseRefused = true
        }
        return wait(timeoutMs: roundedUpMilliseconds(timeoutNanos))
    }

    private func absorbWakeup(_ result: Int) -> Int {
        var count = result
        // Absorb the wakeup: drain it and move the last event into its place.
        var i = 0
        while i < count {
            if descriptor(at: i) == wakeup.readFD {
                wakeup.drain()
                count -= 1
                if i < count {
                    (buffer.baseAddress! + i * Self.eventSize)
                        .copyMemory(from: buffer.baseAddress! + count * Self.eventSize, byteCount: Self.eventSize)
                }
                break
            }
            i += 1
        }
        return count
    }

    @inline(__always)
    private func descriptor(at index: Int) -> Int32 {
        Int32(truncatingIfNeeded: buffer.loadUnaligned(fromByteOffset: index * Self.eventSize + Self.dataOffset, as: UInt64.self))
    }

    @inline(__always)
    func event(at index: Int) -> ReadyEvent {
        let flags = buffer.loadUnaligned(fromByteOffset: index * Self.eventSize, as: UInt32.self)
        return ReadyEvent(fd: descriptor(at: index),
                          readable: flags & (Self.epollIn | Self.epollHup | Self.epollErr) != 0,
                          writable: flags & Self.epollOut != 0)
    }

    func wake() { wakeup.signal() }

    func release() {
        Platform.close(epfd)
        wakeup.release()
        buffer.deallocate()
    }
}
#endif

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Readiness from `poll(2)`, which every POSIX system has: the default where epoll is absent
/// (Darwin), and selectable on Linux (`MCSEC_EVENT_BACKEND=poll`) so this path is tested too.
/// Its wakeup is a pipe.
///
/// The `pollfd` array is kept between waits and edited in place when interest changes (a
/// removal moves the last entry into the hole), so a wait costs one `poll` call plus a scan of
/// the array for the ready entries: linear in the loop's connections, which is poll's nature.
final class PollReadiness: Readiness, @unchecked Sendable {
    private var entries: [pollfd] = []
    /// `slots[fd]` is the descriptor's index in `entries`, or -1 (descriptors are small integers).
    private var slots: [Int32] = []
    private var ready: [ReadyEvent] = []
    private let wakeup: Wakeup

    init() throws {
        wakeup = try Wakeup.pipe()
        _ = add(wakeup.readFD, .read)
    }

    @inline(__always)
    private static func events(_ interest: Interest) -> Int16 {
        interest == .read ? Int16(POLLIN) : Int16(POLLOUT)
    }

    @inline(__always)
    private func slot(_ fd: Int32) -> Int {
        fd >= 0 && Int(fd) < slots.count ? Int(slots[Int(fd)]) : -1
    }

    func add(_ fd: Int32, _ interest: Interest) -> Bool {
        guard fd >= 0 else { return false }
        let existing = slot(fd)
        if existing >= 0 {
            entries[existing].events = Self.events(interest)
            return true
        }
        if Int(fd) >= slots.count {
            slots.append(contentsOf: repeatElement(-1, count: max(Int(fd) + 1 - slots.count, slots.count)))
        }
        slots[Int(fd)] = Int32(entries.count)
        entries.append(pollfd(fd: fd, events: Self.events(interest), revents: 0))
        return true
    }

    func modify(_ fd: Int32, _ interest: Interest) {
        let index = slot(fd)
        if index >= 0 { entries[index].events = Self.events(interest) }
    }

    func remove(_ fd: Int32) {
        let index = slot(fd)
        guard index >= 0 else { return }
        slots[Int(fd)] = -1
        let last = entries.count - 1
        if index != last {
            entries[index] = entries[last]
            slots[Int(entries[index].fd)] = Int32(index)
        }
        entries.removeLast()
    }

    /// A closed descriptor left in the array would be reported as invalid on every wait, and its
    /// number may be reused by the next accept: it must go first.
    func closing(_ fd: Int32) { remove(fd) }

    func wait(timeoutMs: Int32) -> Int {
        collect(Int(entries.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeoutMs) }))
    }

    func wait(timeoutNanos: Int64) -> Int {
        if let precise = Self.ppoll {
            var timeout = timespec(tv_sec: Int(timeoutNanos / 1_000_000_000), tv_nsec: Int(timeoutNanos % 1_000_000_000))
            return collect(Int(entries.withUnsafeMutableBufferPointer { precise($0.baseAddress, nfds_t($0.count), &timeout, nil) }))
        }
        // Without ppoll (Darwin): whole milliseconds, rounded up so a deadline is never early.
        return wait(timeoutMs: roundedUpMilliseconds(timeoutNanos))
    }

    private typealias PPoll = @convention(c) (UnsafeMutablePointer<pollfd>?, nfds_t, UnsafePointer<timespec>?, UnsafeRawPointer?) -> Int32

    /// ppoll(2), looked up by name: Glibc declares it only for _GNU_SOURCE, which the toolchain's
    /// module does not define; Darwin has none.
    private static let ppoll: PPoll? = {
        #if os(Linux)
        guard let libc = dlopen(nil, RTLD_NOW), let symbol = dlsym(libc, "ppoll") else { return nil }
        return unsafeBitCast(symbol, to: PPoll.self)
        #else
        return nil
        #endif
    }()

    private func collect(_ n: Int) -> Int {
        ready.removeAll(keepingCapacity: true)
        guard n > 0 else { return n }
        var remaining = n
        let error = Int16(POLLHUP) | Int16(POLLERR) | Int16(POLLNVAL)
        for entry in entries where entry.revents != 0 {
            if entry.fd == wakeup.readFD {
                wakeup.drain()
            } else {
                ready.append(ReadyEvent(fd: entry.fd,
                                        readable: entry.revents & (Int16(POLLIN) | error) != 0,
                                        writable: entry.revents & Int16(POLLOUT) != 0))
            }
            remaining -= 1
            if remaining == 0 { break }
        }
        return ready.count
    }

    func event(at index: Int) -> ReadyEvent { ready[index] }

    func wake() { wakeup.signal() }

    func release() {
        wakeup.release()
        entries = []
        slots = []
    }
}

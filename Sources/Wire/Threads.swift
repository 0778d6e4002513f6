#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// OS threads for the server's event loops and workers, and the replay's senders. Both need
/// real threads (a handler may block on Redis, a sender on its socket), joinable on stop,
/// without pulling Foundation into the hot path.
public struct OSThread: @unchecked Sendable {
    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    private let handle: pthread_t

    /// Starts `body` on a new thread. The default stack is 8 MiB, like the main thread's:
    /// handlers run here and may recurse (a JSON parser bounded at 512 levels needs more than
    /// 512 KiB in a debug build). The stack is address space, not memory: only the pages a
    /// thread touches become resident (tens of KiB for a thread waiting on a socket), so a
    /// thousand of them cost far less than their nominal 8 GiB.
    ///
    /// A `detached` thread cannot be joined; its owner tracks its end another way (the worker
    /// pool counts live threads), which lets a thread end on its own when it is no longer needed.
    /// Throws `SocketError` with pthread_create's error code when no thread can be made.
    @discardableResult
    public static func start(detached: Bool = false, stackSize: Int = 8 << 20,
                             _ body: @escaping @Sendable () -> Void) throws(SocketError) -> OSThread {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, stackSize)
        if detached { pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED)) }
        let (status, handle) = Platform.createThread(&attributes, argument: box)
        guard status == 0, let handle else {
            Unmanaged<Box>.fromOpaque(box).release()
            throw SocketError("pthread_create", code: status)
        }
        return OSThread(handle: handle, detached: detached)
    }

    private let detached: Bool

    /// The new thread's first call: runs (and releases) the body `start` boxed.
    static func enter(_ argument: UnsafeMutableRawPointer?) {
        guard let argument else { return }
        Unmanaged<Box>.fromOpaque(argument).takeRetainedValue().body()
    }

    /// Waits for the thread to end (nothing for a detached one).
    public func join() {
        if !detached { pthread_join(handle, nil) }
    }
}

/// A mutex with a condition variable (what `Mutex` lacks): the worker pool's queue and the
/// replay's per-client ordering wait on it.
public final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    /// Waits for a signal; the caller holds the lock and re-checks its condition afterwards.
    public func wait() { pthread_cond_wait(condition, mutex) }
    public func signal() { pthread_cond_signal(condition) }
    public func broadcast() { pthread_cond_broadcast(condition) }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

import Synchronization

/// A small mutual-exclusion lock for classes that guard several fields together.
/// (`Mutex` from Synchronization is non-copyable, so it lives inside this final class.)
public final class Lock: Sendable {
    private let mutex = Mutex<Void>(())

    public init() {}

    @inlinable
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        try mutexWithLock(body)
    }

    @usableFromInline
    func mutexWithLock<T>(_ body: () throws -> T) rethrows -> T {
        try mutex.withLock { _ in try body() }
    }
}

import Foundation


/// Where rules get "now" from, in seconds. Rules never read the wall clock themselves, so
/// tests and the in-process target drive time with a `ManualTimeSource` and a clock advance
/// costs nothing. (Not called `Clock`: that name belongs to the standard library.)
public protocol TimeSource: Sendable {
    func now() -> Double
}

/// Wall-clock seconds since 1970, as the real service uses for its limiter scores.
public struct SystemTimeSource: TimeSource {
    public init() {}
    public func now() -> Double { Date().timeIntervalSince1970 }
}

/// A clock that only moves when told to.
public final class ManualTimeSource: TimeSource, @unchecked Sendable {
    private let lock = Lock()
    private var current: Double

    public init(_ start: Double = 1_700_000_000) { current = start }

    public func now() -> Double { lock.withLock { current } }

    public func advance(by seconds: Double) { lock.withLock { current += seconds } }

    public func set(_ seconds: Double) { lock.withLock { current = seconds } }
}

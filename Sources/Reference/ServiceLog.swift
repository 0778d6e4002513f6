import Synchronization

/// The reference service's log: the lines a real deployment would write (failed agent
/// authentication, a rate-limit backend that is unavailable), kept in memory so that suites can
/// check what was logged, and optionally echoed (to standard error under `mcsec serve`).
///
/// Thread-safe and bounded: it keeps the most recent `capacity` lines, so a long-running
/// server under attack cannot grow it without limit.
public final class ServiceLog: Sendable {
    /// How many lines are kept.
    public static let capacity = 10_000

    private struct Ring: ~Copyable {
        var storage: [String] = []
        /// Index of the oldest line once the ring is full.
        var head = 0
    }

    private let ring = Mutex(Ring())
    private let echo: (@Sendable (String) -> Void)?

    /// - Parameter echo: called with every line as it is written (outside the log's lock).
    public init(echo: (@Sendable (String) -> Void)? = nil) {
        self.echo = echo
    }

    public func write(_ line: String) {
        ring.withLock { ring in
            if ring.storage.count < ServiceLog.capacity {
                ring.storage.append(line)
            } else {
                ring.storage[ring.head] = line
                ring.head += 1
                if ring.head == ServiceLog.capacity { ring.head = 0 }
            }
        }
        echo?(line)
    }

    /// The kept lines, oldest first.
    public var lines: [String] {
        ring.withLock { ring in
            guard ring.head > 0 else { return ring.storage }
            return Array(ring.storage[ring.head...] + ring.storage[..<ring.head])
        }
    }

    public func clear() {
        ring.withLock { ring in
            ring.storage.removeAll()
            ring.head = 0
        }
    }
}

extension ServiceLog {
    /// A value made safe for a `key=value` log line: control characters, spaces and `=` are
    /// replaced by `_` and the length is bounded, so a client-chosen value (a token prefix, a
    /// forwarded address) can neither forge a second line nor a second field.
    public static func field(_ value: String, maxLength: Int = 128) -> String {
        var out = ""
        out.reserveCapacity(min(value.utf8.count, maxLength))
        var count = 0
        for scalar in value.unicodeScalars {
            if count >= maxLength { break }
            let v = scalar.value
            if v < 0x21 || v == 0x7F || (v >= 0x80 && v < 0xA0) || v == 0x3D || v == 0x2028 || v == 0x2029 {
                out.unicodeScalars.append("_")
            } else {
                out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }
}

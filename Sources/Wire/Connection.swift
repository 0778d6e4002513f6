import Synchronization

/// One client connection. Owned by exactly one thread at a time: its event loop, or a worker
/// while a handler runs there (the loop stops watching it for that time).
final class Connection: @unchecked Sendable {
    enum Phase {
        /// Waiting for, or reading, a request head.
        case head
        /// Reading a small `Content-Length` body that will be handed over whole.
        case body(RequestHead, length: Int)
        /// A worker owns the connection.
        case worker
        /// Response sent, write side shut down; discarding what the client still sends.
        case lingering
    }

    let fd: Int32
    let peer: String
    let loop: EventLoop
    var phase = Phase.head
    /// Received bytes not yet consumed; always starts at a request (or body) boundary.
    var pending: [UInt8] = []
    var scanner = HTTPRequestParser.HeadScanner()
    /// A request has begun arriving (its first byte was seen) and is not yet dispatched.
    var inRequest = false
    var requestStarted: UInt64 = 0
    var output: [UInt8] = []
    var outputOffset = 0
    var closeAfterOutput = false
    var writeBlocked = false
    var deadline: UInt64 = 0
    var lingerBudget = 0

    /// The connection's number in accept order (from 1), for handlers that keep a
    /// connection on one of several workers.
    let serial: UInt64

    init(fd: Int32, peer: String, loop: EventLoop) {
        self.fd = fd
        self.peer = peer
        self.loop = loop
        serial = loop.core.connectionSerial.wrappingAdd(1, ordering: .relaxed).newValue
    }
}

/// Values by descriptor (a loop's connections, a client loop's links). Descriptors are small
/// integers the kernel hands out densely, so an array indexed by them finds the value of every
/// readiness event without hashing (a dictionary lookup was a visible share of a request's cost).
struct DescriptorTable<Value> {
    private var slots: [Value?] = []
    /// Descriptors with a value.
    private(set) var count = 0

    subscript(fd: Int32) -> Value? {
        get {
            let i = Int(fd)
            return i >= 0 && i < slots.count ? slots[i] : nil
        }
        set {
            let i = Int(fd)
            guard i >= 0 else { return }
            if i >= slots.count {
                guard newValue != nil else { return }
                slots.append(contentsOf: repeatElement(nil, count: max(i + 1, slots.count * 2, 64) - slots.count))
            }
            count += (newValue == nil ? 0 : 1) - (slots[i] == nil ? 0 : 1)
            slots[i] = newValue
        }
    }

    mutating func removeValue(forKey fd: Int32) {
        self[fd] = nil
    }

    /// Every value, in descriptor order.
    var values: [Value] { slots.compactMap { $0 } }

    /// Every descriptor with a value, in order.
    var keys: [Int32] { slots.indices.compactMap { slots[$0] == nil ? nil : Int32($0) } }
}

/// RESP2, the Redis serialisation protocol: commands go out as arrays of bulk strings, replies
/// come back as one of five types. The decoder is written for replies from a server we do not
/// trust to be well-behaved: every declared length is checked against `RESPLimits` before
/// anything is buffered for it, and nothing is ever allocated from a declared length alone.
public enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    /// A bulk string; nil is the null bulk string (`$-1`).
    case bulkString([UInt8]?)
    /// An array; nil is the null array (`*-1`).
    case array([RESPValue]?)

    /// The value as text when it is a simple or non-null bulk string.
    public var string: String? {
        switch self {
        case .simpleString(let s): return s
        case .bulkString(let bytes?): return String(decoding: bytes, as: UTF8.self)
        default: return nil
        }
    }

    /// The value as an integer when it is one.
    public var integer: Int64? {
        if case .integer(let n) = self { return n }
        return nil
    }

    /// The error message when the value is an error reply.
    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }
}

/// Bounds on what the decoder accepts from a server, so that a hostile or broken peer cannot
/// make the client buffer or allocate without limit.
public struct RESPLimits: Sendable, Equatable {
    /// Longest bulk string accepted (Redis's own default `proto-max-bulk-len` is 512 MB; a
    /// rate-limit client never needs more than a few bytes).
    public var maxBulkLength: Int
    /// Most elements in one array (at any depth).
    public var maxArrayCount: Int
    /// Deepest nesting of arrays.
    public var maxDepth: Int
    /// Longest header line (type byte, simple string, error, integer, length).
    public var maxLineLength: Int
    /// Most bytes one reply may occupy while it is being received.
    public var maxReplyBytes: Int

    public init(maxBulkLength: Int = 16 << 20, maxArrayCount: Int = 1 << 20, maxDepth: Int = 32,
                maxLineLength: Int = 64 << 10, maxReplyBytes: Int = 64 << 20) {
        self.maxBulkLength = maxBulkLength
        self.maxArrayCount = maxArrayCount
        self.maxDepth = maxDepth
        self.maxLineLength = maxLineLength
        self.maxReplyBytes = maxReplyBytes
    }

    public static let standard = RESPLimits()
}

/// A reply that violates RESP2 or the limits: the connection cannot be trusted any more.
public struct RESPProtocolError: Error, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "malformed reply from Redis: \(reason)" }
}

/// Encoding of commands.
public enum RESPEncoder {
    /// Appends one command (`*N` then N bulk strings) to `out`.
    public static func appendCommand<S: Sequence>(_ args: S, count: Int, to out: inout [UInt8]) where S.Element == String {
        out.append(UInt8(ascii: "*"))
        appendDecimal(count, to: &out)
        out.append(13); out.append(10)
        for arg in args {
            appendBulk(arg, to: &out)
        }
    }

    /// Appends one command given as a list of strings.
    public static func appendCommand(_ args: [String], to out: inout [UInt8]) {
        appendCommand(args, count: args.count, to: &out)
    }

    /// The bytes of one command.
    public static func encode(_ args: [String]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + args.reduce(0) { $0 + $1.utf8.count + 16 })
        appendCommand(args, to: &out)
        return out
    }

    /// Appends `$len\r\n<bytes>\r\n`.
    @inlinable
    public static func appendBulk(_ arg: String, to out: inout [UInt8]) {
        var arg = arg
        arg.withUTF8 { utf8 in
            out.append(UInt8(ascii: "$"))
            appendDecimal(utf8.count, to: &out)
            out.append(13); out.append(10)
            out.append(contentsOf: utf8)
            out.append(13); out.append(10)
        }
    }

    /// Appends a non-negative decimal number without going through `String`.
    @inlinable
    public static func appendDecimal(_ value: Int, to out: inout [UInt8]) { ASCIIDecimal.append(value, to: &out) }
}

/// Incremental decoding of replies from a byte buffer that fills up as data arrives.
public struct RESPDecoder: Sendable {
    public var limits: RESPLimits

    public init(limits: RESPLimits = .standard) { self.limits = limits }

    /// The outcome of one decode attempt.
    public enum Outcome: Equatable {
        /// A complete reply, and the index just after it.
        case value(RESPValue, next: Int)
        /// More bytes are needed; nothing was consumed.
        case incomplete
    }

    /// Decodes one reply starting at `start`. Throws `RESPProtocolError` for a reply that can
    /// never become valid, however many more bytes arrive.
    public func decode(_ buffer: [UInt8], from start: Int) throws -> Outcome {
        try buffer.withUnsafeBufferPointer { bytes in
            var index = start
            guard let value = try decodeValue(bytes, &index, depth: 0) else {
                // Bytes that can never finish a reply within the limits are an error, not a wait.
                if bytes.count - start > limits.maxReplyBytes {
                    throw RESPProtocolError("reply larger than \(limits.maxReplyBytes) bytes")
                }
                return .incomplete
            }
            return .value(value, next: index)
        }
    }

    /// Decodes one value; nil when the buffer ends before it does.
    private func decodeValue(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int, depth: Int) throws -> RESPValue? {
        guard index < bytes.count else { return nil }
        let type = bytes[index]
        guard let lineEnd = try findLineEnd(bytes, from: index &+ 1) else { return nil }
        let lineStart = index &+ 1
        switch type {
        case UInt8(ascii: "+"):
            index = lineEnd &+ 2
            return .simpleString(text(bytes, lineStart, lineEnd))
        case UInt8(ascii: "-"):
            index = lineEnd &+ 2
            return .error(text(bytes, lineStart, lineEnd))
        case UInt8(ascii: ":"):
            let n = try integer(bytes, lineStart, lineEnd, what: "integer")
            index = lineEnd &+ 2
            return .integer(n)
        case UInt8(ascii: "$"):
            let length = try integer(bytes, lineStart, lineEnd, what: "bulk string length")
            if length == -1 {
                index = lineEnd &+ 2
                return .bulkString(nil)
            }
            guard length >= 0 else { throw RESPProtocolError("negative bulk string length \(length)") }
            guard length <= Int64(limits.maxBulkLength) else {
                throw RESPProtocolError("bulk string length \(length) exceeds the limit of \(limits.maxBulkLength) bytes")
            }
            let bodyStart = lineEnd &+ 2
            let bodyEnd = bodyStart &+ Int(length)
            guard bodyEnd &+ 2 <= bytes.count else { return nil }
            guard bytes[bodyEnd] == 13, bytes[bodyEnd &+ 1] == 10 else {
                throw RESPProtocolError("bulk string of \(length) bytes is not followed by CRLF")
            }
            index = bodyEnd &+ 2
            return .bulkString(Array(UnsafeBufferPointer(rebasing: bytes[bodyStart..<bodyEnd])))
        case UInt8(ascii: "*"):
            let count = try integer(bytes, lineStart, lineEnd, what: "array length")
            if count == -1 {
                index = lineEnd &+ 2
                return .array(nil)
            }
            guard count >= 0 else { throw RESPProtocolError("negative array length \(count)") }
            guard count <= Int64(limits.maxArrayCount) else {
                throw RESPProtocolError("array of \(count) elements exceeds the limit of \(limits.maxArrayCount)")
            }
            guard depth < limits.maxDepth else {
                throw RESPProtocolError("arrays nested deeper than \(limits.maxDepth) levels")
            }
            var cursor = lineEnd &+ 2
            var elements: [RESPValue] = []
            // Reserve by what has arrived, never by what was declared.
            elements.reserveCapacity(min(Int(count), 1024))
            for _ in 0..<Int(count) {
                guard let element = try decodeValue(bytes, &cursor, depth: depth &+ 1) else { return nil }
                elements.append(element)
            }
            index = cursor
            return .array(elements)
        default:
            throw RESPProtocolError("unexpected type byte 0x\(Hex.encode([type])) (RESP2 has + - : $ *)")
        }
    }

    /// The index of the CR of the CRLF ending the line that starts at `from`; nil when the line
    /// has not fully arrived. A line longer than the limit, or a bare CR, is an error.
    private func findLineEnd(_ bytes: UnsafeBufferPointer<UInt8>, from: Int) throws -> Int? {
        var i = from
        let end = bytes.count
        while i < end {
            if bytes[i] == 13 {
                guard i &+ 1 < end else { return nil }
                guard bytes[i &+ 1] == 10 else { throw RESPProtocolError("CR not followed by LF") }
                return i
            }
            if i &- from >= limits.maxLineLength {
                throw RESPProtocolError("line longer than \(limits.maxLineLength) bytes")
            }
            i &+= 1
        }
        if end &- from > limits.maxLineLength {
            throw RESPProtocolError("line longer than \(limits.maxLineLength) bytes")
        }
        return nil
    }

    private func text(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    /// A signed decimal with overflow checks (the server chooses these digits).
    private func integer(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, what: String) throws -> Int64 {
        var i = start
        var negative = false
        if i < end, bytes[i] == UInt8(ascii: "-") { negative = true; i &+= 1 }
        else if i < end, bytes[i] == UInt8(ascii: "+") { i &+= 1 }
        guard i < end else { throw RESPProtocolError("empty \(what)") }
        var value: Int64 = 0
        while i < end {
            let c = bytes[i]
            guard c >= 48, c <= 57 else {
                throw RESPProtocolError("\(what) '\(text(bytes, start, min(end, start &+ 32)))' is not a number")
            }
            let digit = Int64(c &- 48)
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !o1, !o2 else { throw RESPProtocolError("\(what) does not fit in 64 bits") }
            value = next
            i &+= 1
        }
        return value
    }
}

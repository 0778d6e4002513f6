#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Follows the responses on one client connection as their bytes arrive, in pieces of any size,
/// and says when a response is complete: its status, whether the connection may be reused, and
/// how many of the bytes fed belonged to it. The body is framed (RFC 9112 §6.3) but not kept:
/// a load generator needs the status and the end of the message, not the content.
///
/// Framing, in RFC 9112's order: a 1xx interim response is skipped (101 is refused: this client
/// never asks to switch protocols); 204, 304 and the answer to HEAD have no body;
/// `Transfer-Encoding` ending in `chunked` is chunked; otherwise `Content-Length`; otherwise the
/// body runs to the end of the connection (`finish()`). A connection is reused unless the
/// response says `Connection: close`, is HTTP/1.0 without `keep-alive`, or is close-delimited.
public struct HTTPResponseScanner: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// Every byte fed so far belongs to a response not yet complete.
        case needMore
        /// A final response ended after `consumed` of the bytes of this `feed` call.
        case complete(status: Int, keepAlive: Bool, consumed: Int)
        /// The bytes are not an HTTP/1.1 response this client can follow.
        case malformed(String)
    }

    private enum State: Sendable {
        case head
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd(seen: Int)
        case trailers
        case untilClose
    }

    /// Longest head (status line and fields) or chunk-size/trailer line accepted.
    public static let maxHeadBytes = 64 * 1024

    private var state = State.head
    private var line: [UInt8] = []
    private var lineStart = 0
    private var status = 0
    private var keepAlive = true
    private var noBody = false
    /// Bytes fed since the response began (0: nothing of it has arrived yet).
    public private(set) var bytesSeen = 0

    public init() {}

    /// Prepares for the response to the next request (`head`: the request was HEAD).
    public mutating func expectResponse(head: Bool = false) {
        state = .head
        line.removeAll(keepingCapacity: true)
        status = 0
        keepAlive = true
        noBody = head
        bytesSeen = 0
    }

    /// Follows `bytes`; stops at the end of a final response (the rest, if any, is not consumed).
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        var i = 0
        let n = bytes.count
        bytesSeen += n
        while i < n {
            switch state {
            case .head:
                // The head is collected up to its empty line; lines may end in LF alone.
                // `lineStart` carries across pieces: 1 after a LF, 2 after LF CR, 0 in a line.
                if line.isEmpty {
                    // Line ends before the status line are skipped (RFC 9112 §2.2).
                    while i < n && (bytes[i] == 13 || bytes[i] == 10) { i += 1 }
                    if i == n { continue }
                    lineStart = 0
                }
                var complete = false
                var j = i
                let base = bytes.baseAddress!
                while j < n {
                    if lineStart == 0 {
                        // Inside a line: jump to its LF.
                        guard let found = memchr(base + j, 10, n - j) else {
                            j = n
                            break
                        }
                        j = base.distance(to: UnsafeRawPointer(found)) + 1
                        lineStart = 1
                        continue
                    }
                    // Just after a LF (and any CRs): another LF ends the head.
                    let byte = bytes[j]
                    j += 1
                    if byte == 10 {
                        complete = true
                        break
                    } else if byte == 13 {
                        lineStart = 2
                    } else {
                        lineStart = 0
                    }
                }
                if complete && line.isEmpty {
                    // The whole head arrived in this piece (the usual case): read it where it is.
                    let problem = parseHead(UnsafeRawBufferPointer(rebasing: bytes[i..<j]).bindMemory(to: UInt8.self))
                    i = j
                    if let problem { return .malformed(problem) }
                } else {
                    line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<j]))
                    i = j
                    guard complete else {
                        if line.count > Self.maxHeadBytes { return .malformed("response head longer than \(Self.maxHeadBytes) bytes") }
                        continue
                    }
                    if let problem = parseHead() { return .malformed(problem) }
                    line.removeAll(keepingCapacity: true)
                }
                if (100...199).contains(status) {
                    if status == 101 { return .malformed("101 Switching Protocols to a request that asked for no upgrade") }
                    state = .head
                    status = 0
                    keepAlive = true
                    continue
                }
                if case .body(0) = state { return finished(consumed: i) }
            case .body(let remaining):
                let take = min(remaining, n - i)
                i += take
                state = .body(remaining: remaining - take)
                if remaining - take == 0 { return finished(consumed: i) }
            case .chunkSize, .trailers:
                while i < n {
                    let byte = bytes[i]
                    i += 1
                    if byte == 10 { break }
                    line.append(byte)
                    if line.count > Self.maxHeadBytes { return .malformed("chunk-size or trailer line longer than \(Self.maxHeadBytes) bytes") }
                }
                guard i > 0, bytes[i - 1] == 10 else { continue }
                if line.last == 13 { line.removeLast() }
                if case .trailers = state {
                    let empty = line.isEmpty
                    line.removeAll(keepingCapacity: true)
                    if empty { return finished(consumed: i) }
                    continue
                }
                guard let size = Self.chunkSize(line) else {
                    return .malformed("chunk size '\(String(decoding: line.prefix(40), as: UTF8.self))' is not hexadecimal")
                }
                line.removeAll(keepingCapacity: true)
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let take = min(remaining, n - i)
                i += take
                state = remaining - take == 0 ? .chunkDataEnd(seen: 0) : .chunkData(remaining: remaining - take)
            case .chunkDataEnd(let seen):
                // CRLF (or a bare LF) after the chunk's data.
                let byte = bytes[i]
                i += 1
                if byte == 10 {
                    state = .chunkSize
                } else if byte == 13 && seen == 0 {
                    state = .chunkDataEnd(seen: 1)
                } else {
                    return .malformed("chunk data not followed by CRLF")
                }
            case .untilClose:
                i = n
            }
        }
        return .needMore
    }

    /// The connection ended: a close-delimited body is complete now; anything else is cut short.
    public mutating func finish() -> Outcome {
        if case .untilClose = state { return .complete(status: status, keepAlive: false, consumed: 0) }
        return .malformed(bytesSeen == 0 ? "the connection closed before an answer" : "the connection closed in the middle of the answer")
    }

    private mutating func finished(consumed: Int) -> Outcome {
        let outcome = Outcome.complete(status: status, keepAlive: keepAlive, consumed: consumed)
        state = .head
        return outcome
    }

    /// Reads the status line and the fields that frame the body and decide reuse, from the
    /// head's bytes (no text is made unless something is wrong).
    private mutating func parseHead() -> String? {
        line.withUnsafeBufferPointer { head in parseHead(head) }
    }

    /// The line of `head` that starts at `start` and ends in LF, without its CR LF (or LF), and
    /// where the next begins; nil when no LF follows.
    private static func line(_ head: UnsafeBufferPointer<UInt8>, from start: Int) -> (Range<Int>, next: Int)? {
        var k = start
        while k < head.count && head[k] != 10 { k += 1 }
        guard k < head.count else { return nil }
        return (start..<(k > start && head[k - 1] == 13 ? k - 1 : k), k + 1)
    }

    private mutating func parseHead(_ head: UnsafeBufferPointer<UInt8>) -> String? {
        guard let (first, afterStatus) = Self.line(head, from: 0) else { return "empty response head" }
        let statusLine = head[first]
        // "HTTP/1.x NNN", then a space and the reason (or nothing).
        func digit(_ k: Int) -> Int? {
            let b = statusLine[statusLine.startIndex + k]
            return b >= 48 && b <= 57 ? Int(b - 48) : nil
        }
        guard statusLine.count >= 12, statusLine.prefix(7).elementsEqual("HTTP/1.".utf8), digit(7) != nil,
              statusLine[statusLine.startIndex + 8] == 32, let d0 = digit(9), let d1 = digit(10), let d2 = digit(11), d0 >= 1,
              statusLine.count == 12 || statusLine[statusLine.startIndex + 12] == 32 else {
            return "'\(String(decoding: statusLine.prefix(60), as: UTF8.self))' is not an HTTP/1.x status line"
        }
        let code = d0 * 100 + d1 * 10 + d2
        status = code
        let http10 = digit(7) == 0
        var contentLength: Int? = nil
        var chunked = false
        var transferEncoded = false
        var closeToken = false, keepAliveToken = false
        var cursor = afterStatus
        while let (range, next) = Self.line(head, from: cursor) {
            cursor = next
            if range.isEmpty { continue }
            let field = head[range]
            guard let colon = field.firstIndex(of: 58) else {
                return "response field '\(String(decoding: field.prefix(60), as: UTF8.self))' has no colon"
            }
            let name = head[field.startIndex..<colon]
            var value = head[(colon + 1)..<field.endIndex]
            while let f = value.first, f == 32 || f == 9 { value = value.dropFirst() }
            while let l = value.last, l == 32 || l == 9 { value = value.dropLast() }
            if Self.equalsLowercase(name, "content-length") {
                var length = 0
                guard !value.isEmpty, value.count <= 15, value.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
                    return "Content-Length '\(String(decoding: value.prefix(30), as: UTF8.self))' is not a number"
                }
                for b in value { length = length * 10 + Int(b - 48) }
                if let earlier = contentLength, earlier != length { return "two different Content-Length values" }
                contentLength = length
            } else if Self.equalsLowercase(name, "transfer-encoding") {
                transferEncoded = true
                let last = value.split(separator: 44).last ?? value[value.startIndex..<value.startIndex]
                chunked = Self.equalsLowercase(Self.trimmed(last), "chunked")
            } else if Self.equalsLowercase(name, "connection") {
                for token in value.split(separator: 44) {
                    let t = Self.trimmed(token)
                    if Self.equalsLowercase(t, "close") { closeToken = true }
                    if Self.equalsLowercase(t, "keep-alive") { keepAliveToken = true }
                }
            }
        }
        // HTTP/1.0 keeps the connection only when the response asks to.
        keepAlive = !(closeToken || http10 && !keepAliveToken)
        if noBody || code == 204 || code == 304 || (100...199).contains(code) {
            state = .body(remaining: 0)
        } else if transferEncoded {
            // A transfer coding other than chunked last can only end with the connection.
            if chunked {
                state = .chunkSize
            } else {
                state = .untilClose
                keepAlive = false
            }
        } else if let contentLength {
            state = .body(remaining: contentLength)
        } else {
            state = .untilClose
            keepAlive = false
        }
        return nil
    }

    /// `bytes` equal `lower` ignoring ASCII case (`lower` is lower case).
    static func equalsLowercase(_ bytes: Slice<UnsafeBufferPointer<UInt8>>, _ lower: StaticString) -> Bool {
        guard bytes.count == lower.utf8CodeUnitCount else { return false }
        let expected = lower.utf8Start
        var k = 0
        for b in bytes {
            let folded = b >= 65 && b <= 90 ? b | 0x20 : b
            if folded != expected[k] { return false }
            k += 1
        }
        return true
    }

    static func trimmed(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Slice<UnsafeBufferPointer<UInt8>> {
        var t = bytes
        while let f = t.first, f == 32 || f == 9 { t = t.dropFirst() }
        while let l = t.last, l == 32 || l == 9 { t = t.dropLast() }
        return t
    }

    static func chunkSize(_ line: [UInt8]) -> Int? {
        var size = 0
        var digits = 0
        for byte in line {
            let digit: Int
            switch byte {
            case 48...57: digit = Int(byte - 48)
            case 65...70: digit = Int(byte - 55)
            case 97...102: digit = Int(byte - 87)
            case 59, 32, 9: return digits > 0 ? size : nil  // extensions follow
            default: return nil
            }
            digits += 1
            guard digits <= 15 else { return nil }
            size = size << 4 | digit
        }
        return digits > 0 ? size : nil
    }
}

import Wire

/// Rule: the webhook payload size limit (`WEBHOOK_MAX_PAYLOAD_BYTES`, default 1,048,576).
///
/// Checked twice: first the declared `Content-Length` (a value that is not a plain decimal
/// number counts as 0, as in the real service), then the body itself, read chunk by chunk and
/// abandoned as soon as the running total exceeds the limit, which catches chunked bodies and
/// bodies longer than they declared. A body of exactly the limit is accepted.
public enum PayloadLimit {
    public static func detail(limit: Int) -> String { "Payload exceeds maximum size of \(limit) bytes." }

    /// The declared length: the first `Content-Length` value when it is decimal digits
    /// (surrounding whitespace ignored), saturating at `Int.max`; otherwise 0.
    public static func declaredLength(_ headers: HTTPFields) -> Int {
        guard let raw = headers["Content-Length"] else { return 0 }
        let text = raw.trimmingASCIIWhitespace()
        guard !text.isEmpty else { return 0 }
        var value = 0
        for b in text.utf8 {
            guard b >= 48 && b <= 57 else { return 0 }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(b - 48))
            if o1 || o2 { return Int.max }
            value = sum
        }
        return value
    }

    public static func declaredLengthExceeds(_ headers: HTTPFields, limit: Int) -> Bool {
        declaredLength(headers) > limit
    }

    /// A body read under the limit.
    public enum ReadResult: Sendable, Equatable {
        case complete([UInt8])
        /// The running total passed the limit after `bytesRead` bytes; reading stopped there.
        case tooLarge(bytesRead: Int)
    }

    /// Reads `body`, stopping as soon as more than `limit` bytes have arrived. Throws what the
    /// stream throws (a framing error or a timeout).
    public static func read(_ body: HTTPBody, limit: Int) throws -> ReadResult {
        switch body {
        case .bytes(let bytes):
            return bytes.count > limit ? .tooLarge(bytesRead: bytes.count) : .complete(bytes)
        case .stream(let stream):
            var collected: [UInt8] = []
            var total = 0
            while let chunk = try stream.nextChunk() {
                total = total &+ chunk.count
                if total > limit || total < 0 { return .tooLarge(bytesRead: total) }
                collected.append(contentsOf: chunk)
            }
            return .complete(collected)
        }
    }
}

/// A source of request-body bytes that arrive over time.
///
/// The server hands bodies to handlers as a stream so that a size limit can stop reading at
/// limit + 1 bytes instead of buffering whatever a client sends. `nextChunk()` blocks until
/// bytes arrive, returns nil at the end of the body, and throws on framing errors or timeouts.
public protocol HTTPBodyStream: AnyObject, Sendable {
    func nextChunk() throws -> [UInt8]?
}

/// A fixed list of chunks presented as a stream (tests, the in-process target, fixtures that
/// send a chunked body).
public final class ChunkListStream: HTTPBodyStream, @unchecked Sendable {
    // Consumed from one thread at a time by contract of HTTPBodyStream; guarded anyway so a
    // misuse cannot corrupt the index.
    private let lock = Lock()
    private var chunks: [[UInt8]]
    private var index = 0

    public init(_ chunks: [[UInt8]]) { self.chunks = chunks }

    public func nextChunk() throws -> [UInt8]? {
        lock.withLock {
            guard index < chunks.count else { return nil }
            defer { index += 1 }
            return chunks[index]
        }
    }
}

/// A request or response body: bytes already in memory, or a stream still arriving.
public enum HTTPBody: Sendable {
    case bytes([UInt8])
    case stream(any HTTPBodyStream)

    public static var empty: HTTPBody { .bytes([]) }

    /// Reads the whole body, failing once it exceeds `limit` bytes (so an attacker cannot make
    /// a caller buffer an unbounded body). Returns nil when the limit is exceeded.
    public func collect(limit: Int = Int.max) throws -> [UInt8]? {
        switch self {
        case .bytes(let bytes):
            return bytes.count > limit ? nil : bytes
        case .stream(let stream):
            var all: [UInt8] = []
            while let chunk = try stream.nextChunk() {
                all.append(contentsOf: chunk)
                if all.count > limit { return nil }
            }
            return all
        }
    }
}

/// An HTTP request as every part of mcsec sees it: the server produces it, the reference
/// service consumes it, the raw client and the fixtures build it.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request target exactly as sent (origin form: path plus optional `?query`).
    public var target: String
    public var headers: HTTPFields
    public var body: HTTPBody
    /// The address of the direct peer (the socket's remote address, without port), when known.
    public var peer: String?
    /// Which connection of the server the request came on (numbered in accept order), when
    /// known: requests of one connection share a number.
    public var connection: UInt64?

    public init(method: String, target: String, headers: HTTPFields = HTTPFields(),
                body: HTTPBody = .empty, peer: String? = nil, connection: UInt64? = nil) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.peer = peer
        self.connection = connection
    }

    /// The path part of the target (before `?`), not percent-decoded.
    public var path: Substring {
        // Searched as bytes: "?" is ASCII, and a Character search would break graphemes first.
        if let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) { return target[..<q] }
        return target[...]
    }

    /// The raw query string (after `?`), or nil.
    public var queryString: Substring? {
        guard let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return target[target.utf8.index(after: q)...]
    }

    /// Query parameters, percent-decoded (`+` as space), in order.
    public var queryItems: [(name: String, value: String)] {
        guard let query = queryString, !query.isEmpty else { return [] }
        return query.split(separator: "&", omittingEmptySubsequences: true).map { part in
            if let eq = part.firstIndex(of: "=") {
                return (PercentDecoding.decode(part[..<eq]), PercentDecoding.decode(part[part.index(after: eq)...]))
            }
            return (PercentDecoding.decode(part), "")
        }
    }

    public func query(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }
}

/// An HTTP response. Bodies are always in memory: every response mcsec produces is small.
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var headers: HTTPFields
    public var body: [UInt8]

    public init(status: Int, headers: HTTPFields = HTTPFields(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// The standard reason phrase for the status, for the status line.
    public var reason: String { HTTPStatus.reason(status) }
}

/// Something that answers requests: the reference service, a deliberately broken variant of it,
/// or a test double. Synchronous so the server can run it inline when the whole request is
/// already buffered; implementations must be safe to call from many threads at once.
public protocol HTTPHandler: Sendable {
    func handle(_ request: HTTPRequest) -> HTTPResponse
    /// Renders an error the server itself answers (malformed request, timeout, oversized head)
    /// so it carries the same headers as the handler's own responses. A default (JSON
    /// `{"detail": …}`) is provided in `HTTPServer.swift`.
    func handleProtocolError(status: Int, detail: String) -> HTTPResponse
}

/// A closure as a handler.
public struct HandlerFunction: HTTPHandler {
    let body: @Sendable (HTTPRequest) -> HTTPResponse
    public init(_ body: @escaping @Sendable (HTTPRequest) -> HTTPResponse) { self.body = body }
    public func handle(_ request: HTTPRequest) -> HTTPResponse { body(request) }
}

public enum HTTPStatus {
    public static func reason(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 410: return "Gone"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}

public enum PercentDecoding {
    /// Decodes `%XX` escapes and (in a query, `plusAsSpace`) `+`; malformed escapes are kept
    /// literally rather than rejected, since a query value is data, not something to fail a
    /// request over, and a path is matched as the framework decodes it.
    public static func decode<S: StringProtocol>(_ s: S, plusAsSpace: Bool = true) -> String {
        let bytes = Array(s.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "%"), i + 2 < bytes.count,
               let hi = Hex.nibble(bytes[i + 1]), let lo = Hex.nibble(bytes[i + 2]) {
                out.append(hi << 4 | lo)
                i += 3
            } else if b == UInt8(ascii: "+") && plusAsSpace {
                out.append(UInt8(ascii: " "))
                i += 1
            } else {
                out.append(b)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

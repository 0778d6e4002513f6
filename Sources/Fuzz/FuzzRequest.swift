import Spec
import Wire

/// Which documented limiter a request is expected to count against (the planner's estimate;
/// the oracle decides what really counts).
public enum LimitedNamespace: String, Sendable, CaseIterable {
    case webhook = "webhook_ingest"
    case agent = "agent_auth"

    public var policy: RateLimitPolicy { self == .webhook ? .webhookIngest : .agentAuth }
}

/// One generated request: exactly the bytes sent (request line, headers in order, body and
/// its framing), the class it exercises, and where it is sent from.
public struct FuzzRequest: Sendable, Equatable {
    public var className: String
    public var method: String
    public var target: String
    /// Every header as sent, in order; `Host` and the framing header included.
    public var headers: [HTTPField]
    public var body: [UInt8]
    /// Chunk size when the body is sent chunked (the request then has `Transfer-Encoding`).
    public var chunkSize: Int?
    /// Index into the target file's `sourceAddresses`; nil: the system's choice.
    public var source: Int?
    public var namespace: LimitedNamespace?
    /// Values to mask in reproductions (secrets and tokens the request carries).
    public var secrets: [String] = []

    public init(className: String, method: String, target: String, headers: [HTTPField] = [], body: [UInt8] = [],
                chunkSize: Int? = nil, namespace: LimitedNamespace? = nil) {
        self.className = className
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.chunkSize = chunkSize
        self.namespace = namespace
    }

    var framing: BodyFraming { chunkSize.map { .chunked(chunkSize: $0) } ?? .none }

    var httpRequest: HTTPRequest {
        HTTPRequest(method: method, target: target, headers: HTTPFields(headers), body: .bytes(body))
    }

    /// The bytes on the wire (what `RawHTTPConnection.send` writes for it).
    public var wire: [UInt8] {
        var out = Array("\(method) \(target) HTTP/1.1\r\n".utf8)
        for h in headers {
            out += Array(h.name.utf8) + Array(": ".utf8) + Array(h.value.utf8) + [13, 10]
        }
        out += [13, 10]
        if let size = chunkSize {
            var start = 0
            while start < body.count {
                let end = min(body.count, start + max(1, size))
                out += Array(String(end - start, radix: 16).utf8) + [13, 10] + Array(body[start..<end]) + [13, 10]
                start = end
            }
            out += Array("0\r\n\r\n".utf8)
        } else {
            out += body
        }
        return out
    }

    // MARK: building

    /// Adds the framing header a plain request has: `Content-Length` of the body (for a body,
    /// or a method that has one), or `Transfer-Encoding: chunked`.
    mutating func frame() {
        if chunkSize != nil {
            headers.append(HTTPField(name: "Transfer-Encoding", value: "chunked"))
        } else if !body.isEmpty || method == "POST" || method == "PUT" || method == "PATCH" {
            headers.append(HTTPField(name: "Content-Length", value: String(body.count)))
        }
    }

    func header(_ name: String) -> String? { headers.first { HTTPFields.equalNames($0.name, name) }?.value }
}

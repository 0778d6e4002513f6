import Testing
import Wire

/// One malformed (or borderline) request and what the server must do with it.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    /// The status expected; nil means the server must close the connection without answering.
    let status: Int?
    /// Send one byte per write.
    var byteByByte = false
    /// Half-close the client's side after sending (the request is all there is).
    var halfClose = false

    init(_ name: String, _ text: String, _ status: Int?, byteByByte: Bool = false, halfClose: Bool = false) {
        self.init(name, Array(text.utf8), status, byteByByte: byteByByte, halfClose: halfClose)
    }

    init(_ name: String, _ bytes: [UInt8], _ status: Int?, byteByByte: Bool = false, halfClose: Bool = false) {
        self.name = name
        self.bytes = bytes
        self.status = status
        self.byteByByte = byteByByte
        self.halfClose = halfClose
    }

    var testDescription: String { name }
}

private func chunked(_ body: String) -> String {
    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body
}

private func withHeader(_ line: String) -> String {
    "GET /healthz HTTP/1.1\r\nHost: x\r\n\(line)\r\n\r\n"
}

let malformedCorpus: [MalformedCase] = [
    // Request line
    MalformedCase("truncated request line, then the client closes", "GET /heal", nil, halfClose: true),
    MalformedCase("truncated head, then the client closes", "GET /healthz HTTP/1.1\r\nHost: x\r\n", nil, halfClose: true),
    MalformedCase("request line without a version", "GET /\r\n\r\n", 400),
    MalformedCase("method with a non-token byte", "G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    MalformedCase("method with a control byte", "GE\u{1}T /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    MalformedCase("empty method", " /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    MalformedCase("double space in the request line", "GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    MalformedCase("space inside the target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    MalformedCase("NUL in the target", "GET /a\u{0}b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    MalformedCase("non-ASCII byte in the target", [UInt8]("GET /".utf8) + [0xC3, 0xA9] + [UInt8](" HTTP/1.1\r\nHost: x\r\n\r\n".utf8), 400),
    MalformedCase("target not in origin or absolute form", "GET healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    MalformedCase("request line over 8 KiB", "GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    MalformedCase("request line over 8 KiB that never ends", "GET /" + String(repeating: "a", count: 9000), 414),
    MalformedCase("lowercase protocol name", "GET /healthz http/1.1\r\nHost: x\r\n\r\n", 400),
    MalformedCase("version without a minor number", "GET /healthz HTTP/1\r\nHost: x\r\n\r\n", 400),
    MalformedCase("version with trailing garbage", "GET /healthz HTTP/1.1x\r\nHost: x\r\n\r\n", 400),
    MalformedCase("HTTP/2.0 version", "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    MalformedCase("HTTP/1.2 version", "GET /healthz HTTP/1.2\r\nHost: x\r\n\r\n", 505),
    MalformedCase("HTTP/0.9 version", "GET /healthz HTTP/0.9\r\n\r\n", 505),
    MalformedCase("HTTP/2 connection preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    MalformedCase("TLS ClientHello", [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03], 400),
    MalformedCase("bare CR in the request line", "GET /healthz\rHTTP/1.1\r\nHost: x\r\n\r\n", 400),
    // Line endings
    MalformedCase("bare LF line endings", "GET /healthz HTTP/1.1\nHost: x\n\n", 400),
    MalformedCase("bare LF after the headers", "GET /healthz HTTP/1.1\r\nHost: x\r\n\n", 400),
    // Header fields
    MalformedCase("header block over 32 KiB", withHeader("X-Big: " + String(repeating: "b", count: 40 * 1024)), 431),
    MalformedCase("more than 100 header fields", "GET /healthz HTTP/1.1\r\nHost: x\r\n" + (0..<101).map { "X-\($0): v\r\n" }.joined() + "\r\n", 431),
    MalformedCase("NUL in a header value", withHeader("X-Nul: a\u{0}b"), 400),
    MalformedCase("CR in a header value", withHeader("X-Cr: a\rb"), 400),
    MalformedCase("control byte in a header value", withHeader("X-Ctl: a\u{7}b"), 400),
    MalformedCase("DEL in a header value", withHeader("X-Del: a\u{7f}b"), 400),
    MalformedCase("obsolete line folding", withHeader("X-Fold: a\r\n b"), 400),
    MalformedCase("whitespace before the colon", "GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    MalformedCase("header name with a non-token byte", withHeader("X(y): 1"), 400),
    MalformedCase("header line without a colon", withHeader("NoColon"), 400),
    MalformedCase("header line with an empty name", withHeader(": value"), 400),
    MalformedCase("HTTP/1.1 without Host", "GET /healthz HTTP/1.1\r\n\r\n", 400),
    MalformedCase("two Host headers", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    MalformedCase("unsupported expectation", withHeader("Expect: teapot"), 417),
    // Content-Length
    MalformedCase("negative Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    MalformedCase("Content-Length overflow", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 400),
    MalformedCase("Content-Length just above 2^63", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775808\r\n\r\n", 400),
    MalformedCase("non-numeric Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    MalformedCase("Content-Length with a plus sign", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400),
    MalformedCase("Content-Length in exponent form", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n", 400),
    MalformedCase("empty Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", 400),
    MalformedCase("Content-Length list", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello", 400),
    MalformedCase("conflicting duplicate Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    MalformedCase("identical duplicate Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
    MalformedCase("body shorter than Content-Length, then the client closes", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", nil, halfClose: true),
    // Transfer-Encoding
    MalformedCase("Content-Length with Transfer-Encoding", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
    MalformedCase("Transfer-Encoding with Content-Length (reversed)", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
    MalformedCase("Transfer-Encoding gzip before chunked", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    MalformedCase("Transfer-Encoding not ending in chunked", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
    MalformedCase("Transfer-Encoding identity", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 400),
    MalformedCase("chunked applied twice", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    MalformedCase("Transfer-Encoding in HTTP/1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    // Chunked framing
    MalformedCase("chunk size not hexadecimal", chunked("zz\r\nhello\r\n0\r\n\r\n"), 400),
    MalformedCase("negative chunk size", chunked("-5\r\nhello\r\n0\r\n\r\n"), 400),
    MalformedCase("chunk size with 0x prefix", chunked("0x5\r\nhello\r\n0\r\n\r\n"), 400),
    MalformedCase("chunk size overflow", chunked("fffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400),
    MalformedCase("empty chunk size line", chunked("\r\nhello\r\n0\r\n\r\n"), 400),
    MalformedCase("whitespace after the chunk size", chunked("5 \r\nhello\r\n0\r\n\r\n"), 400),
    MalformedCase("chunk extension without a name", chunked("5;=x\r\nhello\r\n0\r\n\r\n"), 400),
    MalformedCase("chunk extension with an empty value", chunked("5;a=\r\nhello\r\n0\r\n\r\n"), 400),
    MalformedCase("unterminated quoted chunk extension", chunked("5;a=\"x\r\nhello\r\n0\r\n\r\n"), 400),
    MalformedCase("chunk extension with a control byte", chunked("5;a\u{1}\r\nhello\r\n0\r\n\r\n"), 400),
    MalformedCase("chunk extension line over 4 KiB", chunked("5;" + String(repeating: "a", count: 5000) + "\r\nhello\r\n0\r\n\r\n"), 400),
    MalformedCase("chunk data longer than its size", chunked("3\r\nabcdef\r\n0\r\n\r\n"), 400),
    MalformedCase("bare LF in chunked framing", chunked("5\nhello\n0\n\n"), 400),
    MalformedCase("bare LF after chunk data", chunked("5\r\nhello\n0\r\n\r\n"), 400),
    MalformedCase("obsolete folding in the trailer", chunked("5\r\nhello\r\n0\r\nX-T: 1\r\n folded\r\n\r\n"), 400),
    MalformedCase("malformed chunked body in 1-byte writes", chunked("5\r\nhello\r\nq\r\n"), 400, byteByByte: true),
    MalformedCase("chunked body cut short, then the client closes", chunked("5\r\nhel"), 400, halfClose: true),
    // Slow and split requests
    MalformedCase("malformed request in 1-byte writes", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Nul: \u{0}\r\n\r\n", 400, byteByByte: true),
]

/// Requests that look unusual but are valid, and must be served.
let acceptedCorpus: [MalformedCase] = [
    MalformedCase("request in 1-byte writes", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200, byteByByte: true),
    MalformedCase("chunked POST in 1-byte writes", chunked("2\r\nab\r\n1;ext=\"q\\\"x\"\r\nc\r\n0\r\n\r\n"), 200, byteByByte: true),
    MalformedCase("empty lines before the request line", "\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200),
    MalformedCase("absolute-form target", "GET http://x/healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200),
    MalformedCase("HTTP/1.0 without Host", "GET /healthz HTTP/1.0\r\n\r\n", 200),
    MalformedCase("chunk extensions with whitespace around ; and =", chunked("5 ; a = b ;c\r\nhello\r\n0\r\n\r\n"), 200),
    MalformedCase("header value with obs-text and tabs", [UInt8]("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Latin: \tcaf".utf8) + [0xE9] + [UInt8]("\t\r\n\r\n".utf8), 200),
    MalformedCase("Content-Length with leading zeros", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 005\r\n\r\nhello", 200),
    MalformedCase("Transfer-Encoding in mixed case", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ChUnKeD\r\n\r\n0\r\n\r\n", 200),
]

@Suite struct MalformedRequestTests {
    @Test(arguments: malformedCorpus)
    func malformedRequestIsRefusedAndTheServerStaysUp(_ testCase: MalformedCase) throws {
        try withServer { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port, timeout: 5)
            if testCase.byteByByte {
                try connection.sendRaw(testCase.bytes, pieceSize: 1, delay: 0)
            } else {
                try connection.sendRaw(testCase.bytes)
            }
            if testCase.halfClose { connection.shutdownWrite() }
            if let status = testCase.status {
                let response = try connection.readResponse()
                #expect(response.status == status, "\(testCase.name): \(response.bodyText)")
                #expect(response.headers["X-Protocol-Error"] == "yes", "errors go through the handler's hook")
                #expect(response.headers["Connection"] == "close")
            }
            #expect(connection.waitForClose(within: 5), "the server closes the connection after a framing error")

            let next = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try next.send(HTTPRequest(method: "GET", target: "/healthz"))
            #expect(try next.readResponse().status == 200)
        }
    }

    @Test(arguments: acceptedCorpus)
    func unusualButValidRequestIsServed(_ testCase: MalformedCase) throws {
        try withServer(configure: { $0.execution = .eventLoop }) { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port, timeout: 5)
            if testCase.byteByByte {
                try connection.sendRaw(testCase.bytes, pieceSize: 1, delay: 0)
            } else {
                try connection.sendRaw(testCase.bytes)
            }
            let response = try connection.readResponse()
            #expect(response.status == testCase.status, "\(testCase.name): \(response.bodyText)")
        }
    }

    @Test func slowHeaderGets408AndOthersAreServedMeanwhile() throws {
        try withServer(configure: { $0.timeouts.header = 0.3 }) { port in
            let slow = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try slow.sendRaw(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n".utf8))
            let other = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try other.send(HTTPRequest(method: "GET", target: "/healthz"))
            #expect(try other.readResponse().status == 200)
            // Trickling bytes does not extend the deadline: it runs from the first byte.
            try slow.sendRaw(Array("X-A: 1\r\n".utf8))
            let response = try slow.readResponse()
            #expect(response.status == 408)
            #expect(slow.waitForClose(within: 5))
        }
    }

    @Test func stalledBodyGets408() throws {
        try withServer(configure: { $0.timeouts.body = 0.3 }) { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try connection.sendRaw(Array(chunked("5\r\nhel").utf8))
            let response = try connection.readResponse()
            #expect(response.status == 408)
            #expect(response.headers["X-Protocol-Error"] == "yes")
            #expect(connection.waitForClose(within: 5))
        }
    }

    @Test func idleConnectionIsClosedAfterTheIdleTimeout() throws {
        try withServer(configure: { $0.timeouts.idle = 0.3 }) { port in
            let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
            try connection.send(HTTPRequest(method: "GET", target: "/healthz"))
            #expect(try connection.readResponse().status == 200)
            #expect(connection.waitForClose(within: 5))
        }
    }
}

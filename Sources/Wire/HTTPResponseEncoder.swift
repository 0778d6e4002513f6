/// Serialises responses: one contiguous buffer per response (one `send`), server-owned framing
/// headers (`Content-Length`, `Connection`, `Date`), and header fields with invalid names or
/// values dropped so a handler cannot split a response with CR/LF.
enum HTTPResponseEncoder {
    private static let crlf: [UInt8] = [13, 10]

    static func encode(_ response: HTTPResponse, isHEAD: Bool, minorVersion: Int, keepAlive: Bool,
                       date: [UInt8], into out: inout [UInt8]) {
        var status = response.status
        // A final response cannot be 1xx (the client would wait for another): treat nonsense
        // from a handler as the internal error it is.
        if status < 200 || status > 999 { status = 500 }
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        out.append(UInt8(0x30 + status / 100))
        out.append(UInt8(0x30 + status / 10 % 10))
        out.append(UInt8(0x30 + status % 10))
        out.append(32)
        out.append(contentsOf: HTTPStatus.reason(status).utf8)
        out.append(contentsOf: crlf)
        var hasDate = false
        for field in response.headers {
            var name = field.name
            var value = field.value
            name.withUTF8 { n in
                value.withUTF8 { v in
                    switch n.count {
                    case 4 where equalsLowercase(n, "date"):
                        hasDate = true
                    case 10 where equalsLowercase(n, "connection"),
                         14 where equalsLowercase(n, "content-length"),
                         17 where equalsLowercase(n, "transfer-encoding"):
                        return  // framing is the server's job
                    default:
                        break
                    }
                    guard !n.isEmpty else { return }
                    for b in n where !HTTPRequestParser.isTokenChar(b) { return }
                    for b in v where !HTTPRequestParser.isFieldValueChar(b) { return }
                    out.append(contentsOf: n)
                    out.append(58)
                    out.append(32)
                    out.append(contentsOf: v)
                    out.append(13)
                    out.append(10)
                }
            }
        }
        if !hasDate { out.append(contentsOf: date) }
        let bodyAllowed = status >= 200 && status != 204 && status != 304
        if bodyAllowed {
            out.append(contentsOf: "Content-Length: ".utf8)
            ASCIIDecimal.append(response.body.count, to: &out)
            out.append(contentsOf: crlf)
        }
        if !keepAlive {
            out.append(contentsOf: "Connection: close\r\n".utf8)
        } else if minorVersion == 0 {
            out.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        out.append(contentsOf: crlf)
        if bodyAllowed && !isHEAD { out.append(contentsOf: response.body) }
    }

    @inline(__always)
    static func equalsLowercase(_ bytes: UnsafeBufferPointer<UInt8>, _ lower: StaticString) -> Bool {
        guard bytes.count == lower.utf8CodeUnitCount else { return false }
        let name = lower.utf8Start
        for i in 0..<bytes.count {
            var b = bytes[i]
            if b >= 65 && b <= 90 { b |= 0x20 }
            if b != name[i] { return false }
        }
        return true
    }
}

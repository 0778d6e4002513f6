import Reference
import Wire

/// One event of a JSON Lines profile. Most lines have one shape (`ProfileWriter`'s): they take a
/// fast path that allocates nothing but the strings it keeps. A line it does not recognise
/// (escapes, non-ASCII text, a syntax error, a bad value) is read again by the shared JSON
/// parser, one member at a time, so that an error names the field it belongs to.
enum JSONLinesEvent {
    // MARK: fast path

    /// The event of a line in the common shape whose values all parse, or nil (then `event`
    /// reads it and words any error). Strings must be printable ASCII without escapes, which
    /// is also valid UTF-8.
    static func quickEvent(_ line: UnsafeBufferPointer<UInt8>) -> ProfileReader.RawEvent? {
        var scan = QuickScan(line: line)
        guard scan.take(UInt8(ascii: "{")) else { return nil }
        var time: Double?
        var client: Range<Int>?
        var endpoint: Endpoint?
        var bodyBytes: Int?
        var signature: SignatureMode?
        var proxy: ProxyHeader?
        var seen: UInt8 = 0
        repeat {
            guard let key = scan.plainString(), let code = fieldCode(scan.bytes(key)), seen & (1 << code) == 0 else { return nil }
            seen |= 1 << code
            guard scan.take(UInt8(ascii: ":")) else { return nil }
            scan.skipSpace()
            switch code {
            case 0: time = ProfileReader.parseTime(scan.bytes(scan.token()))
            case 1: client = scan.plainString()
            case 2: endpoint = scan.plainString().flatMap { CSVColumns.endpoint(scan.bytes($0)) }
            case 3: bodyBytes = ProfileReader.parseCount(scan.bytes(scan.token()))
            case 4: signature = scan.plainString().flatMap { CSVColumns.signature(scan.bytes($0)) }
            default:
                if scan.bytes(scan.token()).elementsEqual("null".utf8) { break }
                guard let header = scan.proxyHeader() else { return nil }
                proxy = header
            }
        } while scan.take(UInt8(ascii: ","))
        guard scan.take(UInt8(ascii: "}")) else { return nil }
        scan.skipSpace()
        guard scan.i == line.count, let time, let client, let endpoint, let bodyBytes, let signature else { return nil }
        return ProfileReader.RawEvent(time: time, client: scan.bytes(client), endpoint: endpoint, bodyBytes: bodyBytes,
                                      signature: signature, proxyHeader: proxy)
    }

    static let keyBytes: [[UInt8]] = ProfileFormat.jsonFields.map { Array($0.utf8) }

    /// The index of a field name in `ProfileFormat.jsonFields`.
    static func fieldCode(_ name: UnsafeBufferPointer<UInt8>) -> Int? {
        keyBytes.firstIndex { $0.count == name.count && $0.elementsEqual(name) }
    }

    /// A cursor over one line for the fast path: every step either reads what it expects or
    /// reports that it did not.
    struct QuickScan {
        let line: UnsafeBufferPointer<UInt8>
        var i = 0

        func bytes(_ range: Range<Int>) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: line[range]) }

        mutating func skipSpace() {
            while i < line.count, line[i] == 32 || line[i] == 9 || line[i] == 13 { i += 1 }
        }

        /// Skips spaces and reads `byte`.
        mutating func take(_ byte: UInt8) -> Bool {
            skipSpace()
            guard i < line.count, line[i] == byte else { return false }
            i += 1
            return true
        }

        /// The contents of a quoted string of printable ASCII without escapes.
        mutating func plainString() -> Range<Int>? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = i
            while i < line.count {
                let b = line[i]
                if b == UInt8(ascii: "\"") {
                    i += 1
                    return start..<(i - 1)
                }
                guard b >= 0x20, b < 0x7F, b != UInt8(ascii: "\\") else { return nil }
                i += 1
            }
            return nil
        }

        /// The bytes up to the next delimiter (a number or a literal; checked by the caller).
        mutating func token() -> Range<Int> {
            let start = i
            while i < line.count {
                let b = line[i]
                if b == UInt8(ascii: ",") || b == UInt8(ascii: "}") || b == 32 || b == 9 || b == 13 { break }
                i += 1
            }
            return start..<i
        }

        /// `{"name": "…", "value": "…"}` in either order.
        mutating func proxyHeader() -> ProxyHeader? {
            guard take(UInt8(ascii: "{")) else { return nil }
            var name: Range<Int>?
            var value: Range<Int>?
            repeat {
                guard let key = plainString() else { return nil }
                let isName = bytes(key).elementsEqual("name".utf8)
                guard isName || bytes(key).elementsEqual("value".utf8), (isName ? name : value) == nil,
                      take(UInt8(ascii: ":")), let text = plainString() else { return nil }
                if isName { name = text } else { value = text }
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "}")), let name, let value else { return nil }
            return ProxyHeader(name: String(decoding: bytes(name), as: UTF8.self), value: String(decoding: bytes(value), as: UTF8.self))
        }
    }

    // MARK: careful path

    /// The event of a line, read by the shared JSON parser; an error names the line, the
    /// column and the field.
    static func event(_ line: UnsafeBufferPointer<UInt8>, source: String, line number: Int) throws(InputError) -> ProfileEvent {
        do throws(LineProblem) {
            return try careful(line)
        } catch {
            throw InputError(file: source, line: number, column: error.column, path: error.field, message: error.message)
        }
    }

    static func careful(_ line: UnsafeBufferPointer<UInt8>) throws(LineProblem) -> ProfileEvent {
        var parser = JSONParser(input: line)
        func fail(_ message: String, field: String? = nil, at offset: Int? = nil) -> LineProblem {
            LineProblem(column: (offset ?? parser.position) + 1, field: field, message: message)
        }
        func expect(_ byte: UInt8, _ what: String) throws(LineProblem) {
            parser.skipWhitespace()
            guard parser.position < line.count, line[parser.position] == byte else {
                throw fail("expected \(what), found \(found(parser))")
            }
            parser.position += 1
        }
        try expect(UInt8(ascii: "{"), "'{' (each line is one JSON object)")
        var time: Double?
        var client: String?
        var endpoint: Endpoint?
        var bodyBytes: Int?
        var signature: SignatureMode?
        var proxy: ProxyHeader??
        var seen: Set<String> = []
        parser.skipWhitespace()
        if parser.position < line.count && line[parser.position] == UInt8(ascii: "}") {
            parser.position += 1
        } else {
            while true {
                parser.skipWhitespace()
                let keyStart = parser.position
                guard parser.position < line.count, line[parser.position] == UInt8(ascii: "\"") else {
                    throw fail("expected a field name in double quotes, found \(found(parser))")
                }
                let key: String
                do throws(JSONParseError) { key = try parser.parseString() } catch { throw fail(error.reason, at: error.offset) }
                guard ProfileFormat.jsonFields.contains(key) else {
                    throw fail("unknown field; an event has \(ProfileFormat.jsonFields.joined(separator: ", "))", field: key, at: keyStart)
                }
                guard seen.insert(key).inserted else { throw fail("field given twice", field: key, at: keyStart) }
                try expect(UInt8(ascii: ":"), "':' after the field name")
                parser.skipWhitespace()
                let valueStart = parser.position
                let value: JSONValue
                do throws(JSONParseError) {
                    value = try parser.parseValue(depth: 1)
                } catch {
                    throw fail(error.reason, field: key, at: valueStart)
                }
                let written = UnsafeBufferPointer(rebasing: line[valueStart..<parser.position])
                do throws(EventProblem) {
                    switch key {
                    case "t":
                        guard case .number = value.kind, let t = ProfileReader.parseTime(written) else {
                            throw EventProblem(field: "t", message: ProfileReader.timeExpectation + ", got \(shown(written))")
                        }
                        time = t
                    case "client":
                        client = try string(value, written, field: "client", expectation: "an address in double quotes like \"10.0.0.7\"")
                    case "endpoint":
                        endpoint = try ProfileReader.endpoint(try string(value, written, field: "endpoint", expectation: "\"webhook\" or \"agent_auth\""))
                    case "body_bytes":
                        guard case .number = value.kind, let n = ProfileReader.parseCount(written), ProfileRules.checkBodyBytes(n) == nil else {
                            throw EventProblem(field: "body_bytes", message: "expected a whole number of bytes from 0 to \(ProfileRules.maximumBodyBytes), got \(shown(written))")
                        }
                        bodyBytes = n
                    case "signature":
                        signature = try ProfileReader.signature(try string(value, written, field: "signature",
                                                                          expectation: "\"valid\", \"missing\", \"invalid\" or \"none\""))
                    default:
                        proxy = try proxyHeader(value, written)
                    }
                } catch {
                    throw fail(error.message, field: error.field, at: valueStart)
                }
                parser.skipWhitespace()
                guard parser.position < line.count else { throw fail("expected ',' or '}', found the end of the line") }
                if line[parser.position] == UInt8(ascii: ",") { parser.position += 1; continue }
                if line[parser.position] == UInt8(ascii: "}") { parser.position += 1; break }
                throw fail("expected ',' or '}', found \(found(parser))")
            }
        }
        parser.skipWhitespace()
        guard parser.position == line.count else { throw fail("unexpected \(found(parser)) after the object (one event per line)") }
        let end = line.count
        guard let time else { throw fail("missing field (seconds since the start, like 1.5)", field: "t", at: end) }
        guard let client else { throw fail("missing field (the client address)", field: "client", at: end) }
        guard let endpoint else { throw fail("missing field (webhook or agent_auth)", field: "endpoint", at: end) }
        guard let bodyBytes else { throw fail("missing field (the body size in bytes)", field: "body_bytes", at: end) }
        guard let signature else { throw fail("missing field (valid, missing, invalid or none)", field: "signature", at: end) }
        return ProfileEvent(time: time, client: client, endpoint: endpoint, bodyBytes: bodyBytes, signature: signature,
                            proxyHeader: proxy ?? nil)
    }

    /// What is at the parser's position, for "expected …, found …".
    static func found(_ parser: JSONParser) -> String {
        parser.position < parser.input.count ? parser.describeCurrent() : "the end of the line"
    }

    /// A value as written, quoted, for "got …".
    static func shown(_ written: UnsafeBufferPointer<UInt8>) -> String {
        ProfileRules.quoted(String(decoding: written, as: UTF8.self))
    }

    static func string(_ value: JSONValue, _ written: UnsafeBufferPointer<UInt8>, field: String, expectation: String) throws(EventProblem) -> String {
        guard let text = value.stringValue else {
            throw EventProblem(field: field, message: "expected \(expectation), found \(firstByte(written))")
        }
        return text
    }

    /// The first byte of a value, as the parser would show it.
    static func firstByte(_ written: UnsafeBufferPointer<UInt8>) -> String {
        JSONParser(input: written).describeCurrent()
    }

    static func proxyHeader(_ value: JSONValue, _ written: UnsafeBufferPointer<UInt8>) throws(EventProblem) -> ProxyHeader? {
        if value.isNull { return nil }
        guard let members = value.objectValue else {
            throw EventProblem(field: "proxy_header", message: "expected {\"name\": …, \"value\": …} or null, found \(firstByte(written))")
        }
        var name: String?
        var header: String?
        for m in members {
            guard m.key == "name" || m.key == "value" else {
                throw EventProblem(field: "proxy_header.\(m.key)", message: "unknown field; proxy_header has name and value")
            }
            guard let text = m.value.stringValue else {
                throw EventProblem(field: "proxy_header.\(m.key)", message: "expected a string, found \(m.value.typeName)")
            }
            if m.key == "name" {
                guard name == nil else { throw EventProblem(field: "proxy_header.name", message: "field given twice") }
                name = text
            } else {
                guard header == nil else { throw EventProblem(field: "proxy_header.value", message: "field given twice") }
                header = text
            }
        }
        guard let name else { throw EventProblem(field: "proxy_header.name", message: "missing (the header name, like X-Forwarded-For)") }
        guard let header else { throw EventProblem(field: "proxy_header.value", message: "missing (the header value the client sends)") }
        return ProxyHeader(name: name, value: header)
    }
}

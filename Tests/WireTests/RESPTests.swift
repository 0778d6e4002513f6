import Testing
import TestSupport
import Wire

/// RESP2 encoding and decoding on byte buffers, including replies a broken or hostile server
/// could send.
@Suite struct RESPTests {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    func decodeAll(_ text: String, limits: RESPLimits = .standard) throws -> RESPValue? {
        let buffer = bytes(text)
        switch try RESPDecoder(limits: limits).decode(buffer, from: 0) {
        case .value(let value, let next):
            #expect(next == buffer.count, "the decoder must consume exactly one reply")
            return value
        case .incomplete:
            return nil
        }
    }

    @Test func encodesCommandsAsArraysOfBulkStrings() {
        #expect(RESPEncoder.encode(["SET", "k", "v"]) == bytes("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"))
        #expect(RESPEncoder.encode(["PING"]) == bytes("*1\r\n$4\r\nPING\r\n"))
        // Lengths count UTF-8 bytes, not characters; an empty argument is `$0`.
        #expect(RESPEncoder.encode(["é", ""]) == bytes("*2\r\n$2\r\né\r\n$0\r\n\r\n"))
        let long = String(repeating: "x", count: 1234)
        #expect(RESPEncoder.encode([long]) == bytes("*1\r\n$1234\r\n\(long)\r\n"))
    }

    @Test func decimalEncodingMatchesDescription() {
        for n in [0, 1, 9, 10, 99, 100, 12345, 1 << 20, Int.max] {
            var out: [UInt8] = []
            RESPEncoder.appendDecimal(n, to: &out)
            #expect(out == bytes(String(n)))
        }
    }

    @Test(arguments: [
        ("+OK\r\n", RESPValue.simpleString("OK")),
        ("+\r\n", .simpleString("")),
        ("-ERR unknown command\r\n", .error("ERR unknown command")),
        (":0\r\n", .integer(0)),
        (":-42\r\n", .integer(-42)),
        (":9223372036854775807\r\n", .integer(Int64.max)),
        (":-9223372036854775808\r\n", .integer(Int64.min)),
        ("$5\r\nhello\r\n", .bulkString(Array("hello".utf8))),
        ("$0\r\n\r\n", .bulkString([])),
        ("$-1\r\n", .bulkString(nil)),
        ("$4\r\na\r\nb\r\n", .bulkString(Array("a\r\nb".utf8))),  // CRLF inside a bulk string is data
        ("*-1\r\n", .array(nil)),
        ("*0\r\n", .array([])),
        ("*3\r\n:1\r\n$-1\r\n+x\r\n", .array([.integer(1), .bulkString(nil), .simpleString("x")])),
        ("*2\r\n*1\r\n*0\r\n-E\r\n", .array([.array([.array([])]), .error("E")])),
    ])
    func decodesEveryType(text: String, expected: RESPValue) throws {
        #expect(try decodeAll(text) == expected)
    }

    @Test func binaryBulkStringsKeepEveryByte() throws {
        let payload: [UInt8] = [0, 255, 13, 10, 36, 42]
        let buffer = bytes("$6\r\n") + payload + bytes("\r\n")
        let decoded = try RESPDecoder().decode(buffer, from: 0)
        #expect(decoded == .value(.bulkString(payload), next: buffer.count))
    }

    /// Every proper prefix of a reply is "incomplete", never an error or a wrong value: replies
    /// arrive in pieces of any size.
    @Test func everyPrefixIsIncomplete() throws {
        let reply = bytes("*4\r\n$5\r\nhello\r\n:-12\r\n*2\r\n+OK\r\n$-1\r\n-ERR x\r\n")
        for cut in 0..<reply.count {
            let outcome = try RESPDecoder().decode(Array(reply[0..<cut]), from: 0)
            #expect(outcome == .incomplete, "prefix of \(cut) bytes")
        }
        let full = try RESPDecoder().decode(reply, from: 0)
        guard case .value(let value, let next) = full else {
            Issue.record("the complete reply did not decode")
            return
        }
        #expect(next == reply.count)
        #expect(value == .array([.bulkString(Array("hello".utf8)), .integer(-12),
                                 .array([.simpleString("OK"), .bulkString(nil)]), .error("ERR x")]))
    }

    @Test func decodesPipelinedRepliesOneAfterAnother() throws {
        let buffer = bytes(":1\r\n:2\r\n+PONG\r\n")
        var start = 0
        var values: [RESPValue] = []
        while case .value(let value, let next) = try RESPDecoder().decode(buffer, from: start) {
            values.append(value)
            start = next
            if start == buffer.count { break }
        }
        #expect(values == [.integer(1), .integer(2), .simpleString("PONG")])
    }

    @Test(arguments: [
        ("!3\r\nabc\r\n", "type byte 0x21"),           // RESP3 blob error: not RESP2
        ("%1\r\n", "type byte 0x25"),
        ("hello\r\n", "type byte 0x68"),
        (":12a\r\n", "not a number"),
        (":\r\n", "empty integer"),
        (":99999999999999999999\r\n", "64 bits"),
        ("$-2\r\n", "negative bulk string length"),
        ("$abc\r\n", "not a number"),
        ("*-5\r\n", "negative array length"),
        ("$3\r\nabcXY", "not followed by CRLF"),
        ("+OK\rX", "CR not followed by LF"),
    ])
    func rejectsMalformedReplies(text: String, reason: String) {
        do {
            let value = try decodeAll(text)
            Issue.record("decoded \(String(describing: value)) from a malformed reply")
        } catch let error as RESPProtocolError {
            #expect(error.reason.contains(reason), "\(error.reason)")
            #expect(error.description.hasPrefix("malformed reply from Redis"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    /// A declared length is checked before anything is buffered for it: a server announcing
    /// a huge bulk string or array is refused at once, without waiting or allocating.
    @Test func hugeDeclaredLengthsAreRefusedImmediately() throws {
        let limits = RESPLimits(maxBulkLength: 1024, maxArrayCount: 100, maxDepth: 4, maxLineLength: 64, maxReplyBytes: 4096)
        #expect(throws: RESPProtocolError.self) { try decodeAll("$1025\r\n", limits: limits) }
        #expect(throws: RESPProtocolError.self) { try decodeAll("$9223372036854775807\r\n", limits: .standard) }
        #expect(throws: RESPProtocolError.self) { try decodeAll("*101\r\n", limits: limits) }
        #expect(throws: RESPProtocolError.self) { try decodeAll("*9223372036854775807\r\n", limits: .standard) }
        // At the limits exactly: incomplete (waiting for data), not an error.
        #expect(try decodeAll("$1024\r\n", limits: limits) == nil)
        #expect(try decodeAll("*100\r\n", limits: limits) == nil)
    }

    @Test func nestingAndLineLengthAreBounded() throws {
        let limits = RESPLimits(maxBulkLength: 1024, maxArrayCount: 100, maxDepth: 4, maxLineLength: 64, maxReplyBytes: 4096)
        #expect(try decodeAll(String(repeating: "*1\r\n", count: 4) + ":1\r\n", limits: limits) != nil)
        #expect(throws: RESPProtocolError.self) { try decodeAll(String(repeating: "*1\r\n", count: 5) + ":1\r\n", limits: limits) }
        // A line that never ends is refused once it passes the limit, not buffered forever.
        #expect(throws: RESPProtocolError.self) { try decodeAll("+" + String(repeating: "a", count: 100), limits: limits) }
        #expect(try decodeAll("+" + String(repeating: "a", count: 60), limits: limits) == nil)
        // Many small elements still cannot exceed the reply byte budget.
        let many = "*100\r\n" + String(repeating: "$40\r\n" + String(repeating: "z", count: 40) + "\r\n", count: 99)
        #expect(throws: RESPProtocolError.self) { try decodeAll(many, limits: limits) }
    }

    /// RESP2 as a server writes it, for the property test below (the library only writes
    /// commands).
    static func serialize(_ value: RESPValue, into out: inout [UInt8]) {
        func line(_ prefix: String, _ text: String) { out += Array((prefix + text + "\r\n").utf8) }
        switch value {
        case .simpleString(let text): line("+", text)
        case .error(let text): line("-", text)
        case .integer(let n): line(":", String(n))
        case .bulkString(nil): line("$", "-1")
        case .bulkString(let bytes?):
            line("$", String(bytes.count))
            out += bytes + [0x0D, 0x0A]
        case .array(nil): line("*", "-1")
        case .array(let items?):
            line("*", String(items.count))
            for item in items { serialize(item, into: &out) }
        }
    }

    static func randomValue(_ random: inout SplitMix64, depth: Int = 0) -> RESPValue {
        // Simple strings and errors cannot hold CR or LF; bulk strings hold any byte.
        let printable = Array("abcXYZ 019:+-$*_".utf8)
        func text() -> String {
            String(decoding: (0..<Int.random(in: 0...12, using: &random)).map { _ in printable.randomElement(using: &random)! }, as: UTF8.self)
        }
        switch Int.random(in: 0..<(depth < 3 ? 7 : 6), using: &random) {
        case 0: return .simpleString(text())
        case 1: return .error(text())
        case 2: return .integer(Int64.random(in: .min ... .max, using: &random) >> Int64.random(in: 0...63, using: &random))
        case 3: return .bulkString(nil)
        case 4, 5: return .bulkString((0..<Int.random(in: 0...40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) })
        default:
            if Int.random(in: 0..<8, using: &random) == 0 { return .array(nil) }
            return .array((0..<Int.random(in: 0...5, using: &random)).map { _ in randomValue(&random, depth: depth + 1) })
        }
    }

    /// Random replies decode to themselves whole, are "incomplete" when cut anywhere, and,
    /// mutated, give a value, "incomplete" or a protocol error: never a trap, never a read
    /// past the end.
    @Test func randomRepliesRoundTripAndMutationsAreAlwaysAnswered() throws {
        var random = SplitMix64(seed: 0x7265_7370_3032)
        let decoder = RESPDecoder()
        var outcomes = (values: 0, incomplete: 0, errors: 0)
        for iteration in 0..<3_000 {
            let value = Self.randomValue(&random)
            var wire: [UInt8] = []
            Self.serialize(value, into: &wire)
            #expect(try decoder.decode(wire, from: 0) == .value(value, next: wire.count), "iteration \(iteration)")
            let cut = Int.random(in: 0..<wire.count, using: &random)
            #expect(try decoder.decode(Array(wire[..<cut]), from: 0) == .incomplete, "iteration \(iteration), cut at \(cut)")
            // The same reply after another one in the buffer decodes from its own start.
            let prefix = Array(":7\r\n".utf8)
            #expect(try decoder.decode(prefix + wire, from: prefix.count) == .value(value, next: prefix.count + wire.count))

            let mutated = ByteMutation.mutate(wire, alphabet: Array("\r\n-:$*+0123456789".utf8), using: &random)
            do {
                switch try decoder.decode(mutated, from: 0) {
                case .value(_, let next):
                    outcomes.values += 1
                    #expect(next > 0 && next <= mutated.count, "iteration \(iteration): next \(next) of \(mutated.count)")
                case .incomplete:
                    outcomes.incomplete += 1
                }
            } catch is RESPProtocolError {
                outcomes.errors += 1
            }
        }
        // The mutations reach all three outcomes (otherwise they test less than they seem to).
        #expect(outcomes.values > 100 && outcomes.incomplete > 100 && outcomes.errors > 100, "\(outcomes)")
    }
}

import Foundation
import Harness
import Reference
import Testing
import TestSupport
import Wire

/// The two JSON readers (request bodies in Reference, fixtures and target files in Harness)
/// against each other and against Foundation's parser, on documents mutated at random (seeded):
/// they accept and refuse the same texts, read the same values, and never trap.
///
/// Foundation is more lenient than RFC 8259 in two ways, which the comparison allows for: it
/// accepts a comma before `]` or `}`, and it reads a text with NUL bytes as UTF-16 or UTF-32
/// (JSON exchanged between systems must be UTF-8, RFC 8259 section 8.1). Anything else it
/// accepts, ours must too, and ours must accept nothing it refuses.
@Suite struct JSONDifferentialTests {
    static let seeds: [String] = [
        #"{"a": [1, -2.5e+3, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"], "b": {}}"#,
        #"[{"id": "3f2a", "n": 0, "m": -0.5, "e": 1E-7}, [], [[]], "", "caf\u00e9"]"#,
        #"{"nested": {"deeper": {"list": [1, 2, 3], "flag": false}}, "text": "line\nbreak"}"#,
        #"  "just a string with a \"quote\" and é"  "#,
        "123.456e-2",
        #"{"k": null, "k": [true, {"x": "y"}]}"#,
    ]

    /// Bytes that matter to JSON's grammar.
    static let grammarBytes: [UInt8] = Array("{}[]:,\"\\ \t\n-+.eE0159tfnulx".utf8) + [0x00, 0x1F, 0x7F, 0xC3, 0xA9, 0xFF]

    /// One canonical text for a value read by either reader, to compare them.
    static func canonical(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let text): return "n:" + text
        case .string(let s): return JSONText.quote(s)
        case .array(let items): return "[" + items.map(canonical).joined(separator: ",") + "]"
        case .object(let members): return "{" + members.map { JSONText.quote($0.0) + ":" + canonical($0.1) }.joined(separator: ",") + "}"
        }
    }

    static func canonical(_ value: JSON) -> String {
        switch value.kind {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let text): return "n:" + text
        case .string(let s): return JSONText.quote(s)
        case .array(let items): return "[" + items.map(canonical).joined(separator: ",") + "]"
        case .object(let members): return "{" + members.map { JSONText.quote($0.key) + ":" + canonical($0.value) }.joined(separator: ",") + "}"
        }
    }

    /// The text without commas that directly precede `]` or `}` (outside strings).
    static func withoutTrailingCommas(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var inString = false, escaped = false
        for (i, b) in bytes.enumerated() {
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
            } else if b == UInt8(ascii: "\"") {
                inString = true
            } else if b == UInt8(ascii: ",") {
                let next = bytes[(i + 1)...].first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
                if next == UInt8(ascii: "]") || next == UInt8(ascii: "}") { continue }
            }
            out.append(b)
        }
        return out
    }

    @Test func readersAgreeWithEachOtherAndWithFoundation() throws {
        var random = SplitMix64(seed: 0x6a73_6f6e_0001)
        var accepted = 0, refused = 0, lenient = 0
        for index in 0..<20_000 {
            let input = ByteMutation.mutate(Array(Self.seeds[index % Self.seeds.count].utf8), alphabet: Self.grammarBytes, using: &random)
            let reference = try? JSONValue.parse(input)
            let harness = try? JSONParser.parse(input)
            let foundation = (try? JSONSerialization.jsonObject(with: Data(input), options: [.fragmentsAllowed])) != nil
            #expect((reference != nil) == (harness != nil), "the readers disagree on \(ByteMutation.shown(input))")
            if let reference, let harness {
                #expect(Self.canonical(reference) == Self.canonical(harness), "different values for \(ByteMutation.shown(input))")
            }
            if reference != nil {
                #expect(foundation, "accepted here, refused by Foundation: \(ByteMutation.shown(input))")
                accepted += 1
            } else {
                refused += 1
                if foundation {
                    let explained = input.contains(0) || (try? JSONValue.parse(Self.withoutTrailingCommas(input))) != nil
                    #expect(explained, "refused here, accepted by Foundation: \(ByteMutation.shown(input))")
                    lenient += 1
                }
            }
        }
        // Enough of each outcome that the comparison means something.
        #expect(accepted > 2_000 && refused > 2_000 && lenient > 0, "accepted \(accepted), refused \(refused), Foundation-only \(lenient)")
    }
}

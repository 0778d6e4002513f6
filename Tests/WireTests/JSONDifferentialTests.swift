import Foundation
import Testing
import TestSupport
import Wire

/// The JSON parser (request bodies, fixtures, target files, worlds, specs, profile lines)
/// against Foundation's parser, on documents mutated at random (seeded): they accept and refuse
/// the same texts, read the same values, and ours never traps.
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

    /// One canonical text for a value, to compare it with Foundation's reading: numbers as
    /// doubles, object members sorted by name. Nil for objects with duplicate names (Foundation
    /// keeps one of them) and numbers beyond `Double`, which are not compared.
    static func canonical(_ value: JSONValue) -> String? {
        switch value.kind {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let text):
            guard let d = Double(text), d.isFinite else { return nil }
            return "n:\(d == 0 ? 0 : d)"
        case .string(let s): return JSONText.quote(s)
        case .array(let items):
            var out: [String] = []
            for item in items { guard let c = canonical(item) else { return nil }; out.append(c) }
            return "[" + out.joined(separator: ",") + "]"
        case .object(let members):
            guard Set(members.map(\.key)).count == members.count else { return nil }
            var out: [String] = []
            for m in members.sorted(by: { $0.key < $1.key }) { guard let c = canonical(m.value) else { return nil }; out.append(JSONText.quote(m.key) + ":" + c) }
            return "{" + out.joined(separator: ",") + "}"
        }
    }

    /// The same canonical text for what `JSONSerialization` read.
    static func canonical(foundation value: Any) -> String {
        switch value {
        case is NSNull: return "null"
        case let n as NSNumber:
            if String(cString: n.objCType) == "c" { return n.boolValue ? "true" : "false" }
            return "n:\(n.doubleValue == 0 ? 0 : n.doubleValue)"
        case let s as String: return JSONText.quote(s)
        case let a as [Any]: return "[" + a.map { canonical(foundation: $0) }.joined(separator: ",") + "]"
        case let o as [String: Any]:
            return "{" + o.keys.sorted().map { JSONText.quote($0) + ":" + canonical(foundation: o[$0] as Any) }.joined(separator: ",") + "}"
        default: return "?\(type(of: value))"
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

    @Test func parserAgreesWithFoundation() throws {
        var random = SplitMix64(seed: 0x6a73_6f6e_0001)
        var accepted = 0, refused = 0, lenient = 0, compared = 0
        for index in 0..<20_000 {
            let input = ByteMutation.mutate(Array(Self.seeds[index % Self.seeds.count].utf8), alphabet: Self.grammarBytes, using: &random)
            let reference = try? JSONValue.parse(input)
            let read = try? JSONSerialization.jsonObject(with: Data(input), options: [.fragmentsAllowed])
            let foundation = read != nil
            if let reference, let read, let ours = Self.canonical(reference) {
                #expect(ours == Self.canonical(foundation: read), "different values for \(ByteMutation.shown(input))")
                compared += 1
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
        #expect(accepted > 2_000 && refused > 2_000 && lenient > 0 && compared > 1_000,
                "accepted \(accepted), refused \(refused), Foundation-only \(lenient), values compared \(compared)")
    }
}

import Wire

/// Seeded random edits of valid inputs, for the tests that feed parsers what nobody wrote by
/// hand. The same seed gives the same inputs, so a failure names its case and replays.
public enum ByteMutation {
    /// `input` with 1 to `maximumEdits` edits: a byte replaced (by one from `alphabet`, the
    /// bytes that matter to the grammar, or by any byte), a byte from `alphabet` inserted, a
    /// short run deleted or duplicated, or (one edit in ten) the rest cut off.
    public static func mutate(_ input: [UInt8], alphabet: [UInt8], maximumEdits: Int = 3,
                              using random: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...max(1, maximumEdits), using: &random) {
            guard !bytes.isEmpty else {
                bytes.append(alphabet.randomElement(using: &random) ?? 0)
                continue
            }
            let at = Int.random(in: 0..<bytes.count, using: &random)
            // Cutting short is rare: most cuts only leave an input the parser must wait for,
            // and the other edits reach more of the grammar.
            switch Int.random(in: 0..<10, using: &random) {
            case 0, 1: bytes[at] = UInt8.random(in: 0...255, using: &random)
            case 2, 3: bytes[at] = alphabet.randomElement(using: &random) ?? 0
            case 4, 5: bytes.insert(alphabet.randomElement(using: &random) ?? 0, at: at)
            case 6: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...8, using: &random)))
            case 7, 8:
                let end = min(bytes.count, at + Int.random(in: 1...16, using: &random))
                bytes.insert(contentsOf: bytes[at..<end], at: end)
            default: bytes.removeSubrange(at...)
            }
        }
        return bytes
    }

    /// The bytes as readable text for a failure message: printable ASCII as is, CR, LF and tab
    /// by name, everything else (and the backslash) as `\xNN`.
    public static func shown(_ bytes: [UInt8]) -> String {
        bytes.map { b -> String in
            switch b {
            case 0x0D: return "\\r"
            case 0x0A: return "\\n"
            case 0x09: return "\\t"
            case 0x20...0x7E where b != 0x5C: return String(UnicodeScalar(b))
            default: return "\\x" + Hex.encode([b])
            }
        }.joined()
    }
}

import Foundation
import Spec

/// How the checker reads the external-data boundary in what a server stored: as an agent
/// would. The page promises that external data sits between the BEGIN and END lines; the
/// promise is broken when a line inside the block reads as an END line, because a reader takes
/// whatever follows it for trusted instructions.
///
/// "Reads as" is deliberately loose, since the reader is a language model: a line whose first
/// three words are "end external data" in any case, with any decoration around them (dashes of
/// any kind, `===`, spaces), after compatibility folding (fullwidth letters), and with invisible
/// format characters (zero-width joiners) ignored. Lines break wherever a reader may see a
/// break: LF, CR, CRLF, VT, FF, NEL, U+2028, U+2029.
public enum BoundaryReading {
    /// True when some line strictly between the first BEGIN line and the last END line reads
    /// as an END line. False when the text holds no complete block.
    public static func closesEarly(_ text: String) -> Bool {
        let lines = splitLines(text)
        let exact = lines.map { String($0.trimmingASCIIWhitespace()) }
        guard let begin = exact.firstIndex(of: ExternalDataDelimiters.beginLine),
              let end = exact.lastIndex(of: ExternalDataDelimiters.endLine), begin < end else { return false }
        return lines[(begin + 1)..<end].contains { readsAsEnd($0) }
    }

    static func readsAsEnd(_ line: Substring) -> Bool {
        firstWords(line, 3) == ["end", "external", "data"]
    }

    /// The first `count` words: runs of letters and digits after NFKC folding, lower-cased.
    /// A word longer than any delimiter word ends the reading (a one-line payload can be a
    /// megabyte, and folding all of it would cost more than the whole check).
    static func firstWords(_ line: Substring, _ count: Int) -> [String] {
        var words: [String] = []
        var word = String.UnicodeScalarView()
        func take(_ scalar: Unicode.Scalar) -> Bool {
            let p = scalar.properties
            if p.generalCategory == .format || p.isDefaultIgnorableCodePoint { return true }
            if p.isAlphabetic || p.numericType != nil {
                word.append(scalar)
                return word.count <= 64
            }
            if !word.isEmpty {
                words.append(String(word).lowercased())
                word = String.UnicodeScalarView()
            }
            return words.count < count
        }
        reading: for scalar in line.unicodeScalars {
            let folded = scalar.isASCII ? [scalar] : Array(String(scalar).precomposedStringWithCompatibilityMapping.unicodeScalars)
            for f in folded where !take(f) { break reading }
        }
        if !word.isEmpty { words.append(String(word).lowercased()) }
        return Array(words.prefix(count))
    }

    static func splitLines(_ text: String) -> [Substring] {
        var lines: [Substring] = []
        var start = text.unicodeScalars.startIndex
        var i = start
        let scalars = text.unicodeScalars
        while i < scalars.endIndex {
            switch scalars[i].value {
            case 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029:
                lines.append(Substring(scalars[start..<i]))
                var next = scalars.index(after: i)
                if scalars[i] == "\r", next < scalars.endIndex, scalars[next] == "\n" { next = scalars.index(after: next) }
                start = next
                i = next
            default:
                i = scalars.index(after: i)
            }
        }
        lines.append(Substring(scalars[start..<scalars.endIndex]))
        return lines
    }
}

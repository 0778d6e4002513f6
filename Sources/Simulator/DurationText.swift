import Foundation

// Rule: durations and time offsets are written the way load-testing tools write them: a bare
// number is seconds (`90`, `1.5`), or numbers with units `ms`, `s`, `m`, `h`, optionally
// compounded (`1m30s`, `1h15m`). Negative, empty, non-finite and unit-less compounds are errors.

/// Parsing and printing of durations such as `250ms`, `10s`, `1m30s`.
public enum DurationText {
    /// Why a duration did not parse.
    public struct InvalidDuration: Error, Sendable, Equatable, CustomStringConvertible {
        public var text: String
        public var description: String {
            "'\(text)' is not a duration (write seconds like 90 or 1.5, or with units: 250ms, 10s, 2m, 1h, 1m30s; at most \(Int(DurationText.maximum)) s)"
        }
    }

    /// Longest duration accepted: about 31 years.
    public static let maximum = 1e9

    /// Parses `text` into seconds (0 to `maximum`).
    public static func parse(_ text: String) throws(InvalidDuration) -> Double {
        let seconds = try parseUnbounded(text)
        guard seconds <= maximum else { throw InvalidDuration(text: text) }
        return seconds
    }

    static func parseUnbounded(_ text: String) throws(InvalidDuration) -> Double {
        let trimmed = String(text.trimmingASCIIWhitespace())
        let bytes = Array(trimmed.utf8)
        guard !bytes.isEmpty else { throw InvalidDuration(text: text) }
        if let plain = Double(trimmed), plain.isFinite, plain >= 0, bytes.allSatisfy({ isDigit($0) || $0 == UInt8(ascii: ".") }) {
            return plain
        }
        var total = 0.0
        var i = 0
        var parts = 0
        while i < bytes.count {
            let start = i
            while i < bytes.count && (isDigit(bytes[i]) || bytes[i] == UInt8(ascii: ".")) { i += 1 }
            guard i > start, let number = Double(String(decoding: bytes[start..<i], as: UTF8.self)), number.isFinite else {
                throw InvalidDuration(text: text)
            }
            let unitStart = i
            while i < bytes.count && isLetter(bytes[i]) { i += 1 }
            let unit = String(decoding: bytes[unitStart..<i], as: UTF8.self)
            let scale: Double
            switch unit {
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            default: throw InvalidDuration(text: text)
            }
            total += number * scale
            parts += 1
        }
        guard parts > 0, total.isFinite else { throw InvalidDuration(text: text) }
        return total
    }

    /// A short human form: `250ms`, `1.5s`, `90s`, `2m`, `1h30m`.
    public static func format(_ seconds: Double) -> String {
        guard seconds.isFinite, abs(seconds) < 1e15 else { return "\(seconds)s" }
        if seconds != 0 && abs(seconds) < 1 {
            return trimmed(seconds * 1000) + "ms"
        }
        if abs(seconds) >= 3600, seconds.truncatingRemainder(dividingBy: 60) == 0 {
            let minutes = Int(seconds / 60)
            let h = minutes / 60, m = minutes % 60
            return m == 0 ? "\(h)h" : "\(h)h\(m)m"
        }
        if abs(seconds) >= 120, seconds.truncatingRemainder(dividingBy: 60) == 0 {
            return "\(Int(seconds / 60))m"
        }
        return trimmed(seconds) + "s"
    }

    static func trimmed(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        var text = String(format: "%.3f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }
    static func isLetter(_ b: UInt8) -> Bool { (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }
}

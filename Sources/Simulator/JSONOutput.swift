/// Small helpers to write JSON directly into byte buffers (reports and profiles are written
/// line by line; building a tree per line would cost more than the line).
enum JSONOutput {
    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `text` as a JSON string literal.
    static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\\"))
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20, 0x7F:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `text` as a JSON string literal.
    static func string(_ text: String) -> String {
        var out: [UInt8] = []
        appendString(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A finite number with up to `decimals` decimals, trailing zeros dropped (`4`, `4.25`).
    static func number(_ value: Double, decimals: Int = 6) -> String {
        guard value.isFinite else { return "null" }
        let scale = pow10(decimals)
        let scaled = (value * scale).rounded()
        if abs(scaled) < 9e15 {
            let n = Int64(scaled)
            var out: [UInt8] = []
            if n < 0 { out.append(UInt8(ascii: "-")) }
            let m = n.magnitude
            let whole = m / UInt64(scale), fraction = m % UInt64(scale)
            ProfileRules.appendInteger(Int64(whole), to: &out)
            if fraction > 0 {
                var digits = Array(String(fraction).utf8)
                while digits.count < decimals { digits.insert(48, at: 0) }
                while digits.last == 48 { digits.removeLast() }
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: digits)
            }
            return String(decoding: out, as: UTF8.self)
        }
        return String(value)
    }

    static func pow10(_ n: Int) -> Double {
        var p = 1.0
        for _ in 0..<max(0, n) { p *= 10 }
        return p
    }
}

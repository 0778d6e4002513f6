/// Numbers for JSON written directly into byte buffers (strings: `JSONText` in Wire). Reports
/// and profiles are written line by line; building a tree per line would cost more than the line.
enum JSONOutput {
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

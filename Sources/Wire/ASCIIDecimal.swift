// Rule: every wire format here writes counts and lengths as ASCII decimal digits (HTTP's
// Content-Length, RESP's lengths, the access log's fields); they are written straight into the
// output bytes, without a String per number, by this one routine.

/// Decimal digits of non-negative integers, appended to a byte buffer.
public enum ASCIIDecimal {
    /// Appends `value`'s decimal digits (`value` >= 0; a negative value writes "0").
    @inlinable
    public static func append(_ value: Int, to out: inout [UInt8]) {
        if value < 10 {
            out.append(UInt8(truncatingIfNeeded: 48 &+ max(value, 0)))
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                      UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = UInt64(value)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            while n > 0 {
                buffer[count] = UInt8(truncatingIfNeeded: 48 &+ n % 10)
                n /= 10
                count &+= 1
            }
            while count > 0 {
                count &-= 1
                out.append(buffer[count])
            }
        }
    }
}

/// Comparison whose running time does not depend on where two byte strings differ.
///
/// A comparison that stops at the first differing byte lets an attacker who can time many
/// requests learn a valid signature byte by byte. Here every byte is visited and the
/// differences are folded into one accumulator that is tested once at the end.
public enum ConstantTime {
    /// Whether `a` and `b` are equal. Lengths are not secret (a tag's length is public), so
    /// different lengths return `false` at once; equal lengths always cost a full pass.
    public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in equals(UnsafeRawBufferPointer(x), UnsafeRawBufferPointer(y)) }
        }
    }

    /// Whether the bytes in `a` and `b` are equal, in time independent of their contents.
    public static func equals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count {
            difference |= a[i] ^ b[i]
        }
        return isZero(difference)
    }

    /// Kept out of line so the optimiser cannot merge the final test into the loop as an early
    /// exit.
    @inline(never)
    static func isZero(_ value: UInt8) -> Bool {
        value == 0
    }
}

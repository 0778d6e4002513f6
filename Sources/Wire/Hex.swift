/// Lower-case hexadecimal encoding and decoding.
public enum Hex {
    @usableFromInline
    static let digits: StaticString = "0123456789abcdef"

    /// Inlinable so that each caller gets code specialised for its collection: the generic
    /// version walks the bytes through witness tables, which costs more than the encoding
    /// (it showed up on the Redis limiter's per-request path).
    @inlinable
    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let count = bytes.count
        return String(unsafeUninitializedCapacity: count * 2) { out in
            digits.withUTF8Buffer { table in
                var i = 0
                for b in bytes {
                    out[i] = table[Int(b >> 4)]
                    out[i + 1] = table[Int(b & 0x0f)]
                    i += 2
                }
                return i
            }
        }
    }

    /// `value` as exactly 8 lower-case hex digits (big-endian), without an intermediate array.
    @inlinable
    public static func encode(_ value: UInt32) -> String {
        String(unsafeUninitializedCapacity: 8) { out in
            digits.withUTF8Buffer { table in
                for i in 0..<8 {
                    out[i] = table[Int((value >> (28 - 4 * UInt32(i))) & 0x0f)]
                }
                return 8
            }
        }
    }

    /// Decodes hex (either case); nil for an odd length or a non-hex character.
    public static func decode<S: StringProtocol>(_ text: S) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    @inlinable
    public static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

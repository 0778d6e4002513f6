import Testing
import Wire

@Suite struct HexTests {
    @Test func encodesEveryByteValueInLowerCase() {
        let all = (0...255).map { UInt8($0) }
        let text = Hex.encode(all)
        #expect(text.utf8.count == 512)
        #expect(text.hasPrefix("000102030405060708090a0b0c0d0e0f10"))
        #expect(text.hasSuffix("f8f9fafbfcfdfeff"))
        #expect(Hex.decode(text) == all)
        #expect(Hex.decode(text.uppercased()) == all)
    }

    @Test func encodesAnyCollectionOfBytes() {
        let bytes: [UInt8] = [0xde, 0xad, 0xbe, 0xef, 0x01]
        #expect(Hex.encode([UInt8]()) == "")
        #expect(Hex.encode(bytes) == "deadbeef01")
        #expect(Hex.encode(bytes[1..<3]) == "adbe")
        #expect(Hex.encode(bytes.reversed()) == "01efbeadde")
        bytes.withUnsafeBytes { #expect(Hex.encode($0) == "deadbeef01") }
    }

    /// The fixed-width form is the big-endian bytes of the value, always 8 digits.
    @Test(arguments: [UInt32(0), 1, 0x0f, 0xdeadbeef, 0x8000_0000, .max])
    func encodesA32BitValueAsEightDigits(value: UInt32) {
        let viaBytes = withUnsafeBytes(of: value.bigEndian) { Hex.encode($0) }
        #expect(Hex.encode(value) == viaBytes)
        #expect(Hex.encode(value).utf8.count == 8)
    }

    @Test func decodeRefusesOddLengthsAndNonHex() {
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Hex.decode("0g") == nil)
        #expect(Hex.decode("") == [])
    }
}

import Foundation
import Testing
import Wire

@Suite struct JSONTextTests {
    @Test func escapesQuotesBackslashesAndEveryControlCharacter() {
        #expect(JSONText.quote("") == "\"\"")
        #expect(JSONText.quote("a\"b\\c") == #""a\"b\\c""#)
        #expect(JSONText.quote("\n\r\t") == #""\n\r\t""#)
        #expect(JSONText.quote("\u{0}\u{1}\u{1F}\u{7F}") == #""\u0000\u0001\u001f\u007f""#)
        // Non-ASCII stays as UTF-8, readable.
        #expect(JSONText.quote("héllo ✓ 🛰") == "\"héllo ✓ 🛰\"")
    }

    @Test func appendWritesTheSameBytesAsQuote() {
        var out: [UInt8] = Array("x=".utf8)
        JSONText.append("a\u{7}b", to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "x=" + JSONText.quote("a\u{7}b"))
    }

    @Test func foundationsParserReadsBackEveryString() throws {
        // Another implementation as the judge: every ASCII scalar and some beyond, in random
        // strings. (Not U+FEFF: Foundation's parser on Linux drops it wherever it stands.)
        var rng = SystemRandomNumberGenerator()
        let pool: [Unicode.Scalar] = (0...0x7F).compactMap(Unicode.Scalar.init) + ["é", "✓", "\u{2028}", "🛰"]
        for _ in 0..<500 {
            let text = String(String.UnicodeScalarView((0..<Int.random(in: 0...24, using: &rng)).map { _ in pool.randomElement(using: &rng)! }))
            let data = Data(("[" + JSONText.quote(text) + "]").utf8)
            let parsed = try JSONSerialization.jsonObject(with: data) as? [String]
            #expect(parsed == [text], "\(Array(text.unicodeScalars))")
        }
    }
}

import Testing
import Reference
import Wire

@Suite struct TokenRedactionTests {
    @Test func logPrefixIsAtMostSixCharacters() {
        #expect(TokenRedaction.prefixLength == 6)
        #expect(TokenRedaction.logPrefix("abcdefghijklmnopqrstuvwxyz0123456789") == "abcdef")
        #expect(TokenRedaction.logPrefix("abcdef") == "abcdef")
        #expect(TokenRedaction.logPrefix("abc") == "abc")
        #expect(TokenRedaction.logPrefix("") == "")
    }

    @Test(arguments: ["mc_agent_9f8e7d6c5b4a39281706f5e4d3c2b1a0", "x", "0123456", "tok-with-many-characters-\u{1F600}"])
    func logPrefixIsATrueShortPrefixNeverTheToken(_ token: String) {
        let prefix = TokenRedaction.logPrefix(token)
        #expect(token.hasPrefix(prefix))
        #expect(prefix.unicodeScalars.count == min(6, token.unicodeScalars.count))
        if token.unicodeScalars.count > 6 {
            #expect(prefix != token)
        }
    }

    @Test func logPrefixCannotBreakTheLogLine() {
        #expect(TokenRedaction.logPrefix("ab\ncd\r\nef") == "ab?cd?")
        #expect(TokenRedaction.logPrefix("a b\u{0}\u{200B}xyz") == "a?b??x")
        // Counted in Unicode scalars: combining marks do not stretch the prefix.
        let stacked = "e" + String(repeating: "\u{301}", count: 100)
        #expect(TokenRedaction.logPrefix(stacked).unicodeScalars.count == 6)
    }

    @Test func hashIsHexSHA256OfTheUTF8Bytes() {
        #expect(TokenRedaction.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let token = "mc_agent_secret_token_value"
        let stored = TokenRedaction.hash(token)
        #expect(stored == Hex.encode(SHA256.hash(Array(token.utf8))))
        #expect(stored.count == 64)
        #expect(!stored.contains(token))
        #expect(TokenRedaction.hash(token + "x") != stored)
        #expect(TokenRedaction.hash("é") == Hex.encode(SHA256.hash([0xc3, 0xa9])))
    }
}

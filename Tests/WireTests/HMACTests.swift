import Foundation
import Testing
import TestSupport
import Wire

/// One Wycheproof MAC test case with the parameters of its group.
struct WycheproofMACCase: Sendable, CustomTestStringConvertible {
    let id: Int
    let comment: String
    let key: [UInt8]
    let message: [UInt8]
    let tag: [UInt8]
    let tagSizeBits: Int
    let valid: Bool

    var testDescription: String { "tcId \(id) (\(tagSizeBits)-bit tag, \(valid ? "valid" : "invalid")): \(comment)" }

    struct LoadError: Error, CustomStringConvertible { var description: String }

    private struct File: Decodable {
        let numberOfTests: Int
        let testGroups: [Group]
    }
    private struct Group: Decodable {
        let keySize: Int
        let tagSize: Int
        let tests: [Test]
    }
    private struct Test: Decodable {
        let tcId: Int
        let comment: String
        let key: String
        let msg: String
        let tag: String
        let result: String
    }

    static let fileURL = TestPaths.fixtures.appendingPathComponent("vectors/wycheproof-hmac_sha256_test.json")

    /// Loads every case; throws when the file is missing or malformed, so a broken fixture fails
    /// a test instead of silently running zero cases.
    static func load() throws -> (declared: Int, cases: [WycheproofMACCase]) {
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: fileURL))
        var cases: [WycheproofMACCase] = []
        for group in file.testGroups {
            for test in group.tests {
                guard let key = Hex.decode(test.key), let msg = Hex.decode(test.msg), let tag = Hex.decode(test.tag),
                      test.result == "valid" || test.result == "invalid" else {
                    throw LoadError(description: "tcId \(test.tcId): bad hex or result '\(test.result)'")
                }
                cases.append(WycheproofMACCase(id: test.tcId, comment: test.comment, key: key, message: msg, tag: tag,
                                               tagSizeBits: group.tagSize, valid: test.result == "valid"))
            }
        }
        return (file.numberOfTests, cases)
    }

    static let all: [WycheproofMACCase] = (try? load().cases) ?? []
}

@Suite struct HMACTests {
    /// RFC 4231 section 4, test cases 1–7: (key, data, expected tag, bytes of the tag compared).
    /// Case 5 specifies a tag truncated to 128 bits.
    static let rfc4231: [(key: [UInt8], data: [UInt8], tag: String)] = [
        ([UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        ([UInt8](repeating: 0xaa, count: 20), [UInt8](repeating: 0xdd, count: 50),
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        (Array(1...25), [UInt8](repeating: 0xcd, count: 50),
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        ([UInt8](repeating: 0x0c, count: 20), Array("Test With Truncation".utf8),
         "a3b6167473100ee06e0c796c2955552b"),
        ([UInt8](repeating: 0xaa, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        ([UInt8](repeating: 0xaa, count: 131),
         Array("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".utf8),
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ]

    @Test(arguments: SHA256.Implementation.available, 0..<7)
    func rfc4231TestCases(implementation: SHA256.Implementation, index: Int) throws {
        let vector = Self.rfc4231[index]
        var mac = HMACSHA256(key: vector.key, implementation: implementation)
        mac.update(vector.data)
        let tag = mac.finalize()
        #expect(tag.count == 32)
        let expected = try #require(Hex.decode(vector.tag))
        // Case 5's tag is truncated: compare the leading bytes it specifies.
        #expect(Array(tag.prefix(expected.count)) == expected, "RFC 4231 case \(index + 1)")
        #expect(HMACSHA256.isValid(expected, for: vector.data, key: vector.key, expectedByteCount: expected.count))
    }

    @Test func vectorFileHasAll174Cases() throws {
        let loaded = try WycheproofMACCase.load()
        #expect(loaded.declared == 174)
        #expect(loaded.cases.count == 174)
        #expect(loaded.cases.contains { $0.valid } && loaded.cases.contains { !$0.valid })
        #expect(Set(loaded.cases.map(\.tagSizeBits)) == [128, 256])
    }

    /// Valid cases must be accepted and invalid ones rejected, by a verifier that computes the
    /// full tag and compares the first tagSize/8 bytes in constant time.
    @Test(arguments: WycheproofMACCase.all, SHA256.Implementation.available)
    func wycheproof(_ vector: WycheproofMACCase, implementation: SHA256.Implementation) {
        var mac = HMACSHA256(key: vector.key, implementation: implementation)
        mac.update(vector.message)
        let full = mac.finalize()
        let tagBytes = vector.tagSizeBits / 8
        let accepted = vector.tag.count == tagBytes && ConstantTime.equals(Array(full.prefix(tagBytes)), vector.tag)
        #expect(accepted == vector.valid)
        if implementation == .preferred {
            let viaAPI = HMACSHA256.isValid(vector.tag, for: vector.message, key: vector.key, expectedByteCount: tagBytes)
            #expect(viaAPI == vector.valid)
        }
    }

    /// The empty key and keys at the block-size boundary (64 bytes is used as is, 65 is hashed
    /// first): each must match the definition computed by hand from SHA-256.
    @Test(arguments: [0, 1, 63, 64, 65, 200])
    func keyLengthsAroundTheBlockSizeMatchTheDefinition(keyLength: Int) {
        let key = (0..<keyLength).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
        let message = Array("message".utf8)
        var block = key.count > 64 ? SHA256.hash(key, implementation: .portable) : key
        block += [UInt8](repeating: 0, count: 64 - block.count)
        let innerHash = SHA256.hash(block.map { $0 ^ 0x36 } + message, implementation: .portable)
        let expected = SHA256.hash(block.map { $0 ^ 0x5c } + innerHash, implementation: .portable)
        for implementation in SHA256.Implementation.available {
            var mac = HMACSHA256(key: key, implementation: implementation)
            mac.update(message)
            #expect(mac.finalize() == expected, "\(implementation)")
        }
        if keyLength == 0 {
            #expect(Hex.encode(HMACSHA256.authenticationCode(for: [], key: []))
                    == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
        }
    }

    @Test func isValidRejectsWrongLengthsAndTooShortTruncation() {
        let key = Array("secret".utf8), message = Array("{}".utf8)
        let tag = HMACSHA256.authenticationCode(for: message, key: key)
        #expect(HMACSHA256.isValid(tag, for: message, key: key))
        // A truncated tag is only accepted when the caller expects that length.
        #expect(!HMACSHA256.isValid(Array(tag.prefix(16)), for: message, key: key))
        #expect(HMACSHA256.isValid(Array(tag.prefix(16)), for: message, key: key, expectedByteCount: 16))
        // Below 80 bits is never accepted, even when asked for.
        #expect(!HMACSHA256.isValid(Array(tag.prefix(4)), for: message, key: key, expectedByteCount: 4))
        #expect(!HMACSHA256.isValid([], for: message, key: key, expectedByteCount: 0))
        var flipped = tag
        flipped[31] ^= 1
        #expect(!HMACSHA256.isValid(flipped, for: message, key: key))
        #expect(!HMACSHA256.isValid(tag, for: message + [0x20], key: key))
    }

    @Test(arguments: SHA256.Implementation.available)
    func streamingEqualsOneShotAcrossRandomSplits(implementation: SHA256.Implementation) {
        let seed = SeededBytes.randomSeed()
        var rng = SeededBytes(seed: seed)
        for _ in 0..<150 {
            let key = rng.bytes(rng.below(150))
            let message = rng.bytes(rng.below(600))
            let cuts = (0..<rng.below(5)).map { _ in rng.below(message.count + 1) }
            var mac = HMACSHA256(key: key, implementation: implementation)
            feedInPieces(message, cuts: cuts) { mac.update($0) }
            let streamed = mac.finalize()
            #expect(streamed == HMACSHA256.authenticationCode(for: message, key: key),
                    "seed \(seed), key \(key.count) bytes, message \(message.count) bytes, cuts \(cuts)")
            // finalize resets to the keyed state: the same message gives the same tag again.
            message.withUnsafeBytes { mac.update($0) }
            #expect(mac.finalize() == streamed, "seed \(seed): reuse after finalize")
        }
    }

    @Test(.requires(.openssl))
    func matchesOpenSSLOnRandomKeysAndBodies() throws {
        let seed = SeededBytes.randomSeed()
        var rng = SeededBytes(seed: seed)
        for _ in 0..<12 {
            // Keys from empty to longer than a block (which HMAC hashes first).
            let key = rng.bytes(1 + rng.below(150))
            let body = rng.bytes(rng.below(4000))
            let expected = try OpenSSL.digest(body, arguments: ["dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:" + Hex.encode(key)])
            for implementation in SHA256.Implementation.available {
                var mac = HMACSHA256(key: key, implementation: implementation)
                mac.update(body)
                #expect(Hex.encode(mac.finalize()) == expected,
                        "seed \(seed), key \(key.count) bytes, body \(body.count) bytes, \(implementation)")
            }
        }
    }
}

@Suite struct ConstantTimeTests {
    @Test func equalsComparesEveryByteAndLength() {
        let a: [UInt8] = [1, 2, 3, 4]
        #expect(ConstantTime.equals(a, [1, 2, 3, 4]))
        #expect(!ConstantTime.equals(a, [0, 2, 3, 4]))
        #expect(!ConstantTime.equals(a, [1, 2, 3, 5]))
        #expect(!ConstantTime.equals(a, [1, 2, 3]))
        #expect(!ConstantTime.equals(a, [1, 2, 3, 4, 0]))
        #expect(ConstantTime.equals([], []))
    }
}

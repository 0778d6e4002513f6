import Foundation
import Testing
import TestSupport
import Wire

/// A small deterministic generator (SplitMix64) so a failing random case can be replayed from
/// the seed printed with it.
struct SeededBytes {
    private var generator: SplitMix64

    init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    mutating func next() -> UInt64 { generator.next() }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }

    static func randomSeed() -> UInt64 { UInt64.random(in: .min ... .max) }
}

/// Feeds `message` to `update` in pieces cut at the given offsets.
func feedInPieces(_ message: [UInt8], cuts: [Int], _ update: ([UInt8]) -> Void) {
    var start = 0
    for cut in cuts.sorted() + [message.count] where cut >= start {
        update(Array(message[start..<cut]))
        start = cut
    }
}

@Suite struct SHA256Tests {
    /// The FIPS 180-4 / NIST example messages and their digests.
    static let nistExamples: [(message: String, digest: String)] = [
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ]

    @Test(arguments: SHA256.Implementation.available)
    func nistExampleMessages(implementation: SHA256.Implementation) {
        for example in Self.nistExamples {
            let digest = SHA256.hash(Array(example.message.utf8), implementation: implementation)
            #expect(Hex.encode(digest) == example.digest, "message '\(example.message)'")
        }
    }

    @Test(arguments: SHA256.Implementation.available)
    func oneMillionA(implementation: SHA256.Implementation) {
        // Fed in uneven pieces so the partial-block path is exercised on the long message too.
        var hasher = SHA256(implementation: implementation)
        let piece = [UInt8](repeating: UInt8(ascii: "a"), count: 999)
        var fed = 0
        while fed < 1_000_000 {
            let n = min(piece.count, 1_000_000 - fed)
            hasher.update(Array(piece.prefix(n)))
            fed += n
        }
        #expect(Hex.encode(hasher.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func digestIsThirtyTwoBytesAndHasherResetsAfterFinalize() {
        var hasher = SHA256()
        hasher.update(Array("abc".utf8))
        let first = hasher.finalize()
        #expect(first.count == 32)
        // After finalize the hasher starts a new message.
        let second = hasher.finalize()
        #expect(Hex.encode(second) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    /// Every length around the padding boundaries (55, 56, 63, 64, 119, 120 bytes) must agree
    /// between implementations and between streaming and one-shot.
    @Test func paddingBoundariesAgreeAcrossImplementations() {
        var rng = SeededBytes(seed: 0x5eed)
        for length in 0...200 {
            let message = rng.bytes(length)
            let reference = SHA256.hash(message, implementation: .portable)
            for implementation in SHA256.Implementation.available {
                #expect(SHA256.hash(message, implementation: implementation) == reference,
                        "length \(length), \(implementation)")
            }
            var streamed = SHA256(implementation: .portable)
            for byte in message { streamed.update([byte]) }
            #expect(streamed.finalize() == reference, "byte-at-a-time, length \(length)")
        }
    }

    @Test(arguments: SHA256.Implementation.available)
    func streamingEqualsOneShotAcrossRandomSplits(implementation: SHA256.Implementation) {
        let seed = SeededBytes.randomSeed()
        var rng = SeededBytes(seed: seed)
        for _ in 0..<200 {
            let message = rng.bytes(rng.below(700))
            let cuts = (0..<rng.below(6)).map { _ in rng.below(message.count + 1) }
            var hasher = SHA256(implementation: implementation)
            feedInPieces(message, cuts: cuts) { hasher.update($0) }
            let oneShot = SHA256.hash(message, implementation: implementation)
            #expect(hasher.finalize() == oneShot, "seed \(seed), length \(message.count), cuts \(cuts)")
        }
    }

    @Test func rawBufferUpdateMatchesArrayUpdate() {
        let message = Array("The quick brown fox jumps over the lazy dog".utf8)
        var viaBuffer = SHA256()
        message.withUnsafeBytes { viaBuffer.update($0) }
        viaBuffer.update(UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(viaBuffer.finalize() == SHA256.hash(message))
        #expect(SHA256.hexDigest("The quick brown fox jumps over the lazy dog")
                == "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592")
    }

    /// On Linux the kernel lists the CPU's SHA extensions as `sha_ni`: when it does, the
    /// accelerated path must be detected and be the default (and so be what the tests above
    /// exercised besides the portable one).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/cpuinfo"), "no /proc/cpuinfo on this system"))
    func detectsTheCPUsSHAExtensions() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ") ?? []
        let hasSHA = flags.contains("sha_ni")
        #expect(SHA256.Implementation.shaExtensions.isSupported == hasSHA)
        #expect(SHA256.Implementation.portable.isSupported)
        #expect(SHA256.Implementation.preferred == (hasSHA ? .shaExtensions : .portable))
        #expect(SHA256().implementation == SHA256.Implementation.preferred)
        // Asking for an implementation the CPU lacks falls back instead of crashing.
        #expect(SHA256(implementation: .shaExtensions).implementation == (hasSHA ? .shaExtensions : .portable))
    }

    @Test(.requires(.openssl))
    func matchesOpenSSLOnRandomBodies() throws {
        let seed = SeededBytes.randomSeed()
        var rng = SeededBytes(seed: seed)
        for _ in 0..<8 {
            let body = rng.bytes(rng.below(5000))
            let expected = try OpenSSL.digest(body, arguments: ["dgst", "-sha256"])
            for implementation in SHA256.Implementation.available {
                #expect(Hex.encode(SHA256.hash(body, implementation: implementation)) == expected,
                        "seed \(seed), \(body.count) bytes, \(implementation)")
            }
        }
    }
}

/// Runs the `openssl` command-line tool, when present, as an independent peer.
enum OpenSSL {
    static let path: String? = ExternalTool.openssl.executable?.path

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Pipes `input` to `openssl <arguments>` and returns the hex after "= " on its output line.
    static func digest(_ input: [UInt8], arguments: [String]) throws -> String {
        guard let path else { throw Failure(description: "openssl not found") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Write on another thread so a large body cannot deadlock against a full stdout pipe.
        let writer = Thread {
            stdin.fileHandleForWriting.write(Data(input))
            try? stdin.fileHandleForWriting.close()
        }
        writer.start()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, let range = text.range(of: "= ", options: .backwards) else {
            throw Failure(description: "openssl \(arguments.joined(separator: " ")) failed: '\(text)'")
        }
        return String(text[range.upperBound...])
    }
}

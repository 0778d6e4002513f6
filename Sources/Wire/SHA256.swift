/// SHA-256 (FIPS 180-4), streaming and one-shot.
///
/// The webhook signature rule and token hashing both rest on this, so it is validated against
/// the NIST examples, RFC 4231, Wycheproof and `openssl` in tests. The state and the partial
/// block live inline in the value: hashing allocates nothing but the returned digest.
public struct SHA256: Sendable {
    /// Which compression function a hasher uses. Every implementation gives identical digests;
    /// `portable` is plain Swift and runs everywhere, the others use CPU instructions when the
    /// processor has them.
    public enum Implementation: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Plain Swift, any CPU.
        case portable
        /// The x86 SHA extensions (SHA-NI), when the CPU reports them.
        case shaExtensions

        /// The fastest implementation this CPU supports (decided once per process).
        public static let preferred: Implementation = available.last ?? .portable

        /// The implementations this CPU can run, slowest first.
        public static var available: [Implementation] {
            allCases.filter(\.isSupported)
        }

        /// Whether this CPU can run the implementation.
        public var isSupported: Bool {
            switch self {
            case .portable: return true
            case .shaExtensions: return SHA256Accelerated.isSupported
            }
        }

        public var description: String {
            switch self {
            case .portable: return "portable Swift"
            case .shaExtensions: return "x86 SHA extensions"
            }
        }
    }

    /// Digest length in bytes.
    public static let byteCount = 32
    /// Block length in bytes (also the HMAC key block length).
    public static let blockByteCount = 64

    /// The eight chaining words, H0…H7.
    @usableFromInline
    typealias State = (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)

    @usableFromInline static let initialState: State = (
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
    )

    @usableFromInline var state: State = SHA256.initialState
    /// The pending partial block (64 bytes, inline so no heap allocation is needed).
    @usableFromInline var pending: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    @usableFromInline var pendingCount = 0
    /// Total message length in bytes. FIPS 180-4 defines the length modulo 2^64 bits, so
    /// wrapping arithmetic is the specified behaviour, not an overflow.
    @usableFromInline var totalBytes: UInt64 = 0
    /// The compression function this hasher uses.
    public let implementation: Implementation

    /// A hasher using the fastest implementation this CPU supports.
    public init() {
        self.init(implementation: .preferred)
    }

    /// A hasher using the given implementation; falls back to `portable` when the CPU lacks the
    /// instructions, so asking for an unsupported one is never a crash.
    public init(implementation: Implementation) {
        self.implementation = implementation.isSupported ? implementation : .portable
    }

    /// Adds bytes to the message.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Adds bytes to the message.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard var input = buffer.baseAddress, buffer.count > 0 else { return }
        var remaining = buffer.count
        totalBytes &+= UInt64(remaining)
        let implementation = self.implementation
        if pendingCount > 0 {
            let take = Swift.min(SHA256.blockByteCount - pendingCount, remaining)
            let offset = pendingCount
            withUnsafeMutableBytes(of: &pending) { block in
                (block.baseAddress! + offset).copyMemory(from: input, byteCount: take)
            }
            pendingCount += take
            input += take
            remaining -= take
            if pendingCount < SHA256.blockByteCount { return }
            let block = pending
            withUnsafeBytes(of: block) { SHA256.compress(&state, $0.baseAddress!, blocks: 1, implementation) }
            pendingCount = 0
        }
        let blocks = remaining / SHA256.blockByteCount
        if blocks > 0 {
            SHA256.compress(&state, input, blocks: blocks, implementation)
            input += blocks * SHA256.blockByteCount
            remaining -= blocks * SHA256.blockByteCount
        }
        if remaining > 0 {
            withUnsafeMutableBytes(of: &pending) { block in
                block.baseAddress!.copyMemory(from: input, byteCount: remaining)
            }
            pendingCount = remaining
        }
    }

    /// Pads the message, returns its 32-byte digest and resets the hasher to its initial state
    /// (same implementation), ready for a new message.
    public mutating func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: SHA256.byteCount)
        digest.withUnsafeMutableBytes { finalize(into: $0) }
        return digest
    }

    /// Writes the 32-byte digest into `output` (which must hold at least 32 bytes; a shorter
    /// buffer receives only its length) and resets the hasher.
    public mutating func finalize(into output: UnsafeMutableRawBufferPointer) {
        let bitLength = totalBytes &* 8
        // The padding: one 1 bit, zeros up to 56 mod 64, then the 64-bit big-endian bit length.
        var tail: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                   UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let used = pendingCount
        let tailLength = used < 56 ? 64 : 128
        withUnsafeMutableBytes(of: &tail) { t in
            withUnsafeBytes(of: pending) { p in
                t.baseAddress!.copyMemory(from: p.baseAddress!, byteCount: used)
            }
            t[used] = 0x80
            t.storeBytes(of: bitLength.bigEndian, toByteOffset: tailLength - 8, as: UInt64.self)
        }
        let implementation = self.implementation
        withUnsafeBytes(of: tail) { t in
            SHA256.compress(&state, t.baseAddress!, blocks: tailLength / 64, implementation)
        }
        var bigEndianState = state
        withUnsafeMutableBytes(of: &bigEndianState) { words in
            for i in 0..<8 {
                let value = words.load(fromByteOffset: i * 4, as: UInt32.self)
                words.storeBytes(of: value.bigEndian, toByteOffset: i * 4, as: UInt32.self)
            }
            output.copyMemory(from: UnsafeRawBufferPointer(rebasing: words[0..<Swift.min(output.count, SHA256.byteCount)]))
        }
        self = SHA256(implementation: implementation)
    }

    /// The digest of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// The digest of `bytes` with a chosen implementation (tests use this to cover each one).
    public static func hash(_ bytes: [UInt8], implementation: Implementation) -> [UInt8] {
        var hasher = SHA256(implementation: implementation)
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// The digest of the bytes in `buffer`.
    public static func hash(_ buffer: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(buffer)
        return hasher.finalize()
    }

    /// The lower-case hex digest of a string's UTF-8 bytes.
    public static func hexDigest(_ text: String) -> String {
        Hex.encode(hash(Array(text.utf8)))
    }

    @inline(__always)
    static func compress(_ state: inout State, _ data: UnsafeRawPointer, blocks: Int, _ implementation: Implementation) {
        switch implementation {
        case .portable: SHA256Portable.compress(&state, data, blocks: blocks)
        case .shaExtensions: SHA256Accelerated.compress(&state, data, blocks: blocks)
        }
    }
}

/// The FIPS 180-4 compression function in plain Swift: the 64 rounds are unrolled with the
/// eight working variables renamed from round to round instead of shuffled, and the message
/// schedule is kept in a 16-word window of locals, so the loop body is straight-line code on
/// registers with no array, no bounds check and no allocation.
enum SHA256Portable {
    @inline(__always) static func bigSigma0(_ x: UInt32) -> UInt32 { rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22) }
    @inline(__always) static func bigSigma1(_ x: UInt32) -> UInt32 { rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25) }
    @inline(__always) static func sigma0(_ x: UInt32) -> UInt32 { rotr(x, 7) ^ rotr(x, 18) ^ (x &>> 3) }
    @inline(__always) static func sigma1(_ x: UInt32) -> UInt32 { rotr(x, 17) ^ rotr(x, 19) ^ (x &>> 10) }
    @inline(__always) static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x &>> n) | (x &<< (32 &- n)) }

    /// One round: `d` and `h` are the only variables that change; the caller renames the rest.
    @inline(__always)
    static func round(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: inout UInt32,
                      _ e: UInt32, _ f: UInt32, _ g: UInt32, _ h: inout UInt32,
                      _ k: UInt32, _ w: UInt32) {
        let choose = g ^ (e & (f ^ g))
        let majority = (a & b) | (c & (a | b))
        let t1 = h &+ bigSigma1(e) &+ choose &+ k &+ w
        d = d &+ t1
        h = t1 &+ bigSigma0(a) &+ majority
    }

    @inline(__always)
    static func word(_ p: UnsafeRawPointer, _ index: Int) -> UInt32 {
        UInt32(bigEndian: p.loadUnaligned(fromByteOffset: index &* 4, as: UInt32.self))
    }

    static func compress(_ state: inout SHA256.State, _ data: UnsafeRawPointer, blocks: Int) {
        var p = data
        for _ in 0..<blocks {
            // The chaining words stay in memory between blocks: keeping them in registers too
            // would leave too few for the round variables and the schedule window.
            var (a, b, c, d, e, f, g, h) = state
            var w0 = word(p, 0), w1 = word(p, 1), w2 = word(p, 2), w3 = word(p, 3)
            var w4 = word(p, 4), w5 = word(p, 5), w6 = word(p, 6), w7 = word(p, 7)
            var w8 = word(p, 8), w9 = word(p, 9), w10 = word(p, 10), w11 = word(p, 11)
            var w12 = word(p, 12), w13 = word(p, 13), w14 = word(p, 14), w15 = word(p, 15)
            round(a, b, c, &d, e, f, g, &h, 0x428a2f98, w0)
            round(h, a, b, &c, d, e, f, &g, 0x71374491, w1)
            round(g, h, a, &b, c, d, e, &f, 0xb5c0fbcf, w2)
            round(f, g, h, &a, b, c, d, &e, 0xe9b5dba5, w3)
            round(e, f, g, &h, a, b, c, &d, 0x3956c25b, w4)
            round(d, e, f, &g, h, a, b, &c, 0x59f111f1, w5)
            round(c, d, e, &f, g, h, a, &b, 0x923f82a4, w6)
            round(b, c, d, &e, f, g, h, &a, 0xab1c5ed5, w7)
            round(a, b, c, &d, e, f, g, &h, 0xd807aa98, w8)
            round(h, a, b, &c, d, e, f, &g, 0x12835b01, w9)
            round(g, h, a, &b, c, d, e, &f, 0x243185be, w10)
            round(f, g, h, &a, b, c, d, &e, 0x550c7dc3, w11)
            round(e, f, g, &h, a, b, c, &d, 0x72be5d74, w12)
            round(d, e, f, &g, h, a, b, &c, 0x80deb1fe, w13)
            round(c, d, e, &f, g, h, a, &b, 0x9bdc06a7, w14)
            round(b, c, d, &e, f, g, h, &a, 0xc19bf174, w15)
            w0 = w0 &+ sigma1(w14) &+ w9 &+ sigma0(w1)
            round(a, b, c, &d, e, f, g, &h, 0xe49b69c1, w0)
            w1 = w1 &+ sigma1(w15) &+ w10 &+ sigma0(w2)
            round(h, a, b, &c, d, e, f, &g, 0xefbe4786, w1)
            w2 = w2 &+ sigma1(w0) &+ w11 &+ sigma0(w3)
            round(g, h, a, &b, c, d, e, &f, 0x0fc19dc6, w2)
            w3 = w3 &+ sigma1(w1) &+ w12 &+ sigma0(w4)
            round(f, g, h, &a, b, c, d, &e, 0x240ca1cc, w3)
            w4 = w4 &+ sigma1(w2) &+ w13 &+ sigma0(w5)
            round(e, f, g, &h, a, b, c, &d, 0x2de92c6f, w4)
            w5 = w5 &+ sigma1(w3) &+ w14 &+ sigma0(w6)
            round(d, e, f, &g, h, a, b, &c, 0x4a7484aa, w5)
            w6 = w6 &+ sigma1(w4) &+ w15 &+ sigma0(w7)
            round(c, d, e, &f, g, h, a, &b, 0x5cb0a9dc, w6)
            w7 = w7 &+ sigma1(w5) &+ w0 &+ sigma0(w8)
            round(b, c, d, &e, f, g, h, &a, 0x76f988da, w7)
            w8 = w8 &+ sigma1(w6) &+ w1 &+ sigma0(w9)
            round(a, b, c, &d, e, f, g, &h, 0x983e5152, w8)
            w9 = w9 &+ sigma1(w7) &+ w2 &+ sigma0(w10)
            round(h, a, b, &c, d, e, f, &g, 0xa831c66d, w9)
            w10 = w10 &+ sigma1(w8) &+ w3 &+ sigma0(w11)
            round(g, h, a, &b, c, d, e, &f, 0xb00327c8, w10)
            w11 = w11 &+ sigma1(w9) &+ w4 &+ sigma0(w12)
            round(f, g, h, &a, b, c, d, &e, 0xbf597fc7, w11)
            w12 = w12 &+ sigma1(w10) &+ w5 &+ sigma0(w13)
            round(e, f, g, &h, a, b, c, &d, 0xc6e00bf3, w12)
            w13 = w13 &+ sigma1(w11) &+ w6 &+ sigma0(w14)
            round(d, e, f, &g, h, a, b, &c, 0xd5a79147, w13)
            w14 = w14 &+ sigma1(w12) &+ w7 &+ sigma0(w15)
            round(c, d, e, &f, g, h, a, &b, 0x06ca6351, w14)
            w15 = w15 &+ sigma1(w13) &+ w8 &+ sigma0(w0)
            round(b, c, d, &e, f, g, h, &a, 0x14292967, w15)
            w0 = w0 &+ sigma1(w14) &+ w9 &+ sigma0(w1)
            round(a, b, c, &d, e, f, g, &h, 0x27b70a85, w0)
            w1 = w1 &+ sigma1(w15) &+ w10 &+ sigma0(w2)
            round(h, a, b, &c, d, e, f, &g, 0x2e1b2138, w1)
            w2 = w2 &+ sigma1(w0) &+ w11 &+ sigma0(w3)
            round(g, h, a, &b, c, d, e, &f, 0x4d2c6dfc, w2)
            w3 = w3 &+ sigma1(w1) &+ w12 &+ sigma0(w4)
            round(f, g, h, &a, b, c, d, &e, 0x53380d13, w3)
            w4 = w4 &+ sigma1(w2) &+ w13 &+ sigma0(w5)
            round(e, f, g, &h, a, b, c, &d, 0x650a7354, w4)
            w5 = w5 &+ sigma1(w3) &+ w14 &+ sigma0(w6)
            round(d, e, f, &g, h, a, b, &c, 0x766a0abb, w5)
            w6 = w6 &+ sigma1(w4) &+ w15 &+ sigma0(w7)
            round(c, d, e, &f, g, h, a, &b, 0x81c2c92e, w6)
            w7 = w7 &+ sigma1(w5) &+ w0 &+ sigma0(w8)
            round(b, c, d, &e, f, g, h, &a, 0x92722c85, w7)
            w8 = w8 &+ sigma1(w6) &+ w1 &+ sigma0(w9)
            round(a, b, c, &d, e, f, g, &h, 0xa2bfe8a1, w8)
            w9 = w9 &+ sigma1(w7) &+ w2 &+ sigma0(w10)
            round(h, a, b, &c, d, e, f, &g, 0xa81a664b, w9)
            w10 = w10 &+ sigma1(w8) &+ w3 &+ sigma0(w11)
            round(g, h, a, &b, c, d, e, &f, 0xc24b8b70, w10)
            w11 = w11 &+ sigma1(w9) &+ w4 &+ sigma0(w12)
            round(f, g, h, &a, b, c, d, &e, 0xc76c51a3, w11)
            w12 = w12 &+ sigma1(w10) &+ w5 &+ sigma0(w13)
            round(e, f, g, &h, a, b, c, &d, 0xd192e819, w12)
            w13 = w13 &+ sigma1(w11) &+ w6 &+ sigma0(w14)
            round(d, e, f, &g, h, a, b, &c, 0xd6990624, w13)
            w14 = w14 &+ sigma1(w12) &+ w7 &+ sigma0(w15)
            round(c, d, e, &f, g, h, a, &b, 0xf40e3585, w14)
            w15 = w15 &+ sigma1(w13) &+ w8 &+ sigma0(w0)
            round(b, c, d, &e, f, g, h, &a, 0x106aa070, w15)
            w0 = w0 &+ sigma1(w14) &+ w9 &+ sigma0(w1)
            round(a, b, c, &d, e, f, g, &h, 0x19a4c116, w0)
            w1 = w1 &+ sigma1(w15) &+ w10 &+ sigma0(w2)
            round(h, a, b, &c, d, e, f, &g, 0x1e376c08, w1)
            w2 = w2 &+ sigma1(w0) &+ w11 &+ sigma0(w3)
            round(g, h, a, &b, c, d, e, &f, 0x2748774c, w2)
            w3 = w3 &+ sigma1(w1) &+ w12 &+ sigma0(w4)
            round(f, g, h, &a, b, c, d, &e, 0x34b0bcb5, w3)
            w4 = w4 &+ sigma1(w2) &+ w13 &+ sigma0(w5)
            round(e, f, g, &h, a, b, c, &d, 0x391c0cb3, w4)
            w5 = w5 &+ sigma1(w3) &+ w14 &+ sigma0(w6)
            round(d, e, f, &g, h, a, b, &c, 0x4ed8aa4a, w5)
            w6 = w6 &+ sigma1(w4) &+ w15 &+ sigma0(w7)
            round(c, d, e, &f, g, h, a, &b, 0x5b9cca4f, w6)
            w7 = w7 &+ sigma1(w5) &+ w0 &+ sigma0(w8)
            round(b, c, d, &e, f, g, h, &a, 0x682e6ff3, w7)
            w8 = w8 &+ sigma1(w6) &+ w1 &+ sigma0(w9)
            round(a, b, c, &d, e, f, g, &h, 0x748f82ee, w8)
            w9 = w9 &+ sigma1(w7) &+ w2 &+ sigma0(w10)
            round(h, a, b, &c, d, e, f, &g, 0x78a5636f, w9)
            w10 = w10 &+ sigma1(w8) &+ w3 &+ sigma0(w11)
            round(g, h, a, &b, c, d, e, &f, 0x84c87814, w10)
            w11 = w11 &+ sigma1(w9) &+ w4 &+ sigma0(w12)
            round(f, g, h, &a, b, c, d, &e, 0x8cc70208, w11)
            w12 = w12 &+ sigma1(w10) &+ w5 &+ sigma0(w13)
            round(e, f, g, &h, a, b, c, &d, 0x90befffa, w12)
            w13 = w13 &+ sigma1(w11) &+ w6 &+ sigma0(w14)
            round(d, e, f, &g, h, a, b, &c, 0xa4506ceb, w13)
            w14 = w14 &+ sigma1(w12) &+ w7 &+ sigma0(w15)
            round(c, d, e, &f, g, h, a, &b, 0xbef9a3f7, w14)
            w15 = w15 &+ sigma1(w13) &+ w8 &+ sigma0(w0)
            round(b, c, d, &e, f, g, h, &a, 0xc67178f2, w15)
            state.0 &+= a; state.1 &+= b; state.2 &+= c; state.3 &+= d
            state.4 &+= e; state.5 &+= f; state.6 &+= g; state.7 &+= h
            p += SHA256.blockByteCount
        }
    }
}

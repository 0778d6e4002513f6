/// HMAC-SHA256 (RFC 2104 with SHA-256), streaming and one-shot.
///
/// The keyed inner and outer hash states are computed once in `init`, so a message costs only
/// its own blocks plus two: the key is never re-hashed per message.
public struct HMACSHA256: Sendable {
    /// Tag length in bytes.
    public static let byteCount = SHA256.byteCount
    /// The shortest truncated tag `isValid` accepts: RFC 2104 section 5 advises against tags
    /// shorter than 80 bits.
    public static let minimumTruncatedByteCount = 10

    private let keyedInner: SHA256
    private let keyedOuter: SHA256
    private var inner: SHA256

    /// A MAC keyed with `key` (any length: keys longer than a block are hashed first), using the
    /// fastest SHA-256 implementation this CPU supports.
    public init(key: [UInt8]) {
        self.init(key: key, implementation: .preferred)
    }

    /// A MAC keyed with `key` using the given SHA-256 implementation.
    public init(key: [UInt8], implementation: SHA256.Implementation) {
        var inner = SHA256(implementation: implementation)
        var outer = SHA256(implementation: implementation)
        // The padded key block lives on the stack: keying allocates nothing.
        var block: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &block) { pad in
            if key.count > SHA256.blockByteCount {
                var keyHash = SHA256(implementation: implementation)
                key.withUnsafeBytes { keyHash.update($0) }
                keyHash.finalize(into: pad)
            } else {
                key.withUnsafeBytes { pad.copyMemory(from: $0) }
            }
            for i in 0..<pad.count { pad[i] ^= 0x36 }
            inner.update(UnsafeRawBufferPointer(pad))
            // 0x36 ^ 0x5c turns the inner pad into the outer pad.
            for i in 0..<pad.count { pad[i] ^= 0x36 ^ 0x5c }
            outer.update(UnsafeRawBufferPointer(pad))
        }
        keyedInner = inner
        keyedOuter = outer
        self.inner = inner
    }

    /// The SHA-256 implementation in use.
    public var implementation: SHA256.Implementation { inner.implementation }

    /// Adds message bytes.
    public mutating func update(_ bytes: [UInt8]) {
        inner.update(bytes)
    }

    /// Adds message bytes.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        inner.update(buffer)
    }

    /// Returns the 32-byte tag and resets to the freshly keyed state, ready for a new message
    /// under the same key.
    public mutating func finalize() -> [UInt8] {
        var innerDigest: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var outer = keyedOuter
        withUnsafeMutableBytes(of: &innerDigest) { inner.finalize(into: $0) }
        withUnsafeBytes(of: innerDigest) { outer.update($0) }
        inner = keyedInner
        return outer.finalize()
    }

    /// The tag of `message` under `key`.
    public static func authenticationCode(for message: [UInt8], key: [UInt8]) -> [UInt8] {
        var mac = HMACSHA256(key: key)
        mac.update(message)
        return mac.finalize()
    }

    /// The tag of the bytes in `buffer` under `key`.
    public static func authenticationCode(for buffer: UnsafeRawBufferPointer, key: [UInt8]) -> [UInt8] {
        var mac = HMACSHA256(key: key)
        mac.update(buffer)
        return mac.finalize()
    }

    /// Whether `tag` authenticates `message` under `key`.
    ///
    /// A tag shorter than 32 bytes is a truncated tag (RFC 2104 section 5): it is checked against
    /// the same number of leading bytes of the full tag. `expectedByteCount` is the tag length
    /// the caller's protocol uses; a tag of any other length is rejected, so an attacker cannot
    /// shorten a tag to make forging easier. The comparison takes the same time wherever the
    /// bytes differ.
    public static func isValid(_ tag: [UInt8], for message: [UInt8], key: [UInt8],
                               expectedByteCount: Int = byteCount) -> Bool {
        guard expectedByteCount >= minimumTruncatedByteCount, expectedByteCount <= byteCount,
              tag.count == expectedByteCount else { return false }
        let full = authenticationCode(for: message, key: key)
        return ConstantTime.equals(Array(full.prefix(expectedByteCount)), tag)
    }
}

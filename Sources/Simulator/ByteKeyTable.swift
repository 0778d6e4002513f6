import Foundation

/// An index from byte strings (client addresses) to dense ids, looked up without building a
/// String or hashing through the standard library: reading a profile looks up one address per
/// event, ten million times for a large one.
///
/// Open addressing with linear probing, at most half full. A slot is 32 bytes: a tag (high
/// hash bits) with the id, the key's length, and its first 16 bytes inline, so a lookup of an
/// IPv4 address (at most 15 bytes) touches one cache line; longer keys are compared in full
/// against the concatenated key bytes. The hash is FNV-1a, which is fine here: the keys are the
/// profile's own addresses, and a crafted profile can only slow its own reading down.
struct ByteKeyTable: Sendable {
    /// 4 words per slot: [tag << 32 | id + 1 (0 = empty), length, bytes 0..<8, bytes 8..<16].
    private var slots = [UInt64](repeating: 0, count: 4 * 64)
    private var slotCount = 64
    private var keyBytes: [UInt8] = []
    private var keyStarts: [Int] = [0]
    private(set) var count = 0

    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h ^ (h >> 29)
    }

    /// The first 16 bytes of a key as two words (zero padded).
    private static func prefix(_ bytes: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64) {
        var words: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &words) { raw in
            if let base = bytes.baseAddress, let target = raw.baseAddress {
                memcpy(target, base, min(16, bytes.count))
            }
        }
        return words
    }

    func find(_ bytes: UnsafeBufferPointer<UInt8>) -> Int32? {
        let h = ByteKeyTable.hash(bytes)
        let tag = h >> 32
        let (p0, p1) = ByteKeyTable.prefix(bytes)
        let length = UInt64(bytes.count)
        let mask = slotCount - 1
        return slots.withUnsafeBufferPointer { s in
            var i = Int(truncatingIfNeeded: h) & mask
            while true {
                let head = s[4 * i]
                if head == 0 { return nil }
                if head >> 32 == tag && s[4 * i + 1] == length && s[4 * i + 2] == p0 && s[4 * i + 3] == p1 {
                    let id = Int(head & 0xFFFF_FFFF) - 1
                    if bytes.count <= 16 || equalsStored(id, bytes) { return Int32(truncatingIfNeeded: id) }
                }
                i = (i + 1) & mask
            }
        }
    }

    private func equalsStored(_ id: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let start = keyStarts[id]
        return keyBytes.withUnsafeBufferPointer { all in
            for k in 0..<bytes.count where all[start + k] != bytes[k] { return false }
            return true
        }
    }

    func find(_ text: String) -> Int32? {
        var text = text
        return text.withUTF8 { find($0) }
    }

    /// Adds a key (even one already present: `find` then returns the earlier id); its id is the
    /// number of keys before it.
    mutating func insert(_ bytes: UnsafeBufferPointer<UInt8>) -> Int32 {
        let id = count
        keyBytes.append(contentsOf: bytes)
        keyStarts.append(keyBytes.count)
        count += 1
        if count * 2 > slotCount {
            grow()
        } else {
            place(id, bytes)
        }
        return Int32(truncatingIfNeeded: id)
    }

    mutating func insert(_ text: String) -> Int32 {
        var text = text
        return text.withUTF8 { insert($0) }
    }

    private mutating func place(_ id: Int, _ bytes: UnsafeBufferPointer<UInt8>) {
        let h = ByteKeyTable.hash(bytes)
        let (p0, p1) = ByteKeyTable.prefix(bytes)
        let mask = slotCount - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[4 * i] != 0 { i = (i + 1) & mask }
        slots[4 * i] = (h >> 32) << 32 | UInt64(id + 1)
        slots[4 * i + 1] = UInt64(bytes.count)
        slots[4 * i + 2] = p0
        slots[4 * i + 3] = p1
    }

    private mutating func grow() {
        slotCount *= 2
        slots = [UInt64](repeating: 0, count: 4 * slotCount)
        let stored = keyBytes
        let starts = keyStarts
        stored.withUnsafeBufferPointer { all in
            for id in 0..<count {
                place(id, UnsafeBufferPointer(rebasing: all[starts[id]..<starts[id + 1]]))
            }
        }
    }
}

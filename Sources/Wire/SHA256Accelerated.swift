import CSHA256

/// The SHA-256 compression function on the CPU's SHA instructions (the `CSHA256` target),
/// used when the processor reports them; `SHA256Portable` is the fallback everywhere else.
enum SHA256Accelerated {
    /// Decided once per process: the CPU does not change while we run.
    static let isSupported = mcsec_sha256_accelerated_supported() != 0

    @inline(__always)
    static func compress(_ state: inout SHA256.State, _ data: UnsafeRawPointer, blocks: Int) {
        withUnsafeMutableBytes(of: &state) { words in
            mcsec_sha256_accelerated_compress(words.baseAddress!.assumingMemoryBound(to: UInt32.self),
                                              data.assumingMemoryBound(to: UInt8.self), blocks)
        }
    }
}

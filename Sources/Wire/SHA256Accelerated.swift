/// The SHA-256 compression function on CPU SHA instructions. Not available in this build:
/// every call takes the portable path.
enum SHA256Accelerated {
    static let isSupported = false

    static func compress(_ state: inout SHA256.State, _ data: UnsafeRawPointer, blocks: Int) {
        SHA256Portable.compress(&state, data, blocks: blocks)
    }
}

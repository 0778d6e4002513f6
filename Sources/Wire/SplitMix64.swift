/// SplitMix64: a tiny, fast, full-period 64-bit generator. Seeded, it gives the same sequence on
/// every run and platform (the simulator expands its seeds with it; tests replay failures from
/// a printed seed); seeded from the system once, it gives cheap unique values (Redis members).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    @usableFromInline var state: UInt64

    public init(seed: UInt64) { state = seed }

    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

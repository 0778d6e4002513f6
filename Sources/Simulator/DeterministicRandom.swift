import Foundation
import Wire

// Rule: generated profiles and random routing are reproducible. The same seed gives the same
// sequence on every run, so the generators are written out here (SplitMix64, in Wire, to expand a seed,
// xoshiro256** for the streams) instead of borrowing the system generator or the standard
// library's `random(in:)`, whose algorithms are not promised to stay the same. Every conversion
// to a number (a double in [0, 1), an integer below n, an exponential gap) is defined here too,
// for the same reason.

/// xoshiro256**: the stream generator of profiles and of random routing.
public struct DeterministicRandom: Sendable {
    @usableFromInline var s0: UInt64
    @usableFromInline var s1: UInt64
    @usableFromInline var s2: UInt64
    @usableFromInline var s3: UInt64

    /// A generator whose whole state is derived from `seed` by SplitMix64 (never all zero).
    public init(seed: UInt64) {
        var mix = SplitMix64(seed: seed)
        s0 = mix.next(); s1 = mix.next(); s2 = mix.next(); s3 = mix.next()
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
    }

    /// A generator for sub-stream `index` of `seed`: independent streams for independent
    /// purposes, so that changing one part of a spec does not reshuffle the others.
    public init(seed: UInt64, stream index: UInt64) {
        var mix = SplitMix64(seed: seed ^ (index &* 0xD1B5_4A32_D192_ED03))
        _ = mix.next()
        self.init(seed: mix.next() &+ index)
    }

    @inlinable
    public mutating func next() -> UInt64 {
        let m = s1 &* 5
        let result = (m << 7 | m >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// A double in [0, 1) with 53 random bits.
    @inlinable
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// An integer in 0..<bound (bound > 0), without modulo bias (Lemire's method with rejection).
    @inlinable @inline(__always)
    public mutating func nextInt(below bound: Int) -> Int {
        guard bound > 1 else { return 0 }
        let n = UInt64(bound)
        let product = next().multipliedFullWidth(by: n)
        // Only a low part below n can be in the biased range: rare, so out of line.
        if product.low < n { return nextInt(below: n, after: product) }
        return Int(product.high)
    }

    /// The rest of `nextInt(below:)` when the first draw's low part is below `n`.
    @inlinable @inline(never)
    mutating func nextInt(below n: UInt64, after first: (high: UInt64, low: UInt64)) -> Int {
        var product = first
        let threshold = (0 &- n) % n
        while product.low < threshold { product = next().multipliedFullWidth(by: n) }
        return Int(product.high)
    }

    /// An exponentially distributed value with mean 1 (a Poisson process's gap at rate 1).
    @inlinable
    public mutating func nextExponential() -> Double {
        // 1 - u is in (0, 1], so the logarithm is finite.
        -Foundation.log(1 - nextDouble())
    }
}

import Foundation

// Rule: arrival times come from a rate function λ(t) (requests per second) by inverting its
// cumulative Λ(t) = ∫₀ᵗ λ. With the regular process the k-th arrival (k = 1, 2, …) is at the
// time where Λ reaches k − ½, so the count over any interval is within one of the integral and a
// rate of zero yields nothing. With the Poisson process the k-th arrival is at Λ⁻¹(E₁ + … + E_k)
// with Eᵢ exponential of mean 1: the standard time change that turns a unit-rate Poisson
// process into a non-homogeneous one, exactly (no thinning, no rejected draws). Bursts are not
// a rate: `size` requests at once every `period`, optionally spread evenly over `spread`.
// All times here are relative to the start of the stream the arrivals belong to.

/// One stage of a ramping arrival rate: the rate moves linearly to `target` over `duration`.
public struct RampStage: Sendable, Equatable {
    public var target: Double
    public var duration: Double
    public init(target: Double, duration: Double) {
        self.target = target
        self.duration = duration
    }
}

/// The shapes of arrival rate that load testers use.
public enum ArrivalShape: Sendable, Equatable {
    /// A fixed rate (requests per second).
    case constant(rate: Double)
    /// Linear ramps from `startRate` through each stage's target (like k6's ramping-arrival-rate);
    /// after the last stage the rate stays at its target.
    case ramping(startRate: Double, stages: [RampStage])
    /// `size` requests every `period` seconds from `offset`, spread evenly over `spread` seconds
    /// (0: all at the same instant).
    case bursts(size: Int, period: Double, offset: Double, spread: Double)
    /// A day-like cycle: the rate moves sinusoidally between `minRate` (at `phase`, and every
    /// `period` after) and `maxRate` (half a period later).
    case diurnal(minRate: Double, maxRate: Double, period: Double, phase: Double)
    /// `baseRate`, except `spikeRate` during [`start`, `start + duration`).
    case spike(baseRate: Double, spikeRate: Double, start: Double, duration: Double)

    /// The shape's name in specs.
    public var name: String {
        switch self {
        case .constant: return "constant"
        case .ramping: return "ramping"
        case .bursts: return "bursts"
        case .diurnal: return "diurnal"
        case .spike: return "spike"
        }
    }
}

/// How arrivals are placed along the rate.
public enum ArrivalProcess: String, Sendable, Equatable {
    /// Evenly along the cumulative rate (deterministic spacing, like k6's arrival-rate executors).
    case regular
    /// A (non-homogeneous) Poisson process with that rate.
    case poisson
}

/// A shape and a process.
public struct Arrivals: Sendable, Equatable {
    public var shape: ArrivalShape
    public var process: ArrivalProcess
    public init(shape: ArrivalShape, process: ArrivalProcess = .regular) {
        self.shape = shape
        self.process = process
    }

    /// The expected number of arrivals in [0, length).
    public func expectedCount(length: Double) -> Double {
        if case .bursts(let size, let period, let offset, _) = shape {
            guard length > offset, period > 0 else { return 0 }
            let bursts = ((length - offset) / period).rounded(.up)
            return bursts * Double(size)
        }
        return RateFunction(shape: shape, length: length).cumulative(length)
    }
}

/// λ(t) and Λ(t) of a rate shape over [0, length].
enum RateFunction {
    /// Linear pieces: on [t0, t1] the rate goes from r0 to r1; `cumulativeStart` is Λ(t0).
    struct Piece {
        var t0: Double, t1: Double, r0: Double, r1: Double, cumulativeStart: Double
        var cumulativeEnd: Double { cumulativeStart + (r0 + r1) / 2 * (t1 - t0) }
    }
    case pieces([Piece])
    case sinusoid(minRate: Double, maxRate: Double, period: Double, phase: Double)

    init(shape: ArrivalShape, length: Double) {
        var raw: [(t0: Double, t1: Double, r0: Double, r1: Double)] = []
        switch shape {
        case .constant(let rate):
            raw.append((0, length, rate, rate))
        case .ramping(let startRate, let stages):
            var t = 0.0, r = startRate
            for stage in stages where t < length {
                guard stage.duration > 0 else { r = stage.target; continue }
                let end = t + stage.duration
                if end <= length {
                    raw.append((t, end, r, stage.target))
                    t = end
                    r = stage.target
                } else {
                    // A stage cut short by the end of the stream ends at the rate it had reached.
                    let reached = r + (stage.target - r) * (length - t) / stage.duration
                    raw.append((t, length, r, reached))
                    t = length
                    r = reached
                }
            }
            if t < length { raw.append((t, length, r, r)) }
        case .spike(let base, let spike, let start, let duration):
            let s0 = max(0, min(start, length)), s1 = max(s0, min(start + duration, length))
            if s0 > 0 { raw.append((0, s0, base, base)) }
            if s1 > s0 { raw.append((s0, s1, spike, spike)) }
            if length > s1 { raw.append((s1, length, base, base)) }
        case .diurnal(let minRate, let maxRate, let period, let phase):
            self = .sinusoid(minRate: minRate, maxRate: maxRate, period: period, phase: phase)
            return
        case .bursts:
            raw.append((0, length, 0, 0))
        }
        var pieces: [Piece] = []
        var cumulative = 0.0
        for r in raw {
            let piece = Piece(t0: r.t0, t1: r.t1, r0: r.r0, r1: r.r1, cumulativeStart: cumulative)
            cumulative = piece.cumulativeEnd
            pieces.append(piece)
        }
        self = .pieces(pieces)
    }

    func rate(_ t: Double) -> Double {
        switch self {
        case .pieces(let pieces):
            for p in pieces where t >= p.t0 && t <= p.t1 {
                let span = p.t1 - p.t0
                return span > 0 ? p.r0 + (p.r1 - p.r0) * (t - p.t0) / span : p.r1
            }
            return pieces.last?.r1 ?? 0
        case .sinusoid(let lo, let hi, let period, let phase):
            return lo + (hi - lo) * (1 - cos(2 * Double.pi * (t - phase) / period)) / 2
        }
    }

    func cumulative(_ t: Double) -> Double {
        switch self {
        case .pieces(let pieces):
            var total = 0.0
            for p in pieces {
                if t >= p.t1 { total = p.cumulativeEnd; continue }
                if t <= p.t0 { break }
                return p.cumulativeStart + RateFunction.pieceIntegral(p, upTo: t - p.t0)
            }
            return total
        case .sinusoid(let lo, let hi, let period, let phase):
            return RateFunction.sinusoidCumulative(t, lo: lo, hi: hi, period: period, phase: phase)
        }
    }

    static func pieceIntegral(_ p: Piece, upTo tau: Double) -> Double {
        let span = p.t1 - p.t0
        let slope = span > 0 ? (p.r1 - p.r0) / span : 0
        return p.r0 * tau + slope * tau * tau / 2
    }

    static func sinusoidCumulative(_ t: Double, lo: Double, hi: Double, period: Double, phase: Double) -> Double {
        let w = 2 * Double.pi / period
        let amplitude = (hi - lo) / 2
        return lo * t + amplitude * (t - (sin(w * (t - phase)) - sin(-w * phase)) / w)
    }
}

/// Produces a stream's arrival times in order, one at a time (constant memory however many).
struct ArrivalClock {
    let arrivals: Arrivals
    let length: Double
    let function: RateFunction
    /// The pieces of a piecewise-linear rate (empty for the sinusoid), held apart from the enum
    /// so that each arrival reads them without taking the array out of it.
    let pieces: [RateFunction.Piece]
    /// Cumulative target of the next arrival (regular: k − ½; Poisson: running sum).
    var target: Double = 0
    var k = 0
    var pieceCursor = 0
    var lastTime = 0.0
    var finished = false
    // Bursts
    var burstIndex = 0
    var withinBurst = 0
    /// The shape and process, read once instead of matching the enums on every arrival.
    let mode: Mode
    let burstSize: Int, burstPeriod: Double, burstOffset: Double, burstSpread: Double
    /// The piece at `pieceCursor`, unpacked, once `pieceLoaded`.
    var piece = PieceSolver()
    var pieceLoaded = false

    enum Mode { case bursts, regular, poisson, sinusoidRegular, sinusoidPoisson }

    init(arrivals: Arrivals, length: Double) {
        self.arrivals = arrivals
        self.length = length
        function = RateFunction(shape: arrivals.shape, length: length)
        if case .pieces(let p) = function { pieces = p } else { pieces = [] }
        if case .bursts(let size, let period, let offset, let spread) = arrivals.shape {
            mode = .bursts
            (burstSize, burstPeriod, burstOffset, burstSpread) = (size, period, offset, spread)
        } else {
            (burstSize, burstPeriod, burstOffset, burstSpread) = (0, 0, 0, 0)
            if case .pieces = function {
                mode = arrivals.process == .regular ? .regular : .poisson
            } else {
                mode = arrivals.process == .regular ? .sinusoidRegular : .sinusoidPoisson
            }
        }
    }

    /// The next arrival time (relative to the stream start), or nil when the stream is over.
    @inline(__always)
    mutating func next(_ random: inout DeterministicRandom) -> Double? {
        guard !finished else { return nil }
        switch mode {
        case .bursts:
            return nextBurst()
        case .regular, .sinusoidRegular:
            k += 1
            target = Double(k) - 0.5
        case .poisson, .sinusoidPoisson:
            target += random.nextExponential()
        }
        let linear = mode == .regular || mode == .poisson
        guard let t = linear ? invertPieces(target) : invert(target), t < length else { finished = true; return nil }
        lastTime = t
        return t
    }

    /// The next arrival times, up to `count` of them, into `out`; returns how many (fewer only
    /// when the stream ends), exactly as that many calls of `next` would. A Poisson clock draws
    /// all `count` gaps first, in a loop of their own, so the logarithms' latencies overlap
    /// instead of each waiting on the inversion before it; gaps drawn past the end of the
    /// stream are never used (nothing else draws from `random`).
    mutating func next(_ count: Int, into out: UnsafeMutablePointer<Double>, _ random: inout DeterministicRandom) -> Int {
        guard !finished else { return 0 }
        // The loops work on local copies (kept in registers: a store through `out` could
        // otherwise alias them, so they would go through memory on every arrival).
        switch mode {
        case .poisson:
            var generator = random
            for i in 0..<count { out[i] = generator.nextExponential() }
            random = generator
            var target = self.target
            defer { self.target = target }
            for i in 0..<count {
                target += out[i]
                guard let t = invertPieces(target), t < length else { finished = true; return i }
                lastTime = t
                out[i] = t
            }
            return count
        case .regular:
            var k = self.k
            defer { self.k = k; target = Double(k) - 0.5 }
            for i in 0..<count {
                k += 1
                guard let t = invertPieces(Double(k) - 0.5), t < length else { finished = true; return i }
                lastTime = t
                out[i] = t
            }
            return count
        case .bursts, .sinusoidRegular, .sinusoidPoisson:
            for i in 0..<count {
                guard let t = next(&random) else { return i }
                out[i] = t
            }
            return count
        }
    }

    mutating func nextBurst() -> Double? {
        guard burstSize > 0, burstPeriod > 0 else { finished = true; return nil }
        let t = burstOffset + Double(burstIndex) * burstPeriod + (burstSize > 1 ? burstSpread * Double(withinBurst) / Double(burstSize) : 0)
        withinBurst += 1
        if withinBurst == burstSize { withinBurst = 0; burstIndex += 1 }
        guard t < length else { finished = true; return nil }
        return t
    }

    /// The time where Λ reaches `u` (u non-decreasing across calls), or nil beyond the end.
    mutating func invert(_ u: Double) -> Double? {
        switch function {
        case .pieces:
            return invertPieces(u)
        case .sinusoid(let lo, let hi, let period, let phase):
            return invertSinusoid(u, lo: lo, hi: hi, period: period, phase: phase)
        }
    }

    /// `invert` on the linear pieces: the cursor moves past the pieces that end below `u`, and
    /// the piece it rests on is unpacked once rather than read from the array per arrival.
    @inline(__always)
    mutating func invertPieces(_ u: Double) -> Double? {
        if !pieceLoaded || piece.cumulativeEnd < u {
            while pieceCursor < pieces.count && pieces[pieceCursor].cumulativeEnd < u { pieceCursor += 1 }
            guard pieceCursor < pieces.count else { pieceLoaded = false; return nil }
            piece = PieceSolver(pieces[pieceCursor])
            pieceLoaded = true
        }
        return piece.time(reaching: u)
    }

    /// One piece's inversion, with what does not depend on the target worked out beforehand.
    struct PieceSolver {
        var t0 = 0.0, t1 = 0.0, span = 0.0, r0 = 0.0
        var cumulativeStart = 0.0, cumulativeEnd = 0.0
        /// 4a of a·τ² + r0·τ − c = 0, and r0².
        var fourA = 0.0, r0Squared = 0.0
        /// With a = 0 the discriminant is r0² for every c, so its root is taken once.
        var flat = false, flatDenominator = 0.0

        init() {}

        init(_ p: RateFunction.Piece) {
            t0 = p.t0
            t1 = p.t1
            r0 = p.r0
            cumulativeStart = p.cumulativeStart
            cumulativeEnd = p.cumulativeEnd
            span = p.t1 - p.t0
            let a = span > 0 ? (p.r1 - p.r0) / (2 * span) : 0
            fourA = 4 * a
            r0Squared = p.r0 * p.r0
            flat = fourA == 0
            flatDenominator = r0 + max(0, r0Squared).squareRoot()
        }

        /// τ from the same floating-point steps as the general formula: with 4a = ±0 and c
        /// finite, 4a·c is ±0 and r0² ± 0 is r0², so the precomputed denominator is the one
        /// the formula would compute.
        @inline(__always)
        func time(reaching u: Double) -> Double {
            let c = u - cumulativeStart
            guard c > 0 else { return t0 }
            // Solve a·τ² + r0·τ − c = 0 in the form that stays accurate when a is tiny.
            let denominator = flat && c < .infinity ? flatDenominator : r0 + max(0, r0Squared + fourA * c).squareRoot()
            let tau = denominator > 0 ? 2 * c / denominator : span
            return min(t0 + tau, t1)
        }
    }

    /// Safeguarded Newton on Λ(t) = u, bracketed from the previous arrival.
    func invertSinusoid(_ u: Double, lo: Double, hi: Double, period: Double, phase: Double) -> Double? {
        let mean = (lo + hi) / 2
        guard mean > 0 else { return nil }
        var low = lastTime
        let startValue = RateFunction.sinusoidCumulative(low, lo: lo, hi: hi, period: period, phase: phase)
        if startValue >= u { return low }
        // Over any whole period Λ grows by mean × period, so the root lies within one period
        // beyond the point where the mean rate alone would reach it.
        var high = low + (u - startValue) / mean + period
        if high > length + period { high = length + period }
        if RateFunction.sinusoidCumulative(high, lo: lo, hi: hi, period: period, phase: phase) < u { return nil }
        var t = min(max(low + (u - startValue) / mean, low), high)
        for _ in 0..<100 {
            let f = RateFunction.sinusoidCumulative(t, lo: lo, hi: hi, period: period, phase: phase) - u
            if abs(f) < 1e-10 { break }
            if f > 0 { high = t } else { low = t }
            let r = function.rate(t)
            var next = r > 0 ? t - f / r : (low + high) / 2
            if !(next > low && next < high) { next = (low + high) / 2 }
            if abs(next - t) < 1e-12 { t = next; break }
            t = next
        }
        return t
    }
}

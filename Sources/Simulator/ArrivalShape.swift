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

    init(arrivals: Arrivals, length: Double) {
        self.arrivals = arrivals
        self.length = length
        function = RateFunction(shape: arrivals.shape, length: length)
        if case .pieces(let p) = function { pieces = p } else { pieces = [] }
    }

    /// The next arrival time (relative to the stream start), or nil when the stream is over.
    mutating func next(_ random: inout DeterministicRandom) -> Double? {
        guard !finished else { return nil }
        if case .bursts(let size, let period, let offset, let spread) = arrivals.shape {
            guard size > 0, period > 0 else { finished = true; return nil }
            let t = offset + Double(burstIndex) * period + (size > 1 ? spread * Double(withinBurst) / Double(size) : 0)
            withinBurst += 1
            if withinBurst == size { withinBurst = 0; burstIndex += 1 }
            guard t < length else { finished = true; return nil }
            return t
        }
        switch arrivals.process {
        case .regular:
            k += 1
            target = Double(k) - 0.5
        case .poisson:
            target += random.nextExponential()
        }
        guard let t = invert(target), t < length else { finished = true; return nil }
        lastTime = t
        return t
    }

    /// The time where Λ reaches `u` (u non-decreasing across calls), or nil beyond the end.
    mutating func invert(_ u: Double) -> Double? {
        switch function {
        case .pieces:
            while pieceCursor < pieces.count && pieces[pieceCursor].cumulativeEnd < u { pieceCursor += 1 }
            guard pieceCursor < pieces.count else { return nil }
            let p = pieces[pieceCursor]
            let c = u - p.cumulativeStart
            guard c > 0 else { return p.t0 }
            let span = p.t1 - p.t0
            let a = span > 0 ? (p.r1 - p.r0) / (2 * span) : 0
            // Solve a·τ² + r0·τ − c = 0 in the form that stays accurate when a is tiny.
            let discriminant = max(0, p.r0 * p.r0 + 4 * a * c)
            let denominator = p.r0 + discriminant.squareRoot()
            let tau = denominator > 0 ? 2 * c / denominator : span
            return min(p.t0 + tau, p.t1)
        case .sinusoid(let lo, let hi, let period, let phase):
            return invertSinusoid(u, lo: lo, hi: hi, period: period, phase: phase)
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

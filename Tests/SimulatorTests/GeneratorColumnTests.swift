import Foundation
import Testing
import Wire
@testable import Simulator

/// The streaming source draws events a column at a time, with the arrival inversion's
/// constants worked out per piece and the rounding done without a library call; these tests
/// hold it to the plain statement of the rules (`ProfileGenerator.next()`, the inversion
/// formula, `rounded()`), bit for bit.
@Suite("Profile generator: the column path")
struct GeneratorColumnTests {
    static let specs: [ProfileSpec] = {
        var specs: [ProfileSpec] = []
        // Several streams, starting and ending apart, with proxy headers on some.
        var legit = StreamSpec(name: "legit", arrivals: Arrivals(shape: .constant(rate: 37.3), process: .poisson))
        legit.clients = .zipf(count: 300, exponent: 1.1, firstAddress: "10.0.0.1")
        legit.endpoints = WeightedMix([.init(.webhook, 3), .init(.agentAuth, 1)])
        legit.signatures = WeightedMix([.init(.valid, 8), .init(.missing, 1), .init(.invalid, 1)])
        legit.tokens = WeightedMix([.init(.valid, 9), .init(.invalid, 1), .init(.missing, 0.5)])
        legit.bodyBytes = .uniform(min: 10, max: 5000)
        legit.proxyHeader = ProxyHeaderSpec(name: "X-Forwarded-For", share: 0.3, values: .uniform(count: 50, firstAddress: "198.51.100.1"))
        var attacker = StreamSpec(name: "attacker", arrivals: Arrivals(shape: .bursts(size: 25, period: 3, offset: 0.7, spread: 1.3)))
        attacker.clients = .one(address: "203.0.113.9")
        attacker.start = 4
        attacker.end = 40
        attacker.signatures = .only(.missing)
        var rotating = StreamSpec(name: "rotating", arrivals: Arrivals(shape: .diurnal(minRate: 2, maxRate: 45, period: 17, phase: 3), process: .poisson))
        rotating.clients = .rotating(count: 7, every: 2.5, firstAddress: "2001:db8::1")
        rotating.start = 1.5
        rotating.proxyHeader = ProxyHeaderSpec(name: "X-Real-IP", share: 1, values: .rotating(count: 3, every: 4, firstAddress: "100.64.0.1"))
        // Shares a client address with `legit`: ids follow addresses, not streams.
        var overlap = StreamSpec(name: "overlap", arrivals: Arrivals(shape: .spike(baseRate: 3, spikeRate: 80, start: 20, duration: 6)))
        overlap.clients = .uniform(count: 20, firstAddress: "10.0.0.5")
        specs.append(ProfileSpec(seed: 11, duration: 60, streams: [legit, attacker, rotating, overlap]))
        // One stream each: regular and Poisson over every shape.
        let shapes: [ArrivalShape] = [
            .constant(rate: 123.45),
            .ramping(startRate: 0, stages: [RampStage(target: 40, duration: 5), RampStage(target: 5, duration: 7), RampStage(target: 5, duration: 3)]),
            .ramping(startRate: 17, stages: [RampStage(target: 90, duration: 100)]),  // cut short by the end
            .spike(baseRate: 4.5, spikeRate: 210, start: 9, duration: 4),
            .diurnal(minRate: 0, maxRate: 60, period: 13, phase: 2),
        ]
        for (i, shape) in shapes.enumerated() {
            for process in [ArrivalProcess.regular, .poisson] {
                specs.append(spec(shape, process: process, duration: 30, seed: UInt64(100 + i),
                                  clients: i % 2 == 0 ? .uniform(count: 5000, firstAddress: "10.1.0.1") : .zipf(count: 64, exponent: 1.6, firstAddress: "10.2.0.1")) { s in
                    s.endpoints = WeightedMix([.init(.webhook, 1), .init(.agentAuth, 1)])
                    // Five entries (one value twice): the general choice, beyond the inline ones.
                    s.signatures = WeightedMix([.init(.valid, 2), .init(.missing, 1), .init(.invalid, 1), .init(.none, 1), .init(.valid, 0.5)])
                    s.bodyBytes = i % 2 == 0 ? .uniform(min: 0, max: 2_000_000) : .fixed(4096)
                    if process == .poisson {
                        s.proxyHeader = ProxyHeaderSpec(name: "X-Forwarded-For", share: 0.9, values: .zipf(count: 30, exponent: 1, firstAddress: "198.51.100.1"))
                    }
                })
            }
        }
        specs.append(spec(.bursts(size: 1, period: 0.25, offset: 0, spread: 0), duration: 40, seed: 3, clients: .rotating(count: 4, every: 1, firstAddress: "10.3.0.1")))
        specs.append(spec(.bursts(size: 40, period: 2, offset: 0.5, spread: 0), duration: 20, seed: 4, clients: .uniform(count: 9, firstAddress: "10.4.0.1")))
        // Two streams whose every event is at the same time as one of the other's: a tie goes
        // to the lower stream index.
        var first = StreamSpec(name: "first", arrivals: Arrivals(shape: .bursts(size: 3, period: 0.5, offset: 0, spread: 0.3)))
        first.clients = .uniform(count: 4, firstAddress: "10.5.0.1")
        var second = StreamSpec(name: "second", arrivals: Arrivals(shape: .bursts(size: 3, period: 0.5, offset: 0, spread: 0.3)))
        second.clients = .uniform(count: 4, firstAddress: "10.6.0.1")
        second.endpoints = .only(.agentAuth)
        specs.append(ProfileSpec(seed: 5, duration: 30, streams: [first, second]))
        return specs
    }()

    /// The events of `ProfileGenerator.next()`, as a profile would hold them.
    static func reference(_ spec: ProfileSpec) throws -> [ProfileEvent] {
        var generator = try ProfileGenerator(spec: spec)
        var events: [ProfileEvent] = []
        while let e = generator.next() {
            events.append(ProfileEvent(time: e.time, client: generator.address(stream: e.stream, client: e.client), endpoint: e.endpoint,
                                       bodyBytes: e.bodyBytes, signature: e.signature,
                                       proxyHeader: generator.proxyHeader(stream: e.stream, value: e.proxyValue)))
        }
        return events
    }

    @Test("the streaming source gives ProfileGenerator.next()'s events, ids in order of first use, in chunks of any size",
          arguments: 0..<specs.count)
    func sourceEqualsNext(index: Int) throws {
        let spec = GeneratorColumnTests.specs[index]
        let expected = try GeneratorColumnTests.reference(spec)
        #expect(expected.count > 100)
        var firstUse: [String] = [], seen = Set<String>()
        for e in expected where seen.insert(e.client).inserted { firstUse.append(e.client) }
        var headers: [ProxyHeader] = [], seenHeaders = Set<ProxyHeader>()
        for e in expected { if let h = e.proxyHeader, seenHeaders.insert(h).inserted { headers.append(h) } }
        for size in [1, 7, 255, 256, 1000, 1 << 20] {
            var source = try GeneratedEvents(spec: spec)
            source.chunkSize = size
            var chunk = Profile()
            var events: [ProfileEvent] = []
            var times: [UInt64] = []
            while source.next(into: &chunk) {
                #expect(chunk.count <= size)
                #expect(chunk.proxyIDs.isEmpty || chunk.proxyIDs.count == chunk.count)
                for i in 0..<chunk.count {
                    events.append(chunk[i])
                    times.append(chunk.times[i].bitPattern)
                }
            }
            #expect(events == expected, "chunks of \(size)")
            #expect(times == expected.map(\.time.bitPattern))
            #expect(chunk.clients == firstUse)
            #expect(chunk.proxyHeaders == headers)
        }
        // The whole profile in memory goes the same way.
        let profile = try ProfileGenerator.profile(spec: spec)
        #expect((0..<profile.count).map { profile[$0] } == expected)
    }

    @Test("a copy of a source, with a copy of its chunk, goes on by itself: the copies give the same events and ids")
    func copiesAreIndependent() throws {
        let spec = GeneratorColumnTests.specs[0]
        var a = try GeneratedEvents(spec: spec)
        a.chunkSize = 500
        var chunkA = Profile()
        let first = a.next(into: &chunkA)
        #expect(first)
        var b = a
        var chunkB = chunkA
        var eventsA: [ProfileEvent] = [], eventsB: [ProfileEvent] = []
        var idsA: [Int32] = [], idsB: [Int32] = []
        // A runs to the end first, entering clients B has not seen yet.
        while a.next(into: &chunkA) {
            eventsA += (0..<chunkA.count).map { chunkA[$0] }
            idsA += chunkA.clientIDs
        }
        while b.next(into: &chunkB) {
            eventsB += (0..<chunkB.count).map { chunkB[$0] }
            idsB += chunkB.clientIDs
        }
        #expect(!eventsA.isEmpty)
        #expect(eventsA == eventsB)
        #expect(idsA == idsB)
        #expect(chunkA.clients == chunkB.clients)
    }

    /// The time where Λ reaches each target on linear pieces, by the formula as the rules state
    /// it (nothing worked out in advance), for arrivals as `ArrivalClock` places them.
    static func referenceTimes(_ arrivals: Arrivals, length: Double, seed: UInt64, count: Int) -> [Double] {
        guard case .pieces(let pieces) = RateFunction(shape: arrivals.shape, length: length) else { return [] }
        var random = DeterministicRandom(seed: seed)
        var times: [Double] = []
        var target = 0.0
        var cursor = 0
        for k in 1...count {
            target = arrivals.process == .regular ? Double(k) - 0.5 : target + random.nextExponential()
            while cursor < pieces.count && pieces[cursor].cumulativeEnd < target { cursor += 1 }
            guard cursor < pieces.count else { break }
            let p = pieces[cursor]
            let c = target - p.cumulativeStart
            var t = p.t0
            if c > 0 {
                let span = p.t1 - p.t0
                let a = span > 0 ? (p.r1 - p.r0) / (2 * span) : 0
                let discriminant = max(0, p.r0 * p.r0 + 4 * a * c)
                let denominator = p.r0 + discriminant.squareRoot()
                t = min(p.t0 + (denominator > 0 ? 2 * c / denominator : span), p.t1)
            }
            guard t < length else { break }
            times.append(t)
        }
        return times
    }

    @Test("arrival times on linear pieces are the formula's, bit for bit, one at a time and in batches",
          arguments: [ArrivalProcess.regular, .poisson])
    func inversionMatchesFormula(process: ArrivalProcess) {
        let shapes: [ArrivalShape] = [
            .constant(rate: 0.37), .constant(rate: 1), .constant(rate: 77.7), .constant(rate: 9_999_999.5), .constant(rate: 0),
            .ramping(startRate: 0, stages: [RampStage(target: 40, duration: 5), RampStage(target: 5, duration: 7)]),
            .ramping(startRate: 3.3, stages: [RampStage(target: 3.3, duration: 4), RampStage(target: 0, duration: 2), RampStage(target: 12, duration: 9)]),
            .spike(baseRate: 1e-3, spikeRate: 600, start: 2, duration: 0.5),
        ]
        for (i, shape) in shapes.enumerated() {
            let arrivals = Arrivals(shape: shape, process: process)
            let length = 20.0
            let expected = GeneratorColumnTests.referenceTimes(arrivals, length: length, seed: UInt64(i), count: 20_000)
            var clock = ArrivalClock(arrivals: arrivals, length: length)
            var random = DeterministicRandom(seed: UInt64(i))
            var single: [Double] = []
            while single.count < 20_000, let t = clock.next(&random) { single.append(t) }
            #expect(single.map(\.bitPattern) == expected.map(\.bitPattern), "\(shape)")
            for batch in [1, 3, 256] {
                var clock = ArrivalClock(arrivals: arrivals, length: length)
                var random = DeterministicRandom(seed: UInt64(i))
                var batched: [Double] = []
                let buffer = UnsafeMutablePointer<Double>.allocate(capacity: batch)
                defer { buffer.deallocate() }
                while batched.count < 20_000 {
                    let n = clock.next(batch, into: buffer, &random)
                    batched += UnsafeBufferPointer(start: buffer, count: n)
                    if n < batch { break }
                }
                #expect(batched.prefix(20_000).map(\.bitPattern) == expected.map(\.bitPattern), "\(shape), batches of \(batch)")
                #expect(clock.next(batch, into: buffer, &random) == 0 || batched.count >= 20_000)
            }
        }
    }

    @Test("quantizing without the library call rounds as rounded() does: halves away from zero, every magnitude")
    func quantizeMatchesRounded() {
        var values: [Double] = [0, -0.0, 1e-300, 5e-7, 4.999_999_999e-7, 1.5e-6, 2.5e-6, 0.000_000_5, 0.5, 1, 86_400, 1e9,
                                0x1p52 / 1e6, 0x1p53 / 1e6, 1e20, -3.2e-6, .infinity, -.infinity, .nan,
                                0.49999999999999994 / 1e6, (0x1p52 - 0.5) / 1e6, (0x1p52 - 1.5) / 1e6]
        // Exact halves of a microsecond and their neighbours.
        for k in [0, 1, 2, 3, 7, 1_000_000, 86_399_999_999, 4_503_599_627_370_495] as [Int64] {
            let half = (Double(k) + 0.5) / 1e6
            values += [half, half.nextUp, half.nextDown]
        }
        var random = DeterministicRandom(seed: 9)
        for _ in 0..<200_000 {
            let scale = [1e-6, 1e-3, 1, 1e3, 1e6, 1e9][random.nextInt(below: 6)]
            values.append(random.nextDouble() * scale)
            // Times on a half-microsecond grid: ties, after the multiplication, often.
            values.append(Double(random.nextInt(below: 1 << 40)) * 5e-7)
        }
        for v in values {
            let fast = ProfileGenerator.quantize(v), plain = ProfileRules.quantize(v)
            #expect(fast.bitPattern == plain.bitPattern || (fast.isNaN && plain.isNaN), "\(v)")
        }
    }

    @Test("integers below a bound: the out-of-line rejection path draws as the plain method does")
    func nextIntMatchesPlainMethod() {
        func plain(_ random: inout DeterministicRandom, _ bound: Int) -> Int {
            guard bound > 1 else { return 0 }
            let n = UInt64(bound)
            var product = random.next().multipliedFullWidth(by: n)
            if product.low < n {
                let threshold = (0 &- n) % n
                while product.low < threshold { product = random.next().multipliedFullWidth(by: n) }
            }
            return Int(product.high)
        }
        // Bounds just above 2⁶² and near 2⁶³ reject often; small ones rarely.
        for bound in [0, 1, 2, 3, 10, 1_000_000, (1 << 62) + 1, Int.max - 5, Int.max] {
            var a = DeterministicRandom(seed: UInt64(bound & 0xFFFF))
            var b = a
            for _ in 0..<5_000 {
                #expect(a.nextInt(below: bound) == plain(&b, bound))
            }
            #expect(a.next() == b.next())
        }
    }
}

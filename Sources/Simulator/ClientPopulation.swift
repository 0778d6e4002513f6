import Foundation
import Reference

// Rule: who sends each request. One client; N clients chosen uniformly; N clients with Zipf
// popularity (client of rank k, counted from 1, is chosen with probability ∝ 1/kˢ, so a few
// heavy senders and a long tail); or N clients taking turns, each for a slice of time (an
// attacker rotating addresses). Client k's address is the first address plus k (IPv4 or IPv6
// arithmetic), so populations are compact to describe and easy to recognise in reports.

/// A population of client addresses and how requests are spread over them.
public enum ClientPopulation: Sendable, Equatable {
    case one(address: String)
    case uniform(count: Int, firstAddress: String)
    case zipf(count: Int, exponent: Double, firstAddress: String)
    /// Client ⌊t / every⌋ mod count sends at stream time t.
    case rotating(count: Int, every: Double, firstAddress: String)

    /// Largest population: 2²⁴ addresses (a /8), far beyond what one profile exercises.
    public static let maximumCount = 1 << 24

    public var count: Int {
        switch self {
        case .one: return 1
        case .uniform(let n, _), .zipf(let n, _, _), .rotating(let n, _, _): return n
        }
    }

    public var firstAddress: String {
        switch self {
        case .one(let a): return a
        case .uniform(_, let a), .zipf(_, _, let a), .rotating(_, _, let a): return a
        }
    }

    public var name: String {
        switch self {
        case .one: return "one"
        case .uniform: return "uniform"
        case .zipf: return "zipf"
        case .rotating: return "rotating"
        }
    }
}

/// Address arithmetic: the address `index` steps after a first address.
struct AddressRange: Sendable {
    let bytes: [UInt8]
    let count: Int

    /// Nil when `first` is not an address or the range would run past the end of the family.
    init?(first: String, count: Int) {
        guard let address = IPAddress(first), count >= 1 else { return nil }
        bytes = address.bytes
        self.count = count
        // The last address must not wrap around.
        var carry = UInt64(count - 1)
        var i = bytes.count - 1
        while carry > 0 {
            guard i >= 0 else { return nil }
            let sum = UInt64(bytes[i]) + (carry & 0xFF)
            carry = (carry >> 8) + (sum >> 8)
            i -= 1
        }
    }

    func address(_ index: Int) -> String {
        var b = bytes
        var carry = UInt64(index)
        var i = b.count - 1
        while carry > 0 && i >= 0 {
            let sum = UInt64(b[i]) + (carry & 0xFF)
            b[i] = UInt8(truncatingIfNeeded: sum)
            carry = (carry >> 8) + (sum >> 8)
            i -= 1
        }
        if b.count == 4 {
            return "\(b[0]).\(b[1]).\(b[2]).\(b[3])"
        }
        var groups: [String] = []
        for g in 0..<8 { groups.append(String(UInt16(b[2 * g]) << 8 | UInt16(b[2 * g + 1]), radix: 16)) }
        let text = groups.joined(separator: ":")
        return IPAddress(text)?.description ?? text
    }
}

/// Walker/Vose alias table: O(1) sampling from a fixed discrete distribution, built with the
/// same floating-point steps every time so that sampling is reproducible.
struct AliasTable: Sendable {
    var probability: [Double]
    var alias: [Int32]

    init(weights: [Double]) {
        let n = weights.count
        let total = weights.reduce(0, +)
        var scaled = weights.map { $0 * Double(n) / total }
        probability = [Double](repeating: 1, count: n)
        alias = [Int32](repeating: 0, count: n)
        var small: [Int32] = [], large: [Int32] = []
        small.reserveCapacity(n)
        large.reserveCapacity(n)
        for i in 0..<n {
            if scaled[i] < 1 { small.append(Int32(i)) } else { large.append(Int32(i)) }
        }
        while let s = small.popLast() {
            guard let l = large.last else { small.append(s); break }
            probability[Int(s)] = scaled[Int(s)]
            alias[Int(s)] = l
            scaled[Int(l)] = (scaled[Int(l)] + scaled[Int(s)]) - 1
            if scaled[Int(l)] < 1 {
                large.removeLast()
                small.append(l)
            }
        }
        // What remains (rounding leftovers) always keeps its own column.
        for i in small { probability[Int(i)] = 1; alias[Int(i)] = i }
        for i in large { probability[Int(i)] = 1; alias[Int(i)] = i }
    }

    @inline(__always)
    func sample(_ random: inout DeterministicRandom) -> Int {
        let u = random.nextDouble() * Double(probability.count)
        let column = min(Int(u), probability.count - 1)
        return (u - Double(column)) < probability[column] ? column : Int(alias[column])
    }
}

/// Draws client indices for one population.
struct ClientSampler: Sendable {
    let population: ClientPopulation
    let range: AddressRange
    let table: AliasTable?
    /// The population without its address, so a draw matches no string-carrying enum.
    let draw: Draw

    enum Draw {
        case one
        case uniform(count: Int)
        case zipf
        case rotating(count: Int, every: Double)
    }

    init?(_ population: ClientPopulation) {
        guard let range = AddressRange(first: population.firstAddress, count: population.count) else { return nil }
        self.population = population
        self.range = range
        if case .zipf(let n, let s, _) = population {
            table = AliasTable(weights: (0..<n).map { 1 / pow(Double($0 + 1), s) })
        } else {
            table = nil
        }
        switch population {
        case .one: draw = .one
        case .uniform(let n, _): draw = .uniform(count: n)
        case .zipf: draw = .zipf
        case .rotating(let n, let every, _): draw = .rotating(count: n, every: every)
        }
    }

    /// The index of the client sending at stream time `t`.
    @inline(__always)
    func sample(at t: Double, _ random: inout DeterministicRandom) -> Int {
        switch draw {
        case .one: return 0
        case .uniform(let n): return random.nextInt(below: n)
        case .zipf: return table?.sample(&random) ?? 0
        case .rotating(let n, let every):
            let slot = (t / every).rounded(.down)
            return Int(slot.truncatingRemainder(dividingBy: Double(n)))
        }
    }

    func address(_ index: Int) -> String { range.address(index) }
}
